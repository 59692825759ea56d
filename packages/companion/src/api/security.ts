import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { createHash, timingSafeEqual } from 'node:crypto';
import { AppError } from '../errors.js';

/** Methods that change state and so need the XSRF check. */
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function cookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) {
      try {
        return decodeURIComponent(value.join('='));
      } catch {
        return undefined; // malformed %-escapes: no usable cookie, so the check refuses (403)
      }
    }
  }
  return undefined;
}

/**
 * Jupyter's XSRF double-submit check, which jupyter-server-proxy does not do for proxied apps: a
 * state-changing request must carry the `_xsrf` cookie Jupyter set and the same value in the
 * `X-XSRFToken` header (JupyterLab's ServerConnection sends both). A page on another origin
 * cannot read the cookie, so it cannot forge the header.
 */
export function xsrfCheck(req: Request, _res: Response, next: NextFunction): void {
  if (!UNSAFE.has(req.method)) {
    next();
    return;
  }
  const expected = cookie(req.headers.cookie, '_xsrf');
  const sent = req.get('x-xsrftoken');
  if (!expected || !sent || expected !== sent) {
    next(
      new AppError(
        403,
        'forbidden',
        "This request lacks Jupyter's XSRF token, so it was refused. Reload JupyterLab and try again."
      )
    );
    return;
  }
  next();
}

/** The names a request to a TCP companion may give in `Host`: loopback, nothing that DNS answers. */
const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** `Host` as `name` or `name:port` (`[v6]` or `[v6]:port`), its name lower-cased; else undefined. */
function hostName(host: string | undefined): string | undefined {
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::\d{1,5})?$/i.exec(host ?? '');
  return match?.[1]?.toLowerCase();
}

/** What the TCP guard checks besides `Host` and `Origin`. */
export interface TcpGuardOptions {
  /**
   * The token every request must carry as `Authorization: token <secret>`; without it only
   * `Host` and `Origin` are checked (in-process tests, which pass no secret).
   */
  readonly secret?: string;
  /** Where a client finds the token, said in the 401 sentence (e.g. a file path). */
  readonly whereIsToken: () => string;
}

/**
 * The guard of a companion that listens on TCP, where any local user and any web page (through
 * DNS rebinding) can reach the port: `Host` must name loopback (127.0.0.1, localhost or [::1];
 * a rebound name such as evil.example is refused, 403), an `Origin` must be the companion's own
 * (`http://` and the same `Host`; another page's, 403), and when there is a secret,
 * `Authorization: token <secret>` (or `Bearer`) must carry it (401). The secret is compared in
 * constant time (SHA-256 of both, so the lengths are equal too).
 */
export function tcpGuard(options: TcpGuardOptions): RequestHandler {
  const expected =
    options.secret === undefined ? undefined : createHash('sha256').update(options.secret).digest();
  return (req, res, next) => {
    const host = req.headers.host;
    const name = hostName(host);
    if (name === undefined || !LOOPBACK_NAMES.has(name)) {
      next(
        new AppError(
          403,
          'forbidden',
          `The companion answers only requests to 127.0.0.1, localhost or [::1], not to ${JSON.stringify((host ?? '').slice(0, 100))}; use http://127.0.0.1:<port> (a web page that renamed it is refused on purpose).`
        )
      );
      return;
    }
    const origin = req.headers.origin;
    if (origin !== undefined && origin.toLowerCase() !== `http://${(host ?? '').toLowerCase()}`) {
      next(
        new AppError(
          403,
          'forbidden',
          `The companion does not answer requests from web pages of other origins (${JSON.stringify(origin.slice(0, 100))}); open it through JupyterLab, or call it from a program without an Origin header.`
        )
      );
      return;
    }
    if (expected === undefined) {
      next();
      return;
    }
    const sent = /^(?:token|bearer)\s+(\S+)\s*$/i.exec(req.get('authorization') ?? '')?.[1];
    if (
      sent === undefined ||
      !timingSafeEqual(createHash('sha256').update(sent).digest(), expected)
    ) {
      res.set('WWW-Authenticate', 'token realm="dlaas-companion"');
      next(
        new AppError(
          401,
          'forbidden',
          `${sent === undefined ? 'This request has no token' : "The token sent is not this companion's"}, so it was refused. Send the header "Authorization: token <token>" with the token from ${options.whereIsToken()}.`
        )
      );
      return;
    }
    next();
  };
}
