import type { Download } from '@dlaas/api';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashedPath } from '../../packages/devlake/src/lfn.js';
import { devlake, devlakeCli, newDataset } from '../devlake/helpers.js';
import {
  localAdler32,
  startDownloadLab,
  startLabCompanion,
  stopLabCompanion,
  waitForDownload,
  type DownloadLab
} from '../support/downloads.js';

/**
 * Download mode against devlake (issue 13): a download interrupted by the companion's death
 * resumes after a restart without fetching again what it had, and a `.part` left on disk
 * continues with a Range request to the real XRootD storage.
 */

const DATASET = 'bench:files_1000';
const run = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
let lab: DownloadLab;

beforeAll(async () => {
  const seeded = await devlakeCli(['seed', '--files', '1000']);
  expect(seeded.code, seeded.stderr).toBe(0);
  lab = await startDownloadLab();
});

afterAll(async () => {
  await stopLabCompanion(lab.companion);
  rmSync(lab.home, { recursive: true, force: true });
});

describe('an interrupted download', () => {
  it('when the companion is killed in the middle of a download, then after a restart the job shows as interrupted, and a retry finishes it without fetching again the files it had', async () => {
    const folder = join(lab.home, 'killed');
    const started = await lab.companion.client.post('/api/instances/dl/downloads', {
      did: DATASET,
      folder
    });
    expect(started.status).toBe(202);
    const { id } = started.body as Download;
    const midway = await waitForDownload(lab.companion, 'dl', id, j => j.download.filesDone >= 100);
    lab.companion.process.kill('SIGKILL');
    await stopLabCompanion(lab.companion);
    expect(midway.download.filesDone).toBeLessThan(1000);
    // What was on disk, whole, when the companion died: it must not be written again.
    const before = new Map<string, { ino: number; mtimeMs: number }>();
    for (const file of midway.files.filter(f => f.state === 'done')) {
      const info = statSync(file.path as string);
      before.set(file.path as string, { ino: info.ino, mtimeMs: info.mtimeMs });
    }
    expect(before.size).toBeGreaterThanOrEqual(100);

    lab.companion = await startLabCompanion(lab);
    const list = await lab.companion.client.get('/api/instances/dl/downloads');
    const shown = (list.body as { downloads: Download[] }).downloads.find(d => d.id === id);
    expect(shown?.state).toBe('interrupted');
    expect(shown?.error).toMatch(/stopped while this download ran.*Retry/);

    const retried = await lab.companion.client.post(`/api/instances/dl/downloads/${id}/retry`, {});
    expect(retried.status).toBe(202);
    const done = await waitForDownload(lab.companion, 'dl', id);
    expect(done.download).toMatchObject({ state: 'done', filesDone: 1000, filesFailed: 0 });
    for (const [path, was] of before) {
      const now = statSync(path);
      expect({ ino: now.ino, mtimeMs: now.mtimeMs }).toEqual(was);
    }
    const byPath = new Map(done.files.map(f => [f.path as string, f]));
    expect([...before.keys()].every(p => byPath.get(p)?.reused === true)).toBe(true);
    expect(done.files.filter(f => f.reused !== true).length).toBeGreaterThan(0);
  });

  it('when a .part of a file is on disk, then the download continues it with a Range request to the storage and the whole file matches Rucio’s checksum', async () => {
    const name = `resume.${run}`;
    const checksums = await newDataset(name, 3);
    const fileName = `${name}/part_2.dat`;
    const site = devlake.rses.find(r => r.name === 'CERN_DATADISK');
    const bytes = Buffer.from(
      await (
        await fetch(`${site?.url}${site?.prefix}${hashedPath('user.alice', fileName)}`)
      ).arrayBuffer()
    );
    expect(bytes.length).toBe(41_000);
    const folder = join(lab.home, 'datalake-downloads', 'user.alice', name);
    const path = join(folder, fileName);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(`${path}.part`, bytes.subarray(0, 15_000));

    const started = await lab.companion.client.post('/api/instances/dl/downloads', {
      did: `user.alice:${name}`
    });
    expect(started.status).toBe(202);
    const done = await waitForDownload(lab.companion, 'dl', (started.body as Download).id);
    expect(done.download.state).toBe('done');
    const file = done.files.find(f => f.name === fileName);
    // Set only when the storage answered 206 for bytes 15000-40999 of 41000.
    expect(file).toMatchObject({ state: 'done', resumedFrom: 15_000, rse: 'CERN_DATADISK' });
    expect(localAdler32(path)).toBe(checksums.get(fileName));
    expect(existsSync(`${path}.part`)).toBe(false);
  });
});
