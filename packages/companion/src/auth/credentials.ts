import type { AuthMethod } from '@dlaas/api';
import { readFileSync, statSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AuthConfig, InstanceConfig } from '../config.js';
import { AppError } from '../errors.js';
import { fetchWithinOrigin } from '../http.js';
import { rucioException, unreachable } from '../rucio/errors.js';
import { DEFAULT_REQUEST_TIMEOUT_SECONDS } from '../rucio/client.js';
import { DeviceCredentials } from './device.js';
import { ExchangingCredentials } from './exchange.js';
import { stillFresh } from './tokens.js';

/** A Rucio token and when it stops working. */
export interface RucioToken {
  readonly value: string;
  /** Milliseconds since the epoch. */
  readonly expiresAt: number;
  /** When it was issued (ms since the epoch), when known: short-lived tokens are renewed later. */
  readonly issuedAt?: number;
  /** The account Rucio says the token acts as, when it says. */
  readonly account: string | null;
}

/**
 * Where the companion gets the user's Rucio token for one instance. Implementations never log or
 * return the secret they hold except as the token itself.
 */
export interface CredentialSource {
  readonly method: AuthMethod;
  /** A valid token; `refresh` forces a new one (after Rucio refused the cached one). */
  token(refresh?: boolean): Promise<RucioToken>;
  /** The account configured for this source, if any. */
  readonly configuredAccount: string | null;
}

function notSignedIn(instance: string, why: string): AppError {
  return new AppError(401, 'not_signed_in', `${why} Sign in to ${instance}.`);
}

function parseExpiry(header: string | null): number {
  const ms = header ? Date.parse(header.replace(/ UTC$/, ' GMT')) : Number.NaN;
  return Number.isNaN(ms) ? Date.now() + 3600_000 : ms;
}

/**
 * A credential source that fetches tokens from somewhere (Rucio, JupyterHub) and keeps each until
 * five minutes before it expires (a quarter of its life for short-lived tokens); concurrent
 * requests share one fetch.
 */
abstract class CachedCredentials<
  A extends { account?: string | undefined }
> implements CredentialSource {
  abstract readonly method: AuthMethod;
  private cached: RucioToken | undefined;
  private pending: Promise<RucioToken> | undefined;

  constructor(
    protected readonly instance: InstanceConfig,
    protected readonly auth: A
  ) {}

  get configuredAccount(): string | null {
    return this.auth.account ?? null;
  }

  token(refresh = false): Promise<RucioToken> {
    if (!refresh && this.cached && stillFresh(this.cached.expiresAt, this.cached.issuedAt)) {
      return Promise.resolve(this.cached);
    }
    this.pending ??= this.fetchToken()
      .then(token => (this.cached = token))
      .finally(() => {
        this.pending = undefined;
      });
    return this.pending;
  }

  /** Gets a fresh token. */
  protected abstract fetchToken(): Promise<RucioToken>;
}

/** Signs in with a Rucio username and password (`GET /auth/userpass`), caching the token. */
export class UserpassCredentials extends CachedCredentials<
  Extract<AuthConfig, { method: 'userpass' }>
> {
  readonly method = 'userpass' as const;

  protected async fetchToken(): Promise<RucioToken> {
    const url = `${this.instance.authUrl ?? this.instance.rucioUrl}/auth/userpass`;
    const headers: Record<string, string> = {
      'X-Rucio-Username': this.auth.username,
      'X-Rucio-Password': this.auth.password,
      'X-Rucio-AppID': 'dlaas'
    };
    if (this.auth.account) {
      headers['X-Rucio-Account'] = this.auth.account;
    }
    let response: Response;
    try {
      response = await fetchWithinOrigin(
        url,
        { headers, signal: AbortSignal.timeout(timeoutMs(this.instance)) },
        this.instance.name
      );
    } catch (error) {
      if (error instanceof AppError) {
        throw error;
      }
      throw unreachable(this.instance.name, this.instance.authUrl ?? this.instance.rucioUrl, error);
    }
    const value = response.headers.get('x-rucio-auth-token');
    if (response.status === 206) {
      throw new AppError(
        409,
        'conflict',
        `Your identity on ${this.instance.name} maps to several accounts; the companion's configuration must name one ("account").`
      );
    }
    if (!response.ok || !value) {
      const { exceptionClass } = await rucioException(response);
      throw notSignedIn(
        this.instance.name,
        `${this.instance.name} refused the username and password (${exceptionClass ?? response.status}).`
      );
    }
    return {
      value,
      expiresAt: parseExpiry(response.headers.get('x-rucio-auth-token-expires')),
      account: response.headers.get('x-rucio-auth-account')
    };
  }
}

/**
 * Signs in with an X.509 certificate, or a grid proxy certificate (`GET /auth/x509` over TLS with
 * the certificate as client certificate), caching the token. A proxy file holds the proxy, its key
 * and the user's certificate: give it as `cert` alone.
 */
