import type { AuthStatus, DeviceSignIn } from '@dlaas/api';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningCompanion } from '../../packages/companion/src/index.js';
import { approveDevice } from '../../packages/devlake/src/idp/provider.js';
import { devlake } from '../devlake/helpers.js';
import { CompanionClient, errorOf, startCompanion, testConfig } from './harness.js';

let companion: RunningCompanion;
let api: CompanionClient;

beforeAll(async () => {
  // Start signed out, whatever an earlier run left.
  const instance = testConfig().instances.find(i => i.name === 'devlake-oidc');
  if (instance?.auth.method === 'device' && instance.auth.tokenFile) {
    rmSync(instance.auth.tokenFile, { force: true });
  }
  companion = await startCompanion();
  api = new CompanionClient(companion.address);
});

afterAll(async () => {
  await companion.stop();
});

describe('companion: OpenID device sign-in, with Rucio trusting devlake’s provider', () => {
  it('when nobody signed in, then the auth state and every call say to sign in', async () => {
    const status = (await api.get('/api/instances/devlake-oidc/auth')).body as AuthStatus;
    expect(status).toMatchObject({
      signedIn: false,
      method: 'device',
      message: expect.stringMatching(/Sign in to devlake-oidc\.$/)
    });
    const { status: code, body } = await api.get('/api/instances/devlake-oidc/scopes');
    expect(code).toBe(401);
    expect(errorOf(body).code).toBe('not_signed_in');
  });

  it(
    'when alice approves the device code at the provider, then the companion acts as alice in Rucio with her OIDC token',
    { timeout: 60_000 },
    async () => {
      const started = await api.post('/api/instances/devlake-oidc/auth/device', {});
      expect(started.status).toBe(200);
      const signIn = started.body as DeviceSignIn;
      expect(signIn.verificationUri.startsWith(devlake.idp.issuer)).toBe(true);
      const pending = (await api.get('/api/instances/devlake-oidc/auth')).body as AuthStatus;
      expect(pending.deviceSignIn?.userCode).toBe(signIn.userCode);
      await approveDevice(devlake.idp.issuer, signIn.userCode, 'alice');
      let status = pending;
      for (let i = 0; i < 60 && !status.signedIn; i++) {
        await new Promise(resolvePromise => setTimeout(resolvePromise, 500));
        status = (await api.get('/api/instances/devlake-oidc/auth')).body as AuthStatus;
      }
      expect(status).toMatchObject({ signedIn: true, account: 'alice' });
      const scopes = (await api.get('/api/instances/devlake-oidc/scopes')).body as {
        scopes: string[];
      };
      expect(scopes.scopes).toContain('user.alice');
    }
  );

  it('when alice signs out, then the companion no longer acts for her', async () => {
    const out = await api.post('/api/instances/devlake-oidc/auth/sign-out', {});
    expect(out.status).toBe(204);
    expect(((await api.get('/api/instances/devlake-oidc/auth')).body as AuthStatus).signedIn).toBe(
      false
    );
    expect((await api.get('/api/instances/devlake-oidc/scopes')).status).toBe(401);
  });

  it('when a userpass instance is asked to start a device sign-in, then 400 says it signs in otherwise', async () => {
    const { status, body } = await api.post('/api/instances/devlake/auth/device', {});
    expect(status).toBe(400);
    expect(errorOf(body).message).toMatch(/signs you in with userpass, not with a device code/);
  });
});
