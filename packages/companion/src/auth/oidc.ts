import * as oidc from 'openid-client';
import { AppError } from '../errors.js';

/** Discovers an OpenID provider; plain-http issuers (test and local providers) are allowed. */
export async function discoverProvider(
  instance: string,
  issuer: string,
  clientId: string,
  clientSecret: string | undefined
): Promise<oidc.Configuration> {
  const options = issuer.startsWith('http://')
    ? { execute: [oidc.allowInsecureRequests] }
    : undefined;
  const clientAuth = clientSecret === undefined ? oidc.None() : undefined;
  try {
    return await oidc.discovery(new URL(issuer), clientId, clientSecret, clientAuth, options);
  } catch (error) {
    throw new AppError(
      502,
      'rucio_unreachable',
      `The sign-in service of ${instance} (${issuer}) cannot be reached (${(error as Error).message}). Try again in a minute.`
    );
  }
}

/**
 * An OpenID provider's configuration, discovered on first use and kept; a failed discovery is
 * tried again on the next use.
 */
export class ProviderDiscovery {
  private pending: Promise<oidc.Configuration> | undefined;

  constructor(
    private readonly instance: string,
    private readonly issuer: string,
    private readonly clientId: string,
    private readonly clientSecret: string | undefined
  ) {}

  /** The provider's configuration. */
  config(): Promise<oidc.Configuration> {
    this.pending ??= discoverProvider(
      this.instance,
      this.issuer,
      this.clientId,
      this.clientSecret
    ).catch((error: unknown) => {
      this.pending = undefined;
      throw error;
    });
    return this.pending;
  }
}
