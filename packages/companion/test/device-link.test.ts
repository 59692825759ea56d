import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceCredentials, signInLink } from '../src/auth/device.js';

/**
 * The device sign-in page reaches the panel as a link in Jupyter's origin: only https, or http
 * from a plain-http loopback provider. A provider "in the middle" on loopback (discovery and a
 * device endpoint, the transport of this unit) hands out a `javascript:` link.
 */
let provider: Server;
let issuer: string;
let link = 'javascript:alert(document.cookie)';
let complete: string | undefined;

beforeAll(async () => {
  provider = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/.well-known/openid-configuration') {
      res.end(
        JSON.stringify({
          issuer,
          device_authorization_endpoint: `${issuer}/device`,
          token_endpoint: `${issuer}/token`
        })
      );
    } else if (req.url === '/device') {
      res.end(
        JSON.stringify({
          device_code: 'dc',
          user_code: 'ABCD-EFGH',
          verification_uri: link,
          verification_uri_complete: complete ?? `${link}?code=ABCD-EFGH`,
          expires_in: 600,
          interval: 600
        })
      );
    } else {
      res.statusCode = 400;
      res.end(JSON.stringify({ error: 'authorization_pending' }));
    }
  });
  await new Promise<void>(resolvePromise => provider.listen(0, '127.0.0.1', resolvePromise));
  issuer = `http://127.0.0.1:${(provider.address() as AddressInfo).port}`;
});

afterAll(() => {
  provider.close();
});

function credentials(): DeviceCredentials {
  const auth = {
    method: 'device' as const,
    issuer,
    clientId: 'dlaas',
    tokenFile: '/nonexistent/dlaas-device-link-test.json'
  };
  return new DeviceCredentials(
    { name: 'lake', rucioUrl: 'http://rucio.invalid', scratchRse: 'S', auth },
    auth
  );
}

describe('the device sign-in link', () => {
  it.each([
    [
      'https://iam.example.org/device',
      'https://iam.example.org/',
      'https://iam.example.org/device'
    ],
    ['http://127.0.0.1:18404/device', 'http://127.0.0.1:18404', 'http://127.0.0.1:18404/device'],
    ['http://iam.example.org/device', 'https://iam.example.org/', null],
    ['http://127.0.0.1:18404/device', 'http://iam.example.org', null],
    ['http://evil.example.org/device', 'http://127.0.0.1:18404', null],
    ['javascript:alert(1)', 'http://127.0.0.1:18404', null],
    ['data:text/html,<script>alert(1)</script>', 'https://iam.example.org/', null],
    ['not a url', 'https://iam.example.org/', null]
  ])('when the provider gives %s (issuer %s), then the panel may show %s', (given, from, shown) => {
    expect(signInLink(given, from)).toBe(shown);
  });

  it('when a provider hands out a javascript: link, then no sign-in starts and the sentence says why', async () => {
    await expect(credentials().startSignIn()).rejects.toMatchObject({
      status: 502,
      message: expect.stringMatching(/not an https address, so dlaas does not show it/)
    });
  });

  it('when only the complete link is hostile, then the plain one is shown without it', async () => {
    link = `${issuer}/verify`;
    complete = 'javascript:alert(document.cookie)';
    const signIn = await credentials().startSignIn();
    expect(signIn.verificationUri).toBe(`${issuer}/verify`);
    expect(signIn.verificationUriComplete).toBeNull();
  });
});
