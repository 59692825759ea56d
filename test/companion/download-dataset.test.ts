import type { Download, DownloadsResponse, LocalPath, Window } from '@dlaas/api';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devlakeCli } from '../devlake/helpers.js';
import {
  localAdler32,
  rucioFiles,
  startDownloadLab,
  stopLabCompanion,
  waitForDownload,
  type DownloadLab
} from '../support/downloads.js';

/**
 * Download mode against devlake (issue 13): a dataset of 1,000 files comes into the user's
 * download folder from the site storage, every file checked against Rucio's Adler-32, and the
 * paths API answers the downloaded files for a notebook attachment.
 */

const DATASET = 'bench:files_1000';
let lab: DownloadLab;

beforeAll(async () => {
  // Adds bench:files_1000 once; later runs find it there.
  const seeded = await devlakeCli(['seed', '--files', '1000']);
  expect(seeded.code, seeded.stderr).toBe(0);
  lab = await startDownloadLab();
});

afterAll(async () => {
  await stopLabCompanion(lab.companion);
  rmSync(lab.home, { recursive: true, force: true });
});

describe('download of a 1,000-file dataset', () => {
  let job: Download;

  it('when a dataset of 1,000 files is downloaded on an instance in download mode, then every file is in ~/datalake-downloads/<scope>/<name>/ with Rucio’s checksum', async () => {
    const started = await lab.companion.client.post('/api/instances/dl/downloads', {
      did: DATASET
    });
    expect(started.status).toBe(202);
    const { id, folder } = started.body as Download;
    expect(folder).toBe(join(lab.home, 'datalake-downloads', 'bench', 'files_1000'));
    const done = await waitForDownload(lab.companion, 'dl', id);
    job = done.download;
    expect(job).toMatchObject({
      state: 'done',
      filesTotal: 1000,
      filesDone: 1000,
      filesFailed: 0,
      bytesDone: job.bytesTotal
    });
    const expected = await rucioFiles(DATASET);
    expect(expected.size).toBe(1000);
    for (const file of done.files) {
      const rucio = expected.get(`${file.scope}:${file.name}`);
      expect(file.path).toBe(join(folder, file.name));
      expect(localAdler32(file.path as string)).toBe(rucio?.adler32);
      expect(existsSync(`${file.path}.part`)).toBe(false);
    }
    const list = (await lab.companion.client.get('/api/instances/dl/downloads'))
      .body as DownloadsResponse;
    expect(list.downloads.map(d => d.id)).toEqual([id]);
  });

  it('when a notebook attachment asks for the paths of the downloaded dataset or of one of its files, then the paths API answers the local files', async () => {
    const window = (
      await lab.companion.client.get(
        `/api/instances/dl/paths?did=${encodeURIComponent(DATASET)}&limit=5000`
      )
    ).body as Window<LocalPath>;
    expect(window.total).toBe(1000);
    expect(window.items.every(i => i.path === join(job.folder, i.name))).toBe(true);
    const one = window.items[7] as LocalPath;
    const single = (
      await lab.companion.client.get(
        `/api/instances/dl/paths?did=${encodeURIComponent(`${one.scope}:${one.name}`)}`
      )
    ).body as Window<LocalPath>;
    expect(single.items).toEqual([one]);
  });

  it('when the same dataset is downloaded again, then no file is fetched again: each is found there and checked', async () => {
    const again = await lab.companion.client.post('/api/instances/dl/downloads', {
      did: DATASET
    });
    expect(again.status).toBe(202);
    const done = await waitForDownload(lab.companion, 'dl', (again.body as Download).id);
    expect(done.download.state).toBe('done');
    expect(done.files.every(f => f.reused === true)).toBe(true);
  });

  it('when a request is wrong or names no job, then the answer is a 4xx with a sentence; when a job is deleted, then its files stay', async () => {
    const { client } = lab.companion;
    const cases: [Promise<{ status: number; body: unknown }>, number, RegExp][] = [
      [client.post('/api/instances/dl/downloads', { did: 'no-colon' }), 400, /scope:name/],
      [client.post('/api/instances/dl/downloads', { did: DATASET, x: 1 }), 400, /not valid/],
      [
        client.post('/api/instances/dl/downloads', { did: DATASET, folder: 'relative' }),
        400,
        /absolute path/
      ],
      [client.get('/api/instances/dl/downloads/nope'), 404, /no download with the id/],
      [client.post(`/api/instances/dl/downloads/${job.id}/cancel`, {}), 409, /not running/]
    ];
    for (const [answer, status, sentence] of cases) {
      const { status: got, body } = await answer;
      expect(got).toBe(status);
      expect((body as { error: { message: string } }).error.message).toMatch(sentence);
    }
    const removed = await client.call('DELETE', `/api/instances/dl/downloads/${job.id}`);
    expect(removed.status).toBe(204);
    const list = (await client.get('/api/instances/dl/downloads')).body as DownloadsResponse;
    expect(list.downloads.map(d => d.id)).not.toContain(job.id);
    expect(existsSync(join(job.folder, 'files_1000', 'f0000000.dat'))).toBe(true);
  });
});
