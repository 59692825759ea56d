import type { CredentialSource } from '../auth/credentials.js';
import type { InstanceConfig } from '../config.js';
import { AppError } from '../errors.js';
import { fetchWithinOrigin } from '../http.js';
import { mapRucioError, rucioException, unreachable, type ErrorContext } from './errors.js';
import { parseRucioJson } from './json.js';

/** Query parameters; undefined values are left out, a list repeats its key (`lfn=a&lfn=b`). */
export type Query = Record<string, string | number | boolean | readonly string[] | undefined>;

/** Options of one request. */
export interface RequestOptions {
  readonly query?: Query;
  readonly body?: unknown;
  /** Named in error sentences. */
  readonly context?: Omit<ErrorContext, 'instance'>;
  readonly signal?: AbortSignal;
}

/** Requests sent to one instance's Rucio at once, unless the instance configures another number. */
export const DEFAULT_MAX_CONCURRENT_REQUESTS = 8;

/** Seconds Rucio may take to start answering, or stay silent mid-answer, unless configured. */
export const DEFAULT_REQUEST_TIMEOUT_SECONDS = 30;

/** Statuses whose answer never has a body (a Response with one cannot be made). */
const NULL_BODY = new Set([101, 204, 205, 304]);

/**
 * At most `limit` holders at once; the others wait their turn, first come first served. A waiter
 * whose signal aborts leaves the queue.
 */
class Slots {
  private held = 0;
  private readonly queue: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  /** Waits for a slot; resolves with the function that gives it back (once). */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    if (this.held >= this.limit) {
      await new Promise<void>((resolvePromise, reject) => {
        const onAbort = (): void => {
          this.queue.splice(this.queue.indexOf(turn), 1);
          reject(signal?.reason);
        };
        const turn = (): void => {
          signal?.removeEventListener('abort', onAbort);
          resolvePromise();
        };
        this.queue.push(turn);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    } else {
      this.held++;
    }
    let released = false;
    return () => {
      if (released) {
        return;
      }
      released = true;
      // The slot passes straight to the next waiter, so `held` stays as it is.
      const next = this.queue.shift();
      if (next) {
        next();
      } else {
        this.held--;
      }
    };
  }
}

/**
 * A body that fails with `onIdle()` when a read waits more than `idleMs` for the next bytes. The
 * time counts only while the consumer waits for a read (`highWaterMark: 0`: nothing is pulled
 * ahead), so a list held half-read between two windows never times out.
 */
export function idleGuarded(
  body: ReadableStream<Uint8Array>,
  idleMs: number,
  onIdle: () => Error
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let timer: NodeJS.Timeout | undefined;
        const idle = new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(onIdle()), idleMs);
        });
        try {
          const chunk = await Promise.race([reader.read(), idle]);
          if (chunk.done) {
            controller.close();
          } else {
            controller.enqueue(chunk.value);
          }
        } catch (error) {
          controller.error(error);
          // Closes the connection of a stalled answer.
          await reader.cancel(error).catch(() => undefined);
        } finally {
          clearTimeout(timer);
        }
      },
      cancel(reason) {
        return reader.cancel(reason);
      }
    },
    { highWaterMark: 0 }
  );
}

/** Encodes one path segment as Rucio's own client does (a `/` in a DID name becomes %2F). */
export function segment(value: string): string {
  return encodeURIComponent(value);
}

/** The REST path of a DID. */
export function didPath(scope: string, name: string): string {
  return `/dids/${segment(scope)}/${segment(name)}`;
}

/**
 * Rucio's REST API for one instance and one user: adds the user's token, renews it once when
 * Rucio refuses it, maps errors to sentences, and reads streamed lists line by line.
 *
 * Load and hangs: at most `maxConcurrentRequests` (default 8) requests are under way at once, the
 * others wait their turn; Rucio must start answering (connect, redirects, headers) within
 * `requestTimeoutSeconds` (default 30), and an answer being read may not stay silent that long
 * (an idle timeout: a long listing may take minutes, as long as bytes keep coming). Either ends
 * in a 504 with a sentence.
 *
 * What a slot covers: a request holds it until its headers are in, and a {@link json} request
 * also while its body is read. A streamed list ({@link request}, {@link lines}) gives its slot
 * back when the headers are in, because its caller may hold it open for long: the windows of
 * browse and paths keep half-read lists for minutes, and some callers read a list while they
 * send other requests (details reads rules while asking metadata). If streams kept their slots,
 * eight held lists would leave no slot for anything, and a caller waiting for a slot while it
 * holds a stream would wait forever. Rucio does the costly part of a list before its first
 * line, so the bound still covers most of its work.
 */
