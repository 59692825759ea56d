import { AppError } from './errors.js';

/** Redirects followed within one origin before giving up. */
const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * `fetch` for requests that carry the user's credentials (Rucio's `X-Rucio-*` headers, a hub
 * token): Node's fetch drops only `Authorization` and `Cookie` when a redirect leaves the origin,
 * so redirects are followed here only within the origin of `url` (same scheme, host and port: an
 * https request is never sent on over http). A redirect elsewhere is an error that names the host
 * it pointed to, and nothing is sent there. `who` names the server in the sentence.
 */
export async function fetchWithinOrigin(
  url: string | URL,
  init: RequestInit,
  who: string
): Promise<Response> {
  let current = new URL(url);
  let method = init.method ?? 'GET';
  let body = init.body;
  for (let hop = 0; ; hop++) {
    const response = await fetch(current, { ...init, method, body, redirect: 'manual' });
    const location = response.headers.get('location');
    if (!REDIRECTS.has(response.status) || location === null) {
      return response;
    }
    await response.body?.cancel();
    const next = new URL(location, current);
    if (next.origin !== current.origin) {
      throw new AppError(
        502,
        'rucio_error',
        `${who} redirected a request that carries your credentials to another address (${next.protocol}//${next.host}); dlaas does not send credentials on to another host. Tell the data lake's admins.`
      );
    }
    if (hop >= MAX_REDIRECTS) {
      throw new AppError(
        502,
        'rucio_error',
        `${who} redirected a request more than ${MAX_REDIRECTS} times. Tell the data lake's admins.`
      );
    }
    // As browsers do: 303, and 301/302 after a POST, continue as a GET without a body.
    if (response.status === 303 || (response.status <= 302 && method === 'POST')) {
      method = 'GET';
      body = null;
    }
    current = next;
  }
}
