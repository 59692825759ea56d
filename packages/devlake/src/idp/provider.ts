/**
 * A real OpenID Connect provider for tests, run on loopback.
 *
 * It wraps the `oidc-provider` package (a certified OpenID provider) with the settings dlaas needs to
 * stand in for INDIGO IAM in front of a real Rucio server:
 *
 * - Access tokens are signed JWTs (`typ: at+jwt`, RS256) with `aud` = the requested audience
 *   (`rucio` by default) and a `scope` claim that contains `openid profile`, which is what Rucio's
 *   `[oidc] expected_audience` / `expected_scope` check by default. Audiences are modelled with the
 *   resource indicators feature (RFC 8707): audience `x` is the resource `urn:dlaas:audience:x`
 *   (see {@link OidcProviderHandle.resourceFor}). The IAM-style `audience` parameter works at the
 *   authorization and device authorization endpoints and for token exchange; refreshes keep the
 *   granted audience; client credentials need `resource` (oidc-provider drops `audience` there).
 * - Grants: authorization code, device authorization (RFC 8628), refresh token, client credentials
 *   and token exchange (RFC 8693, added with `registerGrantType`).
 * - No browser is needed: {@link OidcProviderHandle.approveDevice} and
 *   {@link OidcProviderHandle.authorize} drive the provider's own pages over HTTP (cookies, XSRF
 *   token, login and consent) exactly as a browser would.
 * - Token lifetimes are configurable, and can be changed while the provider runs.
 * - The signing key can be kept in a file, so that a provider restarted on the same port keeps the
 *   key that Rucio has already fetched (Rucio caches an issuer's JWKS for 12 hours).
 *
 * Everything is in memory; nothing here is meant for production.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPublicKey, generateKeyPairSync, verify as verifySignature } from 'node:crypto';
import type { JsonWebKey, KeyObject } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import Provider, { errors } from 'oidc-provider';
import { DEFAULT_CLIENTS, DEFAULT_USERS, type OidcClient, type OidcUser } from './accounts.js';

export { DEFAULT_CLIENTS, DEFAULT_USERS, type OidcClient, type OidcUser } from './accounts.js';
import type {
  AccountClaims,
  ClientMetadata,
  Configuration,
  KoaContextWithOIDC,
  ResourceServer,
  TokenEndpointGrantContext
} from 'oidc-provider';

/** The RFC 8693 grant type, as Rucio's `[oidc] exchange_grant_type` defaults to. */
export const TOKEN_EXCHANGE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** The RFC 8628 grant type. */
export const DEVICE_CODE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:device_code';
/** RFC 8693 token type of an access token (`subject_token_type`, `issued_token_type`). */
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
/** RFC 8693 token type of a refresh token (accepted as `requested_token_type`). */
export const REFRESH_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:refresh_token';
const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';

/** Options for {@link startOidcProvider}. Every field is optional. */
export interface StartOidcProviderOptions {
  /** TCP port on 127.0.0.1; 0 (the default) picks a free one. Rucio needs a fixed one. */
  port?: number;
  /** Default {@link DEFAULT_USERS} (alice and bob). */
  users?: OidcUser[];
  /** Default {@link DEFAULT_CLIENTS} (`dlaas` and `rucio`). */
  clients?: OidcClient[];
  /** Audiences a token may be issued for (default `['rucio']`); the first is the default one. */
  audiences?: string[];
  /** Access token lifetime in seconds (default 3600). */
  accessTokenTtl?: number;
  /** Refresh token lifetime in seconds (default 14 days). */
  refreshTokenTtl?: number;
  /** Device code lifetime in seconds (default 600). */
  deviceCodeTtl?: number;
  /** Rotate refresh tokens on use (default false, like IAM). */
  rotateRefreshTokens?: boolean;
  /**
   * JSON file holding the private signing JWK. Created (with a new RSA key) when missing, reused
   * otherwise. Default: a new key in memory on each start.
   */
  signingKeyFile?: string;
}

