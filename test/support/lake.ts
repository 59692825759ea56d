import type { DevlakeStatus } from '../../packages/devlake/src/lake.js';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { adler32 } from '../../packages/devlake/src/adler32.js';
import { hashedPath } from '../../packages/devlake/src/lfn.js';
import { RucioRest, segment } from '../../packages/devlake/src/rest.js';

/**
 * Helpers that put data into a running devlake, for the integration tests (vitest) and the UI
 * tests (Playwright) alike: they take the lake's status instead of a test runner's context.
 */

/** A Rucio client signed in as one of devlake's demo accounts. */
export function rucioOf(lake: DevlakeStatus, account: string): RucioRest {
  const identity = lake.accounts.find(a => a.account === account);
  if (!identity) {
    throw new Error(`devlake has no account ${account}`);
  }
  return new RucioRest(lake.rucio.url, identity);
}

/** The REST path of a DID. */
export function didPath(scope: string, name: string): string {
  return `/dids/${segment(scope)}/${segment(name)}`;
}

/**
 * PUTs bytes on a storage endpoint. Not with fetch: XRootD 5.5 reads `Content-Length`
 * case-sensitively (fetch sends it lower-case, and the file is stored empty), and it closes the
 * connection after a PUT, so a pooled keep-alive connection fails on the next request.
 */
export function putFile(url: string, body: Buffer): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const req = request(
      url,
      { method: 'PUT', agent: false, headers: { 'Content-Length': body.length } },
      res => {
        res.resume();
        res.once('end', () => resolvePromise(res.statusCode ?? 0));
      }
    );
    req.once('error', reject);
    req.end(body);
  });
}

/**
 * Puts a new dataset of `count` files into the lake the way a site would: bytes PUT onto the site
 * storage at Rucio's deterministic path, replicas registered (by root, as the generic policy
 * wants for a site disk), the dataset created and filled by alice in her scope. Returns each
 * file's name and Adler-32 checksum.
 */
export async function putNewDataset(
  lake: DevlakeStatus,
  name: string,
  count: number
): Promise<Map<string, string>> {
  const site = lake.rses.find(r => r.name === 'CERN_DATADISK');
  const root = rucioOf(lake, 'root');
  const alice = rucioOf(lake, 'alice');
  if (!site) {
    throw new Error('devlake has no CERN_DATADISK');
  }
  const scope = 'user.alice';
  const checksums = new Map<string, string>();
  const files = [];
  for (let i = 0; i < count; i++) {
    const fileName = `${name}/part_${i}.dat`;
    const content = randomBytes(1000 + i * 20_000);
    const status = await putFile(
      `${site.url}${site.prefix}${hashedPath(scope, fileName)}`,
      content
    );
    if (status !== 200) {
      throw new Error(`PUT ${fileName} on ${site.name} answered ${status}, not 200`);
    }
    checksums.set(fileName, adler32(content));
    files.push({ scope, name: fileName, bytes: content.length, adler32: adler32(content) });
  }
  await root.request('POST', '/replicas/', { body: { rse: site.name, files } });
  await alice.request('POST', didPath(scope, name), { body: { type: 'DATASET' } });
  await alice.request('POST', `${didPath(scope, name)}/dids`, {
    body: { dids: files.map(({ scope: s, name: n }) => ({ scope: s, name: n })) }
  });
  return checksums;
}
