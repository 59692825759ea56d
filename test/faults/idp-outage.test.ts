import type { AuthStatus, DeviceSignIn } from '@dlaas/api';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { checkConfig, start, type RunningCompanion } from '../../packages/companion/src/index.js';
import { approveDevice } from '../../packages/devlake/src/idp/provider.js';
import { CompanionClient, deviceToken, errorOf, testConfig } from '../companion/harness.js';
import { devlake } from '../devlake/helpers.js';
import { FaultProxy } from '../support/fault-proxy.js';

/**
 * The OpenID provider "down" during a token refresh (issue 11). devlake's provider keeps running
 * for every other test; the companion reaches it through a fault proxy. Its tokens' `iss` stays
 * the provider's own address (Rucio trusts that one), so the companion is configured with the
 * proxy's discovery document URL: the document then still names the real issuer, while the
 * endpoints it lists (token, device authorization) are on the proxy, because the provider builds
 * them from the Host the request came to. Discovery is done once and kept, so stopping the proxy
 * afterwards leaves exactly the token requests without a provider.
 */

/** The longest an answer may take while the provider is away (connections are refused at once). */
const ANSWER_WITHIN_MS = 10_000;

let proxy: FaultProxy;
let companion: RunningCompanion;
let api: CompanionClient;
let scratch: string;
/** The hub's token file for the token-exchange instance (a sidecar renews it). */
let hubTokenFile: string;
/** Where the device-sign-in instance keeps its tokens. */
let deviceTokenFile: string;

beforeAll(async () => {
  proxy = new FaultProxy(devlake.idp.issuer);
  await proxy.start();
  const discovery = `${proxy.url}/.well-known/openid-configuration`;
  const client = devlake.idp.clients.find(c => c.clientId === 'dlaas');
  if (!client?.clientSecret) {
    throw new Error('devlake’s provider has no client "dlaas" with a secret');
  }
  scratch = mkdtempSync(join(tmpdir(), 'dlaas-idp-outage-'));
  hubTokenFile = join(scratch, 'hub-token');
  deviceTokenFile = join(scratch, 'device-tokens.json');
  writeFileSync(hubTokenFile, await deviceToken('alice', 'jupyterhub'), { mode: 0o600 });
  const template = testConfig().instances.find(i => i.name === 'devlake');
  if (!template) {
    throw new Error('devlake wrote no instance "devlake"');
  }
  const config = checkConfig(
    {
      instances: [
        {
          ...template,
          name: 'idp-exchange',
          auth: {
            method: 'token',
            file: hubTokenFile,
            exchange: {
              issuer: discovery,
              clientId: client.clientId,
              clientSecret: client.clientSecret,
              audience: 'rucio'
            }
          }
        },
        {
          ...template,
          name: 'idp-device',
          auth: {
            method: 'device',
            issuer: discovery,
            clientId: client.clientId,
            clientSecret: client.clientSecret,
            audience: 'rucio',
            tokenFile: deviceTokenFile
          }
        },
        {
          ...template,
          name: 'idp-wrong-secret',
          auth: {
            method: 'device',
            issuer: discovery,
            clientId: client.clientId,
            clientSecret: 'not-the-secret',
            audience: 'rucio',
            tokenFile: join(scratch, 'wrong-secret-tokens.json')
          }
        }
      ]
    },
    'the OpenID provider outage test configuration'
  );
  companion = await start(config, { port: 0 });
  api = new CompanionClient(companion.address);
}, 60_000);

afterEach(async () => {
  vi.restoreAllMocks();
  await proxy.start();
});

afterAll(async () => {
  await companion?.stop();
  await proxy?.stop();
  if (scratch) {
    rmSync(scratch, { recursive: true, force: true });
  }
});

/** A GET to the companion that must be answered within {@link ANSWER_WITHIN_MS}. */
async function timedGet(path: string): Promise<{ status: number; body: unknown }> {
  const started = performance.now();
  const answer = await api.get(path);
  expect(performance.now() - started, `${path} answered in bounded time`).toBeLessThan(
    ANSWER_WITHIN_MS
  );
  return answer;
}

/** The access token the device instance keeps in its token file, if the file exists. */
function storedAccessToken(): string | undefined {
  return existsSync(deviceTokenFile)
    ? (JSON.parse(readFileSync(deviceTokenFile, 'utf8')) as { accessToken: string }).accessToken
    : undefined;
}

/**
 * Moves the clock of this process (where the companion runs) `minutes` on. devlake's provider
 * issues access tokens for an hour, and the companion renews one five minutes before it expires:
 * the test cannot wait that long. Rucio, in its own process, keeps the real time.
 */
function clockAhead(minutes: number): void {
  vi.restoreAllMocks();
  const now = Date.now.bind(Date);
  vi.spyOn(Date, 'now').mockImplementation(() => now() + minutes * 60_000);
}

