/**
 * Who can sign in at devlake's OpenID provider, and its clients. Kept apart from the provider so
 * that reading them does not load `oidc-provider`.
 */
/** A user who can log in at the provider. */
export interface OidcUser {
  /** What is typed (or passed to the helpers) to log in, e.g. `alice`. */
  username: string;
  /** The stable `sub` claim. Rucio maps `SUB=<sub>, ISS=<issuer>` to an account. */
  sub: string;
  name?: string;
  email?: string;
  /** Returned as the `groups` claim (scope `profile`) and `wlcg.groups` in access tokens. */
  groups?: string[];
}

/** A statically registered client. */
export interface OidcClient {
  clientId: string;
  /** Omit for a public client (`token_endpoint_auth_method: none`). */
  clientSecret?: string;
  /** Default `client_secret_basic` when a secret is set, `none` otherwise. */
  tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post' | 'none';
  /** Default: every grant type this provider supports. */
  grantTypes?: string[];
  /** Default `['http://127.0.0.1/callback']`. */
  redirectUris?: string[];
  /**
   * `native` lets a loopback redirect URI come back on any port (RFC 8252), as a hub started on a
   * free port needs; default `web` (exact match).
   */
  applicationType?: 'web' | 'native';
  /** Lifetime (s) of the access tokens this client gets; default the provider's. */
  accessTokenTtl?: number;
}

/** alice and bob, with fixed `sub` values so Rucio identities can be registered once. */
export const DEFAULT_USERS: readonly OidcUser[] = [
  {
    username: 'alice',
    sub: 'a11ce000-0000-4000-8000-000000000001',
    name: 'Alice Liddell',
    email: 'alice@devlake.local',
    groups: ['dlaas', 'dlaas/users']
  },
  {
    username: 'bob',
    sub: 'b0b00000-0000-4000-8000-000000000002',
    name: 'Bob Builder',
    email: 'bob@devlake.local',
    groups: ['dlaas']
  },
  {
    // In none of the groups a hub on devlake allows: its login is refused.
    username: 'carol',
    sub: 'ca401000-0000-4000-8000-000000000003',
    name: 'Carol Outsider',
    email: 'carol@devlake.local',
    groups: ['visitors']
  }
];

/**
 * `dlaas` (the product's client), `rucio` (the client Rucio itself is registered as, referenced
 * from idpsecrets) and `dlaas-hub` (a JupyterHub on devlake, as the Helm chart's devlake example
 * configures it: its callback on any loopback port, access tokens that live one minute so that
 * the hub tests see them renewed), all confidential with `client_secret_basic` and every grant type.
 */
export const DEFAULT_CLIENTS: readonly OidcClient[] = [
  { clientId: 'dlaas', clientSecret: 'dlaas-secret' },
  { clientId: 'rucio', clientSecret: 'rucio-secret' },
  {
    clientId: 'dlaas-hub',
    clientSecret: 'dlaas-hub-secret',
    applicationType: 'native',
    redirectUris: ['http://127.0.0.1/hub/oauth_callback'],
    accessTokenTtl: 60
  }
];