export class X509Credentials extends CachedCredentials<Extract<AuthConfig, { method: 'x509' }>> {
  readonly method = 'x509' as const;

  private read(file: string, what: string): Buffer {
    try {
      return readFileSync(file);
    } catch {
      throw notSignedIn(
        this.instance.name,
        `Your ${what} for ${this.instance.name} (${file}) cannot be read.`
      );
    }
  }

  protected async fetchToken(): Promise<RucioToken> {
    const base = this.instance.authUrl ?? this.instance.rucioUrl;
    const cert = this.read(this.auth.cert, 'certificate');
    const key = this.read(this.auth.key ?? this.auth.cert, 'certificate key');
    const ca = this.instance.caBundle ? this.read(this.instance.caBundle, 'CA bundle') : undefined;
    const headers: Record<string, string> = { 'X-Rucio-AppID': 'dlaas' };
    if (this.auth.account) {
      headers['X-Rucio-Account'] = this.auth.account;
    }
    const answer = await new Promise<IncomingMessage>((resolvePromise, reject) => {
      const req = httpsRequest(
        `${base.replace(/\/$/, '')}/auth/x509`,
        { cert, key, ...(ca ? { ca } : {}), headers, timeout: timeoutMs(this.instance) },
        resolvePromise
      );
      req.once('timeout', () =>
        req.destroy(new Error(`no answer within ${timeoutMs(this.instance) / 1000} s`))
      );
      req.once('error', reject);
      req.end();
    }).catch((error: unknown) => {
      throw unreachable(this.instance.name, base, error);
    });
    answer.resume();
    const value = answer.headers['x-rucio-auth-token'];
    if (answer.statusCode !== 200 || typeof value !== 'string') {
      const exceptionClass = answer.headers['exceptionclass'];
      throw notSignedIn(
        this.instance.name,
        `${this.instance.name} refused your certificate (${typeof exceptionClass === 'string' ? exceptionClass : answer.statusCode}).`
      );
    }
    const account = answer.headers['x-rucio-auth-account'];
    return {
      value,
      expiresAt: parseExpiry(String(answer.headers['x-rucio-auth-token-expires'] ?? '') || null),
      account: typeof account === 'string' ? account : null
    };
  }
}

/** How long a sign-in request may take: the instance's request timeout (default 30 s). */
function timeoutMs(instance: InstanceConfig): number {
  return (instance.requestTimeoutSeconds ?? DEFAULT_REQUEST_TIMEOUT_SECONDS) * 1000;
}

/** Reads the `exp` claim of a JWT without checking it (Rucio checks it). */
export function jwtExpiry(token: string): number | undefined {
  return jwtTime(token, 'exp');
}

/** A JWT's `iat` claim in milliseconds since the epoch, if it is a JWT with one. */
export function jwtIssuedAt(token: string): number | undefined {
  return jwtTime(token, 'iat');
}