/** A running provider, as returned by {@link startOidcProvider}. */
export interface OidcProviderHandle {
  /** `http://127.0.0.1:<port>`, no trailing slash; equal to the `iss` of every token. */
  readonly issuer: string;
  readonly port: number;
  readonly users: readonly OidcUser[];
  readonly clients: readonly OidcClient[];
  /** The underlying `oidc-provider` instance, for anything not wrapped here. */
  readonly provider: Provider;
  /** The user with this username; throws if there is none. */
  user(username: string): OidcUser;
  /** Resource indicator standing for an audience, e.g. `urn:dlaas:audience:rucio`. */
  resourceFor(audience: string): string;
  /** Lifetime (s) of access tokens issued from now on. */
  setAccessTokenTtl(seconds: number): void;
  /**
   * Approves a pending device authorization as `username`, the way a person at a browser would:
   * opens the verification page, confirms the user code, logs in and consents. Accepts the
   * `user_code` or the `verification_uri_complete`. Afterwards the device code grant succeeds.
   */
  approveDevice(userCodeOrUri: string, username: string): Promise<void>;
  /** Denies a pending device authorization (the device code grant then fails `access_denied`). */
  denyDevice(userCodeOrUri: string): Promise<void>;
  /**
   * Follows an authorization request URL (authorization code flow) through login as `username`
   * and consent, and returns the URL the provider redirects to (the client's `redirect_uri` with
   * `code` and `state`, or `error`).
   */
  authorize(authorizationUrl: string | URL, username: string): Promise<URL>;
  /**
   * The content of Rucio's `[oidc] idpsecrets` file for this provider: one entry, keyed by
   * `key` (use the same value for `[oidc] admin_issuer`), for the client `clientId`.
   */
  rucioIdpSecrets(key?: string, clientId?: string): Record<string, RucioIdpSecret>;
  /**
   * The `[oidc]` section to append to rucio.cfg, pointing at an idpsecrets file written from
   * {@link OidcProviderHandle.rucioIdpSecrets} with the same `key`.
   */
  rucioConfigSection(idpSecretsPath: string, key?: string): string;
  /**
   * Rucio's identity string for a user, `SUB=<sub>, ISS=<issuer>`: register it with
   * `POST /accounts/{account}/identities` `{"identity": …, "authtype": "OIDC", "email": …}`.
   */
  rucioIdentity(username: string): string;
  /** Stops the HTTP server. */
  stop(): Promise<void>;
}

/** One entry of Rucio's idpsecrets JSON file. */
export interface RucioIdpSecret {
  issuer: string;
  client_id: string;
  client_secret: string;
  redirect_uris: string[];
  /** Rucio's admin client (client credentials); it must be present or no issuer loads. */
  SCIM: { client_id: string; client_secret: string };
}

const ALL_GRANT_TYPES = [
  'authorization_code',
  'refresh_token',
  'client_credentials',
  DEVICE_CODE_GRANT_TYPE,
  TOKEN_EXCHANGE_GRANT_TYPE
];

/** Scopes every audience accepts; a token's `scope` is the requested subset of these. */
const TOKEN_SCOPES = 'openid profile email offline_access wlcg wlcg.groups';

const RESOURCE_PREFIX = 'urn:dlaas:audience:';

/** Text of the page shown when a device has been signed in. */
const DEVICE_SUCCESS = 'The device is now signed in.';

/**
 * Starts an OpenID provider on 127.0.0.1.
 *
 * @example
 * ```ts
 * const idp = await startOidcProvider({ port: 18830, accessTokenTtl: 60 });
 * // ... device flow with openid-client; meanwhile:
 * await idp.approveDevice(response.user_code, 'alice');
 * await idp.stop();
 * ```
 */
