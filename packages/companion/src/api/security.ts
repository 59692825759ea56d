import type { NextFunction, Request, Response } from 'express';
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
