import type { AuthStatus } from '@dlaas/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkConfig, start, type RunningCompanion } from '../../packages/companion/src/index.js';
import { devlake } from '../devlake/helpers.js';
import { CompanionClient, errorOf, testConfig } from './harness.js';

let companion: RunningCompanion;
let api: CompanionClient;

beforeAll(async () => {
  const template = testConfig().instances.find(i => i.name === 'devlake-x509');
  const alice = devlake.x509.users['alice'];
  if (!template || !alice) {
    throw new Error('devlake wrote no X.509 instance');
  }
  const config = checkConfig(
    {
      instances: [
        template,
        { ...template, name: 'proxy', auth: { method: 'x509', cert: alice.proxy } },
        { ...template, name: 'no-ca', caBundle: undefined },
        {
          ...template,
          name: 'missing',
          auth: { method: 'x509', cert: '/nonexistent/usercert.pem' }
        }
      ]
    },
    'the X.509 test configuration'
  );
  companion = await start(config, { port: 0 });
  api = new CompanionClient(companion.address);
});

afterAll(async () => {
  await companion.stop();
});

describe('companion: X.509 sign-in against Rucio behind TLS', () => {
  it('when alice’s certificate is configured, then the companion acts as alice', async () => {
    expect((await api.get('/api/instances/devlake-x509/auth')).body).toMatchObject({
      signedIn: true,
      account: 'alice',
      method: 'x509'
    });
    expect(
      ((await api.get('/api/instances/devlake-x509/scopes')).body as { scopes: string[] }).scopes
    ).toContain('user.alice');
  });

  it('when alice’s RFC 3820 proxy certificate is configured, then Rucio strips the proxy CN and she is alice', async () => {
    expect((await api.get('/api/instances/proxy/auth')).body).toMatchObject({
      signedIn: true,
      account: 'alice'
    });
  });

  it('when the server’s CA is not trusted, then the answer says Rucio cannot be reached and why', async () => {
    const { status, body } = await api.get('/api/instances/no-ca/scopes');
    expect(status).toBe(502);
    expect(errorOf(body)).toMatchObject({
      code: 'rucio_unreachable',
      message: expect.stringMatching(/certificate/i)
    });
  });

  it('when the certificate file is missing, then the panel is told to sign in, naming the file', async () => {
    const status = (await api.get('/api/instances/missing/auth')).body as AuthStatus;
    expect(status).toMatchObject({
      signedIn: false,
      message: expect.stringMatching(/\/nonexistent\/usercert\.pem\) cannot be read/)
    });
  });
});
