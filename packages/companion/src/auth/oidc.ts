import * as oidc from 'openid-client';
import { AppError } from '../errors.js';
import { tame } from '../rucio/errors.js';

/**
 * Whether the provider answered and said no (an OAuth error such as `invalid_grant` or
 * `invalid_client`), as opposed to not answering, timing out or failing on its side: only a
 * refusal is a reason to sign in again; anything else may pass by itself.
 */
export function refusedByProvider(error: unknown): boolean {
  if (error instanceof oidc.WWWAuthenticateChallengeError) {
    return error.status < 500;
  }
  return (
    error instanceof oidc.ResponseBodyError &&
    error.status < 500 &&
    error.error !== 'temporarily_unavailable'
  );
}

/** What went wrong on the way to the provider, in a few words (the network error, not "fetch failed"). */
export function reasonOf(error: unknown): string {
  const cause = error instanceof Error ? error.cause : undefined;
  return tame(
    cause instanceof Error ? cause.message : error instanceof Error ? error.message : String(error),
    200
  );
}

/**
 * The error for a provider that cannot be reached (or failed on its side): a 502 the panel may
 * retry, whose sentence names the provider and says what could not be done (`consequence`, after
 * a comma) and what to do.
 */
export function providerUnreachable(
  instance: string,
  issuer: string,
  error: unknown,
  consequence: string
): AppError {
  return new AppError(
    502,
    'rucio_unreachable',
    `The sign-in service of ${instance} (${tame(issuer, 200)}) cannot be reached (${reasonOf(error)}), ${consequence}`
  );
}

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
    throw providerUnreachable(
      instance,
      issuer,
      error,
      "so you can be neither signed in nor kept signed in right now. Try again in a minute; if it persists, tell the data lake's admins."
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
