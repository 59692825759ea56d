import type { Availability } from '@dlaas/api';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Availabilities } from '../src/domain/availability.js';
import { RucioClient } from '../src/rucio/client.js';
import { credentials, instance } from './stand-in.js';

/**
 * Open collections change under a rule that was OK: a stand-in for Rucio's transport with one
 * dataset of alice's whose rule is OK, to which the test attaches a file.
 */
afterEach(() => {
  vi.unstubAllGlobals();
});

/** The dataset `user.alice:work` as Rucio sees it; the test changes it as Rucio would. */
interface Lake {
  open: boolean;
  files: string[];
  /** Files on the scratch RSE. */
  onScratch: string[];
  ruleState: string;
  requests: string[];
}

function standIn(): Lake {
  const lake: Lake = {
    open: true,
    files: ['f1'],
    onScratch: ['f1'],
    ruleState: 'OK',
    requests: []
  };
  const rule = (): object => ({
    id: 'r1',
    account: 'alice',
    rse_expression: 'SCRATCH',
    copies: 1,
    state: lake.ruleState,
    locks_ok_cnt: lake.onScratch.length,
    locks_replicating_cnt: lake.files.length - lake.onScratch.length,
    locks_stuck_cnt: 0,
    expires_at: null,
    error: null,
    scope: 'user.alice',
    name: 'work'
  });
  vi.stubGlobal('fetch', async (url: URL) => {
    const path = url.pathname;
    lake.requests.push(path);
    if (path === '/dids/user.alice/work/rules') {
      return new Response(`${JSON.stringify(rule())}\n`);
    }
    if (path === '/rules/r1') {
      return new Response(JSON.stringify(rule()));
    }
    if (path === '/dids/user.alice/work') {
      const did = {
        scope: 'user.alice',
        name: 'work',
        type: 'DATASET',
        open: lake.open,
        length: lake.files.length,
        bytes: lake.files.length * 10
      };
      return new Response(JSON.stringify(did));
    }
    if (path === '/replicas/list') {
      const lines = lake.onScratch.map(name =>
        JSON.stringify({
          scope: 'user.alice',
          name,
          bytes: 10,
          rses: { SCRATCH: [`http://scratch/${name}`] },
          states: { SCRATCH: 'AVAILABLE' }
        })
      );
      return new Response(lines.map(l => `${l}\n`).join(''));
    }
    return new Response('', { status: 404 });
  });
  return lake;
}

/** Resolves with the first availability `availabilities` emits that `wanted` accepts. */
function next(
  availabilities: Availabilities,
  wanted: (a: Availability) => boolean
): Promise<Availability> {
  return new Promise(resolvePromise => {
    const stop = availabilities.follow([{ scope: 'user.alice', name: 'work' }], a => {
      if (wanted(a)) {
        stop();
        resolvePromise(a);
      }
    });
  });
}

const work = { scope: 'user.alice', name: 'work' };

describe('open collections', () => {
  it('when a file is attached to an open dataset that someone follows, then its count, state and path list follow', async () => {
    const lake = standIn();
    const availabilities = new Availabilities(new RucioClient(instance, credentials), {
      intervalMs: 10,
      maxIntervalMs: 1000,
      openRefreshMs: 50
    });
    const first = await availabilities.availability(work);
    expect(first).toMatchObject({ state: 'AVAILABLE', files: { ok: 1, total: 1 } });
    const stop = availabilities.follow([work], () => undefined);
    expect((await availabilities.localPaths(work, 0, 10)).items.map(p => p.name)).toEqual(['f1']);

    // A file attached: Rucio counts it at once, and its rule replicates it a moment later.
    lake.files.push('f2');
    expect((await next(availabilities, a => a.files.total === 2)).files.total).toBe(2);
    lake.ruleState = 'REPLICATING';
    expect((await next(availabilities, a => a.state === 'REPLICATING')).files).toMatchObject({
      ok: 1,
      replicating: 1,
      total: 2
    });
    lake.onScratch.push('f2');
    lake.ruleState = 'OK';
    expect((await next(availabilities, a => a.state === 'AVAILABLE')).files).toMatchObject({
      ok: 2,
      replicating: 0,
      total: 2
    });
    expect((await availabilities.localPaths(work, 0, 10)).items.map(p => p.name).sort()).toEqual([
      'f1',
      'f2'
    ]);
    expect(availabilities.watchedRules).toBe(1);
    stop();
    availabilities.dispose();
  });

  it('when nobody follows an open dataset any more, then its OK rule is no longer read', async () => {
    const lake = standIn();
    const availabilities = new Availabilities(new RucioClient(instance, credentials), {
      intervalMs: 10,
      maxIntervalMs: 20,
      openRefreshMs: 20,
      interestMs: 100
    });
    await availabilities.availability(work);
    expect(availabilities.watchedRules).toBe(1);
    for (let i = 0; i < 100 && availabilities.watchedRules > 0; i++) {
      await new Promise(resolvePromise => setTimeout(resolvePromise, 10));
    }
    expect(availabilities.watchedRules).toBe(0);
    const reads = lake.requests.filter(p => p === '/rules/r1').length;
    await new Promise(resolvePromise => setTimeout(resolvePromise, 100));
    expect(lake.requests.filter(p => p === '/rules/r1')).toHaveLength(reads);
    availabilities.dispose();
  });

  it('when a closed dataset is asked about again, then its size is not read again and its OK rule is not watched', async () => {
    const lake = standIn();
    lake.open = false;
    const availabilities = new Availabilities(new RucioClient(instance, credentials), {
      openRefreshMs: 1
    });
    await availabilities.availability(work);
    await new Promise(resolvePromise => setTimeout(resolvePromise, 20));
    await availabilities.availability(work);
    expect(lake.requests.filter(p => p === '/dids/user.alice/work')).toHaveLength(1);
    expect(availabilities.watchedRules).toBe(0);
    availabilities.dispose();
  });

  it('when nobody follows an open dataset but its paths are read again, then the list is not served stale', async () => {
    const lake = standIn();
    const availabilities = new Availabilities(new RucioClient(instance, credentials), {
      openRefreshMs: 20
    });
    expect((await availabilities.localPaths(work, 0, 10)).items).toHaveLength(1);
    lake.files.push('f2');
    lake.onScratch.push('f2');
    await new Promise(resolvePromise => setTimeout(resolvePromise, 40));
    expect((await availabilities.localPaths(work, 0, 10)).items).toHaveLength(2);
    availabilities.dispose();
  });

  it('when many ask the same DID at once, then Rucio is asked once', async () => {
    const lake = standIn();
    const availabilities = new Availabilities(new RucioClient(instance, credentials));
    await Promise.all(Array.from({ length: 50 }, () => availabilities.availability(work)));
    expect(lake.requests.filter(p => p === '/dids/user.alice/work/rules')).toHaveLength(1);
    availabilities.dispose();
  });
});
