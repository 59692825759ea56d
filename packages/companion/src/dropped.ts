import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Error codes of a connection the other side dropped: a storage that closes a kept-alive
 * connection as a request goes out on it, or sheds connections under load (XRootD reset one PUT
 * in a thousand small ones here). The same request, sent again at once, usually goes through.
 */
const DROPPED_CODES = new Set(['ECONNRESET', 'EPIPE']);

/** Waits before the second and the third try of a request whose connection was dropped. */
export const DROPPED_RETRY_DELAYS_MS: readonly number[] = [100, 1000];

/** Whether `error` (or the error it wraps) is a connection the other side dropped. */
export function droppedConnection(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 4; depth++) {
    if (DROPPED_CODES.has((e as NodeJS.ErrnoException).code ?? '')) {
      return true;
    }
    e = e.cause;
  }
  return false;
}

/**
 * Runs `attempt`, and again after each of `delays` while it fails with an error `dropped` says is
 * a dropped connection; any other error, an abort, or the last try's error ends it. Only for
 * requests that may be sent twice (a whole PUT, a HEAD, a GET that resumes).
 */
export async function retryDropped<T>(
  attempt: () => Promise<T>,
  dropped: (error: unknown) => boolean,
  signal?: AbortSignal,
  delays: readonly number[] = DROPPED_RETRY_DELAYS_MS
): Promise<T> {
  for (let tries = 0; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      const delay = delays[tries];
      if (delay === undefined || signal?.aborted === true || !dropped(error)) {
        throw error;
      }
      try {
        await sleep(delay, undefined, signal ? { signal } : {});
      } catch {
        throw error; // aborted while waiting: the caller hears the failure it would have heard
      }
    }
  }
}
