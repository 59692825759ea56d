import type { Did, MetadataCondition, SearchRequest } from '@dlaas/api';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { filterProblem } from '../src/api/filters.js';
import { Browser, MAX_LOOKED_UP_SORTED_ROWS } from '../src/domain/browse.js';
import { RucioClient } from '../src/rucio/client.js';
import { mapRucioError } from '../src/rucio/errors.js';
import { credentials, instance } from './stand-in.js';

/**
 * Searches on custom metadata: a stand-in for Rucio's transport whose search answers as Rucio 41's
 * JSON metadata plugin does (every DID whose custom metadata matches, whatever type was asked
 * for, each with `did_type`, `bytes` and `length` null), and whose `POST /dids/bulkmeta` answers
 * the DIDs' rows.
 */
afterEach(() => {
  vi.unstubAllGlobals();
});

/** A DID of the stand-in lake, as Rucio's DID table holds it. */
interface LakeDid {
  name: string;
  did_type: 'CONTAINER' | 'DATASET' | 'FILE';
  bytes: number | null;
  length: number | null;
}

interface StandIn {
  /** DIDs asked for in each bulk look-up. */
  lookups: string[][];
  /** The query of each search Rucio received. */
  searches: URLSearchParams[];
}

/**
 * `dids` in scope cta, all matching any custom-metadata search; `typed`: answer searches as the
 * DID-column plugin does (with types and sizes, filtered by type); `bare`: answer names only.
 */
function standIn(dids: LakeDid[], answer: 'json' | 'typed' | 'bare' = 'json'): StandIn {
  const lake: StandIn = { lookups: [], searches: [] };
  const byName = new Map(dids.map(d => [d.name, d]));
  vi.stubGlobal('fetch', async (url: URL, init: RequestInit) => {
    if (url.pathname === '/dids/cta/dids/search') {
      lake.searches.push(url.searchParams);
      const lines = dids.map(d =>
        answer === 'bare'
          ? d.name
          : answer === 'typed'
            ? { scope: 'cta', ...d }
            : { scope: 'cta', name: d.name, did_type: null, bytes: null, length: null }
      );
      return new Response(lines.map(l => `${JSON.stringify(l)}\n`).join(''));
    }
    if (url.pathname === '/dids/bulkmeta' && init.method === 'POST') {
      const asked = (JSON.parse(String(init.body)) as { dids: { scope: string; name: string }[] })
        .dids;
      lake.lookups.push(asked.map(d => `${d.scope}:${d.name}`));
      // Rucio answers in its own order, and leaves out DIDs it does not know.
      const rows = asked
        .map(d => byName.get(d.name))
        .filter(d => d !== undefined)
        .reverse()
        .map(d => JSON.stringify({ scope: 'cta', account: 'root', hidden: false, ...d }));
      return new Response(rows.map(r => `${r}\n`).join(''));
    }
    return new Response('', { status: 404 });
  });
  return lake;
}

const gamma: SearchRequest = {
  did: 'cta:prod5*',
  filters: [[{ key: 'particle', operator: '=', value: 'gamma' }]]
};

const demo: LakeDid[] = [
  { name: 'prod5', did_type: 'CONTAINER', bytes: null, length: null },
  { name: 'prod5.gamma_onSource', did_type: 'DATASET', bytes: 825_000, length: 6 },
  { name: 'prod5/gamma_run1001.simtel.zst', did_type: 'FILE', bytes: 120_000, length: null }
];

/** `count` files named f0, f1, …, of sizes 0, 1, … bytes. */
function files(count: number): LakeDid[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `f${i}`,
    did_type: 'FILE' as const,
    bytes: i,
    length: null
  }));
}

const brief = (d: Did): string => `${d.name} ${d.type} ${d.bytes} ${d.length}`;

