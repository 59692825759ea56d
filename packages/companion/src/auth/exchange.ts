import type { AuthMethod } from '@dlaas/api';
import * as oidc from 'openid-client';
import type { InstanceConfig } from '../config.js';
import { AppError } from '../errors.js';
import { log } from '../log.js';
import type { CredentialSource, RucioToken } from './credentials.js';
import { ProviderDiscovery, providerUnreachable, reasonOf, refusedByProvider } from './oidc.js';
import { stillFresh } from './tokens.js';

/** Token exchange settings of an instance. */
export interface ExchangeConfig {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret?: string | undefined;
  readonly audience: string;
  readonly scope?: string | undefined;
}

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

/**
 * Wraps a source of the user's OIDC token and trades each of its tokens, once, for one whose
 * audience is Rucio's (RFC 8693), e.g. IAM tokens issued to JupyterHub.
 */
export class ExchangingCredentials implements CredentialSource {
  private readonly provider: ProviderDiscovery;
  private exchanged: { subject: string; token: RucioToken } | undefined;

  constructor(
    private readonly instance: InstanceConfig,
    private readonly inner: CredentialSource,
    private readonly exchange: ExchangeConfig
  ) {
    this.provider = new ProviderDiscovery(
      instance.name,
      exchange.issuer,
      exchange.clientId,
      exchange.clientSecret
    );
  }

  get method(): AuthMethod {
    return this.inner.method;
  }

  get configuredAccount(): string | null {
    return this.inner.configuredAccount;
  }

  async token(refresh = false): Promise<RucioToken> {
    const subject = await this.inner.token(refresh);
    const cached = this.exchanged;
    if (
      !refresh &&
      cached &&
      cached.subject === subject.value &&
      stillFresh(cached.token.expiresAt)
    ) {
      return cached.token;
    }
    const config = await this.provider.config();
    let response: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers;
    try {
      response = await oidc.genericGrantRequest(config, GRANT, {
        subject_token: subject.value,
        subject_token_type: ACCESS_TOKEN,
        requested_token_type: ACCESS_TOKEN,
        audience: this.exchange.audience,
        ...(this.exchange.scope ? { scope: this.exchange.scope } : {})
      });
    } catch (error) {
      const refused = refusedByProvider(error);
      log('warn', refused ? 'token exchange refused' : 'token exchange failed', {
        instance: this.instance.name,
        reason: reasonOf(error)
      });
      if (!refused) {
        // The provider is down or failing: signing in again would not help; trying again will.
        throw providerUnreachable(
          this.instance.name,
          this.exchange.issuer,
          error,
          `so your sign-in could not be turned into one ${this.instance.name} accepts. Try again in a minute; if it persists, tell the data lake's admins.`
        );
      }
      throw new AppError(
        401,
        'not_signed_in',
        `Your sign-in could not be turned into one ${this.instance.name} accepts. Sign in to ${this.instance.name} again.`
      );
    }
    const token: RucioToken = {
      value: response.access_token,
      expiresAt: Math.min(subject.expiresAt, Date.now() + (response.expiresIn() ?? 3600) * 1000),
      account: subject.account
    };
    this.exchanged = { subject: subject.value, token };
    return token;
  }
}
