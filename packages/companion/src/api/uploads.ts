import {
  UploadRequest,
  type UploadDetail,
  type UploadsResponse,
  type UploadTargetsResponse
} from '@dlaas/api';
import { Router } from 'express';
import { windowParams } from '../domain/browse.js';
import type { Lake } from '../domain/lake.js';
import { checked } from './routes.js';

/**
 * Upload's routes (below `/api/instances/{instance}`): `GET upload-targets` (scopes, RSEs with
 * quota, metadata keys), `GET uploads` (every job, newest first), `POST uploads` (202 with the
 * new job, or a 4xx sentence before any byte moves), `GET uploads/{id}?offset=&limit=` (the job
 * and a window of its files), `POST uploads/{id}/cancel`, `POST uploads/{id}/retry` (202),
 * `DELETE uploads/{id}` (204: forgets a job that is not running; the data in the lake stays).
 */
export function uploadsRouter(lake: Lake): Router {
  const router = Router();
  const jobsOf = (instance: string) => lake.instance(instance).uploads;

  router.get('/instances/:instance/upload-targets', async (req, res) => {
    const body: UploadTargetsResponse = await jobsOf(req.params.instance).targets();
    res.json(body);
  });

  router.get('/instances/:instance/uploads', (req, res) => {
    const body: UploadsResponse = { uploads: jobsOf(req.params.instance).list() };
    res.json(body);
  });

  router.post('/instances/:instance/uploads', async (req, res) => {
    const request = checked(UploadRequest, req.body);
    const body: UploadDetail = await jobsOf(req.params.instance).start(request);
    res.status(202).json(body);
  });

  router.get('/instances/:instance/uploads/:id', (req, res) => {
    const { offset, limit } = windowParams(req.query['offset'], req.query['limit']);
    const body: UploadDetail = jobsOf(req.params.instance).get(req.params.id, offset, limit);
    res.json(body);
  });

  router.post('/instances/:instance/uploads/:id/cancel', async (req, res) => {
    const body: UploadDetail = await jobsOf(req.params.instance).cancel(req.params.id);
    res.json(body);
  });

  router.post('/instances/:instance/uploads/:id/retry', (req, res) => {
    const body: UploadDetail = jobsOf(req.params.instance).retry(req.params.id);
    res.status(202).json(body);
  });

  router.delete('/instances/:instance/uploads/:id', async (req, res) => {
    await jobsOf(req.params.instance).forget(req.params.id);
    res.status(204).end();
  });

  return router;
}