describe('search on custom metadata', () => {
  it('when Rucio answers a custom-metadata search without types and sizes, then each result gets its real type, size and file count from one bulk look-up', async () => {
    const lake = standIn(demo);
    const window = await new Browser(new RucioClient(instance, credentials)).search(gamma);
    expect(window.items.map(brief)).toEqual([
      'prod5 CONTAINER null null',
      'prod5.gamma_onSource DATASET 825000 6',
      'prod5/gamma_run1001.simtel.zst FILE 120000 1'
    ]);
    expect(window).toMatchObject({ total: 3, complete: true });
    expect(lake.lookups).toEqual([
      ['cta:prod5', 'cta:prod5.gamma_onSource', 'cta:prod5/gamma_run1001.simtel.zst']
    ]);
  });

  it('when Rucio answers bare names, then they are looked up too, with the searched scope', async () => {
    const lake = standIn(demo, 'bare');
    const window = await new Browser(new RucioClient(instance, credentials)).search(gamma);
    expect(window.items.map(d => `${d.scope}:${d.name} ${d.type}`)).toEqual([
      'cta:prod5 CONTAINER',
      'cta:prod5.gamma_onSource DATASET',
      'cta:prod5/gamma_run1001.simtel.zst FILE'
    ]);
    expect(lake.lookups).toHaveLength(1);
  });

  it('when a type is asked for, then results of other types that Rucio’s custom-metadata search sends are left out, and the windows stay full', async () => {
    const mixed: LakeDid[] = Array.from({ length: 30 }, (_, i) => ({
      name: `d${i}`,
      did_type: i % 3 === 0 ? 'DATASET' : 'FILE',
      bytes: i,
      length: i % 3 === 0 ? 2 : null
    }));
    standIn(mixed);
    const browser = new Browser(new RucioClient(instance, credentials));
    const datasets = await browser.search({ ...gamma, type: 'dataset', limit: 4 });
    expect(datasets.items.map(d => d.name)).toEqual(['d0', 'd3', 'd6', 'd9']);
    expect(datasets.items.every(d => d.type === 'DATASET')).toBe(true);
    const next = await browser.search({ ...gamma, type: 'dataset', offset: 4, limit: 100 });
    expect(next.items.map(d => d.name)).toEqual(['d12', 'd15', 'd18', 'd21', 'd24', 'd27']);
    expect(next).toMatchObject({ total: 10, complete: true });
    const collections = await browser.search({ ...gamma, type: 'collection' });
    expect(collections.items).toHaveLength(10);
    const all = await browser.search({ ...gamma, type: 'file' });
    expect(all.items).toHaveLength(20);
  });

  it('when Rucio no longer knows a result, then it is left out', async () => {
    const lake = standIn(demo);
    vi.stubGlobal(
      'fetch',
      ((original: typeof fetch) => async (url: URL, init: RequestInit) => {
        if (url.pathname === '/dids/bulkmeta') {
          const body = JSON.parse(String(init.body)) as { dids: { name: string }[] };
          body.dids = body.dids.filter(d => d.name !== 'prod5');
          return original(url, { ...init, body: JSON.stringify(body) });
        }
        return original(url, init);
      })(fetch)
    );
    const window = await new Browser(new RucioClient(instance, credentials)).search(gamma);
    expect(window.items.map(d => d.name)).toEqual([
      'prod5.gamma_onSource',
      'prod5/gamma_run1001.simtel.zst'
    ]);
    expect(lake.lookups).toHaveLength(1);
  });

  it('when a custom-metadata search has thousands of results, then only the rows a window reaches are looked up, 500 at most per look-up, and no one reads on to count them', async () => {
    const lake = standIn(files(3000));
    const browser = new Browser(new RucioClient(instance, credentials));
    const first = await browser.search({ ...gamma, limit: 200 });
    expect(first.items.map(d => d.name)).toEqual(files(200).map(f => f.name));
    expect(first.items.every(d => d.type === 'FILE' && d.bytes !== null)).toBe(true);
    expect(first).toMatchObject({ total: null, complete: false });
    // Asked again, as a panel does while it waits for the count: still nothing read ahead.
    await browser.search({ ...gamma, limit: 200 });
    expect(lake.lookups.map(l => l.length)).toEqual([500]);

    const later = await browser.search({ ...gamma, offset: 900, limit: 200 });
    expect(later.items.map(d => d.name)).toEqual(
      files(1100)
        .slice(900)
        .map(f => f.name)
    );
    expect(lake.lookups.map(l => l.length)).toEqual([500, 500, 500]);
  });

  it('when the same results come back in another search within a minute, then they are not looked up again', async () => {
    const lake = standIn(demo);
    const browser = new Browser(new RucioClient(instance, credentials));
    await browser.search(gamma);
    const again = await browser.search({
      ...gamma,
      filters: [[{ key: 'particle', operator: '!=', value: 'proton' }]]
    });
    expect(again.items.map(brief)).toContain('prod5.gamma_onSource DATASET 825000 6');
    expect(lake.searches).toHaveLength(2);
    expect(lake.lookups).toHaveLength(1);
  });

  it('when custom-metadata results are sorted by size, then the largest come first, by their looked-up sizes', async () => {
    standIn([...files(5), ...demo]);
    const window = await new Browser(new RucioClient(instance, credentials)).search({
      ...gamma,
      sort: 'size'
    });
    expect(window.items.map(d => d.name)).toEqual([
      'prod5.gamma_onSource',
      'prod5/gamma_run1001.simtel.zst',
      'f4',
      'f3',
      'f2',
      'f1',
      'f0',
      'prod5'
    ]);
    expect(window).toMatchObject({ total: 8, complete: true });
  });

  it('when a custom-metadata search has more results than the companion looks up to sort, then 422 says so and what to do', async () => {
    const lake = standIn(files(MAX_LOOKED_UP_SORTED_ROWS + 1));
    const sorting = new Browser(new RucioClient(instance, credentials)).search({
      ...gamma,
      sort: 'name'
    });
    await expect(sorting).rejects.toMatchObject({
      status: 422,
      code: 'too_large',
      message: `This search on custom metadata has more than 5,000 results, too many to sort: Rucio does not send the types and sizes of such results, and dlaas looks them up to sort at most 5,000. Show them in Rucio's order, or narrow the search.`
    });
    expect(lake.lookups.flat().length).toBeLessThanOrEqual(MAX_LOOKED_UP_SORTED_ROWS + 500);
  });

  it('when the search filters on DID columns only, then Rucio’s types and sizes are used and nothing is looked up', async () => {
    const lake = standIn(demo, 'typed');
    const window = await new Browser(new RucioClient(instance, credentials)).search({
      did: 'cta:prod5*',
      filters: [[{ key: 'datatype', operator: '=', value: 'DL0' }]]
    });
    expect(window.items.map(brief)).toEqual([
      'prod5 CONTAINER null null',
      'prod5.gamma_onSource DATASET 825000 6',
      'prod5/gamma_run1001.simtel.zst FILE 120000 1'
    ]);
    expect(lake.lookups).toEqual([]);
  });
});

