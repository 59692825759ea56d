import type { Availability } from '@dlaas/api';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Availabilities } from '../src/domain/availability.js';
import { RucioClient } from '../src/rucio/client.js';
import { credentials, instance } from './stand-in.js';

afterEach(() => {
  vi.unstubAllGlobals();
});

/** Rucio's JSON for alice's rule `id` of `cta:<name>` toward SCRATCH, with lock counts and error. */
function rucioRule(id: string, name: string, state: string, fields: object): object {
  return {
    id,
    account: 'alice',
    rse_expression: 'SCRATCH',
    copies: 1,
    state,
    locks_ok_cnt: 0,
    locks_replicating_cnt: 0,
    locks_stuck_cnt: 0,
    expires_at: null,
    error: null,
    scope: 'cta',
    name,
    ...fields
  };
}

/** A stand-in for Rucio's transport: one rule that turns OK after `okAfter` reads, and a request log. */
function rucioTransport(okAfter: number): string[] {
  const requests: string[] = [];
  let ruleReads = 0;
  const rule = (state: string): object =>
    rucioRule('r1', 'big', state, {
      locks_ok_cnt: state === 'OK' ? 100 : 10,
      locks_replicating_cnt: state === 'OK' ? 0 : 90
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

  it('when a rule turns OK, then AVAILABLE is told only once the local paths know its files', async () => {
    rucioTransport(2);
    const prepared: string[] = [];
    let ready: () => void = () => undefined;
    const folder = new Promise<void>(resolvePromise => {
      ready = resolvePromise;
    });
    const availabilities = new Availabilities(
      new RucioClient(instance, credentials),
      { intervalMs: 10, maxIntervalMs: 10 },
      {
        prepare: did => {
          prepared.push(`${did.scope}:${did.name}`);
          return folder;
        },
        localPath: () => null
      }
    );
    const states: string[] = [];
    availabilities.on('availability', a => states.push(a.state));
    expect((await availabilities.availability({ scope: 'cta', name: 'big' })).state).toBe(
      'REPLICATING'
    );
    for (let i = 0; i < 100 && prepared.length === 0; i++) {
      await new Promise(resolvePromise => setTimeout(resolvePromise, 10));
    }
    expect(prepared).toEqual(['cta:big']);
    expect(states).toEqual([]);
    ready();
    for (let i = 0; i < 100 && states.length === 0; i++) {
      await new Promise(resolvePromise => setTimeout(resolvePromise, 10));
    }
    expect(states).toEqual(['AVAILABLE']);
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

/**
 * A stand-in for Rucio with one STUCK rule of `cta:broken`. Boosting it (`PUT /rules/r2`) answers
 * `boost` (200, or Rucio's AccessDenied); after a boost the rule reads STUCK twice more, then
 * REPLICATING (the repairer picked it up), then STUCK again.
 */
function stuckRucio(boost: 'allowed' | 'denied'): { method: string; path: string; body: string }[] {
  const requests: { method: string; path: string; body: string }[] = [];
  let boosted = false;
  let readsSinceBoost = 0;
  const rule = (state: string): object =>
    rucioRule('r2', 'broken', state, {
      locks_ok_cnt: 1,
      locks_replicating_cnt: state === 'REPLICATING' ? 1 : 0,
      locks_stuck_cnt: state === 'STUCK' ? 1 : 0,
      error: state === 'STUCK' ? 'TRANSFER_FAILED: no route' : null
    });
  const stateNow = (): string =>
    !boosted || readsSinceBoost <= 2 ? 'STUCK' : readsSinceBoost === 3 ? 'REPLICATING' : 'STUCK';
  vi.stubGlobal('fetch', async (url: URL, init: RequestInit = {}) => {
    const path = url.pathname;
    const method = init.method ?? 'GET';
    requests.push({ method, path, body: typeof init.body === 'string' ? init.body : '' });
    if (path === '/dids/cta/broken/rules') {
      return new Response(`${JSON.stringify(rule(stateNow()))}\n`);
    }
    if (path === '/dids/cta/broken') {
      return new Response(
        JSON.stringify({ scope: 'cta', name: 'broken', type: 'DATASET', length: 2, bytes: 20 })
      );
    }
    if (path === '/dids/cta/new/rules') {
      return new Response('');
    }
    if (path === '/dids/cta/new') {
      return new Response(
        JSON.stringify({ scope: 'cta', name: 'new', type: 'DATASET', length: 1, bytes: 1 })
      );
    }
    if (path === '/rules/r2' && method === 'PUT') {
      if (boost === 'denied') {
        const body = {
          ExceptionClass: 'AccessDenied',
          ExceptionMessage: 'Account alice can not update this replication rule.'
        };
        return new Response(JSON.stringify(body), { status: 401 });
      }
      boosted = true;
      return new Response('', { status: 200 });
    }
    if (path === '/rules/r2') {
      if (boosted) {
        readsSinceBoost++;
      }
      return new Response(JSON.stringify(rule(stateNow())));
    }
    return new Response('', { status: 404 });
  });
  return requests;
}

describe('retrying a stuck rule', () => {
  it('when the owner retries a STUCK rule, then Rucio is asked to boost it and the tracker follows it through REPLICATING back to STUCK', async () => {
    const requests = stuckRucio('allowed');
    const availabilities = new Availabilities(new RucioClient(instance, credentials), {
      intervalMs: 10,
      maxIntervalMs: 10
    });
    const states: string[] = [];
    availabilities.on('availability', a => states.push(a.state));
    const answer = await availabilities.retry({ scope: 'cta', name: 'broken' });
    expect(answer.state).toBe('STUCK');
    const boosts = requests.filter(r => r.method === 'PUT');
    expect(boosts).toEqual([
      { method: 'PUT', path: '/rules/r2', body: JSON.stringify({ options: { boost_rule: true } }) }
    ]);
    for (let i = 0; i < 100 && availabilities.watchedRules > 0; i++) {
      await new Promise(resolvePromise => setTimeout(resolvePromise, 10));
    }
    // A STUCK rule is not watched by itself; after the retry it is, until it is stuck again.
    expect(states).toEqual(['REPLICATING', 'STUCK']);
    expect(availabilities.watchedRules).toBe(0);
    availabilities.dispose();
  });

  it('when the data lake lets only admins boost rules, then the retry is a 403 whose sentence names the rule id and what to do', async () => {
    stuckRucio('denied');
    const availabilities = new Availabilities(new RucioClient(instance, credentials));
    const refusal = availabilities.retry({ scope: 'cta', name: 'broken' });
    await expect(refusal).rejects.toMatchObject({ status: 403, code: 'forbidden' });
    await expect(refusal).rejects.toThrow(
      /lake lets only its admins retry a rule, so "cta:broken" cannot be retried from here\..*rule id r2/
    );
    expect(availabilities.watchedRules).toBe(0);
    availabilities.dispose();
  });

  it('when a DID was never made available, then a retry is a 409 that says to make it available first', async () => {
    const requests = stuckRucio('allowed');
    const availabilities = new Availabilities(new RucioClient(instance, credentials));
    await expect(availabilities.retry({ scope: 'cta', name: 'new' })).rejects.toMatchObject({
      status: 409,
      message:
        '"cta:new" has not been made available yet, so there is nothing to retry. Make it available first.'
    });
    expect(requests.filter(r => r.method === 'PUT')).toEqual([]);
    availabilities.dispose();
  });
});
