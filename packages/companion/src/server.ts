import express, { type NextFunction, type Request, type Response } from 'express';
import { chmodSync, existsSync, rmSync } from 'node:fs';
import { STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { apiRouter } from './api/routes.js';
import { tcpGuard, xsrfCheck, type TcpGuardOptions } from './api/security.js';
import { tokenProblem, writeTokenFile, type CompanionToken } from './companion-token.js';
import type { Config } from './config.js';
import type { AvailabilityOptions } from './domain/availability.js';
import { Lake } from './domain/lake.js';
import { AppError } from './errors.js';
import { log } from './log.js';

/** The companion's version, reported by `/health`. */
export const VERSION = '0.1.0';

/** Body size limit of JSON requests. */
const BODY_LIMIT = '64kb';

/**
 * Builds the express app for a configuration; `tcp` adds the guard of a companion on TCP
 * (loopback `Host`, same `Origin`, and its token), which runs before anything else answers.
 */
export function createApp(lake: Lake, tcp?: TcpGuardOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use((req, res, next) => {
    const started = Date.now();
    // Read now: routers below shorten req.path while they handle a request (`/instances/…` for
    // `/api/instances/…`), and only give it back when they pass it on, as errors are.
    const path = req.path;
    res.on('finish', () => {
      log('info', 'request', {
        method: req.method,
        path,
        status: res.statusCode,
        ms: Date.now() - started
      });
    });
    next();
  });
  if (tcp) {
    app.use(tcpGuard(tcp));
  }
  app.get('/health', (_req, res) => {
    res.json({ ok: true, version: VERSION, instances: lake.config.instances.length });
  });
  // The body is read before the XSRF check refuses a request: answering while the proxy is still
  // sending it breaks jupyter-server-proxy's connection, and Jupyter then shows a 500 page.
  app.use(express.json({ limit: BODY_LIMIT, type: () => true, strict: true }));
  app.use(xsrfCheck);
  app.use('/api', apiRouter(lake));
  app.use((req, _res, next) => {
    next(
      new AppError(
        404,
        'not_found',
        `The companion has no ${req.method} ${req.path.slice(0, 100)}.`
      )
    );
  });
  app.use(errorHandler);
  return app;
}

/** Turns every error into a JSON answer with a sentence; unexpected ones are logged, not shown. */
function errorHandler(error: unknown, req: Request, res: Response, _next: NextFunction): void {
  let appError: AppError;
  if (error instanceof AppError) {
    appError = error;
  } else if (isBodyError(error, 'entity.too.large')) {
    appError = new AppError(
      413,
      'too_large',
      `The request body is larger than ${BODY_LIMIT}; the companion accepts only small JSON bodies.`
    );
  } else if (isBodyError(error, 'entity.parse.failed')) {
    appError = new AppError(400, 'bad_request', 'The request body is not valid JSON.');
  } else if (isBodyError(error)) {
    appError = new AppError(400, 'bad_request', 'The request body could not be read; send JSON.');
  } else {
    log('error', 'unexpected error', {
      method: req.method,
      path: req.path,
      error: error instanceof Error ? error.message : String(error)
    });
    appError = new AppError(
      500,
      'internal',
      'Something went wrong in the data lake companion. Try again; if it persists, restart your server.'
    );
  }
  if (res.headersSent) {
    res.end();
    return;
  }
  const send = (): void => {
    res.status(appError.status).json({ error: { code: appError.code, message: appError.message } });
  };
  if (req.complete) {
    send();
    return;
  }
  // Read what is left of a refused body (too large, say) before answering: answering while
  // jupyter-server-proxy is still sending breaks its connection, and Jupyter shows a 500 instead.
  req.once('end', send);
  req.once('error', () => res.destroy());
  req.resume();
}

function isBodyError(error: unknown, type?: string): boolean {
  const e = error as { type?: unknown; status?: unknown } | null;
  return (
    typeof e === 'object' &&
    e !== null &&
    // Some body errors have no type: a body that is not compressed as its Content-Encoding says.
    (type === undefined
      ? typeof e.status === 'number' && e.status >= 400 && e.status < 500
      : e.type === type)
  );
}

/**
 * Answers a request that Node's HTTP parser refuses before express sees it (a request line or
 * headers longer than Node reads, 16 KB; bytes that are not HTTP) with the JSON sentence every
 * other refusal gets, instead of Node's empty answer; a connection already gone is let go.
 */
function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (!socket.writable || error.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
  const status = tooLarge ? 431 : 400;
  const body = JSON.stringify({
    error: tooLarge
      ? {
          code: 'too_large',
          message:
            'The request’s address and headers are longer than the companion reads (16 KB). Ask for fewer DIDs at once, or for shorter names.'
        }
      : {
          code: 'bad_request',
          message:
            'The request is not valid HTTP, so the companion could not read it. Send a well-formed HTTP/1.1 request.'
        }
  });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

/** Loopback addresses a TCP companion may listen on: it speaks plain HTTP and holds credentials. */
const LOOPBACK_HOSTS = new Set(['127.0.0.1', '::1', 'localhost']);

/** Where a TCP companion listens unless told otherwise. */
const DEFAULT_HOST = '127.0.0.1';

/**
 * Where the companion listens: a unix socket (made 0600; how jupyter-server-proxy reaches it), or
 * a loopback TCP port (`host` 127.0.0.1 by default, ::1 or localhost). On TCP every request must
 * name loopback in `Host` and carry no foreign `Origin`, and, given a `token`, carry it. Without
 * a token only those checks apply: that is for tests that run the companion in their own process;
 * `dlaas-companion --port` always gives one.
 */
export type Listen =
  | { readonly socket: string }
  | { readonly port: number; readonly host?: string; readonly token?: CompanionToken };

/** A running companion. */
export interface RunningCompanion {
  readonly server: Server;
  readonly lake: Lake;
  /** `http://HOST:PORT` when on TCP (HOST 127.0.0.1 unless told otherwise), or the socket path. */
  readonly address: string;
  /** The file (mode 0600) that holds the token of a companion on TCP, when one was written. */
  readonly tokenFile?: string;
  stop(): Promise<void>;
}

/**
 * Starts the companion (port 0 picks a free port, for tests). On TCP with a token that has a
 * `file`, the token is written there (0600) once the port is known, and removed by `stop()`.
 */
export async function start(
  config: Config,
  listen: Listen,
  options: AvailabilityOptions = {}
): Promise<RunningCompanion> {
  const tcp = 'socket' in listen ? undefined : { ...listen, host: listen.host ?? DEFAULT_HOST };
  if (tcp && !LOOPBACK_HOSTS.has(tcp.host)) {
    throw new Error(
      `The companion listens on TCP only on loopback (127.0.0.1, ::1 or localhost), not on ${tcp.host}: it speaks plain HTTP and holds the user's credentials.`
    );
  }
  const problem = tcp?.token && tokenProblem(tcp.token.secret, "The companion's token");
  if (problem) {
    throw new Error(problem);
  }
  const lake = new Lake(config, options);
  // Mounted before the companion answers, so that a Jupyter server that starts it finds its
  // folders there; their contents are read from Rucio afterwards.
  await lake.startMounts();
  // Known once the port is; the guard names it only when it refuses a request.
  let tokenFile: string | undefined;
  const app = createApp(
    lake,
    tcp && {
      secret: tcp.token?.secret,
      whereIsToken: () => tokenFile ?? tcp.token?.hint ?? 'whoever started the companion'
    }
  );
  const server = await new Promise<Server>((resolvePromise, reject) => {
    const onError = (error: Error): void => reject(error);
    let s: Server;
    if ('socket' in listen) {
      if (existsSync(listen.socket)) {
        rmSync(listen.socket);
      }
      s = app.listen(listen.socket, () => {
        // Only the user the Jupyter server runs as may talk to the companion.
        chmodSync(listen.socket, 0o600);
        resolvePromise(s);
      });
    } else {
      s = app.listen(listen.port, listen.host ?? DEFAULT_HOST, () => resolvePromise(s));
    }
    s.once('error', onError);
  });
  server.on('clientError', answerClientError);
  const stop = async (): Promise<void> => {
    server.closeAllConnections();
    await Promise.all([
      new Promise<void>(resolvePromise => server.close(() => resolvePromise())),
      lake.close()
    ]);
    if (tokenFile !== undefined) {
      rmSync(tokenFile, { force: true });
    }
  };
  if ('socket' in listen) {
    return { server, lake, address: listen.socket, stop };
  }
  const port = (server.address() as AddressInfo).port;
  const file = listen.token?.file?.(port);
  if (listen.token && file !== undefined) {
    try {
      writeTokenFile(file, listen.token.secret);
    } catch (error) {
      await stop();
      throw error;
    }
    tokenFile = file;
  }
  const host = listen.host === '::1' ? '[::1]' : (listen.host ?? DEFAULT_HOST);
  return { server, lake, address: `http://${host}:${port}`, tokenFile, stop };
}