describe('filters Rucio answers with two metadata plugins', () => {
  it('when a DID column and a custom key are mixed, in one group or across OR groups, then the search is refused with what to do', () => {
    const sentence =
      'This search cannot run: "datatype" is one of Rucio\'s own DID columns and "particle" is custom metadata, and Rucio cannot filter on both kinds in one search (not even in separate OR groups). Filter on one kind of key only, or split it into two searches, one for each kind.';
    expect(
      filterProblem({
        did: 'cta:prod5*',
        filters: [
          [
            { key: 'datatype', operator: '=', value: 'DL0' },
            { key: 'particle', operator: '=', value: 'gamma' }
          ]
        ]
      })
    ).toBe(sentence);
    expect(
      filterProblem({
        did: 'cta:prod5*',
        filters: [
          [{ key: 'datatype', operator: '=', value: 'DL0' }],
          [{ key: 'particle', operator: '=', value: 'gamma' }]
        ]
      })
    ).toBe(sentence);
    expect(
      filterProblem({
        did: 'cta:*',
        filters: [
          [
            { key: 'created_after', operator: '=', value: '2024-01-31T12:00:00' },
            { key: 'obsolete', operator: '=', value: false }
          ]
        ]
      })
    ).toMatch(/"created_after" is one of Rucio's own DID columns and "obsolete" is custom/);
  });

  it('when all keys are of one kind, then the search may run', () => {
    const columns: MetadataCondition[] = [
      { key: 'datatype', operator: '!=', value: 'DL0' },
      { key: 'run_number', operator: '>', value: 5 },
      { key: 'created_at', operator: '>', value: '2020-01-01T00:00:00' },
      { key: 'hidden', operator: '=', value: false }
    ];
    const custom: MetadataCondition[] = [
      { key: 'particle', operator: '=', value: 'gamma' },
      { key: 'telescope', operator: '=', value: 'LST' },
      { key: 'updated_at', operator: '>', value: '2020-01-01T00:00:00' },
      { key: 'is_open', operator: '=', value: true }
    ];
    for (const conditions of [columns, custom]) {
      expect(filterProblem({ did: 'cta:*', filters: [conditions] })).toBeNull();
      expect(filterProblem({ did: 'cta:*', filters: conditions.map(c => [c]) })).toBeNull();
    }
  });
});

describe('Rucio’s reasons in the companion’s sentences', () => {
  it('when Rucio’s reason ends with a full stop, then the sentence does not double it', () => {
    const reason = 'Filter keys used do not all belong to the same metadata plugin.';
    expect(mapRucioError(500, 'InvalidMetadata', reason, { instance: 'lake' }).message).toBe(
      'lake cannot run this metadata search: Filter keys used do not all belong to the same metadata plugin. Change the filters and search again.'
    );
    expect(mapRucioError(400, 'KeyNotFound', 'No key x.', { instance: 'lake' }).message).toBe(
      'lake refused the request: No key x.'
    );
    expect(mapRucioError(400, 'ValueError', 'bad value.', { instance: 'lake' }).message).toBe(
      'lake refused the request: bad value. Check what you asked for and try again.'
    );
    expect(mapRucioError(400, 'InvalidObject', 'Odd', { instance: 'lake' }).message).toBe(
      'lake refused the request: Odd.'
    );
    expect(mapRucioError(400, undefined, '', { instance: 'lake' }).message).toBe(
      'lake refused the request. Check what you asked for and try again.'
    );
  });
});