export async function startOidcProvider(
  options: StartOidcProviderOptions = {}
): Promise<OidcProviderHandle> {
  const users = [...(options.users ?? DEFAULT_USERS)];
  const clients = [...(options.clients ?? DEFAULT_CLIENTS)];
  const audiences = options.audiences ?? ['rucio'];
  const firstAudience = audiences[0];
  if (firstAudience === undefined) {
    throw new Error('startOidcProvider: audiences must not be empty');
  }
  const defaultAudience: string = firstAudience;
  let accessTokenTtl = positive(options.accessTokenTtl ?? 3600, 'accessTokenTtl');
  const refreshTokenTtl = positive(options.refreshTokenTtl ?? 14 * 24 * 3600, 'refreshTokenTtl');
  const deviceCodeTtl = positive(options.deviceCodeTtl ?? 600, 'deviceCodeTtl');
  const signingJwk = loadSigningKey(options.signingKeyFile);
  const publicKey = createPublicKey({ key: signingJwk, format: 'jwk' });

  const userBySub = new Map(users.map(u => [u.sub, u]));
  const userByName = new Map(users.map(u => [u.username, u]));
  const findUser = (username: string): OidcUser => {
    const user = userByName.get(username);
    if (!user) {
      throw new Error(`OIDC test provider: no user named ${username}`);
    }
    return user;
  };

  // The issuer has to be known before the provider is made, so listen first.
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const issuer = `http://127.0.0.1:${port}`;

  const resourceFor = (audience: string): string => `${RESOURCE_PREFIX}${audience}`;
  const clientTtl = new Map(
    clients.flatMap(c =>
      c.accessTokenTtl ? [[c.clientId, positive(c.accessTokenTtl, 'accessTokenTtl')]] : []
    )
  );
  const resourceServerInfo = (resource: string, clientId?: string): ResourceServer => {
    const audience = resource.startsWith(RESOURCE_PREFIX)
      ? resource.slice(RESOURCE_PREFIX.length)
      : undefined;
    if (audience === undefined || !audiences.includes(audience)) {
      throw new errors.InvalidTarget(`unknown resource indicator ${resource}`);
    }
    return {
      audience,
      scope: TOKEN_SCOPES,
      accessTokenFormat: 'jwt',
      accessTokenTTL:
        (clientId !== undefined ? clientTtl.get(clientId) : undefined) ?? accessTokenTtl,
      jwt: { sign: { alg: 'RS256' } }
    };
  };

  const configuration: Configuration = {
    clients: clients.map(toClientMetadata),
    jwks: { keys: [signingJwk] },
    // Signed cookies; the value only has to be stable for the provider's lifetime.
    cookies: { keys: ['dlaas-oidc-test-provider'] },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'wlcg', 'wlcg.groups'],
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username', 'groups'],
      email: ['email', 'email_verified']
    },
    findAccount: (_ctx, sub) => {
      const user = userBySub.get(sub);
      if (!user) {
        return undefined;
      }
      return { accountId: user.sub, claims: () => userClaims(user) };
    },
    // Our own pages live under /interaction (see handleInteraction below).
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    // INDIGO IAM's paths (its discovery names them too), so that clients that derive endpoints
    // from the issuer, as the Helm chart's hub configuration does, find them here as at IAM.
    routes: { authorization: '/authorize', userinfo: '/userinfo' },
    features: {
      devInteractions: { enabled: false },
      deviceFlow: {
        enabled: true,
        // Plain pages (the defaults work too, but log a notice on every use).
        userCodeInputSource: (ctx, form, _out, err) => {
          ctx.type = 'html';
          ctx.body = page(
            'Device login',
            `${err ? '<p>Invalid or expired code.</p>' : ''}${form}` +
              '<button type="submit" form="op.deviceInputForm">Continue</button>'
          );
        },
        userCodeConfirmSource: (ctx, form, client, _deviceInfo, userCode) => {
          ctx.type = 'html';
          ctx.body = page(
            'Confirm device',
            `<p>Sign in ${escapeHtml(client.clientId)} with code ${escapeHtml(userCode)}?</p>${form}` +
              '<button type="submit" form="op.deviceConfirmForm">Continue</button>'
          );
        },
        successSource: ctx => {
          ctx.type = 'html';
          ctx.body = page('Device login complete', `<p>${DEVICE_SUCCESS}</p>`);
        }
      },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // No `resource` parameter: take IAM's `audience` parameter if given, else the default.
        defaultResource: (ctx, _client, oneOf) => {
          if (oneOf) {
            return oneOf;
          }
          const audience = audienceParam(ctx);
          return resourceFor(audience ?? defaultAudience);
        },
        getResourceServerInfo: (_ctx, resource, client) =>
          resourceServerInfo(resource, client.clientId),
        // Refresh and code grants may omit `resource` and get the granted audience.
        useGrantedResource: () => true
      }
    },
    extraParams: ['audience'],
    extraTokenClaims: (_ctx, token) => {
      const user = 'accountId' in token ? userBySub.get(String(token.accountId)) : undefined;
      if (!user) {
        return undefined;
      }
      return {
        preferred_username: user.username,
        'wlcg.ver': '1.0',
        ...(user.groups ? { 'wlcg.groups': user.groups.map(g => `/${g}`) } : {})
      };
    },
    issueRefreshToken: (_ctx, client, code) =>
      client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    rotateRefreshToken: () => options.rotateRefreshTokens ?? false,
    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? accessTokenTtl,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? accessTokenTtl,
      RefreshToken: refreshTokenTtl,
      Grant: refreshTokenTtl,
      DeviceCode: deviceCodeTtl,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 3600,
      Session: 24 * 3600
    },
    renderError: (ctx, out) => {
      ctx.type = 'json';
      ctx.body = out;
    }
  };

  const provider = new Provider(issuer, configuration);

  provider.registerGrantType<TokenExchangeParams>(
    TOKEN_EXCHANGE_GRANT_TYPE,
    ctx => tokenExchange(ctx),
    [
      'subject_token',
      'subject_token_type',
      'requested_token_type',
      'audience',
      'resource',
      'scope',
      'actor_token',
      'actor_token_type'
    ]
  );

  /**
   * RFC 8693 token exchange, as IAM offers it: a client presents a user's access token (issued
   * here, to any client) and gets a new access token for the same user, for the requested audience
   * and scope (a subset of the presented token's scope), plus a refresh token when
   * `offline_access` is requested and the client may refresh.
   */
  async function tokenExchange(ctx: TokenEndpointGrantContext<TokenExchangeParams>): Promise<void> {
    const { params, client } = ctx.oidc;
    if (!params.subject_token) {
      throw new errors.InvalidRequest('missing required parameter subject_token');
    }
    if (
      params.subject_token_type !== ACCESS_TOKEN_TYPE &&
      params.subject_token_type !== JWT_TOKEN_TYPE
    ) {
      throw new errors.InvalidRequest(`subject_token_type must be ${ACCESS_TOKEN_TYPE}`);
    }
    if (
      params.requested_token_type !== undefined &&
      params.requested_token_type !== ACCESS_TOKEN_TYPE &&
      params.requested_token_type !== REFRESH_TOKEN_TYPE
    ) {
      throw new errors.InvalidRequest('unsupported requested_token_type');
    }
    const subject = verifyJwt(params.subject_token, publicKey, issuer);
    const user =
      subject && typeof subject.sub === 'string' ? userBySub.get(subject.sub) : undefined;
    if (!subject || !user) {
      throw new errors.InvalidGrant('subject_token is invalid or expired');
    }
    const subjectScopes = new Set(String(subject.scope ?? '').split(' '));
    const requestedScopes = params.scope ? params.scope.split(' ') : [...subjectScopes];
    const notHeld = requestedScopes.filter(s => !subjectScopes.has(s) && s !== 'offline_access');
    if (notHeld.length > 0) {
      throw new errors.InvalidScope('scope exceeds the subject token', notHeld.join(' '));
    }
    if (Array.isArray(params.resource) && params.resource.length !== 1) {
      throw new errors.InvalidTarget('only one resource indicator is supported');
    }
    const requestedResource = Array.isArray(params.resource) ? params.resource[0] : params.resource;
    const resource = requestedResource ?? resourceFor(params.audience ?? defaultAudience);
    const resourceServer = new provider.ResourceServer(
      resource,
      resourceServerInfo(resource, client.clientId)
    );
    const scope = requestedScopes.filter(s => resourceServer.scopes.has(s)).join(' ');

    const grant = new provider.Grant({ accountId: user.sub, clientId: client.clientId });
    grant.addOIDCScope(requestedScopes.filter(s => s === 'openid' || s === 'profile'));
    grant.addResourceScope(resource, scope);
    const grantId = await grant.save();

    const at = new provider.AccessToken({
      accountId: user.sub,
      client,
      grantId,
      gty: 'token_exchange',
      scope,
      resourceServer
    });
    ctx.oidc.entity('AccessToken', at);
    const accessToken = await at.save();

    let refreshToken: string | undefined;
    if (requestedScopes.includes('offline_access') && client.grantTypeAllowed('refresh_token')) {
      const rt = new provider.RefreshToken({
        accountId: user.sub,
        client,
        grantId,
        gty: 'token_exchange',
        scope: requestedScopes.join(' '),
        resource,
        rotations: 0
      });
      ctx.oidc.entity('RefreshToken', rt);
      refreshToken = await rt.save();
    }

    ctx.body = {
      access_token: accessToken,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: at.expiration,
      scope,
      ...(refreshToken ? { refresh_token: refreshToken } : {})
    };
  }

  /** GET /interaction/:uid shows a login form or grants consent; POST …/login logs in. */
  async function handleInteraction(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL
  ): Promise<boolean> {
    const match = /^\/interaction\/([^/]+)(\/login)?$/.exec(url.pathname);
    if (!match) {
      return false;
    }
    const details = await provider.interactionDetails(req, res);
    if (req.method === 'POST' && match[2]) {
      const form = new URLSearchParams(await readBody(req));
      const user = userByName.get(form.get('username') ?? '');
      if (!user) {
        sendHtml(res, 400, loginPage(url.pathname, users, 'unknown user'));
        return true;
      }
      const target = await provider.interactionResult(req, res, {
        login: { accountId: user.sub }
      });
      redirect(res, target);
      return true;
    }
    if (details.prompt.name === 'login') {
      sendHtml(res, 200, loginPage(`${url.pathname}/login`, users));
      return true;
    }
    // Consent: grant everything that is asked for (this is a test provider).
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = details.prompt
      .details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    const accountId = details.session?.accountId;
    const clientId = String(details.params.client_id);
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId, clientId });
    if (!grant) {
      throw new Error('interaction refers to a grant that does not exist');
    }
    if (missingOIDCScope) {
      grant.addOIDCScope(missingOIDCScope.join(' '));
    }
    if (missingOIDCClaims) {
      grant.addOIDCClaims(missingOIDCClaims);
    }
    for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    const target = await provider.interactionResult(
      req,
      res,
      { consent: { grantId } },
      { mergeWithLastSubmission: true }
    );
    redirect(res, target);
    return true;
  }

  /** IAM's userinfo accepts its JWT access tokens; oidc-provider's does not, so answer here. */
  function handleJwtUserinfo(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    if (url.pathname !== '/userinfo') {
      return false;
    }
    const token = /^Bearer (\S+\.\S+\.\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!token) {
      return false; // opaque tokens: the provider's own userinfo endpoint
    }
    const claims = verifyJwt(token, publicKey, issuer);
    const user = claims && typeof claims.sub === 'string' ? userBySub.get(claims.sub) : undefined;
    if (!user) {
      res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' }).end();
      return true;
    }
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify(userClaims(user)));
    return true;
  }

  const callback = provider.callback();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    // No keep-alive: a client's pooled socket to a stopped provider would make its next request,
    // to a provider restarted on the same port, fail with "other side closed".
    res.shouldKeepAlive = false;
    const url = new URL(req.url ?? '/', issuer);
    void (async () => {
      try {
        if (handleJwtUserinfo(req, res, url) || (await handleInteraction(req, res, url))) {
          return;
        }
        offlineAccessAsAtIam(req, url);
        await callback(req, res);
      } catch (error) {
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'text/plain' });
        }
        res.end(String(error));
      }
    })();
  });

  const handle: OidcProviderHandle = {
    issuer,
    port,
    users,
    clients,
    provider,
    user: findUser,
    resourceFor,
    setAccessTokenTtl(seconds) {
      accessTokenTtl = positive(seconds, 'accessTokenTtl');
    },
    async approveDevice(userCodeOrUri, username) {
      findUser(username);
      const body = await submitDeviceForm(issuer, userCodeOrUri, 'confirm', username);
      if (!body.includes(DEVICE_SUCCESS)) {
        throw new Error(`device approval did not complete: ${body.slice(0, 300)}`);
      }
    },
    async denyDevice(userCodeOrUri) {
      await submitDeviceForm(issuer, userCodeOrUri, 'abort');
    },
    async authorize(authorizationUrl, username) {
      findUser(username);
      const browser = new Browser();
      const end = await browser.follow(String(authorizationUrl), username, issuer);
      if (!end.redirectedAway) {
        throw new Error(
          `authorization ended at ${end.url} (${end.status}): ${end.body.slice(0, 300)}`
        );
      }
      return new URL(end.url);
    },
    rucioIdpSecrets(key = 'dlaas-test-idp', clientId = 'rucio') {
      const client = clients.find(c => c.clientId === clientId);
      if (!client?.clientSecret) {
        throw new Error(`rucioIdpSecrets: no confidential client ${clientId}`);
      }
      return {
        [key]: {
          issuer,
          client_id: client.clientId,
          client_secret: client.clientSecret,
          redirect_uris: client.redirectUris ?? ['http://127.0.0.1/callback'],
          SCIM: { client_id: client.clientId, client_secret: client.clientSecret }
        }
      };
    },
    rucioConfigSection(idpSecretsPath, key = 'dlaas-test-idp') {
      return [
        '[oidc]',
        `idpsecrets = ${idpSecretsPath}`,
        `admin_issuer = ${key}`,
        `expected_audience = ${defaultAudience}`,
        'expected_scope = openid profile',
        ''
      ].join('\n');
    },
    rucioIdentity(username) {
      return `SUB=${findUser(username).sub}, ISS=${issuer}`;
    },
    stop() {
      return new Promise<void>((resolve, reject) => {
        server.close(error => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
    }
  };

  return handle;
}

/** Opens `<issuer>/device` for a user code and submits it with `confirm` or `abort`, as a browser would. */
async function submitDeviceForm(
  issuer: string,
  userCodeOrUri: string,
  action: 'confirm' | 'abort',
  username?: string
): Promise<string> {
  const userCode = userCodeOrUri.includes('://')
    ? new URL(userCodeOrUri).searchParams.get('user_code')
    : userCodeOrUri;
  if (!userCode) {
    throw new Error(`no user_code in ${userCodeOrUri}`);
  }
  const browser = new Browser();
  const page = await browser.request(`${issuer}/device?user_code=${encodeURIComponent(userCode)}`);
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.body)?.[1];
  if (!xsrf) {
    throw new Error(`no XSRF token on the device page: ${page.body.slice(0, 300)}`);
  }
  const form = new URLSearchParams({ xsrf, user_code: userCode, [action]: 'yes' });
  const end = await browser.follow(`${issuer}/device`, username, issuer, form);
  if (end.status >= 400) {
    throw new Error(`device form ${action} failed (${end.status}): ${end.body.slice(0, 300)}`);
  }
  return end.body;
}

/**
 * Approves a pending device authorization at a provider of this module running elsewhere (as
 * devlake's OpenID provider), as `username`.
 */
export async function approveDevice(
  issuer: string,
  userCodeOrUri: string,
  username: string
): Promise<void> {
  const body = await submitDeviceForm(issuer, userCodeOrUri, 'confirm', username);
  if (!body.includes(DEVICE_SUCCESS)) {
    throw new Error(`device approval did not complete: ${body.slice(0, 300)}`);
  }
}

/** Token endpoint parameters of the token exchange grant (RFC 8693 section 2.1). */
interface TokenExchangeParams {
  subject_token?: string;
  subject_token_type?: string;
  requested_token_type?: string;
  audience?: string;
  actor_token?: string;
  actor_token_type?: string;
}

/** Claims of a user for the ID token and userinfo. */
function userClaims(user: OidcUser): AccountClaims {
  return {
    sub: user.sub,
    name: user.name ?? user.username,
    preferred_username: user.username,
    ...(user.email ? { email: user.email, email_verified: true } : {}),
    ...(user.groups ? { groups: user.groups } : {})
  };
}

function toClientMetadata(client: OidcClient): ClientMetadata {
  const method =
    client.tokenEndpointAuthMethod ?? (client.clientSecret ? 'client_secret_basic' : 'none');
  return {
    client_id: client.clientId,
    ...(client.clientSecret ? { client_secret: client.clientSecret } : {}),
    token_endpoint_auth_method: method,
    grant_types: client.grantTypes ?? ALL_GRANT_TYPES,
    response_types: ['code'],
    ...(client.applicationType ? { application_type: client.applicationType } : {}),
    redirect_uris: client.redirectUris ?? ['http://127.0.0.1/callback']
  };
}

/**
 * IAM grants `offline_access` (a refresh token) at a plain authorization request; OpenID Connect,
 * which oidc-provider follows, only with `prompt=consent`, and drops the scope otherwise. Asking
 * for consent (which this provider grants at once) keeps clients as they are at IAM, e.g. a
 * JupyterHub's OAuthenticator, which never sends `prompt`.
 */
function offlineAccessAsAtIam(req: IncomingMessage, url: URL): void {
  const scope = url.searchParams.get('scope')?.split(' ') ?? [];
  if (
    url.pathname === '/authorize' &&
    scope.includes('offline_access') &&
    !url.searchParams.has('prompt')
  ) {
    url.searchParams.set('prompt', 'consent');
    req.url = `${url.pathname}${url.search}`;
  }
}

function audienceParam(ctx: KoaContextWithOIDC): string | undefined {
  const value: unknown = ctx.oidc.params?.audience;
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function positive(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`${name} must be a positive integer number of seconds`);
  }
  return value;
}

