import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubCredentials } from '../src/auth/credentials.js';
import type { InstanceConfig } from '../src/config.js';

const instance: InstanceConfig = {
  name: 'lake',
  rucioUrl: 'http://rucio.invalid',
  auth: { method: 'jupyterhub' },
  scratchRse: 'SCRATCH'
};

/** A JWT expiring in `expSeconds`, issued `agoSeconds` ago when given (claim `iat`). */
function jwt(expSeconds: number, agoSeconds?: number): string {
  const part = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const iat = agoSeconds === undefined ? {} : { iat: now - agoSeconds };
  return `${part({ alg: 'RS256' })}.${part({ sub: 'alice', exp: now + expSeconds, ...iat })}.sig`;
}

/** A stand-in for JupyterHub's `/user` route: the transport of this unit, not Rucio. */
let hub: Server;
let hubUrl: string;
let authState: Record<string, unknown> | null = null;
let calls = 0;
let seenAuthorization = '';

beforeAll(async () => {
  hub = createServer((req, res) => {
    calls++;
    seenAuthorization = req.headers.authorization ?? '';
    // As JupyterHub 5 does: `/user` never carries auth_state, `/users/<name>` does.
    const known = req.url === '/hub/api/user' || req.url === '/hub/api/users/alice';
    res.writeHead(known ? 200 : 404, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({ name: 'alice', auth_state: req.url === '/hub/api/user' ? null : authState })
    );
  });
  await new Promise<void>(resolvePromise => hub.listen(0, '127.0.0.1', resolvePromise));
  hubUrl = `http://127.0.0.1:${(hub.address() as AddressInfo).port}/hub/api`;
});

afterAll(() => {
  hub.close();
});

const env = (): NodeJS.ProcessEnv => ({
  JUPYTERHUB_API_URL: hubUrl,
  JUPYTERHUB_API_TOKEN: 'hub-secret'
});

it('when JUPYTERHUB_USER is set, then the user is read directly by name', async () => {
  authState = { access_token: jwt(3600) };
  calls = 0;
  await new HubCredentials(
    instance,
    { method: 'jupyterhub' },
    { ...env(), JUPYTERHUB_USER: 'alice' }
  ).token();
  expect(calls).toBe(1);
});

describe('HubCredentials', () => {
  it('when the hub holds an access token, then it is used and cached until shortly before it expires', async () => {
    authState = { access_token: jwt(3600) };
    calls = 0;
    const source = new HubCredentials(instance, { method: 'jupyterhub' }, env());
    const first = await source.token();
    expect(first.value).toBe(authState['access_token']);
    expect(seenAuthorization).toBe('token hub-secret');
    await source.token();
    expect(calls).toBe(2);
  });

  it('when the cached token is about to expire or Rucio refused it, then it is fetched again', async () => {
    authState = { access_token: jwt(60) };
    calls = 0;
    const source = new HubCredentials(instance, { method: 'jupyterhub' }, env());
    await source.token();
    await source.token();
    expect(calls).toBe(4);
    authState = { access_token: jwt(3600) };
    await source.token(true);
    expect(calls).toBe(6);
  });

  it('when a token lives one minute in all (iat), then it is kept until a quarter of its life is left, not fetched on every request', async () => {
    authState = { access_token: jwt(60, 0) };
    calls = 0;
    const fresh = new HubCredentials(instance, { method: 'jupyterhub' }, env());
    await fresh.token();
    await fresh.token();
    expect(calls).toBe(2);
    authState = { access_token: jwt(10, 50) };
    calls = 0;
    const old = new HubCredentials(instance, { method: 'jupyterhub' }, env());
    await old.token();
    await old.token();
    expect(calls).toBe(4);
  });

  it('when the hub keeps no auth_state or the token expired, then the sentence says to log in again', async () => {
    authState = null;
    await expect(
      new HubCredentials(instance, { method: 'jupyterhub' }, env()).token()
    ).rejects.toMatchObject({
      status: 401,
      code: 'not_signed_in',
      message: expect.stringMatching(/Log out of JupyterHub and log in again\. Sign in to lake\.$/)
    });
    authState = { access_token: jwt(-10) };
    await expect(
      new HubCredentials(instance, { method: 'jupyterhub' }, env()).token()
    ).rejects.toMatchObject({ message: expect.stringMatching(/has expired/) });
  });

  it('when a custom key is configured, then the token is read from it', async () => {
    authState = { access_token: jwt(3600), rucio_token: jwt(3600) + 'x' };
    const source = new HubCredentials(
      instance,
      { method: 'jupyterhub', tokenKey: 'rucio_token' },
      env()
    );
    expect((await source.token()).value).toBe(authState['rucio_token']);
  });

  it('when the server does not run under JupyterHub, then it says so', async () => {
    await expect(
      new HubCredentials(instance, { method: 'jupyterhub' }, {}).token()
    ).rejects.toMatchObject({ message: expect.stringMatching(/does not run under JupyterHub/) });
  });
});
