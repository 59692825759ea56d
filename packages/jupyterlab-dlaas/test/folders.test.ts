import type { LocalPath } from '@dlaas/api';
import { describe, expect, it } from 'vitest';
import { collectionFolder, commonFolder } from '../src/components/Availability';

function file(name: string, path: string | null): LocalPath {
  return { scope: 'user.alice', name, path, bytes: 1 };
}

describe('the folder Open in file browser shows for a collection', () => {
  it('when the files are in the companion’s mount and their names share a folder, then it is the dataset’s folder, not that shared one', () => {
    const files = [
      file('ds1/part_0.dat', '/ws/datalake/user.alice/ds1/ds1/part_0.dat'),
      file('ds1/part_1.dat', '/ws/datalake/user.alice/ds1/ds1/part_1.dat')
    ];
    expect(collectionFolder(files)).toBe('/ws/datalake/user.alice/ds1');
    // What the files alone would say.
    expect(commonFolder(files.map(f => f.path as string))).toBe('/ws/datalake/user.alice/ds1/ds1');
  });

  it('when the files are in Rucio’s hashed layout, then it is the scope’s folder; files without a path are left out', () => {
    const files = [
      file('ds1/part_0.dat', '/ws/datalake/user/alice/1a/2b/ds1/part_0.dat'),
      file('ds1/part_1.dat', '/ws/datalake/user/alice/3c/4d/ds1/part_1.dat'),
      file('ds1/part_2.dat', null)
    ];
    expect(collectionFolder(files)).toBe('/ws/datalake/user/alice');
  });

  it('when a path does not end with its file’s name (a name the mount had to rename), then its own folder counts and the others still lead to the dataset’s folder; with no path at all, there is none', () => {
    expect(
      collectionFolder([
        file('ds/./odd', '/ws/datalake/user.alice/ds/ds/(dot)/odd'),
        file('ds/even', '/ws/datalake/user.alice/ds/ds/even')
      ])
    ).toBe('/ws/datalake/user.alice/ds');
    expect(collectionFolder([file('a', null)])).toBeUndefined();
  });
});
