import v8 from 'node:v8';
import vm from 'node:vm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ScratchCatalogue } from '../src/fuse/catalogue.js';
import { buildTree, lookup, type MountTree } from '../src/fuse/tree.js';
import { RucioClient } from '../src/rucio/client.js';
import { credentials, instance } from './stand-in.js';

/**
 * What a large dataset costs the companion while it is in the data lake folder: the catalogue
 * (kept between readings of the user's rules) and the tree, with Rucio's transport stubbed.
 */
afterEach(() => {
  vi.unstubAllGlobals();
});

const FILES = 50_000;

const collect: () => void = (() => {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
})();

function heapUsed(): number {
  collect();
  collect();
  return process.memoryUsage().heapUsed;
}

/** Rucio's lines for a dataset `user.alice:big` of `files` files on the scratch RSE. */
function stubRucio(files: number): void {
  const rule = JSON.stringify({
    id: 'r1',
    account: 'alice',
    copies: 1,
    state: 'OK',
    locks_ok_cnt: files,
    expires_at: null,
    created_at: 'Wed, 02 Dec 2026 06:00:00 UTC',
    did_type: 'DATASET',
    scope: 'user.alice',
    name: 'big'
  });
  const replicas = Array.from({ length: files }, (_, i) => {
    const name = `big/f${String(i).padStart(7, '0')}.dat`;
    return JSON.stringify({
      scope: 'user.alice',
      name,
      bytes: 64,
      adler32: '0a1b2c3d',
      md5: '0123456789abcdef0123456789abcdef',
      rses: { SCRATCH: [`http://storage.invalid:1094/rucio/user/alice/ab/cd/${name}`] }
    });
  }).join('\n');
  vi.stubGlobal('fetch', async (url: URL) =>
    url.pathname === '/rules/'
      ? new Response(`${rule}\n`)
      : url.pathname === '/replicas/list'
        ? new Response(`${replicas}\n`)
        : new Response('{}', { status: 404 })
  );
}

/** A tree of what the catalogue reads (in a function of its own: an async test's registers keep temporaries). */
async function fill(catalogue: ScratchCatalogue): Promise<MountTree> {
  const reading = await catalogue.read();
  return buildTree(reading.claims);
}

describe('the data lake folder’s memory', () => {
  it('when a dataset of 50,000 files is in the folder, then the catalogue and the tree together keep less than 560 bytes per file', async () => {
    // Once small first, so that what the first reading loads (fetch, the code) is not counted.
    stubRucio(10);
    await new ScratchCatalogue(new RucioClient(instance, credentials)).read();
    stubRucio(FILES);
    const before = heapUsed();
    const catalogue = new ScratchCatalogue(new RucioClient(instance, credentials));
    let tree: MountTree | undefined = await fill(catalogue);
    const perFile = (heapUsed() - before) / FILES;
    // Still all there, with their paths (made when asked for).
    expect(tree.fileCount).toBe(FILES);
    expect(tree.files.get('user.alice:big/f0049999.dat')).toEqual([
      '/user.alice/big/big/f0049999.dat'
    ]);
    expect(lookup(tree, '/user.alice/big/big/f0000000.dat')?.kind).toBe('file');
    tree = undefined;
    // About 440 now; a claim and its segments per file kept between readings, a path per file in
    // the tree and a DID as two strings took about 750.
    expect(perFile).toBeLessThan(560);
    expect(catalogue).toBeDefined();
  });
});
