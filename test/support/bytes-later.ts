import type { DevlakeStatus } from '../../packages/devlake/src/lake.js';
import { randomBytes } from 'node:crypto';
import { adler32 } from '../../packages/devlake/src/adler32.js';
import { hashedPath } from '../../packages/devlake/src/lfn.js';
import { didPath, putFile, rucioOf } from './lake.js';

/**
 * Registers a new dataset of `count` files in alice's scope the way {@link putNewDataset} does,
 * except that the files' bytes are not on the site's storage yet (a site still writing them): a
 * rule for the dataset replicates, its transfers failing at the source and retried by Rucio
 * (three times, some 15 s in all, before it calls the rule stuck), until the returned function
 * writes them. So a test knows its rule is still replicating, however long its steps take, until
 * it lets it finish.
 */
export async function putDatasetBytesLater(
  lake: DevlakeStatus,
  name: string,
  count: number
): Promise<() => Promise<void>> {
  const site = lake.rses.find(r => r.name === 'CERN_DATADISK');
  if (!site) {
    throw new Error('devlake has no CERN_DATADISK');
  }
  const scope = 'user.alice';
  const files = Array.from({ length: count }, (_, i) => ({
    name: `${name}/part_${i}.dat`,
    content: randomBytes(1000 + i * 20_000)
  }));
  await rucioOf(lake, 'root').request('POST', '/replicas/', {
    body: {
      rse: site.name,
      files: files.map(f => ({
        scope,
        name: f.name,
        bytes: f.content.length,
        adler32: adler32(f.content)
      }))
    }
  });
  const alice = rucioOf(lake, 'alice');
  await alice.request('POST', didPath(scope, name), { body: { type: 'DATASET' } });
  await alice.request('POST', `${didPath(scope, name)}/dids`, {
    body: { dids: files.map(f => ({ scope, name: f.name })) }
  });
  return async () => {
    for (const file of files) {
      const url = `${site.url}${site.prefix}${hashedPath(scope, file.name)}`;
      const status = await putFile(url, file.content);
      if (status !== 200) {
        throw new Error(`PUT ${url} answered ${status}, not 200`);
      }
    }
  };
}
