import type {
  Availability,
  Did,
  MakeAvailableResponse,
  UploadDetail,
  UploadTargetsResponse,
  Window
} from '@dlaas/api';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningCompanion } from '../../packages/companion/src/index.js';
import { hashedPath } from '../../packages/devlake/src/lfn.js';
import { devlake, didPath, rucioAs } from '../devlake/helpers.js';
import { makeFiles, md5Of, replicaRses, waitForUpload, type MadeFile } from '../support/uploads.js';
import { CompanionClient, errorOf, startCompanion } from './harness.js';

/**
 * Upload ("store back", issue 13) against devlake: a folder with a file over 100 MB into a new
 * dataset with metadata on LAKE_SCRATCHDISK (the RSE the generic policy lets alice write), then
 * what Rucio, the storage, search and make-available say of it; and the refusals that come
 * before any byte moves.
 */
const run = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const work = mkdtempSync(join(tmpdir(), 'dlaas-upload-'));
const scratch = devlake.rses.find(r => r.role === 'scratch');
const scope = 'user.alice';
let companion: RunningCompanion;
let api: CompanionClient;

beforeAll(async () => {
  // The journal goes to a folder of the test's own.
  process.env['XDG_DATA_HOME'] = join(work, 'data-home');
  companion = await startCompanion();
  api = new CompanionClient(companion.address);
});

afterAll(async () => {
  await companion.stop();
  rmSync(work, { recursive: true, force: true });
});

/** Where the storage of LAKE_SCRATCHDISK keeps a file of the scope. */
function storagePath(name: string): string {
  if (!scratch) {
    throw new Error('devlake has no scratch RSE');
  }
  return join(scratch.directory, scratch.prefix, hashedPath(scope, name));
}

