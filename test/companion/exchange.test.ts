import type { AuthStatus } from '@dlaas/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkConfig, start, type RunningCompanion } from '../../packages/companion/src/index.js';
import { devlake } from '../devlake/helpers.js';
import { CompanionClient, deviceToken, testConfig } from './harness.js';

let companion: RunningCompanion;
let api: CompanionClient;

function audienceOf(jwt: string): string[] {
  const claims = JSON.parse(
    Buffer.from(jwt.split('.')[1] as string, 'base64url').toString('utf8')
  ) as { aud?: string | string[] };
  return [claims.aud ?? []].flat();
}

beforeAll(async () => {
  const hubToken = await deviceToken('alice', 'jupyterhub');
  expect(audienceOf(hubToken)).toEqual(['jupyterhub']);
  process.env['DLAAS_TEST_HUB_TOKEN'] = hubToken;
  const base = testConfig();
  const template = base.instances[0];
  if (!template) {
    throw new Error('no instance');
  }
  const config = checkConfig(
    {
      instances: [
        {
          ...template,
          name: 'no-exchange',
          auth: { method: 'token', env: 'DLAAS_TEST_HUB_TOKEN' }
        },
        {
          ...template,
          name: 'exchange',
          auth: {
            method: 'token',
            env: 'DLAAS_TEST_HUB_TOKEN',
            exchange: {
              issuer: devlake.idp.issuer,
              clientId: 'dlaas',
              clientSecret: 'dlaas-secret',
              audience: 'rucio'
            }
          }
        }
      ]
    },
    'the exchange test configuration'
  );
  companion = await start(config, { port: 0 });
  api = new CompanionClient(companion.address);
}, 60_000);

afterAll(async () => {
  await companion.stop();
});

describe('companion: token exchange toward Rucio’s audience', () => {
  it('when a token issued to JupyterHub is sent to Rucio as it is, then Rucio refuses it and the panel is told to sign in', async () => {
    expect(((await api.get('/api/instances/no-exchange/auth')).body as AuthStatus).signedIn).toBe(
      false
    );
  });

  it('when the instance exchanges it first, then Rucio accepts the exchanged token as alice', async () => {
    expect((await api.get('/api/instances/exchange/auth')).body).toMatchObject({
      signedIn: true,
      account: 'alice'
    });
    const token = await companion.lake.instance('exchange').rucio.credentials.token();
    expect(audienceOf(token.value)).toEqual(['rucio']);
    expect(
      ((await api.get('/api/instances/exchange/scopes')).body as { scopes: string[] }).scopes
    ).toContain('user.alice');
  });
});
