import { describe, expect, it } from 'vitest';
import {
  CONTAINERS,
  LARGE_DATASET_FILES,
  SCOPES,
  benchDataset,
  fileContent,
  largeFileBytes,
  largeFileChunks,
  largeFilesDataset
} from '../src/catalogue.js';
import { NAME_PATTERN, SCOPE_PATTERN } from '../src/lfn.js';
import { RSES, SCRATCH_RSE } from '../src/settings.js';

const datasets = CONTAINERS.flatMap(c => c.datasets);

describe('demo catalogue', () => {
  it('when every DID is checked against Rucio’s generic schema, then all scopes and names are valid', () => {
    for (const { scope } of SCOPES) {
      expect(scope).toMatch(SCOPE_PATTERN);
    }
    for (const did of [
      ...CONTAINERS,
      ...datasets,
      ...datasets.flatMap(d => d.files.map(f => ({ scope: d.scope, name: f.name })))
    ]) {
      expect(did.name, `${did.scope}:${did.name}`).toMatch(NAME_PATTERN);
      expect(SCOPES.map(s => s.scope)).toContain(did.scope);
    }
  });

  it('when the names are listed, then some contain a slash, some start with one, and all are unique per scope', () => {
    const names = datasets.flatMap(d => d.files.map(f => `${d.scope}:${f.name}`));
    expect(new Set(names).size).toBe(names.length);
    expect(names.some(n => n.split(':')[1]?.startsWith('/'))).toBe(true);
    expect(names.some(n => /^[^:]+:[^/].*\//.test(n))).toBe(true);
  });

  it('when the large dataset is looked for, then it has the promised number of files', () => {
    expect(datasets.some(d => d.files.length === LARGE_DATASET_FILES)).toBe(true);
    expect(LARGE_DATASET_FILES).toBeGreaterThanOrEqual(10_000);
  });

  it('when datasets are placed, then they sit on site disks only, never on the scratch RSE', () => {
    const sites = RSES.filter(r => r.role === 'site').map(r => r.name);
    for (const d of datasets) {
      expect(d.rses.length).toBeGreaterThan(0);
      expect(d.rses.every(r => sites.includes(r))).toBe(true);
      expect(d.rses).not.toContain(SCRATCH_RSE);
    }
  });

  it('when content is generated twice, then it is identical and exactly the requested size', () => {
    for (const [name, bytes] of [
      ['a.root', 100_003],
      ['h.csv', 4_000],
      ['r.txt', 10],
      ['s.json', 900]
    ] as const) {
      const first = fileContent('cta', { name, bytes });
      expect(first.length).toBe(bytes);
      expect(fileContent('cta', { name, bytes }).equals(first)).toBe(true);
    }
    expect(
      fileContent('cta', { name: 'a.root', bytes: 64 }).equals(
        fileContent('cta', { name: 'b.root', bytes: 64 })
      )
    ).toBe(false);
  });

  it('when a csv file is generated, then it starts with a header line', () => {
    expect(
      fileContent('user.alice', { name: 'x/histograms.csv', bytes: 200 }).toString('utf8')
    ).toMatch(/^bin_low,bin_high,events\n0,5,/);
  });

  it('when a benchmark dataset is asked for, then it has that many distinct files', () => {
    const bench = benchDataset(1234);
    expect(bench.files).toHaveLength(1234);
    expect(new Set(bench.files.map(f => f.name)).size).toBe(1234);
    expect(bench.name).toBe('files_1234');
  });

  it('when a large file is generated in chunks, then its bytes are the requested size and any range can be computed alone', () => {
    const bytes = 3 * 1024 ** 2 + 5;
    const chunks = [...largeFileChunks('bench', 'x/large_000.bin', bytes)];
    expect(chunks.map(c => c.length)).toEqual([1024 ** 2, 1024 ** 2, 1024 ** 2, 5]);
    const whole = Buffer.concat(chunks);
    for (const [offset, length] of [
      [0, 100],
      [17, 33],
      [1024 ** 2 - 3, 10],
      [bytes - 5, 5]
    ] as const) {
      expect(largeFileBytes('bench', 'x/large_000.bin', offset, length)).toEqual(
        whole.subarray(offset, offset + length)
      );
    }
  });

  it('when large files are generated, then no MiB repeats, within a file or across files, and none is zeros', () => {
    const mib = 1024 ** 2;
    const blocks = ['x/large_000.bin', 'x/large_001.bin'].flatMap(name => [
      ...largeFileChunks('bench', name, 2 * mib)
    ]);
    expect(new Set(blocks.map(b => b.toString('hex', 0, 64))).size).toBe(4);
    expect(blocks.every(b => b.some(byte => byte !== 0))).toBe(true);
  });

  it('when a large-files dataset is asked for, then its file names start with the dataset name', () => {
    const large = largeFilesDataset('large_files', 4, 1024 ** 3);
    expect(large.files.map(f => f.name)).toEqual([
      'large_files/large_000.bin',
      'large_files/large_001.bin',
      'large_files/large_002.bin',
      'large_files/large_003.bin'
    ]);
    expect(large.files.every(f => f.bytes === 1024 ** 3)).toBe(true);
    expect(large.scope).toBe('bench');
  });
});
