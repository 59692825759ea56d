import type { UploadDetail } from '@dlaas/api';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningCompanion } from '../../packages/companion/src/index.js';
import { hashedPath } from '../../packages/devlake/src/lfn.js';
import { devlake, didPath, rucioAs } from '../devlake/helpers.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { makeFiles, md5Of, replicaRses, waitForUpload, type MadeFile } from '../support/uploads.js';
import { CompanionClient, startCompanion } from './harness.js';

/**
 * The storage stops in the middle of an upload. Rucio hands out the PFN, so the storage is put
 * behind a proxy the test can stop by giving Rucio an RSE of its own whose protocol points at
 * the proxy: UPLOADFAULT_SCRATCHDISK (a *SCRATCHDISK, so the generic policy lets alice write it),
 * served by LAKE_SCRATCHDISK's XRootD below /uploadfault/. The RSE is kept across runs; each run
 * points its protocol at its own proxy.
 */
const RSE = 'UPLOADFAULT_SCRATCHDISK';
const PREFIX = '/uploadfault/';
const run = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const work = mkdtempSync(join(tmpdir(), 'dlaas-upload-outage-'));
const scratch = devlake.rses.find(r => r.role === 'scratch');
const scope = 'user.alice';
const dataset = `outage.${run}`;
let proxy: FaultProxy;
let companion: RunningCompanion;
let api: CompanionClient;
let files: Map<string, MadeFile>;

/** Where the storage keeps a file of the job. */
function stored(relative: string): string {
  if (!scratch) {
    throw new Error('devlake has no scratch RSE');
  }
  return join(scratch.directory, PREFIX, hashedPath(scope, `${dataset}/in/${relative}`));
}

/** Runs a request that may have been done by an earlier run (an RSE that exists, say). */
async function once(request: () => Promise<unknown>): Promise<void> {
  await request().catch((error: unknown) => {
    if (!/409|exists|Duplicate/i.test(String(error))) {
      throw error;
    }
  });
}

beforeAll(async () => {
  if (!scratch) {
    throw new Error('devlake has no scratch RSE');
  }
  proxy = new FaultProxy(scratch.url);
  await proxy.start();
  const root = rucioAs('root');
  await once(() =>
    root.request('POST', `/rses/${RSE}`, {
      body: { deterministic: true, volatile: false, rse_type: 'DISK' }
    })
  );
  await root.request('DELETE', `/rses/${RSE}/protocols/http`).catch(() => undefined);
  await root.request('POST', `/rses/${RSE}/protocols/http`, {
    body: {
      scheme: 'http',
      hostname: '127.0.0.1',
      port: Number(new URL(proxy.url).port),
      prefix: PREFIX,
      impl: 'rucio.rse.protocols.webdav.Default',
      domains: {
        lan: { read: 1, write: 1, delete: 1 },
        wan: { read: 1, write: 1, delete: 1 }
      }
    }
  });
  await root.request('POST', `/accounts/alice/limits/local/${RSE}`, {
    body: { bytes: 10 * 1024 ** 3 }
  });
  files = await makeFiles(join(work, 'in'), {
    'a.txt': 1000,
    'b.txt': 2000,
    'c.txt': 3000,
    'big.bin': 150 * 1024 * 1024
  });
  process.env['XDG_DATA_HOME'] = join(work, 'data-home');
  companion = await startCompanion();
  api = new CompanionClient(companion.address);
});

