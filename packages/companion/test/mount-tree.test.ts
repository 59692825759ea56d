import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deletedRule } from '../src/fuse/catalogue.js';
import {
  buildTree,
  distinctName,
  entryName,
  lookup,
  type Claim,
  type MountedFile,
  type TreeNode
} from '../src/fuse/tree.js';

function file(did: string, bytes = 1): MountedFile {
  return { did, bytes, pfn: `http://s/${did}`, adler32: null, md5: null, mtimeMs: 1000 };
}

/** The claims of a dataset `scope:name` with files (scope:name each), as the catalogue makes them. */
function dataset(did: string, files: string[]): Claim[] {
  const [scope, name] = split(did);
  const segments = [scope, ...name.split('/')];
  const owners = [...segments.slice(0, -1).map(() => undefined), did];
  return [
    { segments, owners, mtimeMs: 1000 },
    ...files.map(f => {
      const fileSegments = [...segments, ...split(f)[1].split('/')];
      return {
        segments: fileSegments,
        owners: [...owners, ...fileSegments.slice(owners.length).map(() => undefined)],
        file: file(f),
        mtimeMs: 1000
      };
    })
  ];
}

function single(did: string): Claim {
  const [scope, name] = split(did);
  const segments = [scope, ...name.split('/')];
  return { segments, owners: segments.map(() => undefined), file: file(did), mtimeMs: 1000 };
}

function split(did: string): [string, string] {
  const colon = did.indexOf(':');
  return [did.slice(0, colon), did.slice(colon + 1)];
}

/** Every path of the tree, folders ending with `/`. */
function paths(node: TreeNode, prefix = ''): string[] {
  if (node.kind === 'file') {
    return [prefix];
  }
  return [
    `${prefix}/`,
    ...[...node.children].flatMap(([name, child]) => paths(child, `${prefix}/${name}`))
  ];
}

