import type { DemoAccount } from './settings.js';

/** An error answer of Rucio's REST API, with Rucio's exception class when it sent one. */
export class RucioError extends Error {
  override readonly name = 'RucioError';
  constructor(
    message: string,
    readonly status: number,
    readonly exceptionClass: string | undefined
  ) {
    super(message);
  }
}

/** Query parameters; undefined values are left out. */
export type Query = Record<string, string | number | boolean | undefined>;

/** Encodes one path segment the way Rucio's client does (a `/` in a DID name becomes %2F). */
export function segment(value: string): string {
  return encodeURIComponent(value);
}

/** The REST path of a DID, `/dids/<scope>/<name>`, each part one encoded segment. */
export function didPath(scope: string, name: string): string {
  return `/dids/${segment(scope)}/${segment(name)}`;
}

/**
 * A small client for Rucio's REST API, signed in as one userpass account, used by devlake to seed
 * its data and by its tests. Tokens are cached until five minutes before they expire.
 */
export class RucioRest {
  private token: { value: string; expires: number } | undefined;

  constructor(
    readonly baseUrl: string,
    private readonly identity: Pick<DemoAccount, 'account' | 'username' | 'password'>
  ) {}

  /** The account this client acts as. */
  get account(): string {
    return this.identity.account;
  }

  /** A valid Rucio token for the account, fetched from `/auth/userpass` when needed. */
  async authToken(): Promise<string> {
    if (this.token && this.token.expires - Date.now() > 5 * 60_000) {
      return this.token.value;
    }
    const response = await fetch(`${this.baseUrl}/auth/userpass`, {
      headers: {
        'X-Rucio-Account': this.identity.account,
        'X-Rucio-Username': this.identity.username,
        'X-Rucio-Password': this.identity.password
      }
    });
    const value = response.headers.get('x-rucio-auth-token');
    if (!response.ok || !value) {
      throw await errorOf(response, `signing in to Rucio as ${this.identity.account}`);
    }
    const expiresHeader = response.headers.get('x-rucio-auth-token-expires');
    const expires = expiresHeader
      ? Date.parse(expiresHeader.replace(/ UTC$/, ' GMT'))
      : Date.now() + 3600_000;
    this.token = { value, expires: Number.isNaN(expires) ? Date.now() + 3600_000 : expires };
    return value;
  }

  /** Sends a request and returns the response when its status is 2xx; throws a RucioError otherwise. */
  async request(
    method: string,
    path: string,
    options: { query?: Query; body?: unknown } = {}
  ): Promise<Response> {
    const url = new URL(this.baseUrl + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) {
        url.searchParams.set(key, String(value));
      }
    }
    const headers: Record<string, string> = { 'X-Rucio-Auth-Token': await this.authToken() };
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    let response: Response;
    try {
      response = await fetch(url, { method, headers, body, redirect: 'follow' });
    } catch (error) {
      const reason =
        (error as Error & { cause?: Error }).cause?.message ?? (error as Error).message;
      throw new RucioError(
        `${method} ${path}: Rucio at ${this.baseUrl} did not answer (${reason}). Check "devlake status" and the Rucio server's log.`,
        0,
        undefined
      );
    }
    if (!response.ok) {
      throw await errorOf(response, `${method} ${path}`);
    }
    return response;
  }

  /** Sends a request and parses a JSON answer (tolerating Rucio's `Infinity`). */
  async json<T>(
    method: string,
    path: string,
    options: { query?: Query; body?: unknown } = {}
  ): Promise<T> {
    const text = await (await this.request(method, path, options)).text();
    return parseRucioJson(text) as T;
  }

  /** Sends a request and parses a streamed (one JSON value per line) answer. */
  async lines<T>(
    method: string,
    path: string,
    options: { query?: Query; body?: unknown } = {}
  ): Promise<T[]> {
    const text = await (await this.request(method, path, options)).text();
    return text
      .split('\n')
      .filter(line => line.trim() !== '')
      .map(line => parseRucioJson(line) as T);
  }
}

/** Parses JSON as Rucio writes it, where an unlimited value is the bare word `Infinity`. */
export function parseRucioJson(text: string): unknown {
  if (text.trim() === '') {
    return null;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return JSON.parse(
      text.replace(/(?<=[:[,]\s*)-?Infinity(?=\s*[,\]}])/g, m =>
        m.startsWith('-') ? '-1e999' : '1e999'
      )
    ) as unknown;
  }
}

async function errorOf(response: Response, what: string): Promise<RucioError> {
  const exceptionClass = response.headers.get('exceptionclass') ?? undefined;
  let message = response.headers.get('exceptionmessage') ?? '';
  const text = await response.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { ExceptionClass?: string; ExceptionMessage?: string };
    message = body.ExceptionMessage ?? message;
  } catch {
    // Not JSON (Flask's HTML 404, for one): the status says enough.
  }
  return new RucioError(
    `${what}: Rucio answered ${response.status}${exceptionClass ? ` ${exceptionClass}` : ''}${message ? `: ${message}` : ''}`,
    response.status,
    exceptionClass ?? undefined
  );
}
