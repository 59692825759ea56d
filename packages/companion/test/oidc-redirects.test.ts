import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceCredentials } from '../src/auth/device.js';

/**
 * Requests to the OpenID provider (openid-client, through oauth4webapi) carry the client secret
 * and the user's tokens; a provider endpoint that redirects to another host must not get them
 * sent on. A loopback provider whose device endpoint answers 307 to another host, and that host,
 * which records what reaches it: the transport of this unit.
 */
let provider: Server;
let elsewhere: Server;
let issuer: string;
let elsewhereUrl: string;
const reachedElsewhere: { url?: string; headers: IncomingHttpHeaders; body: string }[] = [];

async function listen(server: Server): Promise<string> {
  await new Promise<void>(resolvePromise => server.listen(0, '127.0.0.1', resolvePromise));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  elsewhere = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      reachedElsewhere.push({ url: req.url, headers: req.headers, body });
      res.setHeader('content-type', 'application/json');
      res.end('{}');
    });
  });
  elsewhereUrl = await listen(elsewhere);
  provider = createServer((req, res) => {
    if (req.url === '/.well-known/openid-configuration') {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          issuer,
          device_authorization_endpoint: `${issuer}/device`,
          token_endpoint: `${issuer}/token`
        })
      );
      return;
    }
    res.writeHead(307, { location: `${elsewhereUrl}${req.url ?? '/'}` }).end();
  });
  issuer = await listen(provider);
});

afterAll(() => {
  provider.close();
  elsewhere.close();
});

describe('requests to the OpenID provider and redirects', () => {
  it('when the device endpoint redirects to another host, then neither the client secret nor anything else is sent there, and the sign-in says why it cannot start', async () => {
    const auth = {
      method: 'device' as const,
      issuer,
      clientId: 'dlaas',
      clientSecret: 'client-secret-value',
      tokenFile: '/nonexistent/dlaas-oidc-redirects-test.json'
    };
    const credentials = new DeviceCredentials(
      { name: 'lake', rucioUrl: 'http://rucio.invalid', scratchRse: 'S', auth },
      auth
    );
    await expect(credentials.startSignIn()).rejects.toMatchObject({
      status: 502,
      message: expect.stringMatching(
        /^The sign-in service of lake \(http:\/\/127\.0\.0\.1:\d+\) cannot be reached .*Try again in a minute\.$/
      )
    });
    expect(reachedElsewhere).toEqual([]);
  });
});
