import { readFileSync } from 'node:fs';
import {
  checkConfig,
  start,
  type Config,
  type RunningCompanion
} from '../../packages/companion/src/index.js';
import * as oidc from 'openid-client';
import { approveDevice } from '../../packages/devlake/src/idp/provider.js';
import { devlake } from '../devlake/helpers.js';

/** A JWT whose `exp` lies in the past (signature irrelevant: the companion never gets to send it). */
export const EXPIRED_JWT = [
  Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url'),
  Buffer.from(JSON.stringify({ sub: 'alice', exp: 1_000_000_000 })).toString('base64url'),
  'sig'
].join('.');

/**
 * The companion configuration devlake wrote (instances "devlake" as alice and "devlake-bob" as
 * bob), plus two broken instances for error tests: one whose Rucio is down, one whose token expired.
 */
export function testConfig(): Config {
  const config = JSON.parse(readFileSync(devlake.companionConfig, 'utf8')) as Config;
  const base = config.instances[0];
  if (!base) {
    throw new Error('devlake wrote no companion instance');
  }
  process.env['DLAAS_TEST_EXPIRED_TOKEN'] = EXPIRED_JWT;
  return checkConfig(
    {
      ...config,
      instances: [
        ...config.instances,
        {
          ...base,
          name: 'down',
          displayName: 'Rucio that is down',
          rucioUrl: 'http://127.0.0.1:9'
        },
        { ...base, name: 'expired', auth: { method: 'token', env: 'DLAAS_TEST_EXPIRED_TOKEN' } }
      ]
    },
    'the test configuration'
  );
}

/** Log lines the companion wrote while a test ran. */
export const logLines: string[] = [];

/** Starts the real companion in this process on a free port, capturing its log. */
export async function startCompanion(): Promise<RunningCompanion> {
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    logLines.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return (write as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stderr.write;
  return start(testConfig(), { port: 0 }, { intervalMs: 500, maxIntervalMs: 2000 });
}

/** Everything the companion answered during the tests, for the token scan. */
export const answers: string[] = [];

/**
 * A small client for the companion that sends Jupyter's XSRF cookie and header on POSTs, and the
 * companion's token when it has one (`dlaas-companion --port` requires it).
 */
export class CompanionClient {
  constructor(
    readonly base: string,
    readonly token?: string
  ) {}

  async call(
    method: string,
    path: string,
    body?: unknown,
    options: { xsrf?: boolean; raw?: string } = {}
  ): Promise<{ status: number; body: unknown }> {
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (options.xsrf !== false) {
      headers['Cookie'] = '_xsrf=test-xsrf-value';
      headers['X-XSRFToken'] = 'test-xsrf-value';
    }
    if (this.token !== undefined) {
      headers['Authorization'] = `token ${this.token}`;
    }
    const response = await fetch(this.base + path, {
      method,
      headers,
      body: options.raw ?? (body === undefined ? undefined : JSON.stringify(body))
    });
    const text = await response.text();
    answers.push(JSON.stringify([...response.headers]), text);
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON: kept as text, tests say what they expect.
    }
    return { status: response.status, body: parsed };
  }

  get(path: string): Promise<{ status: number; body: unknown }> {
    return this.call('GET', path);
  }

  post(path: string, body: unknown): Promise<{ status: number; body: unknown }> {
    return this.call('POST', path, body);
  }
}

/** The sentence of an error answer. */
export function errorOf(body: unknown): { code: string; message: string } {
  return (body as { error: { code: string; message: string } }).error;
}

/**
 * An access token of `username` for `audience`, got with the device flow at devlake's OpenID
 * provider (approved without a browser), as a hub login or a laptop sign-in would get it.
 */
export async function deviceToken(username: string, audience: string): Promise<string> {
  const client = devlake.idp.clients.find(c => c.clientId === 'dlaas');
  const config = await oidc.discovery(
    new URL(devlake.idp.issuer),
    'dlaas',
    client?.clientSecret,
    undefined,
    {
      execute: [oidc.allowInsecureRequests]
    }
  );
  const device = await oidc.initiateDeviceAuthorization(config, {
    scope: 'openid profile',
    audience
  });
  const approved = approveDevice(devlake.idp.issuer, device.user_code, username);
  const tokens = await oidc.pollDeviceAuthorizationGrant(config, device);
  await approved;
  return tokens.access_token;
}