describe('when alice uploads a folder with a file over 100 MB into a new dataset with metadata', () => {
  const dataset = `upload.${run}`;
  const datatype = `upload_${run}`;
  let files: Map<string, MadeFile>;
  let job: UploadDetail;

  beforeAll(async () => {
    files = await makeFiles(join(work, 'results'), {
      'big.bin': 110 * 1024 * 1024,
      'table.csv': 20_000,
      'plots/mass.png': 150_000,
      'plots/deeper/notes.txt': 11
    });
    const { status, body } = await api.post('/api/instances/devlake/uploads', {
      paths: [join(work, 'results')],
      scope,
      dataset,
      rse: devlake.scratchRse,
      lifetimeSeconds: 86400,
      metadata: { datatype, telescope: 'upload-test', run_number: 4242 }
    });
    expect(status, JSON.stringify(body)).toBe(202);
    const started = body as UploadDetail;
    expect(started.upload).toMatchObject({ state: 'running', filesTotal: 4 });
    job = await waitForUpload(api, 'devlake', started.upload.id, d => d.upload.state !== 'running');
  });

  afterAll(() => {
    rmSync(join(work, 'results'), { recursive: true, force: true });
  });

  it('then the job ends done with every file and byte counted', () => {
    expect(job.upload).toMatchObject({
      state: 'done',
      filesDone: 4,
      filesFailed: 0,
      bytesDone: job.upload.bytesTotal
    });
    expect(job.upload.error).toBeUndefined();
    expect(job.files.items.every(f => f.state === 'done')).toBe(true);
  });

  it('then Rucio lists the files as <dataset>/<folder>/<path> with the checksums computed locally', async () => {
    const listed = await rucioAs('alice').lines<{ name: string; bytes: number; adler32: string }>(
      'GET',
      `${didPath(scope, dataset)}/files`
    );
    const byName = new Map(listed.map(f => [f.name, f]));
    expect([...byName.keys()].sort()).toEqual(
      [...files.keys()].map(relative => `${dataset}/results/${relative}`).sort()
    );
    for (const [relative, file] of files) {
      const entry = byName.get(`${dataset}/results/${relative}`);
      expect(entry).toMatchObject({ bytes: file.bytes, adler32: file.adler32 });
      const meta = await rucioAs('alice').json<{ md5: string }>(
        'GET',
        `${didPath(scope, `${dataset}/results/${relative}`)}/meta`
      );
      expect(meta.md5).toBe(file.md5);
    }
  });

  it('then the bytes on the RSE are the local ones', async () => {
    for (const [relative, file] of files) {
      const stored = storagePath(`${dataset}/results/${relative}`);
      expect(statSync(stored).size).toBe(file.bytes);
      expect(await md5Of(stored)).toBe(file.md5);
    }
  });

  it('then the dataset has its metadata, and a rule of alice on the RSE with the lifetime', async () => {
    const meta = await rucioAs('alice').json<Record<string, unknown>>(
      'GET',
      `${didPath(scope, dataset)}/meta?plugin=ALL`
    );
    expect(meta).toMatchObject({ datatype, telescope: 'upload-test', run_number: 4242 });
    const rules = await rucioAs('alice').lines<{
      account: string;
      rse_expression: string;
      expires_at: string | null;
    }>('GET', `${didPath(scope, dataset)}/rules`);
    const rule = rules.find(r => r.rse_expression === devlake.scratchRse);
    expect(rule?.account).toBe('alice');
    const expires = Date.parse((rule?.expires_at ?? '').replace(/ UTC$/, ' GMT'));
    expect(Math.abs(expires - Date.now() - 86400_000)).toBeLessThan(600_000);
  });

  it('then a search by its metadata through the companion finds the dataset', async () => {
    const { status, body } = await api.post('/api/instances/devlake/search', {
      did: `${scope}:*`,
      type: 'dataset',
      filters: [[{ key: 'datatype', operator: '=', value: datatype }]]
    });
    expect(status).toBe(200);
    expect((body as Window<Did>).items.map(d => d.name)).toEqual([dataset]);
  });

  it('then make-available of it reaches AVAILABLE with every file (the upload RSE is the scratch RSE: no transfer)', async () => {
    const did = `${scope}:${dataset}`;
    const made = await api.post('/api/instances/devlake/make-available', { did });
    expect([200, 201]).toContain(made.status);
    let availability = (made.body as MakeAvailableResponse).availability;
    const deadline = Date.now() + 120_000;
    // Rucio's judge-evaluator gives the dataset's rule a lock per attached file within seconds.
    while (
      (availability.state !== 'AVAILABLE' || availability.files.ok < 4) &&
      Date.now() < deadline
    ) {
      expect(availability.state).not.toBe('STUCK');
      await sleep(500);
      availability = (
        await api.get(`/api/instances/devlake/availability?did=${encodeURIComponent(did)}`)
      ).body as Availability;
    }
    expect(availability).toMatchObject({ state: 'AVAILABLE', files: { ok: 4, total: 4 } });
  });

  it('then the job is listed, and once forgotten it is not', async () => {
    const listed = await api.get('/api/instances/devlake/uploads');
    expect((listed.body as { uploads: { id: string }[] }).uploads.map(u => u.id)).toContain(
      job.upload.id
    );
    const forgotten = await api.call('DELETE', `/api/instances/devlake/uploads/${job.upload.id}`);
    expect(forgotten.status).toBe(204);
    const again = await api.get(`/api/instances/devlake/uploads/${job.upload.id}`);
    expect(again.status).toBe(404);
    expect(errorOf(again.body).message).toMatch(/There is no upload/);
  });
});

describe('when alice asks what she may upload to', () => {
  it('then her scope comes first, and LAKE_SCRATCHDISK with her quota, not the site disks', async () => {
    const { status, body } = await api.get('/api/instances/devlake/upload-targets');
    expect(status).toBe(200);
    const targets = body as UploadTargetsResponse;
    expect(targets.account).toBe('alice');
    expect(targets.scopes[0]).toEqual({ scope: 'user.alice', own: true });
    const rses = targets.rses.map(r => r.rse);
    expect(rses).toContain(devlake.scratchRse);
    expect(rses).not.toContain('CERN_DATADISK');
    const scratchTarget = targets.rses.find(r => r.rse === devlake.scratchRse);
    expect(scratchTarget).toMatchObject({ limitBytes: 10 * 1024 ** 3, writable: true });
    expect(targets.metadataKeys).toContain('datatype');
  });
});

