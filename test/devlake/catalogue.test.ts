import { describe, expect, it } from 'vitest';
import { adler32 } from '../../packages/devlake/src/adler32.js';
import { devlakeCli, didPath, rucioAs } from './helpers.js';

const alice = rucioAs('alice');

interface DidLine {
  scope: string;
  name: string;
  did_type?: string;
  type?: string;
  bytes: number | null;
  adler32?: string;
}

describe('devlake catalogue through Rucio’s REST API as alice', () => {
  it('when alice lists scopes, then the demo scopes are there', async () => {
    const scopes = await alice.json<string[]>('GET', '/scopes/');
    expect(scopes).toEqual(
      expect.arrayContaining(['user.alice', 'user.bob', 'lofar', 'cta', 'atlas_opendata'])
    );
  });

  it('when alice searches with a wildcard, then the matching datasets come back with their type', async () => {
    const found = await alice.lines<DidLine>('GET', '/dids/lofar/dids/search', {
      query: { name: 'L6*', type: 'dataset', long: true }
    });
    expect(found.map(d => d.name).sort()).toEqual(['L600000_SAP000_uv', 'L600000_SAP001_uv']);
    expect(found.every(d => d.did_type === 'DATASET')).toBe(true);
  });

  it('when alice searches by custom metadata (PostgreSQL JSON plugin), then only the matching dataset comes back', async () => {
    const found = await alice.lines<string>('GET', '/dids/lofar/dids/search', {
      query: { type: 'dataset', observation_id: 'L700000' }
    });
    expect(found).toEqual(['L700000_subbands']);
  });

  it('when alice filters on a metadata column with an operator, then the comparison is applied', async () => {
    const found = await alice.lines<string>('GET', '/dids/atlas_opendata/dids/search', {
      query: { type: 'dataset', 'run_number.gt': 300000 }
    });
    expect(found).toEqual(['2020_13TeV.2lep.mc']);
  });

  it('when alice lists a container, then she sees its datasets', async () => {
    const children = await alice.lines<DidLine>('GET', `${didPath('lofar', 'L600000')}/dids`);
    expect(children.map(c => `${c.scope}:${c.name}:${c.type}`).sort()).toEqual([
      'lofar:L600000_SAP000_uv:DATASET',
      'lofar:L600000_SAP001_uv:DATASET'
    ]);
  });

  it('when alice lists the large dataset, then all 10,000 files stream back with sizes and checksums', async () => {
    const files = await alice.lines<DidLine>(
      'GET',
      `${didPath('lofar', 'L700000_subbands')}/files`
    );
    expect(files).toHaveLength(10_000);
    expect(new Set(files.map(f => f.name)).size).toBe(10_000);
    expect(
      files.every(
        f => typeof f.bytes === 'number' && f.bytes > 0 && /^[0-9a-f]{8}$/.test(f.adler32 ?? '')
      )
    ).toBe(true);
  });

  it('when a file’s name starts with a slash, then Rucio finds it and its replica serves the registered bytes', async () => {
    const files = await alice.lines<DidLine>(
      'GET',
      `${didPath('atlas_opendata', '2020_13TeV.GamGam.data')}/files`
    );
    expect(files.length).toBeGreaterThan(0);
    expect(files.every(f => f.name.startsWith('/store/'))).toBe(true);
    const replicas = await alice.lines<{
      name: string;
      adler32: string;
      rses: Record<string, string[]>;
      states: Record<string, string>;
    }>('POST', '/replicas/list', {
      body: {
        dids: files.map(({ scope, name }) => ({ scope, name })),
        schemes: ['http'],
        all_states: false
      }
    });
    expect(replicas).toHaveLength(files.length);
    for (const replica of replicas) {
      expect(replica.states).toEqual({ CERN_DATADISK: 'AVAILABLE' });
      const pfn = replica.rses['CERN_DATADISK']?.[0] as string;
      const response = await fetch(pfn);
      expect(response.status, pfn).toBe(200);
      expect(adler32(new Uint8Array(await response.arrayBuffer()))).toBe(replica.adler32);
    }
  });

  it('when alice asks for a DID that does not exist, then Rucio answers 404 DataIdentifierNotFound', async () => {
    await expect(alice.json('GET', didPath('lofar', 'no-such-dataset'))).rejects.toMatchObject({
      status: 404,
      exceptionClass: 'DataIdentifierNotFound'
    });
  });

  it('when seed --files N runs, then a benchmark dataset of N files exists, and running it again adds nothing', async () => {
    for (let round = 0; round < 2; round++) {
      const result = await devlakeCli(['seed', '--files', '250']);
      expect(result.code, result.stderr).toBe(0);
    }
    const files = await alice.lines<DidLine>('GET', `${didPath('bench', 'files_250')}/files`);
    expect(files).toHaveLength(250);
  });
});