describe('faults: the OpenID provider unreachable during a token refresh', () => {
  it('when the hub renews its token while the provider is down, then the exchange that is due says the sign-in service cannot be reached (not “sign in again”), and once the provider is back the renewed token is exchanged and used', async () => {
    const at = '/api/instances/idp-exchange';
    expect(((await api.get(`${at}/auth`)).body as AuthStatus).signedIn).toBe(true);
    expect((await api.get(`${at}/scopes`)).status).toBe(200);
    expect(
      proxy.connections,
      'the companion reaches the provider through the proxy'
    ).toBeGreaterThan(0);

    // The hub's sidecar writes a renewed token, while the provider is away.
    writeFileSync(hubTokenFile, await deviceToken('alice', 'jupyterhub'));
    await proxy.stop();
    for (const path of [`${at}/scopes`, `${at}/auth`]) {
      const { status, body } = await timedGet(path);
      expect(status, JSON.stringify(body)).toBe(502);
      expect(errorOf(body).code).toBe('rucio_unreachable');
      expect(errorOf(body).message).toMatch(
        /^The sign-in service of idp-exchange \(http:\/\/127\.0\.0\.1:\d+\/\.well-known\/openid-configuration\) cannot be reached \(.+\), so your sign-in could not be turned into one idp-exchange accepts\. Try again in a minute/
      );
    }

    await proxy.start();
    expect((await api.get(`${at}/auth`)).body).toMatchObject({ signedIn: true, account: 'alice' });
    const scopes = await api.get(`${at}/scopes`);
    expect(scopes.status).toBe(200);
    expect((scopes.body as { scopes: string[] }).scopes).toContain('user.alice');
  });

  it('when the provider is down as a device sign-in is due for renewal, then the companion keeps using the access token while it is valid, says the sign-in service cannot be reached once it has expired (keeping the sign-in), and renews it once the provider is back', async () => {
    const at = '/api/instances/idp-device';
    rmSync(deviceTokenFile, { force: true });
    const started = await api.post(`${at}/auth/device`, {});
    expect(started.status, JSON.stringify(started.body)).toBe(200);
    const signIn = started.body as DeviceSignIn;
    // The provider's pages are reached through the proxy, as the companion reaches them.
    expect(signIn.verificationUri.startsWith(`${proxy.url}/`)).toBe(true);
    await approveDevice(devlake.idp.issuer, signIn.userCode, 'alice');
    const deadline = performance.now() + 30_000;
    let status = (await api.get(`${at}/auth`)).body as AuthStatus;
    while (!status.signedIn && performance.now() < deadline) {
      await sleep(250);
      status = (await api.get(`${at}/auth`)).body as AuthStatus;
    }
    expect(status).toMatchObject({ signedIn: true, account: 'alice' });
    const first = storedAccessToken();
    expect(first).toEqual(expect.any(String));

    await proxy.stop();

    // Four minutes before the access token expires: due for renewal, and still good for Rucio.
    clockAhead(56);
    const due = await timedGet(`${at}/scopes`);
    expect(due.status, JSON.stringify(due.body)).toBe(200);
    expect(((await timedGet(`${at}/auth`)).body as AuthStatus).signedIn).toBe(true);
    expect(storedAccessToken()).toBe(first);

    // A minute after it expired: nothing to act with, but the sign-in is kept.
    clockAhead(61);
    for (const path of [`${at}/scopes`, `${at}/auth`]) {
      const { status: code, body } = await timedGet(path);
      expect(code, JSON.stringify(body)).toBe(502);
      expect(errorOf(body).code).toBe('rucio_unreachable');
      expect(errorOf(body).message).toMatch(
        /^The sign-in service of idp-device \(http:\/\/127\.0\.0\.1:\d+\/\.well-known\/openid-configuration\) cannot be reached \(.+\), so your sign-in could not be renewed\. You are still signed in: try again in a minute/
      );
    }
    // Starting a new sign-in meanwhile gets the same sentence, not a 500.
    const restart = await api.post(`${at}/auth/device`, {});
    expect(restart.status, JSON.stringify(restart.body)).toBe(502);
    expect(errorOf(restart.body).code).toBe('rucio_unreachable');
    expect(storedAccessToken()).toBe(first);

    // The provider is back, four minutes before the token expires: it is renewed.
    clockAhead(56);
    await proxy.start();
    expect((await timedGet(`${at}/scopes`)).status).toBe(200);
    const renewedBy = performance.now() + 30_000;
    while (storedAccessToken() === first && performance.now() < renewedBy) {
      await sleep(100);
    }
    expect(storedAccessToken()).not.toBe(first);
    vi.restoreAllMocks();
    expect((await timedGet(`${at}/auth`)).body).toMatchObject({ signedIn: true, account: 'alice' });
    const scopes = await timedGet(`${at}/scopes`);
    expect((scopes.body as { scopes: string[] }).scopes).toContain('user.alice');
  });

  it('when the provider refuses to start a device sign-in (a wrong client secret), then 502 says the companion’s client settings are wrong, not a 500', async () => {
    const { status, body } = await timedGet('/api/instances/idp-wrong-secret/auth');
    expect((body as AuthStatus).signedIn).toBe(false);
    expect(status).toBe(200);
    const started = await api.post('/api/instances/idp-wrong-secret/auth/device', {});
    expect(started.status, JSON.stringify(started.body)).toBe(502);
    expect(errorOf(started.body).code).toBe('not_configured');
    expect(errorOf(started.body).message).toMatch(
      /^The sign-in service of idp-wrong-secret .* refused to start a sign-in \(invalid_client\)\. Tell the hub's admins/
    );
  });
});