describe('when an upload cannot be done', () => {
  let files: Map<string, MadeFile>;

  beforeAll(async () => {
    files = await makeFiles(join(work, 'small'), { 'one.txt': 100, 'two.bin': 2 * 1024 * 1024 });
  });

  it('then a name that exists in the scope is refused with 409, and nothing is uploaded', async () => {
    const dataset = `exists.${run}`;
    // The first file's name is taken already, by a dataset of alice's.
    await rucioAs('alice').request('POST', didPath(scope, `${dataset}/small/one.txt`), {
      body: { type: 'DATASET' }
    });
    const { status, body } = await api.post('/api/instances/devlake/uploads', {
      paths: [join(work, 'small')],
      scope,
      dataset,
      rse: devlake.scratchRse
    });
    expect(status).toBe(409);
    expect(errorOf(body)).toMatchObject({
      code: 'conflict',
      message: expect.stringMatching(
        new RegExp(`${scope}:${dataset}/small/one\\.txt exists already .*Choose a new dataset name`)
      )
    });
    // No dataset was made, no byte was put.
    const dataset404 = await rucioAs('alice')
      .request('GET', didPath(scope, dataset))
      .then(() => 200)
      .catch(() => 404);
    expect(dataset404).toBe(404);
    for (const relative of files.keys()) {
      expect(existsSync(storagePath(`${dataset}/small/${relative}`))).toBe(false);
    }
  });

  it("then bob's quota, too small, is refused with 409 and Rucio's numbers, and nothing is uploaded", async () => {
    const dataset = `quota.${run}`;
    const { status, body } = await api.post('/api/instances/devlake-bob/uploads', {
      paths: [join(work, 'small')],
      scope: 'user.bob',
      dataset,
      rse: devlake.scratchRse
    });
    expect(status).toBe(409);
    const needed = [...files.values()].reduce((sum, f) => sum + f.bytes, 0);
    expect(errorOf(body)).toMatchObject({
      code: 'quota_exceeded',
      message: expect.stringMatching(
        new RegExp(
          `Your quota on ${devlake.scratchRse} cannot hold this upload: it needs 2\\.00 MiB \\(${needed.toLocaleString('en')} bytes\\), and Rucio counts a limit of 1\\.00 MiB \\(1,048,576 bytes\\) with .* used`
        )
      )
    });
    const made = await rucioAs('bob')
      .request('GET', didPath('user.bob', dataset))
      .then(() => 200)
      .catch(() => 404);
    expect(made).toBe(404);
  });

  it('then a scope, an RSE or a path the account may not use is refused before anything moves', async () => {
    const base = {
      paths: [join(work, 'small')],
      scope,
      dataset: `refused.${run}`,
      rse: devlake.scratchRse
    };
    const otherScope = await api.post('/api/instances/devlake/uploads', {
      ...base,
      scope: 'lofar'
    });
    expect(otherScope.status).toBe(403);
    expect(errorOf(otherScope.body).message).toMatch(/may not create data in the scope "lofar"/);
    const siteDisk = await api.post('/api/instances/devlake/uploads', {
      ...base,
      rse: 'CERN_DATADISK'
    });
    expect(siteDisk.status).toBe(403);
    expect(errorOf(siteDisk.body).message).toMatch(
      /may not upload to "CERN_DATADISK".*LAKE_SCRATCHDISK/
    );
    const missing = await api.post('/api/instances/devlake/uploads', {
      ...base,
      paths: [join(work, 'no-such-folder')]
    });
    expect(missing.status).toBe(400);
    expect(errorOf(missing.body).message).toMatch(/does not exist/);
    const badName = await api.post('/api/instances/devlake/uploads', {
      ...base,
      dataset: 'with space'
    });
    expect(badName.status).toBe(400);
    expect(errorOf(badName.body).message).toMatch(/not a valid name/);
    expect(readFileSync(files.get('one.txt')?.path ?? '').length).toBe(100);
  });

  it('then no replica of those files exists anywhere', async () => {
    const names = [`exists.${run}`, `refused.${run}`].flatMap(d =>
      [...files.keys()].map(relative => `${d}/small/${relative}`)
    );
    const rses = await replicaRses(rucioAs('root'), scope, names);
    expect([...rses.values()].flat()).toEqual([]);
  });
});
