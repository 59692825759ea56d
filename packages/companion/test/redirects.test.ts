import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HubCredentials, UserpassCredentials } from '../src/auth/credentials.js';
import type { InstanceConfig } from '../src/config.js';
import { RucioClient } from '../src/rucio/client.js';

/**
 * Credentials never follow a redirect to another host (Node's fetch drops only Authorization and
 * Cookie there): a "Rucio" on loopback that redirects, and another host that records what reaches
 * it. The transport of this unit, not Rucio.
 */
let rucio: Server;
let elsewhere: Server;
let rucioUrl: string;
let elsewhereUrl: string;
const reachedElsewhere: IncomingHttpHeaders[] = [];

function listen(server: Server): Promise<string> {
  return new Promise(resolvePromise =>
    server.listen(0, '127.0.0.1', () =>
      resolvePromise(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
    )
  );
}

beforeAll(async () => {
  elsewhere = createServer((req, res) => {
    reachedElsewhere.push(req.headers);
    res.writeHead(200, { 'x-rucio-auth-token': 'stolen' }).end('{}');
  });
  elsewhereUrl = await listen(elsewhere);
  rucio = createServer((req, res) => {
    const away = `${elsewhereUrl}${req.url ?? '/'}`;
    switch (req.url) {
      case '/auth/userpass':
      case '/accounts/whoami':
      case '/hub/api/users/alice':
        res.writeHead(302, { location: away }).end();
        return;
      case '/same/auth/userpass':
        res.writeHead(307, { location: '/same/auth/userpass-here' }).end();
        return;
      case '/same/auth/userpass-here':
        res.writeHead(200, { 'x-rucio-auth-token': 'good', 'x-rucio-auth-account': 'alice' }).end();
        return;
      case '/loop/auth/userpass':
        res.writeHead(302, { location: '/loop/auth/userpass' }).end();
        return;
      case '/silent/auth/userpass':
      case '/silent/hub/api/users/alice':
        return; // never answers: the sign-in must give up by itself

      default:
        res.writeHead(404).end();
    }
  });
  rucioUrl = await listen(rucio);
});

afterAll(() => {
  rucio.closeAllConnections();
  rucio.close();
  elsewhere.close();
});

beforeEach(() => {
  reachedElsewhere.length = 0;
});

function instance(path = ''): InstanceConfig {
  return {
    name: 'lake',
    rucioUrl: `${rucioUrl}${path}`,
    auth: { method: 'userpass', username: 'alice', password: 'secret' },
    scratchRse: 'SCRATCH'
  };
}

const userpass = { method: 'userpass' as const, username: 'alice', password: 'secret' };

describe('credentials and redirects', () => {
  it('when the auth URL redirects to another host, then the password is not sent there and the sentence names the host', async () => {
    await expect(new UserpassCredentials(instance(), userpass).token()).rejects.toMatchObject({
      status: 502,
      message: expect.stringContaining(
        `redirected a request that carries your credentials to another address (${elsewhereUrl})`
      )
    });
    expect(reachedElsewhere).toEqual([]);
  });

  it('when Rucio redirects within its own address, then the redirect is followed', async () => {
    const token = await new UserpassCredentials(instance('/same'), userpass).token();
    expect(token).toMatchObject({ value: 'good', account: 'alice' });
  });

  it('when Rucio redirects in a loop, then it stops with a sentence', async () => {
    await expect(
      new UserpassCredentials(instance('/loop'), userpass).token()
    ).rejects.toMatchObject({ message: expect.stringMatching(/more than 5 times/) });
  });

  it('when a Rucio request with the session token is redirected to another host, then the token is not sent there', async () => {
    const credentials = {
      method: 'token' as const,
      configuredAccount: null,
      token: () =>
        Promise.resolve({ value: 'rucio-session', expiresAt: Date.now() + 3600_000, account: null })
    };
    const client = new RucioClient(instance(), credentials);
    await expect(client.json('GET', '/accounts/whoami')).rejects.toMatchObject({
      message: expect.stringContaining('to another address')
    });
    expect(reachedElsewhere).toEqual([]);
  });

  it('when JupyterHub redirects the auth-state request to another host, then the hub token is not sent there', async () => {
    const hub = new HubCredentials(
      { ...instance(), auth: { method: 'jupyterhub' } },
      { method: 'jupyterhub' },
      {
        JUPYTERHUB_API_URL: `${rucioUrl}/hub/api`,
        JUPYTERHUB_API_TOKEN: 'hub-secret',
        JUPYTERHUB_USER: 'alice'
      }
    );
    await expect(hub.token()).rejects.toMatchObject({
      message: expect.stringMatching(/^JupyterHub redirected a request/)
    });
    expect(reachedElsewhere).toEqual([]);
  });

  it('when the sign-in server or JupyterHub never answers, then the sign-in gives up within the instance’s timeout with a sentence', async () => {
    const silent = { ...instance('/silent'), requestTimeoutSeconds: 0.3 };
    await expect(new UserpassCredentials(silent, userpass).token()).rejects.toMatchObject({
      status: 502,
      code: 'rucio_unreachable',
      message: expect.stringMatching(/^lake \(.*\/silent\) cannot be reached/)
    });
    const hub = new HubCredentials(
      { ...silent, auth: { method: 'jupyterhub' } },
      { method: 'jupyterhub' },
      {
        JUPYTERHUB_API_URL: `${rucioUrl}/silent/hub/api`,
        JUPYTERHUB_API_TOKEN: 'hub-secret',
        JUPYTERHUB_USER: 'alice'
      }
    );
    await expect(hub.token()).rejects.toMatchObject({ code: 'rucio_unreachable' });
  });
});
