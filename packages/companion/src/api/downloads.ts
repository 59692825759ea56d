import {
  DownloadRequest,
  type Download,
  type DownloadDetail,
  type DownloadsResponse
} from '@dlaas/api';
import { Router } from 'express';
import { parseDid } from '../did.js';
import { windowParams } from '../domain/browse.js';
import type { Lake } from '../domain/lake.js';
import { checked, namingOf } from './routes.js';

/**
 * Download mode's routes (below `/api/instances/{instance}`): `GET downloads` (every job, newest
 * first), `POST downloads` `{did, folder?}` (202 with the new job), `GET downloads/{id}` (the job
 * and a window of its files), `POST downloads/{id}/cancel`, `POST downloads/{id}/retry` (202),
 * `DELETE downloads/{id}` (204; the files stay on disk).
 */
export function downloadsRouter(lake: Lake): Router {
  const router = Router();
  const jobsOf = (instance: string) => lake.instance(instance).downloads;

  router.get('/instances/:instance/downloads', (req, res) => {
    const body: DownloadsResponse = { downloads: jobsOf(req.params.instance).list() };
    res.json(body);
  });

  router.post('/instances/:instance/downloads', async (req, res) => {
    const { did, folder } = checked(DownloadRequest, req.body);
    const parsed = parseDid(did, { naming: namingOf(req, lake) });
    const body: Download = await jobsOf(req.params.instance).start(parsed, folder);
    res.status(202).json(body);
  });

  router.get('/instances/:instance/downloads/:id', (req, res) => {
    const { offset, limit } = windowParams(req.query['offset'], req.query['limit']);
    const body: DownloadDetail = jobsOf(req.params.instance).detail(req.params.id, offset, limit);
    res.json(body);
  });

  router.post('/instances/:instance/downloads/:id/cancel', async (req, res) => {
    const body: Download = await jobsOf(req.params.instance).cancel(req.params.id);
    res.json(body);
  });

  router.post('/instances/:instance/downloads/:id/retry', (req, res) => {
    const body: Download = jobsOf(req.params.instance).retry(req.params.id);
    res.status(202).json(body);
  });

  router.delete('/instances/:instance/downloads/:id', async (req, res) => {
    await jobsOf(req.params.instance).remove(req.params.id);
    res.status(204).end();
  });

  return router;
}
