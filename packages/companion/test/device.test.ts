import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOidcProvider, type OidcProviderHandle } from '../../devlake/src/idp/provider.js';
import { DeviceCredentials } from '../src/auth/device.js';
import type { InstanceConfig } from '../src/config.js';

let idp: OidcProviderHandle;

beforeAll(async () => {
  // A real OpenID provider on loopback; access tokens live 120 s, so every use refreshes them.
  idp = await startOidcProvider({ accessTokenTtl: 120 });
});

afterAll(async () => {
  await idp.stop();
});

function claims(jwt: string): Record<string, unknown> {
  return JSON.parse(
    Buffer.from(jwt.split('.')[1] as string, 'base64url').toString('utf8')
  ) as Record<string, unknown>;
}

function deviceInstance(tokenFile: string): InstanceConfig {
  return {
    name: 'lake',
    rucioUrl: 'http://rucio.invalid',
    scratchRse: 'SCRATCH',
    auth: {
      method: 'device',
      issuer: idp.issuer,
      clientId: 'dlaas',
      clientSecret: 'dlaas-secret',
      audience: 'rucio',
      tokenFile
    }
  };
}

async function until<T>(attempt: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) {
        throw error;
      }
      await new Promise(resolvePromise => setTimeout(resolvePromise, 250));
    }
  }
}

// openid-client polls every 5 s when the provider names no interval, so approvals take that long.
describe('device sign-in against a real OpenID provider', { timeout: 30_000 }, () => {
  const tokenFile = join(mkdtempSync(join(tmpdir(), 'dlaas-device-')), 'lake.tokens.json');

  it('when nobody signed in, then a token request says to sign in', async () => {
    const source = new DeviceCredentials(
      deviceInstance(tokenFile),
      deviceInstance(tokenFile).auth as never
    );
    await expect(source.token()).rejects.toMatchObject({
      status: 401,
      code: 'not_signed_in',
      message: 'You are not signed in to lake. Sign in to lake.'
    });
    expect(source.pendingSignIn()).toBeNull();
  });

  it('when the user approves the code, then the companion gets an access token for Rucio and keeps it privately', async () => {
    const config = deviceInstance(tokenFile);
    const source = new DeviceCredentials(config, config.auth as never);
    const signIn = await source.startSignIn();
    expect(signIn.userCode).toMatch(/\S/);
    expect(signIn.verificationUri).toMatch(new RegExp(`^${idp.issuer}`));
    expect(await source.startSignIn()).toEqual(signIn);
    expect(source.pendingSignIn()).toEqual(signIn);
    await idp.approveDevice(signIn.userCode, 'alice');
    const token = await until(() => source.token());
    const payload = claims(token.value);
    expect(payload['sub']).toBe(idp.user('alice').sub);
    expect(payload['iss']).toBe(idp.issuer);
    expect([payload['aud']].flat()).toContain('rucio');
    expect(String(payload['scope'])).toMatch(/openid/);
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
  });

  it('when the companion restarts, then the kept tokens are used and renewed with the refresh token', async () => {
    const config = deviceInstance(tokenFile);
    const source = new DeviceCredentials(config, config.auth as never);
    const first = await source.token();
    const second = await source.token(true);
    expect(second.value).not.toBe(first.value);
    expect(claims(second.value)['sub']).toBe(idp.user('alice').sub);
  });

  it('when the user signs out, then the tokens are gone and the next request says to sign in', async () => {
    const config = deviceInstance(tokenFile);
    const source = new DeviceCredentials(config, config.auth as never);
    source.signOut();
    expect(existsSync(tokenFile)).toBe(false);
    await expect(source.token()).rejects.toMatchObject({ code: 'not_signed_in' });
  });

  it('when the provider refuses the refresh token, then the panel is told to sign in again', async () => {
    const config = deviceInstance(join(mkdtempSync(join(tmpdir(), 'dlaas-device-')), 't.json'));
    const source = new DeviceCredentials(config, config.auth as never);
    const signIn = await source.startSignIn();
    await idp.approveDevice(signIn.userCode, 'bob');
    await until(() => source.token());
    // A refresh token the provider does not know, as after a revocation.
    const file = (config.auth as { tokenFile: string }).tokenFile;
    const stored = JSON.parse(readFileSync(file, 'utf8')) as { refreshToken: string };
    writeFileSync(file, JSON.stringify({ ...stored, refreshToken: 'revoked', expiresAt: 0 }));
    const reloaded = new DeviceCredentials(config, config.auth as never);
    const again = {
      code: 'not_signed_in',
      message: expect.stringMatching(/can no longer be renewed\. Sign in to lake again\./)
    };
    await expect(reloaded.token()).rejects.toMatchObject(again);
    // The panel asks again (for its sign-in state): still "again", not "you are not signed in".
    await expect(reloaded.token()).rejects.toMatchObject(again);
    reloaded.signOut();
    await expect(reloaded.token()).rejects.toMatchObject({
      message: 'You are not signed in to lake. Sign in to lake.'
    });
  });
});
