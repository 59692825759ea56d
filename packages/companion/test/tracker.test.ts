import type { Availability } from '@dlaas/api';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { CredentialSource } from '../src/auth/credentials.js';
import type { InstanceConfig } from '../src/config.js';
import { Availabilities } from '../src/domain/availability.js';
import { RucioClient } from '../src/rucio/client.js';

const instance: InstanceConfig = {
  name: 'lake',
  rucioUrl: 'http://rucio.invalid',
  auth: { method: 'userpass', username: 'u', password: 'p', account: 'alice' },
  scratchRse: 'SCRATCH'
};

const credentials: CredentialSource = {
  method: 'userpass',
  configuredAccount: 'alice',
  token: async () => ({ value: 't', expiresAt: Date.now() + 3600_000, account: 'alice' })
};

afterEach(() => {
  vi.unstubAllGlobals();
});

/** A stand-in for Rucio's transport: one rule that turns OK after `okAfter` reads, and a request log. */
function rucioTransport(okAfter: number): string[] {
  const requests: string[] = [];
  let ruleReads = 0;
  const rule = (state: string): object => ({
    id: 'r1',
    account: 'alice',
    rse_expression: 'SCRATCH',
    copies: 1,
    state,
    locks_ok_cnt: state === 'OK' ? 100 : 10,
    locks_replicating_cnt: state === 'OK' ? 0 : 90,
    locks_stuck_cnt: 0,
    expires_at: null,
    error: null,
    scope: 'cta',
    name: 'big'
  });
  vi.stubGlobal('fetch', async (url: URL) => {
    const path = url.pathname;
    requests.push(path);
    if (path === '/dids/cta/big/rules') {
      return new Response(`${JSON.stringify(rule('REPLICATING'))}\n`);
    }
    if (path === '/dids/cta/big') {
      return new Response(
        JSON.stringify({ scope: 'cta', name: 'big', type: 'DATASET', length: 100, bytes: 1000 })
      );
    }
    if (path === '/rules/r1') {
      ruleReads++;
      return new Response(JSON.stringify(rule(ruleReads >= okAfter ? 'OK' : 'REPLICATING')));
    }
    return new Response('', { status: 404 });
  });
  return requests;
}

describe('the rule tracker', () => {
  it('when many viewers watch one replicating DID of many files, then Rucio is asked once per poll, not once per viewer or file', async () => {
    const requests = rucioTransport(3);
    const availabilities = new Availabilities(new RucioClient(instance, credentials), {
      intervalMs: 20,
      maxIntervalMs: 20
    });
    const seen: Availability[][] = Array.from({ length: 25 }, () => []);
    for (const list of seen) {
      availabilities.on('availability', a => list.push(a));
    }
    expect((await availabilities.availability({ scope: 'cta', name: 'big' })).state).toBe(
      'REPLICATING'
    );
    for (let i = 0; i < 100 && availabilities.watchedRules > 0; i++) {
      await new Promise(resolvePromise => setTimeout(resolvePromise, 10));
    }
    expect(availabilities.watchedRules).toBe(0);
    // Every viewer saw the rule turn OK ...
    expect(seen.every(list => list[list.length - 1]?.state === 'AVAILABLE')).toBe(true);
    // ... from three reads of the one rule, and no per-file or per-viewer request.
    expect(requests.filter(p => p === '/rules/r1')).toHaveLength(3);
    expect(requests.filter(p => p !== '/rules/r1').sort()).toEqual([
      '/dids/cta/big',
      '/dids/cta/big/rules'
    ]);
    availabilities.dispose();
  });

  it('when nothing changes, then the tracker backs off', async () => {
    const requests = rucioTransport(1_000_000);
    const availabilities = new Availabilities(new RucioClient(instance, credentials), {
      intervalMs: 10,
      maxIntervalMs: 160
    });
    await availabilities.availability({ scope: 'cta', name: 'big' });
    await new Promise(resolvePromise => setTimeout(resolvePromise, 600));
    const polls = requests.filter(p => p === '/rules/r1').length;
    availabilities.dispose();
    // Without backoff 600 ms at 10 ms would be ~60 polls; doubling to 160 ms gives well under 15.
    expect(polls).toBeGreaterThan(2);
    expect(polls).toBeLessThan(15);
  });
});
