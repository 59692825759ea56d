import type { UploadDetail, UploadsResponse } from '@dlaas/api';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashedPath } from '../../packages/devlake/src/lfn.js';
import { devlake, didPath, rucioAs } from '../devlake/helpers.js';
import { startCompanionProcess, type CompanionProcess } from '../support/companion-process.js';
import { makeFiles, md5Of, replicaRses, waitForUpload, type MadeFile } from '../support/uploads.js';

/**
 * The companion is killed (SIGKILL: no chance to save anything) in the middle of an upload into
 * LAKE_SCRATCHDISK, then started again: its journal shows the job interrupted, what was half
 * done is cleaned up, and a retry finishes the job.
 */
const run = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const work = mkdtempSync(join(tmpdir(), 'dlaas-upload-killed-'));
const scratch = devlake.rses.find(r => r.role === 'scratch');
const scope = 'user.alice';
const dataset = `killed.${run}`;
const env = { XDG_DATA_HOME: join(work, 'data-home') };
let companion: CompanionProcess;
let files: Map<string, MadeFile>;

function stored(relative: string): string {
  if (!scratch) {
    throw new Error('devlake has no scratch RSE');
  }
  return join(scratch.directory, scratch.prefix, hashedPath(scope, `${dataset}/in/${relative}`));
}

function nameOf(relative: string): string {
  return `${dataset}/in/${relative}`;
}

beforeAll(async () => {
  files = await makeFiles(join(work, 'in'), {
    'a.txt': 1000,
    'big.bin': 300 * 1024 * 1024,
    'c.txt': 3000,
    'd.txt': 4000
  });
  companion = await startCompanionProcess({ config: devlake.companionConfig, env });
});

afterAll(async () => {
  if (companion.process.exitCode === null && companion.process.signalCode === null) {
    const exited = once(companion.process, 'exit');
    companion.process.kill('SIGTERM');
    await exited;
  }
  rmSync(work, { recursive: true, force: true });
});

describe('when the companion is killed in the middle of an upload and started again', () => {
  let id: string;

  beforeAll(async () => {
    const { status, body } = await companion.client.post('/api/instances/devlake/uploads', {
      paths: [join(work, 'in')],
      scope,
      dataset,
      rse: devlake.scratchRse
    });
    expect(status, JSON.stringify(body)).toBe(202);
    id = (body as UploadDetail).upload.id;
    await waitForUpload(
      companion.client,
      'devlake',
      id,
      d => {
        expect(d.upload.state).toBe('running');
        const big = d.files.items.find(f => f.name === nameOf('big.bin'));
        return (big?.bytesDone ?? 0) > 10 * 1024 * 1024;
      },
      60_000,
      20
    );
    const exited = once(companion.process, 'exit');
    companion.process.kill('SIGKILL');
    await exited;
    companion = await startCompanionProcess({ config: devlake.companionConfig, env });
  });

  it('then the job shows as interrupted, with a sentence that says to retry', async () => {
    const { body } = await companion.client.get('/api/instances/devlake/uploads');
    const job = (body as UploadsResponse).uploads.find(u => u.id === id);
    expect(job).toMatchObject({
      state: 'interrupted',
      error: expect.stringMatching(/The companion stopped while this upload ran\. Retry it/)
    });
    expect(job?.filesDone).toBeLessThan(4);
  });

  it('then no half file stays on the storage and no replica in Rucio lacks its bytes', async () => {
    // What was sent but not registered is deleted by the restarted companion (before any
    // retry), one file after another: wait until the job says no file has bytes left behind.
    const deadline = Date.now() + 60_000;
    const leftovers = async (): Promise<number> => {
      const { body } = await companion.client.get(
        `/api/instances/devlake/uploads/${id}?offset=0&limit=100`
      );
      return (body as UploadDetail).files.items.filter(f => f.leftover).length;
    };
    while ((existsSync(stored('big.bin')) || (await leftovers()) > 0) && Date.now() < deadline) {
      await sleep(200);
    }
    expect(await leftovers()).toBe(0);
    expect(existsSync(stored('big.bin'))).toBe(false);
    const rses = await replicaRses(rucioAs('alice'), scope, [...files.keys()].map(nameOf));
    expect(rses.get(nameOf('big.bin'))).toEqual([]);
    for (const [relative, file] of files) {
      if ((rses.get(nameOf(relative)) ?? []).length > 0) {
        expect(statSync(stored(relative)).size).toBe(file.bytes);
      } else {
        expect(existsSync(stored(relative))).toBe(false);
      }
    }
  });

  it('then a retry finishes the job, and Rucio and the storage hold every file whole', async () => {
    const retried = await companion.client.post(`/api/instances/devlake/uploads/${id}/retry`, {});
    expect(retried.status).toBe(202);
    const done = await waitForUpload(
      companion.client,
      'devlake',
      id,
      d => d.upload.state !== 'running'
    );
    expect(done.upload).toMatchObject({ state: 'done', filesDone: 4, filesFailed: 0 });
    const listed = await rucioAs('alice').lines<{ name: string; adler32: string; bytes: number }>(
      'GET',
      `${didPath(scope, dataset)}/files`
    );
    expect(listed.map(f => f.name).sort()).toEqual([...files.keys()].map(nameOf).sort());
    for (const [relative, file] of files) {
      expect(listed.find(f => f.name === nameOf(relative))).toMatchObject({
        adler32: file.adler32,
        bytes: file.bytes
      });
      expect(await md5Of(stored(relative))).toBe(file.md5);
    }
    const rses = await replicaRses(rucioAs('alice'), scope, [...files.keys()].map(nameOf));
    expect([...rses.values()]).toEqual([...files.keys()].map(() => [devlake.scratchRse]));
  });
});
