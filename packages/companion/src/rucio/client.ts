import type { CredentialSource } from '../auth/credentials.js';
import type { InstanceConfig } from '../config.js';
import { AppError } from '../errors.js';
import { fetchWithinOrigin } from '../http.js';
import { mapRucioError, rucioException, unreachable, type ErrorContext } from './errors.js';
import { parseRucioJson } from './json.js';

/** Query parameters; undefined values are left out. */
export type Query = Record<string, string | number | boolean | undefined>;

/** Options of one request. */
export interface RequestOptions {
  readonly query?: Query;
  readonly body?: unknown;
  /** Named in error sentences. */
  readonly context?: Omit<ErrorContext, 'instance'>;
  readonly signal?: AbortSignal;
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
 */
export class RucioClient {
  private whoamiCache: Promise<string> | undefined;

  constructor(
    readonly instance: InstanceConfig,
    readonly credentials: CredentialSource
  ) {}

  /** Sends a request; resolves with a 2xx response, otherwise throws an AppError. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const url = new URL(this.instance.rucioUrl.replace(/\/$/, '') + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) {
        url.searchParams.set(key, String(value));
      }
    }
    const send = async (refresh: boolean): Promise<Response> => {
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
      try {
        return await fetchWithinOrigin(
          url,
          { method, headers, body: body ?? null, signal: options.signal ?? null },
          this.instance.name
        );
      } catch (error) {
        if (options.signal?.aborted || error instanceof AppError) {
          throw error;
        }
        throw unreachable(this.instance.name, this.instance.rucioUrl, error);
      }
    };
    let response = await send(false);
    if (response.status === 401) {
      await response.body?.cancel();
      response = await send(true);
    }
    if (!response.ok) {
      const { exceptionClass, message } = await rucioException(response);
      throw mapRucioError(response.status, exceptionClass, message, {
        instance: this.instance.name,
        ...options.context
      });
    }
    return response;
  }

  /** Sends a request and parses its JSON answer. */
  async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const text = await (await this.request(method, path, options)).text();
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
          if (options.signal?.aborted) {
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