afterAll(async () => {
  await companion?.stop();
  await proxy?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('when the storage stops in the middle of an upload', () => {
  let id: string;
  let failed: UploadDetail;
  const mtimes = new Map<string, number>();

  beforeAll(async () => {
    const { status, body } = await api.post('/api/instances/devlake/uploads', {
      paths: [join(work, 'in')],
      scope,
      dataset,
      rse: RSE,
      metadata: { datatype: `outage_${run}` }
    });
    expect(status, JSON.stringify(body)).toBe(202);
    id = (body as UploadDetail).upload.id;
    // In this process, the upload's progress is read between two of its chunks: the storage
    // goes away while the big file is on its way, not before or after.
    const uploads = companion.lake.instance('devlake').uploads;
    const midway = (): boolean => {
      const items = uploads.get(id).files.items;
      const big = items.find(f => f.name.endsWith('/big.bin'));
      const others = items.filter(f => f !== big);
      return others.every(f => f.state === 'done') && (big?.bytesDone ?? 0) >= 20 * 1024 * 1024;
    };
    while (!midway()) {
      expect(uploads.get(id).upload.state).toBe('running');
      await sleep(2);
    }
    await proxy.stop();
    failed = await waitForUpload(api, 'devlake', id, d => d.upload.state !== 'running');
  });

  it('then the job fails with a sentence that names the storage and says to retry', () => {
    expect(failed.upload.state).toBe('failed');
    expect(failed.upload.error).toMatch(
      /1 of 4 files were not uploaded\. The first reason: The storage at 127\.0\.0\.1:\d+ could not be reached or broke the connection off .* Retry the upload/
    );
    const big = failed.files.items.find(f => f.name.endsWith('/big.bin'));
    // The storage could not be asked to delete what it got: the job says so, and the part is there.
    expect(big).toMatchObject({ state: 'failed', leftover: true });
    expect(existsSync(stored('big.bin'))).toBe(true);
    expect(big?.bytesDone).toBeLessThan(files.get('big.bin')?.bytes ?? 0);
    expect(failed.files.items.filter(f => f.state === 'done')).toHaveLength(3);
  });

  it('then Rucio has no replica of the file that broke off, and the others are registered', async () => {
    const names = [...files.keys()].map(relative => `${dataset}/in/${relative}`);
    const rses = await replicaRses(rucioAs('alice'), scope, names);
    expect(rses.get(`${dataset}/in/big.bin`)).toEqual([]);
    for (const relative of ['a.txt', 'b.txt', 'c.txt']) {
      expect(rses.get(`${dataset}/in/${relative}`)).toEqual([RSE]);
      mtimes.set(relative, statSync(stored(relative)).mtimeMs);
    }
  });

  it('then, once the storage is back, the half file is removed from it without a retry', async () => {
    await proxy.start();
    const deadline = Date.now() + 120_000;
    // The file leaves the storage as its DELETE is answered, a moment before the job hears it.
    const leftover = async (): Promise<boolean | undefined> => {
      const { body } = await api.get(`/api/instances/devlake/uploads/${id}`);
      return (body as UploadDetail).files.items.find(f => f.name.endsWith('/big.bin'))?.leftover;
    };
    while (
      (existsSync(stored('big.bin')) || (await leftover()) !== false) &&
      Date.now() < deadline
    ) {
      await sleep(200);
    }
    expect(existsSync(stored('big.bin'))).toBe(false);
    expect(await leftover()).toBe(false);
  });

  it('then a retry sends only what was missing and finishes the job', async () => {
    const retried = await api.post(`/api/instances/devlake/uploads/${id}/retry`, {});
    expect(retried.status).toBe(202);
    const done = await waitForUpload(api, 'devlake', id, d => d.upload.state !== 'running');
    expect(done.upload).toMatchObject({ state: 'done', filesDone: 4, filesFailed: 0 });
    const listed = await rucioAs('alice').lines<{ name: string; adler32: string; bytes: number }>(
      'GET',
      `${didPath(scope, dataset)}/files`
    );
    expect(listed).toHaveLength(4);
    for (const [relative, file] of files) {
      expect(listed.find(f => f.name === `${dataset}/in/${relative}`)).toMatchObject({
        adler32: file.adler32,
        bytes: file.bytes
      });
      expect(await md5Of(stored(relative))).toBe(file.md5);
    }
    // The files that were in the lake before were not sent again.
    for (const [relative, mtime] of mtimes) {
      expect(statSync(stored(relative)).mtimeMs).toBe(mtime);
    }
  });
});
