import type { DeviceSignIn } from '@dlaas/api';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import * as oidc from 'openid-client';
import type { AuthConfig, InstanceConfig } from '../config.js';
import { AppError } from '../errors.js';
import { log } from '../log.js';
import { tame } from '../rucio/errors.js';
import type { CredentialSource, RucioToken } from './credentials.js';
import { ProviderDiscovery, providerUnreachable, reasonOf, refusedByProvider } from './oidc.js';
import { stillFresh } from './tokens.js';

type DeviceAuthConfig = Extract<AuthConfig, { method: 'device' }>;

/** Tokens as kept in the token file. */
interface StoredTokens {
  accessToken: string;
  refreshToken: string | null;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

/** Default place of an instance's tokens: private to the user, kept across restarts. */
export function defaultTokenFile(instance: string, env: NodeJS.ProcessEnv = process.env): string {
  // The XDG spec: an unset, empty or relative XDG_DATA_HOME means the default.
  const xdg = env['XDG_DATA_HOME'];
  const base = xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.local', 'share');
  return join(base, 'dlaas', `${instance}.tokens.json`);
}

/**
 * Signs the user in with the OAuth device authorization flow (RFC 8628), for Binder and laptops:
 * the panel shows a code and a link, the user approves at the provider, and the companion polls,
 * keeps the tokens privately (a 0600 file) and refreshes the access token before it expires.
 * The access token goes to Rucio as the Rucio token.
 */
export class DeviceCredentials implements CredentialSource {
  readonly method = 'device' as const;
  private readonly provider: ProviderDiscovery;
  private tokens: StoredTokens | undefined;
  private pending: (DeviceSignIn & { abort: AbortController }) | undefined;
  private refreshing: Promise<RucioToken> | undefined;
  /** Why the last sign-in ended without the user signing out (expired, refresh refused). */
  private lapsed: string | undefined;
  private readonly tokenFile: string;

  constructor(
    private readonly instance: InstanceConfig,
    private readonly auth: DeviceAuthConfig
  ) {
    this.tokenFile = auth.tokenFile ?? defaultTokenFile(instance.name);
    this.provider = new ProviderDiscovery(
      instance.name,
      auth.issuer,
      auth.clientId,
      auth.clientSecret
    );
    this.tokens = this.load();
  }

  get configuredAccount(): string | null {
    return this.auth.account ?? null;
  }

  private extraParameters(): Record<string, string> {
    return this.auth.audience ? { audience: this.auth.audience } : {};
  }

  /**
   * Starts a device sign-in (or returns the one in progress): the code to enter and where. The
   * companion polls the provider in the background until the user approves, denies or the code
   * expires.
   */
  async startSignIn(): Promise<DeviceSignIn> {
    if (this.pending && Date.parse(this.pending.expiresAt) > Date.now()) {
      return this.view(this.pending);
    }
    const config = await this.provider.config();
    let response: oidc.DeviceAuthorizationResponse;
    try {
      response = await oidc.initiateDeviceAuthorization(config, {
        scope: this.auth.scope ?? 'openid profile offline_access',
        ...this.extraParameters()
      });
    } catch (error) {
      throw this.providerFailure(
        error,
        'so a sign-in cannot be started right now. Try again in a minute.'
      );
    }
    const verificationUri = signInLink(response.verification_uri, this.auth.issuer);
    if (verificationUri === null) {
      throw new AppError(
        502,
        'rucio_error',
        `The sign-in service of ${this.instance.name} gave a sign-in page that is not an https address, so dlaas does not show it. Tell the data lake's admins.`
      );
    }
    const abort = new AbortController();
    const pending = {
      userCode: response.user_code,
      verificationUri,
      verificationUriComplete: signInLink(response.verification_uri_complete, this.auth.issuer),
      expiresAt: new Date(Date.now() + response.expires_in * 1000).toISOString(),
      abort
    };
    this.pending = pending;
    oidc
      .pollDeviceAuthorizationGrant(config, response, undefined, { signal: abort.signal })
      .then(tokens => {
        this.store(tokens);
        log('info', 'device sign-in completed', { instance: this.instance.name });
      })
      .catch((error: unknown) => {
        if (!abort.signal.aborted) {
          log('warn', 'device sign-in ended without tokens', {
            instance: this.instance.name,
            reason: (error as Error).message
          });
        }
      })
      .finally(() => {
        if (this.pending === pending) {
          this.pending = undefined;
        }
      });
    return this.view(pending);
  }

  /** The sign-in in progress, if any. */
  pendingSignIn(): DeviceSignIn | null {
    return this.pending ? this.view(this.pending) : null;
  }

  private view({
    userCode,
    verificationUri,
    verificationUriComplete,
    expiresAt
  }: DeviceSignIn): DeviceSignIn {
    return { userCode, verificationUri, verificationUriComplete, expiresAt };
  }

  /** Forgets the tokens (and stops a sign-in in progress). */
  signOut(): void {
    this.pending?.abort.abort();
    this.pending = undefined;
    this.tokens = undefined;
    this.lapsed = undefined;
    rmSync(this.tokenFile, { force: true });
  }