/** Reads the signing key from `file`, or makes one (and writes it there if a file is given). */
function loadSigningKey(file: string | undefined): JsonWebKey {
  if (file && existsSync(file)) {
    return JSON.parse(readFileSync(file, 'utf8')) as JsonWebKey;
  }
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk: JsonWebKey = {
    ...privateKey.export({ format: 'jwk' }),
    kid: `dlaas-test-${Date.now().toString(36)}`,
    alg: 'RS256',
    use: 'sig'
  };
  if (file) {
    writeFileSync(file, JSON.stringify(jwk), { mode: 0o600 });
  }
  return jwk;
}

/**
 * Verifies an RS256 JWT issued by this provider (signature, `iss`, `exp`) and returns its claims,
 * or `undefined`.
 */
function verifyJwt(
  token: string,
  key: KeyObject,
  issuer: string
): Record<string, unknown> | undefined {
  const [header, payload, signature] = token.split('.');
  if (header === undefined || payload === undefined || signature === undefined) {
    return undefined;
  }
  try {
    const { alg } = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as {
      alg?: string;
    };
    const valid =
      alg === 'RS256' &&
      verifySignature(
        'RSA-SHA256',
        Buffer.from(`${header}.${payload}`),
        key,
        Buffer.from(signature, 'base64url')
      );
    if (!valid) {
      return undefined;
    }
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<
      string,
      unknown
    >;
    const now = Math.floor(Date.now() / 1000);
    if (claims.iss !== issuer || typeof claims.exp !== 'number' || claims.exp <= now) {
      return undefined;
    }
    return claims;
  } catch {
    return undefined;
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function redirect(res: ServerResponse, location: string): void {
  res.writeHead(303, { location }).end();
}

function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' }).end(html);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`);
}

/** A minimal HTML page. */
function page(title: string, content: string): string {
  return `<!doctype html><meta charset="utf-8"><title>${escapeHtml(title)}</title><h1>${escapeHtml(title)}</h1>${content}`;
}

/** A minimal login page, usable from a real browser too. */
function loginPage(action: string, users: readonly OidcUser[], error?: string): string {
  const buttons = users
    .map(
      u =>
        `<button name="username" value="${escapeHtml(u.username)}">${escapeHtml(u.username)}</button>`
    )
    .join(' ');
  return page(
    'Sign in to the dlaas test IdP',
    `${error ? `<p>${escapeHtml(error)}</p>` : ''}<form method="post" action="${escapeHtml(action)}">${buttons}</form>`
  );
}

/** Where a {@link Browser} walk ended. */
interface BrowseEnd {
  url: string;
  status: number;
  body: string;
  /** True when the last answer redirected off the issuer (e.g. to a client's redirect_uri). */
  redirectedAway: boolean;
}

/**
 * Just enough of a browser to walk the provider's pages: a cookie jar (all cookies are sent to the
 * issuer regardless of path) and manual redirects. When it lands on our login form it logs in as
 * the given user.
 */
class Browser {
  private readonly cookies = new Map<string, string>();

  async request(url: string, form?: URLSearchParams): Promise<BrowseEnd> {
    const headers: Record<string, string> = {};
    if (this.cookies.size > 0) {
      headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    }
    const response = await fetch(url, {
      method: form ? 'POST' : 'GET',
      headers,
      body: form,
      redirect: 'manual'
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some(a => /^\s*(max-age=0|expires=thu, 01 jan 1970)/i.test(a));
      if (expired || value === '') {
        this.cookies.delete(name);
      } else {
        this.cookies.set(name, value);
      }
    }
    const location = response.headers.get('location');
    return {
      url: location ? new URL(location, url).href : url,
      status: response.status,
      body: await response.text(),
      redirectedAway: false
    };
  }

  /** Requests `url` and follows redirects (logging in on the way) while they stay on `issuer`. */
  async follow(
    url: string,
    username: string | undefined,
    issuer: string,
    form?: URLSearchParams
  ): Promise<BrowseEnd> {
    let current = url;
    let step = await this.request(current, form);
    for (let hops = 0; hops < 20; hops++) {
      if (step.status >= 300 && step.status < 400) {
        if (new URL(step.url).origin !== issuer) {
          return { ...step, redirectedAway: true };
        }
        current = step.url;
        step = await this.request(current);
        continue;
      }
      const loginForm = /^\/interaction\/[^/]+$/.test(new URL(current).pathname);
      if (loginForm && step.status === 200 && username !== undefined) {
        current = `${current}/login`;
        step = await this.request(current, new URLSearchParams({ username }));
        continue;
      }
      return step;
    }
    throw new Error(`too many redirects from ${url}`);
  }
}