function jwtTime(token: string, claim: 'exp' | 'iat'): number | undefined {
  const payload = token.split('.')[1];
  if (!payload) {
    return undefined;
  }
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<
      string,
      unknown
    >;
    const value = claims[claim];
    return typeof value === 'number' ? value * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Uses an OIDC access token kept in a file (re-read when the file changes, as a sidecar refreshes
 * it) or in an environment variable, and sends it to Rucio as the Rucio token.
 */
export class TokenCredentials implements CredentialSource {
  readonly method = 'token' as const;
  private cache: { mtimeMs: number; token: RucioToken } | undefined;

  constructor(
    private readonly instance: InstanceConfig,
    private readonly auth: Extract<AuthConfig, { method: 'token' }>,
    private readonly env: NodeJS.ProcessEnv = process.env
  ) {}

  get configuredAccount(): string | null {
    return this.auth.account ?? null;
  }

  async token(): Promise<RucioToken> {
    const value = this.read();
    const expiresAt = jwtExpiry(value) ?? Date.now() + 3600_000;
    if (expiresAt <= Date.now()) {
      throw notSignedIn(
        this.instance.name,
        `Your access token for ${this.instance.name} has expired and nothing renewed it.`
      );
    }
    return { value, expiresAt, account: this.auth.account ?? null };
  }

  private read(): string {
    if (this.auth.file !== undefined) {
      const file = this.auth.file;
      let mtimeMs: number;
      try {
        mtimeMs = statSync(file).mtimeMs;
      } catch {
        throw notSignedIn(
          this.instance.name,
          `No access token for ${this.instance.name} was found (the file ${file} does not exist).`
        );
      }
      if (this.cache?.mtimeMs !== mtimeMs) {
        const value = readFileSync(file, 'utf8').trim();
        this.cache = { mtimeMs, token: { value, expiresAt: 0, account: null } };
      }
      if (this.cache.token.value === '') {
        throw notSignedIn(
          this.instance.name,
          `The access token file for ${this.instance.name} is empty.`
        );
      }
      return this.cache.token.value;
    }
    const value = this.env[this.auth.env ?? '']?.trim();
    if (!value) {
      throw notSignedIn(
        this.instance.name,
        `No access token for ${this.instance.name} was found (the variable ${this.auth.env} is not set).`
      );
    }
    return value;
  }
}

/**
 * Takes the user's OIDC access token from JupyterHub: `GET $JUPYTERHUB_API_URL/users/<name>` with
 * the server's `$JUPYTERHUB_API_TOKEN` (the server needs the scope `admin:auth_state!user`)
 * returns the user's `auth_state`, where OAuthenticator keeps the IAM tokens. The name is
 * `$JUPYTERHUB_USER`, or what `/user` says. The token is fetched again
 * five minutes (or a quarter of its life, if shorter) before it expires (the hub renews it), or
 * when Rucio refuses it.
 */
export class HubCredentials extends CachedCredentials<
  Extract<AuthConfig, { method: 'jupyterhub' }>
> {
  readonly method = 'jupyterhub' as const;

  constructor(
    instance: InstanceConfig,
    auth: Extract<AuthConfig, { method: 'jupyterhub' }>,
    private readonly env: NodeJS.ProcessEnv = process.env
  ) {
    super(instance, auth);
  }

  protected async fetchToken(): Promise<RucioToken> {
    const api = this.env['JUPYTERHUB_API_URL'];
    const hubToken = this.env['JUPYTERHUB_API_TOKEN'];
    if (!api || !hubToken) {
      throw notSignedIn(
        this.instance.name,
        `This server does not run under JupyterHub, so ${this.instance.name}'s hub sign-in is not available.`
      );
    }
    const base = api.replace(/\/$/, '');
    const headers = { Authorization: `token ${hubToken}` };
    const hubGet = async (path: string): Promise<Record<string, unknown>> => {
      let response: Response;
      try {
        response = await fetchWithinOrigin(
          `${base}${path}`,
          { headers, signal: AbortSignal.timeout(timeoutMs(this.instance)) },
          'JupyterHub'
        );
      } catch (error) {
        if (error instanceof AppError) {
          throw error;
        }
        throw unreachable('JupyterHub', api, error);
      }
      if (!response.ok) {
        await response.body?.cancel();
        throw notSignedIn(
          this.instance.name,
          `JupyterHub did not hand out your sign-in (HTTP ${response.status}). If your sign-in at the hub has expired, log out of JupyterHub and log in again.`
        );
      }
      return (await response.json().catch(() => ({}))) as Record<string, unknown>;
    };
    // JupyterHub 5 leaves auth_state out of `/user`; `/users/<name>` has it.
    const name = this.env['JUPYTERHUB_USER'] || String((await hubGet('/user'))['name'] ?? '');
    const user = (await hubGet(`/users/${encodeURIComponent(name)}`)) as {
      auth_state?: Record<string, unknown> | null;
    };
    const value = user.auth_state?.[this.auth.tokenKey ?? 'access_token'];
    if (typeof value !== 'string' || value === '') {
      throw notSignedIn(
        this.instance.name,
        'JupyterHub holds no access token for you (auth_state is off, or this server may not read it). Log out of JupyterHub and log in again.'
      );
    }
    const expiresAt = jwtExpiry(value) ?? Date.now() + 3600_000;
    if (expiresAt <= Date.now()) {
      throw notSignedIn(
        this.instance.name,
        'The access token JupyterHub holds for you has expired. Log out of JupyterHub and log in again.'
      );
    }
    const issuedAt = jwtIssuedAt(value);
    return {
      value,
      expiresAt,
      ...(issuedAt !== undefined ? { issuedAt } : {}),
      account: this.auth.account ?? null
    };
  }
}

/** The credential source an instance's configuration asks for (with token exchange if configured). */
export function credentialsFor(instance: InstanceConfig): CredentialSource {
  const source = baseCredentials(instance);
  const auth = instance.auth;
  return (auth.method === 'token' || auth.method === 'jupyterhub') && auth.exchange
    ? new ExchangingCredentials(instance, source, auth.exchange)
    : source;
}

function baseCredentials(instance: InstanceConfig): CredentialSource {
  switch (instance.auth.method) {
    case 'userpass':
      return new UserpassCredentials(instance, instance.auth);
    case 'token':
      return new TokenCredentials(instance, instance.auth);
    case 'jupyterhub':
      return new HubCredentials(instance, instance.auth);
    case 'device':
      return new DeviceCredentials(instance, instance.auth);
    case 'x509':
      return new X509Credentials(instance, instance.auth);
  }
}