  token(refresh = false): Promise<RucioToken> {
    const tokens = this.tokens;
    if (!tokens) {
      // A sign-in that lapsed keeps saying so ("sign in again") until the user signs in anew.
      return Promise.reject(
        this.lapsed
          ? this.signInNeeded(this.lapsed)
          : new AppError(
              401,
              'not_signed_in',
              `You are not signed in to ${this.instance.name}. Sign in to ${this.instance.name}.`
            )
      );
    }
    if (!refresh && stillFresh(tokens.expiresAt)) {
      return Promise.resolve(this.rucioToken(tokens));
    }
    this.refreshing ??= this.refresh(tokens).finally(() => {
      this.refreshing = undefined;
    });
    if (!refresh && tokens.expiresAt > Date.now()) {
      // Due, but still good and not refused by Rucio: used while it is renewed, so that a provider
      // that is down or slow holds nothing up (the next request tries again; a refusal, logged,
      // ends the sign-in as below).
      this.refreshing.catch(() => undefined);
      return Promise.resolve(this.rucioToken(tokens));
    }
    return this.refreshing;
  }

  private async refresh(tokens: StoredTokens): Promise<RucioToken> {
    if (!tokens.refreshToken) {
      this.tokens = undefined;
      this.lapsed = `Your sign-in to ${this.instance.name} has expired.`;
      throw this.signInNeeded(this.lapsed);
    }
    const config = await this.provider.config();
    let fresh: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers;
    try {
      fresh = await oidc.refreshTokenGrant(config, tokens.refreshToken, this.extraParameters());
    } catch (error) {
      log('warn', 'token refresh failed', {
        instance: this.instance.name,
        reason: reasonOf(error)
      });
      if (!refusedByProvider(error)) {
        // The provider is down or failing: the tokens are kept for when it is back.
        throw this.providerFailure(
          error,
          'so your sign-in could not be renewed. You are still signed in: try again in a minute.'
        );
      }
      this.tokens = undefined;
      rmSync(this.tokenFile, { force: true });
      this.lapsed = `Your sign-in to ${this.instance.name} can no longer be renewed.`;
      throw this.signInNeeded(this.lapsed);
    }
    return this.rucioToken(this.store(fresh, tokens.refreshToken));
  }

  /**
   * The error for a failed request to the provider: it refused (the companion's client settings
   * are wrong: only the admins can help), or it cannot be reached (`consequence` says what that
   * means for the user).
   */
  private providerFailure(error: unknown, consequence: string): AppError {
    if (error instanceof AppError) {
      return error;
    }
    if (refusedByProvider(error)) {
      const code = (error as { error?: unknown }).error;
      return new AppError(
        502,
        'not_configured',
        `The sign-in service of ${this.instance.name} (${tame(this.auth.issuer, 200)}) refused to start a sign-in (${typeof code === 'string' ? tame(code, 100) : 'no reason given'}). Tell the hub's admins: the companion's client settings for ${this.instance.name} (clientId, clientSecret, scope, audience) may be wrong.`
      );
    }
    return providerUnreachable(this.instance.name, this.auth.issuer, error, consequence);
  }

  private signInNeeded(why: string): AppError {
    return new AppError(401, 'not_signed_in', `${why} Sign in to ${this.instance.name} again.`);
  }

  private rucioToken(tokens: StoredTokens): RucioToken {
    return {
      value: tokens.accessToken,
      expiresAt: tokens.expiresAt,
      account: this.auth.account ?? null
    };
  }

  private store(
    response: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers,
    previousRefresh: string | null = null
  ): StoredTokens {
    const tokens: StoredTokens = {
      accessToken: response.access_token,
      refreshToken: response.refresh_token ?? previousRefresh,
      expiresAt: Date.now() + (response.expiresIn() ?? 3600) * 1000
    };
    this.tokens = tokens;
    this.lapsed = undefined;
    mkdirSync(dirname(this.tokenFile), { recursive: true, mode: 0o700 });
    writeFileSync(this.tokenFile, JSON.stringify(tokens), { mode: 0o600 });
    chmodSync(this.tokenFile, 0o600);
    return tokens;
  }

  private load(): StoredTokens | undefined {
    if (!existsSync(this.tokenFile)) {
      return undefined;
    }
    try {
      const tokens = JSON.parse(readFileSync(this.tokenFile, 'utf8')) as StoredTokens;
      return typeof tokens.accessToken === 'string' ? tokens : undefined;
    } catch {
      return undefined;
    }
  }
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * A provider's sign-in page as a link the panel may show: https, or http when the issuer itself is
 * a plain-http loopback provider (a test lake) and the page is on loopback too; otherwise null (a
 * `javascript:` or other link from a provider in the middle never becomes a link in Jupyter's
 * origin).
 */
export function signInLink(link: string | undefined, issuer: string): string | null {
  const url = link === undefined ? null : URL.parse(link);
  if (url?.protocol === 'https:') {
    return url.href;
  }
  const from = URL.parse(issuer);
  const loopbackIssuer = from?.protocol === 'http:' && LOOPBACK.has(from.hostname);
  return url?.protocol === 'http:' && loopbackIssuer && LOOPBACK.has(url.hostname)
    ? url.href
    : null;
}
