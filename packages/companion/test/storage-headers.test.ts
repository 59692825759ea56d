import { describe, expect, it } from 'vitest';
import type { CredentialSource } from '../src/auth/credentials.js';
import type { InstanceConfig } from '../src/config.js';
import { storageHeaders } from '../src/fuse/storage.js';

/** Which credential a read from storage (`/content`, the FUSE mount) carries, and where. */
const credentials = {
  method: 'token',
  configuredAccount: null,
  token: () =>
    Promise.resolve({ value: 'the-token', expiresAt: Date.now() + 3600_000, account: null })
} as unknown as CredentialSource;

function instance(auth: InstanceConfig['auth']): InstanceConfig {
  return {
    name: 'lake',
    rucioUrl: 'https://rucio.example.org',
    scratchRse: 'SCRATCH',
    trustedHttpHosts: ['127.0.0.1:18413'],
    auth
  };
}

const token: InstanceConfig['auth'] = { method: 'token', env: 'TOKEN' };
const bearer = { Authorization: 'Bearer the-token' };

describe('credentials sent to storage', () => {
  it.each([
    ['a token sign-in, https storage', token, 'https://eos.example.org/x', bearer],
    ['a token sign-in, a trusted http test host', token, 'http://127.0.0.1:18413/x', bearer],
    ['a token sign-in, plain http elsewhere', token, 'http://eos.example.org/x', {}],
    [
      'a hub sign-in, https storage',
      { method: 'jupyterhub' as const },
      'https://eos.example.org/x',
      bearer
    ],
    [
      'userpass (a Rucio session token), https storage',
      { method: 'userpass' as const, username: 'a', password: 'b' },
      'https://eos.example.org/x',
      {}
    ],
    [
      'x509 (the certificate speaks), https storage',
      { method: 'x509' as const, cert: '/c.pem' },
      'https://eos.example.org/x',
      {}
    ]
  ])('when %s, then the headers are %j', async (_what, auth, url, expected) => {
    expect(await storageHeaders(instance(auth), credentials, new URL(url))).toEqual(expected);
  });
});
