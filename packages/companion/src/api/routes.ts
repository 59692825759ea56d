import { homedir } from 'node:os';
import {
  MakeAvailableRequest,
  RetryRequest,
  SearchRequest,
  type Availability,
  type InstancesResponse,
  type MakeAvailableResponse,
  type ProblemEvent,
  type TransfersResponse
} from '@dlaas/api';
import type { TSchema, Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { Router, type NextFunction, type Request, type Response } from 'express';
import { didString, parseDid, type DidRef, type Naming } from '../did.js';
import { AppError, badRequest } from '../errors.js';
import { sortParam, windowParams } from '../domain/browse.js';
import { fileContent } from '../domain/content.js';
import { filterProblem } from './filters.js';
import { pipeline } from 'node:stream/promises';
import type { Lake } from '../domain/lake.js';
import { downloadsRouter } from './downloads.js';
import { uploadsRouter } from './uploads.js';

/** Checks a body against its schema; a 400 names the first wrong key. */
export function checked<T extends TSchema>(schema: T, value: unknown): Static<T> {
  if (Value.Check(schema, value)) {
    return value;
  }
  const first = [...Value.Errors(schema, value)][0];
  const key = first?.path.replace(/^\//, '').replaceAll('/', '.') || 'the body';
  throw badRequest(
    `The request is not valid: "${key}" ${first?.message.toLowerCase() ?? 'is wrong'}.`
  );
}

function queryString(req: Request, name: string): string | undefined {
  const value = req.query[name];
  if (value === undefined) {
    return undefined;
  }
  if (typeof value !== 'string') {
    throw badRequest(`Give "${name}" once, as text.`);
  }
  return value;
}

/** The `did` query parameter, checked against the instance's naming rules. */
function didQuery(req: Request, lake: Lake): DidRef {
  return parseDid(queryString(req, 'did'), { naming: namingOf(req, lake) });
}

/** The naming rules of the instance a request names. */
export function namingOf(req: Request, lake: Lake): Naming {
  return lake.instance(req.params['instance'] as string).naming;
}

/** The companion's HTTP API (paths below `/api`). */
export function apiRouter(lake: Lake): Router {
  const router = Router();

  router.get('/instances', (_req, res) => {
    const body: InstancesResponse = { instances: lake.instances(), home: homedir() };
    if (body.instances.length === 0) {
      body.message =
        "No data lake is configured. Set DLAAS_CONFIG to the companion's configuration file, or put it at ~/.config/dlaas/companion.json (see the dlaas README), and restart JupyterLab.";
    }
    res.json(body);
  });

  router.get('/instances/:instance/auth', async (req, res) => {
    res.json(await lake.authStatus(req.params.instance));
  });

  router.post('/instances/:instance/auth/device', async (req, res) => {
    res.json(await lake.startDeviceSignIn(req.params.instance));
  });

  router.post('/instances/:instance/auth/sign-out', (req, res) => {
    lake.signOut(req.params.instance);
    res.status(204).end();
  });

  router.get('/instances/:instance/scopes', async (req, res) => {
    res.json({ scopes: await lake.instance(req.params.instance).browser.scopes() });
  });

  router.post('/instances/:instance/search', async (req, res) => {
    const request = checked(SearchRequest, req.body);
    const problem = filterProblem(request);
    if (problem !== null) {
      throw badRequest(problem);
    }
    res.json(await lake.instance(req.params.instance).browser.search(request));
  });

  router.get('/instances/:instance/did', async (req, res) => {
    res.json(await lake.instance(req.params.instance).browser.details(didQuery(req, lake)));
  });

  router.get('/instances/:instance/children', async (req, res) => {
    const { offset, limit } = windowParams(req.query['offset'], req.query['limit']);
    res.json(
      await lake
        .instance(req.params.instance)
        .browser.children(didQuery(req, lake), offset, limit, sortParam(queryString(req, 'sort')))
    );
  });

  router.get('/instances/:instance/files', async (req, res) => {
    const { offset, limit } = windowParams(req.query['offset'], req.query['limit']);
    res.json(
      await lake
        .instance(req.params.instance)
        .browser.files(didQuery(req, lake), offset, limit, sortParam(queryString(req, 'sort')))
    );
  });

  router.get('/instances/:instance/availability', async (req, res) => {
    res.json(
      await lake.instance(req.params.instance).availabilities.availability(didQuery(req, lake))
    );
  });

  router.get('/instances/:instance/paths', async (req, res) => {
    const { offset, limit } = windowParams(req.query['offset'], req.query['limit']);
    const services = lake.instance(req.params.instance);
    const did = didQuery(req, lake);
    // Downloaded files (complete ones only) come first: in download mode there are no others; in
    // replica mode, once the DID's download is done with every file.
    const downloadMode = services.config.mode === 'download';
    const downloaded = services.downloads.localPaths(did, offset, limit, !downloadMode);
    res.json(
      downloaded ??
        (downloadMode
          ? { items: [], offset, limit, total: 0, complete: true }
          : await services.availabilities.localPaths(did, offset, limit))
    );
  });

  router.post('/instances/:instance/make-available', async (req, res) => {
    const { did } = checked(MakeAvailableRequest, req.body);
    const result: MakeAvailableResponse = await lake
      .instance(req.params.instance)
      .availabilities.makeAvailable(parseDid(did, { naming: namingOf(req, lake) }));
    res.status(result.created ? 201 : 200).json(result);
  });

  router.get('/instances/:instance/transfers', async (req, res) => {
    const body: TransfersResponse = {
      transfers: await lake.instance(req.params.instance).availabilities.transfers()
    };
    res.json(body);
  });

  router.post('/instances/:instance/retry', async (req, res) => {
    const { did } = checked(RetryRequest, req.body);
    const availability: Availability = await lake
      .instance(req.params.instance)
      .availabilities.retry(parseDid(did, { naming: namingOf(req, lake) }));
    res.json(availability);
  });

  router.get('/instances/:instance/content', async (req, res) => {
    const { rucio } = lake.instance(req.params.instance);
    const did = didQuery(req, lake);
    const content = await fileContent(rucio, did, req.get('range'));
    if (content.status === 416) {
      // A refusal like every other, a sentence; the file's size stays in Content-Range for HTTP.
      const range = content.headers['Content-Range'] ?? 'bytes */0';
      res.set('Content-Range', range);
      throw new AppError(
        416,
        'bad_request',
        `No bytes of ${didString(did)} lie in the range asked for (the file has ${range.slice('bytes */'.length)} bytes). Ask for a range within the file, or for the whole file.`
      );
    }
    res.writeHead(content.status, content.headers);
    if (!content.body) {
      res.end();
      return;
    }
    await pipeline(content.body, res).catch(() => res.destroy());
  });

  router.get('/instances/:instance/events', async (req, res) => {
    await availabilityEvents(lake, req, res);
  });

  router.use(downloadsRouter(lake));
  router.use(uploadsRouter(lake));

  // The router could not decode a path parameter (a "%" not followed by two hex digits, or bytes
  // that are not UTF-8): bad input, not a fault of the companion.
  router.use((error: unknown, _req: Request, _res: Response, next: NextFunction) => {
    next(
      error instanceof URIError
        ? badRequest(
            'The address of this request holds a broken %-escape. Escape instance names with encodeURIComponent and try again.'
          )
        : error
    );
  });

  return router;
}

/**
 * Server-sent events: the current availability of each `did` asked for, then every change the
 * tracker sees, until the client goes away. Subscribers share the tracker's one poll loop.
 */
async function availabilityEvents(lake: Lake, req: Request, res: Response): Promise<void> {
  const raw = req.query['did'];
  const list = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).map(String);
  if (list.length === 0 || list.length > 200) {
    throw badRequest('Name from 1 to 200 DIDs to watch, as ?did=scope:name&did=...');
  }
  const naming = namingOf(req, lake);
  const dids = list.map(d => parseDid(d, { naming }));
  const { availabilities } = lake.instance(req.params['instance'] as string);
  // In place before anything is awaited: a client that leaves while the first answers are read
  // must leave no listener and no timer behind.
  let gone = false;
  const cleanups: (() => void)[] = [];
  res.on('close', () => {
    gone = true;
    cleanups.forEach(cleanup => cleanup());
  });
  const initial = await Promise.all(dids.map(d => availabilities.availability(d)));
  if (gone) {
    return;
  }
  res.writeHead(200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache, no-transform',
    'X-Accel-Buffering': 'no'
  });
  const send = (availability: Availability): void => {
    res.write(`event: availability\ndata: ${JSON.stringify(availability)}\n\n`);
  };
  initial.forEach(send);
  // Following (not just listening) keeps the rules of open collections read while this is open.
  const unfollow = availabilities.follow(dids, send);
  // The tracker cannot read Rucio (once per outage), then can again: the view says so meanwhile.
  // A stream opened during an outage needs no `problem`: its first answers came from Rucio.
  const onProblem = (problem: ProblemEvent | null): void => {
    res.write(
      problem
        ? `event: problem\ndata: ${JSON.stringify(problem)}\n\n`
        : 'event: recovered\ndata: {}\n\n'
    );
  };
  availabilities.on('problem', onProblem);
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
  cleanups.push(
    () => clearInterval(heartbeat),
    unfollow,
    () => availabilities.off('problem', onProblem)
  );
}