describe('the mount tree', () => {
  it('when a dataset is made available, then its files are at <scope>/<dataset>/<name>, with / as folders', () => {
    const tree = buildTree(dataset('cta:prod5', ['cta:prod5/run1.zst', 'cta:run2.zst']));
    expect(paths(tree.root).sort()).toEqual([
      '/',
      '/cta/',
      '/cta/prod5/',
      '/cta/prod5/prod5/',
      '/cta/prod5/prod5/run1.zst',
      '/cta/prod5/run2.zst'
    ]);
    expect(tree.files.get('cta:prod5/run1.zst')).toEqual(['/cta/prod5/prod5/run1.zst']);
    expect(tree.collections.get('cta:prod5')).toBe('/cta/prod5');
    expect(lookup(tree, '/cta/prod5/run2.zst')?.kind).toBe('file');
    expect(lookup(tree, '/cta/nothing')).toBeUndefined();
  });

  it('when names hold empty, . and .. segments, then no entry is named "", . or .., and nothing is normalized', () => {
    const tree = buildTree([
      single('s:a//b'),
      single('s:a/./c'),
      single('s:a/../d'),
      single('s:/x')
    ]);
    expect(paths(tree.root).sort()).toEqual([
      '/',
      '/s/',
      '/s/(empty)/',
      '/s/(empty)/x',
      '/s/a/',
      '/s/a/(dot)/',
      '/s/a/(dot)/c',
      '/s/a/(dot-dot)/',
      '/s/a/(dot-dot)/d',
      '/s/a/(empty)/',
      '/s/a/(empty)/b'
    ]);
  });

  it('when a file and a folder want one name, then the folder keeps it and the file gets a distinct name with its extension', () => {
    const tree = buildTree([single('s:a.csv'), single('s:a.csv/b')]);
    expect(lookup(tree, '/s/a.csv')?.kind).toBe('folder');
    const moved = `/s/${distinctName('a.csv', 's:a.csv')}`;
    expect(moved).toMatch(/^\/s\/a~[0-9a-f]{8}\.csv$/);
    expect(tree.files.get('s:a.csv')).toEqual([moved]);
  });

  it('when two collections want one folder, then each keeps its own files apart', () => {
    // A container's dataset x/y and a dataset named x/y both want /s/x/y.
    const container: Claim[] = [
      { segments: ['s', 'x'], owners: [undefined, 's:x'], mtimeMs: 1 },
      { segments: ['s', 'x', 'y'], owners: [undefined, 's:x', 'o:y'], mtimeMs: 1 },
      {
        segments: ['s', 'x', 'y', 'f'],
        owners: [undefined, 's:x', 'o:y', undefined],
        file: file('o:f'),
        mtimeMs: 1
      }
    ];
    const tree = buildTree([...container, ...dataset('s:x/y', ['s:f'])]);
    const first = tree.collections.get('o:y');
    const second = tree.collections.get('s:x/y');
    expect(first).toBe('/s/x/y');
    expect(second).toMatch(/^\/s\/x\/y~[0-9a-f]{8}$/);
    expect(tree.files.get('o:f')).toEqual(['/s/x/y/f']);
    expect(tree.files.get('s:f')).toEqual([`${second}/f`]);
  });

  it('when one file is in two made-available datasets, then it is at both places', () => {
    const tree = buildTree([...dataset('s:d1', ['s:f']), ...dataset('s:d2', ['s:f'])]);
    expect(tree.files.get('s:f')?.sort()).toEqual(['/s/d1/f', '/s/d2/f']);
  });

  it('when a segment is longer than Linux allows, then it is cut and ends with a hash', () => {
    const long = 'x'.repeat(300);
    expect(Buffer.byteLength(entryName(long))).toBeLessThanOrEqual(255);
    expect(entryName(long)).not.toBe(entryName(`${long}y`));
  });

  const segment = fc.constantFrom('', '.', '..', 'a', 'b', 'a.csv', 'x_1');
  const name = fc.array(segment, { minLength: 1, maxLength: 4 }).map(parts => parts.join('/'));
  const did = fc.tuple(fc.constantFrom('s', 't'), name).map(([s, n]) => `${s}:${n}`);
  const claims = fc.array(
    fc.oneof(
      did.map(d => [single(d)]),
      fc.tuple(did, fc.array(did, { maxLength: 4 })).map(([d, files]) => dataset(d, files))
    ),
    { maxLength: 6 }
  );

  it('when any DIDs are made available, then no two share a path, none is lost, no entry is ., .. or empty, and the order does not matter', () => {
    fc.assert(
      fc.property(claims, lists => {
        const all = lists.flat();
        const tree = buildTree(all);
        const owner = new Map<string, string>();
        for (const [d, list] of [
          ...tree.files,
          ...[...tree.collections].map(([c, p]) => [c, [p]] as const)
        ]) {
          for (const p of list) {
            expect(owner.get(p) ?? d).toBe(d);
            owner.set(p, d);
            expect(lookup(tree, p)).toBeDefined();
          }
        }
        const fileDids = new Set(all.flatMap(c => (c.file ? [c.file.did] : [])));
        expect(new Set(tree.files.keys())).toEqual(fileDids);
        for (const p of paths(tree.root)) {
          for (const part of p.split('/').slice(1, p.endsWith('/') ? -1 : undefined)) {
            expect(['', '.', '..']).not.toContain(part);
          }
        }
        const reversed = buildTree([...all].reverse());
        expect(paths(reversed.root).sort()).toEqual(paths(tree.root).sort());
        expect([...reversed.files].sort()).toEqual([...tree.files].sort());
      }),
      { numRuns: 300 }
    );
  });
});

describe('deleted rules', () => {
  it('when Rucio moved a rule’s end to an hour after its last change, then it was deleted; a rule made for an hour was not', () => {
    expect(
      deletedRule({
        created_at: 'Tue, 01 Dec 2026 20:53:51 UTC',
        updated_at: 'Tue, 01 Dec 2026 20:59:56 UTC',
        expires_at: 'Tue, 01 Dec 2026 21:59:56 UTC'
      })
    ).toBe(true);
    expect(
      deletedRule({
        created_at: 'Tue, 01 Dec 2026 20:53:51 UTC',
        updated_at: 'Tue, 01 Dec 2026 20:53:51 UTC',
        expires_at: 'Tue, 01 Dec 2026 21:53:51 UTC'
      })
    ).toBe(false);
    expect(
      deletedRule({
        created_at: 'Tue, 01 Dec 2026 20:53:51 UTC',
        updated_at: 'Tue, 01 Dec 2026 20:53:56 UTC',
        expires_at: 'Tue, 08 Dec 2026 20:53:51 UTC'
      })
    ).toBe(false);
  });
});
