import type { Download, LocalPath, Window } from '@dlaas/api';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashedPath } from '../../packages/devlake/src/lfn.js';
import { devlake, newDataset } from '../devlake/helpers.js';
import {
  localAdler32,
  startDownloadLab,
  stopLabCompanion,
  waitForDownload,
  type DownloadLab
} from '../support/downloads.js';

/**
 * Download mode against devlake (issue 13): a replica whose bytes differ from what Rucio recorded
 * is caught by the Adler-32 check, and the file is never shown as done nor given a path.
 */

const run = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const name = `damaged.${run}`;
const site = devlake.rses.find(r => r.name === 'CERN_DATADISK');
let lab: DownloadLab;
let checksums: Map<string, string>;
/** The replica damaged on the site storage's disk, and its true bytes (put back afterwards). */
let damaged: { path: string; bytes: Buffer } | undefined;

beforeAll(async () => {
  checksums = await newDataset(name, 2);
  const replica = join(
    site?.directory ?? '',
    site?.prefix ?? '',
    hashedPath('user.alice', `${name}/part_0.dat`)
  );
  const bytes = readFileSync(replica);
  damaged = { path: replica, bytes };
  const wrong = Buffer.from(bytes);
  wrong[100] = (wrong[100] as number) ^ 0x55;
  writeFileSync(replica, wrong);
  lab = await startDownloadLab();
});

afterAll(async () => {
  if (damaged) {
    writeFileSync(damaged.path, damaged.bytes);
  }
  await stopLabCompanion(lab.companion);
  rmSync(lab.home, { recursive: true, force: true });
});

describe('a replica with the wrong bytes', () => {
  it('when a replica does not match Rucio’s checksum, then its file fails with a sentence, is not on disk and has no path, and the other file is done', async () => {
    const did = `user.alice:${name}`;
    const started = await lab.companion.client.post('/api/instances/dl/downloads', { did });
    expect(started.status).toBe(202);
    const done = await waitForDownload(lab.companion, 'dl', (started.body as Download).id);
    expect(done.download).toMatchObject({ state: 'failed', filesDone: 1, filesFailed: 1 });
    expect(done.download.error).toMatch(/1 of the 2 files.*Retry/);
    const bad = done.files.find(f => f.name === `${name}/part_0.dat`);
    const good = done.files.find(f => f.name === `${name}/part_1.dat`);
    expect(bad?.state).toBe('failed');
    expect(bad?.error).toMatch(
      /do not match Rucio's checksum.*CERN_DATADISK|CERN_DATADISK.*checksum/
    );
    expect(existsSync(bad?.path as string)).toBe(false);
    expect(existsSync(`${bad?.path as string}.part`)).toBe(false);
    expect(good?.state).toBe('done');
    expect(localAdler32(good?.path as string)).toBe(checksums.get(`${name}/part_1.dat`));

    const paths = (
      await lab.companion.client.get(`/api/instances/dl/paths?did=${encodeURIComponent(did)}`)
    ).body as Window<LocalPath>;
    expect(paths.items.map(i => i.name)).toEqual([`${name}/part_1.dat`]);
  });

  it('when a DID is downloaded whole on an instance in replica mode, then the paths API answers the downloaded files', async () => {
    const own = `downloaded.${run}`;
    const files = await newDataset(own, 2);
    const did = `user.alice:${own}`;
    const started = await lab.companion.client.post('/api/instances/devlake/downloads', { did });
    expect(started.status).toBe(202);
    const job = await waitForDownload(lab.companion, 'devlake', (started.body as Download).id);
    expect(job.download.state).toBe('done');
    const paths = (
      await lab.companion.client.get(`/api/instances/devlake/paths?did=${encodeURIComponent(did)}`)
    ).body as Window<LocalPath>;
    expect(paths.items.map(i => [i.name, i.path]).sort()).toEqual(
      [...files.keys()].map(f => [f, join(job.download.folder, f)]).sort()
    );
  });
});