export class RucioClient {
  private whoamiCache: Promise<string> | undefined;
  private readonly slots: Slots;
  private readonly timeoutMs: number;

  constructor(
    readonly instance: InstanceConfig,
    readonly credentials: CredentialSource
  ) {
    this.slots = new Slots(instance.maxConcurrentRequests ?? DEFAULT_MAX_CONCURRENT_REQUESTS);
    this.timeoutMs = (instance.requestTimeoutSeconds ?? DEFAULT_REQUEST_TIMEOUT_SECONDS) * 1000;
  }

  /**
   * Sends a request; resolves with a 2xx response, otherwise throws an AppError. The request's
   * slot is given back once the headers are in (see the class comment).
   */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const { response, release } = await this.exchange(method, path, options);
    release();
    return response;
  }

  /**
   * Sends a request within a slot and the timeouts; resolves with a 2xx response whose body
   * times out when idle, and the function that gives the slot back. Error answers are read and
   * mapped here, and their slot given back.
   */
  private async exchange(
    method: string,
    path: string,
    options: RequestOptions
  ): Promise<{ response: Response; release: () => void }> {
    const url = new URL(this.instance.rucioUrl.replace(/\/$/, '') + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (Array.isArray(value)) {
        for (const item of value as readonly string[]) {
          url.searchParams.append(key, item);
        }
      } else if (value !== undefined) {
        url.searchParams.set(key, String(value));
      }
    }
    const send = async (refresh: boolean): Promise<{ response: Response; release: () => void }> => {
      const token = await this.credentials.token(refresh);
      const headers: Record<string, string> = {
        'X-Rucio-Auth-Token': token.value,
        'X-Rucio-AppID': 'dlaas'
      };
      let body: string | undefined;
      if (options.body !== undefined) {
        headers['Content-Type'] = 'application/json';
        body = JSON.stringify(options.body);
      }
      // The token first: signing in may itself wait for Rucio, outside the bound.
      const release = await this.slots.acquire(options.signal);
      // Not AbortSignal.timeout: that would also end a long listing whose bytes keep coming.
      const deadline = new AbortController();
      const timer = setTimeout(() => deadline.abort(this.noAnswer()), this.timeoutMs);
      const signal = options.signal
        ? AbortSignal.any([options.signal, deadline.signal])
        : deadline.signal;
      try {
        const response = await fetchWithinOrigin(
          url,
          { method, headers, body: body ?? null, signal },
          this.instance.name
        );
        return { response: this.guarded(response), release };
      } catch (error) {
        release();
        if (options.signal?.aborted || error instanceof AppError) {
          throw error;
        }
        if (deadline.signal.aborted) {
          throw deadline.signal.reason;
        }
        throw unreachable(this.instance.name, this.instance.rucioUrl, error);
      } finally {
        clearTimeout(timer);
      }
    };
    let sent = await send(false);
    if (sent.response.status === 401) {
      await sent.response.body?.cancel();
      sent.release();
      sent = await send(true);
    }
    const { response, release } = sent;
    if (!response.ok) {
      try {
        const { exceptionClass, message } = await rucioException(response);
        throw mapRucioError(response.status, exceptionClass, message, {
          instance: this.instance.name,
          ...options.context
        });
      } finally {
        release();
      }
    }
    return sent;
  }

  /** The response with a body that fails when Rucio stops sending mid-answer. */
  private guarded(response: Response): Response {
    if (!response.body || NULL_BODY.has(response.status)) {
      return response;
    }
    return new Response(
      idleGuarded(response.body, this.timeoutMs, () => this.stalled()),
      {
        status: response.status,
        statusText: response.statusText,
        headers: response.headers
      }
    );
  }

  private get timeoutText(): string {
    return `${Number((this.timeoutMs / 1000).toFixed(1))} s`;
  }

  /** 504: Rucio did not start answering in time. */
  private noAnswer(): AppError {
    return new AppError(
      504,
      'rucio_unreachable',
      `${this.instance.name} did not answer within ${this.timeoutText}. Try again; if it persists, tell the data lake's admins.`
    );
  }

  /** 504: Rucio stopped sending in the middle of an answer. */
  private stalled(): AppError {
    return new AppError(
      504,
      'rucio_unreachable',
      `${this.instance.name} stopped sending its answer for ${this.timeoutText}. Try again; if it persists, tell the data lake's admins.`
    );
  }

  /** Sends a request and parses its JSON answer; the body is read within the request's slot. */
  async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const { response, release } = await this.exchange(method, path, options);
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      if (error instanceof AppError || options.signal?.aborted) {
        throw error;
      }
      throw this.cutShort();
    } finally {
      release();
    }
    try {
      return (text.trim() === '' ? null : parseRucioJson(text)) as T;
    } catch {
      throw new AppError(
        502,
        'rucio_error',
        `${this.instance.name} sent an answer that is not JSON. Try again; if it persists, tell the data lake's admins.`
      );
    }
  }

  /**
   * Streams a list Rucio sends one JSON value per line, reading the network only as fast as the
   * caller consumes. A stream that breaks off, or ends inside a line, is reported as cut short:
   * Rucio sends status 200 before it knows whether the whole list will follow.
   */
  async *lines<T>(
    method: string,
    path: string,
    options: RequestOptions = {}
  ): AsyncGenerator<T, void, undefined> {
    const response = await this.request(method, path, options);
    if (!response.body) {
      return;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for (;;) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (error) {
          // A stalled answer says so; any other break is a list cut short.
          if (options.signal?.aborted || error instanceof AppError) {
            throw error;
          }
          throw this.cutShort();
        }
        if (chunk.done) {
          break;
        }
        buffer += decoder.decode(chunk.value, { stream: true });
        let newline = buffer.indexOf('\n');
        while (newline >= 0) {
          const line = buffer.slice(0, newline).trim();
          buffer = buffer.slice(newline + 1);
          if (line !== '') {
            yield this.parseLine<T>(line);
          }
          newline = buffer.indexOf('\n');
        }
      }
      buffer += decoder.decode();
      if (buffer.trim() !== '') {
        // Rucio ends every line with a newline; a last line without one is a cut-off stream,
        // unless it is a whole JSON value (some routes send one plain JSON document).
        yield this.parseLine<T>(buffer.trim());
      }
    } finally {
      await reader.cancel().catch(() => undefined);
    }
  }

  private parseLine<T>(line: string): T {
    try {
      return parseRucioJson(line) as T;
    } catch {
      throw this.cutShort();
    }
  }

  private cutShort(): AppError {
    return new AppError(
      502,
      'rucio_error',
      `${this.instance.name} broke off its answer before the end. Try again; if it persists, tell the data lake's admins.`
    );
  }

  /** Forgets which account the user acts as (after signing out). */
  forgetAccount(): void {
    this.whoamiCache = undefined;
  }

  /** The account the user acts as (asked once from Rucio when no credential says it). */
  whoami(): Promise<string> {
    this.whoamiCache ??= (async () => {
      const configured = this.credentials.configuredAccount;
      if (configured) {
        return configured;
      }
      const token = await this.credentials.token();
      if (token.account) {
        return token.account;
      }
      const account = await this.json<{ account?: string }>('GET', '/accounts/whoami');
      if (typeof account?.account !== 'string') {
        throw new AppError(
          502,
          'rucio_error',
          `${this.instance.name} did not say which account you are. Try again.`
        );
      }
      return account.account;
    })().catch(error => {
      this.whoamiCache = undefined;
      throw error;
    });
    return this.whoamiCache;
  }
}
