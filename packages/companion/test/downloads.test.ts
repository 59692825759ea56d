import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Download } from '@dlaas/api';
import { Adler32 } from '../src/adler32.js';
import type { CredentialSource } from '../src/auth/credentials.js';
import type { InstanceConfig } from '../src/config.js';
import { DownloadJobs } from '../src/domain/downloads.js';
import { RucioClient } from '../src/rucio/client.js';

/**
 * The download engine against a stand-in Rucio and a stand-in storage on loopback that
 * misbehaves on purpose (damaged replicas, redirects away, ignored ranges, stalls): the transport
 * of a unit test. test/companion/download*.test.ts run the same against devlake.
 */

const SCOPE = 'user.alice';
const TOKEN = 'secret-oidc-token';

/** A file's bytes and the RSEs (with the storage path prefix of each) that hold it. */
interface StandInFile {
  bytes: Buffer;
  replicas: [rse: string, how: string][];
}

/** Every file the stand-in lake knows, by name. */
const FILES = new Map<string, StandInFile>();
/** Datasets: their files' names. */
const DATASETS = new Map<string, string[]>();

let rucio: Server;
let storage: Server;
let elsewhere: Server;
let storageUrl: string;
let elsewhereUrl: string;
let rucioUrl: string;
/** What reached the storage: path, Range and whether a token came along. */
const reached: { path: string; range: string | undefined; token: boolean }[] = [];
let reachedElsewhere = 0;
/** When set, the files listing answers only once the replicas listing has been asked for. */
let holdFilesUntilReplicas = false;
let replicasAsked: (() => void) | null = null;
let home: string;

function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  return once(server, 'listening').then(
    () => `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  );
}

function adler(bytes: Buffer): string {
  return new Adler32().update(bytes).hex();
}

function addDataset(name: string, files: Record<string, StandInFile>): void {
  DATASETS.set(name, Object.keys(files));
  for (const [file, about] of Object.entries(files)) {
    FILES.set(file, about);
  }
}

async function answerRucio(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://x');
  const parts = url.pathname.split('/').map(decodeURIComponent);
  const lines = (items: unknown[]): void => {
    res.writeHead(200, { 'Content-Type': 'application/x-json-stream' });
    res.end(items.map(i => `${JSON.stringify(i)}\n`).join(''));
  };
  const filesOf = (name: string): string[] => DATASETS.get(name) ?? (FILES.has(name) ? [name] : []);
  if (req.method === 'GET' && parts[1] === 'dids' && parts.length === 4) {
    const name = parts[3] as string;
    if (!DATASETS.has(name) && !FILES.has(name)) {
      res
        .writeHead(404, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ ExceptionClass: 'DataIdentifierNotFound', ExceptionMessage: 'no' }));
      return;
    }
    res
      .writeHead(200, { 'Content-Type': 'application/json' })
      .end(JSON.stringify({ scope: SCOPE, name, type: DATASETS.has(name) ? 'DATASET' : 'FILE' }));
    return;
  }
  if (req.method === 'GET' && parts[1] === 'dids' && parts[4] === 'files') {
    if (holdFilesUntilReplicas) {
      await new Promise<void>(release => {
        replicasAsked = release;
      });
    }
    lines(
      filesOf(parts[3] as string).map(name => {
        const file = FILES.get(name) as StandInFile;
        return { scope: SCOPE, name, bytes: file.bytes.length, adler32: adler(file.bytes) };
      })
    );
    return;
  }
  if (req.method === 'POST' && url.pathname === '/replicas/list') {
    replicasAsked?.();
    replicasAsked = null;
    const chunks: Buffer[] = [];
    for await (const chunk of req) {
      chunks.push(chunk as Buffer);
    }
    const { dids } = JSON.parse(Buffer.concat(chunks).toString()) as { dids: { name: string }[] };
    lines(
      filesOf(dids[0]?.name ?? '').map(name => {
        const file = FILES.get(name) as StandInFile;
        const pfns: Record<string, { rse: string; priority: number }> = {};
        const states: Record<string, string> = {};
        file.replicas.forEach(([rse, how], index) => {
          pfns[`${storageUrl}/${how}/${name}`] = { rse, priority: index + 1 };
          states[rse] = 'AVAILABLE';
        });
        return { scope: SCOPE, name, bytes: file.bytes.length, pfns, states };
      })
    );
    return;
  }
  res.writeHead(404).end();
}

/** Files whose first GET from a `drop` PFN had its connection dropped. */
const dropped = new Set<string>();

function answerStorage(req: IncomingMessage, res: ServerResponse): void {
  const [, how, ...rest] = (req.url ?? '').split('/');
  const name = rest.join('/');
  reached.push({
    path: req.url ?? '',
    range: req.headers.range,
    token: !!req.headers.authorization
  });
  const file = FILES.get(name);
  if (!file) {
    res.writeHead(404).end();
    return;
  }
  let bytes = file.bytes;
  if (how === 'damaged') {
    bytes = Buffer.from(bytes);
    bytes[0] = (bytes[0] as number) ^ 0xff;
  }
  if (how === 'away') {
    res.writeHead(302, { Location: `${elsewhereUrl}/ok/${name}` }).end();
    return;
  }
  if (how === 'drop' && !dropped.has(name)) {
    // Half the file, then the connection is dropped (a TCP reset); the next request is served.
    dropped.add(name);
    res.writeHead(200, { 'Content-Length': String(bytes.length) });
    res.write(bytes.subarray(0, bytes.length / 2), () => res.socket?.resetAndDestroy());
    return;
  }
  if (how === 'stall') {
    res.writeHead(200, { 'Content-Length': String(bytes.length) });
    res.write(bytes.subarray(0, 10));
    return;
  }
  const match = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
  if (match && how !== 'whole') {
    const [start, end] = [Number(match[1]), Number(match[2])];
    res
      .writeHead(206, { 'Content-Range': `bytes ${start}-${end}/${bytes.length}` })
      .end(bytes.subarray(start, end + 1));
    return;
  }
  res.writeHead(200, { 'Content-Length': String(bytes.length) }).end(bytes);
}

beforeAll(async () => {
  elsewhere = createServer((_req, res) => {
    reachedElsewhere++;
    res.writeHead(200).end('elsewhere');
  });
  elsewhereUrl = await listen(elsewhere);
  storage = createServer(answerStorage);
  storageUrl = await listen(storage);
  rucio = createServer((req, res) => {
    answerRucio(req, res).catch(() => res.destroy());
  });
  rucioUrl = await listen(rucio);
});

afterAll(() => {
  for (const server of [rucio, storage, elsewhere]) {
    server.closeAllConnections();
    server.close();
  }
});

let engines: DownloadJobs[] = [];

beforeEach(() => {
  reached.length = 0;
  reachedElsewhere = 0;
  home = mkdtempSync(join(tmpdir(), 'dlaas-downloads-'));
});

afterEach(async () => {
  holdFilesUntilReplicas = false;
  replicasAsked?.();
  await Promise.all(engines.map(e => e.dispose()));
  engines = [];
  rmSync(home, { recursive: true, force: true });
});

const credentials: CredentialSource = {
  method: 'token',
  configuredAccount: null,
  token: () => Promise.resolve({ value: TOKEN, expiresAt: Date.now() + 3600_000, account: null })
};

/** An engine on the stand-in lake; its storage is trusted with the token unless `trusted` is false. */
function engine(options: { trusted?: boolean; timeoutSeconds?: number } = {}): DownloadJobs {
  const instance: InstanceConfig = {
    name: 'lake',
    rucioUrl,
    mode: 'download',
    auth: { method: 'token', env: 'DLAAS_TEST_TOKEN' },
    ...(options.trusted === false ? {} : { trustedHttpHosts: [new URL(storageUrl).host] }),
    ...(options.timeoutSeconds === undefined
      ? {}
      : { requestTimeoutSeconds: options.timeoutSeconds })
  };
  const jobs = new DownloadJobs(new RucioClient(instance, credentials), {
    root: join(home, 'downloads'),
    journal: join(home, 'state', 'downloads.json')
  });
  engines.push(jobs);
  return jobs;
}

/** Waits for the job to stop running (the engine's own promise, not a timer). */
async function finished(jobs: DownloadJobs, id: string): Promise<Download> {
  for (;;) {
    const job = jobs.list().find(j => j.id === id) as Download;
    if (job.state !== 'listing' && job.state !== 'running') {
      return job;
    }
    await jobs.settled(id);
  }
}

function file(bytes: number, ...replicas: [string, string][]): StandInFile {
  return { bytes: randomBytes(bytes), replicas: replicas.length ? replicas : [['SITE', 'ok']] };
}

describe('download engine', () => {
  it('when a dataset is downloaded, then each file is at <folder>/<name> with Rucio bytes, and the journal is private', async () => {
    addDataset('plain', {
      'plain/a.dat': file(5000),
      'plain/sub/b.dat': file(0),
      '/plain/c': file(70_000)
    });
    const jobs = engine();
    const job = await finished(jobs, (await jobs.start({ scope: SCOPE, name: 'plain' })).id);
    expect(job).toMatchObject({ state: 'done', filesTotal: 3, filesDone: 3, bytesDone: 75_000 });
    const folder = join(home, 'downloads', SCOPE, 'plain');
    expect(job.folder).toBe(folder);
    for (const [name, path] of [
      ['plain/a.dat', 'plain/a.dat'],
      ['plain/sub/b.dat', 'plain/sub/b.dat'],
      ['/plain/c', 'plain/c']
    ] as const) {
      expect(readFileSync(join(folder, path)).equals(FILES.get(name)?.bytes as Buffer)).toBe(true);
      expect(existsSync(join(folder, `${path}.part`))).toBe(false);
    }
    expect(statSync(join(home, 'state', 'downloads.json')).mode & 0o777).toBe(0o600);
    expect(reached.every(r => r.token)).toBe(true);
  });

  it('when a dataset is downloaded, then its replicas are listed while its files are (not after)', async () => {
    addDataset('together', { 'together/a.dat': file(100), 'together/b.dat': file(200) });
    // The files listing waits for the replicas listing: one after the other would never end.
    holdFilesUntilReplicas = true;
    const jobs = engine();
    const job = await finished(jobs, (await jobs.start({ scope: SCOPE, name: 'together' })).id);
    expect(job).toMatchObject({ state: 'done', filesDone: 2, bytesDone: 300 });
  });

  it('when a .part of n bytes is there, then the storage is asked for the closed range from n and the file verifies', async () => {
    addDataset('resume', { 'resume/big.dat': file(100_000) });
    const bytes = FILES.get('resume/big.dat')?.bytes as Buffer;
    const path = join(home, 'downloads', SCOPE, 'resume', 'resume', 'big.dat');
    await mkdir(dirname(path), { recursive: true });
    writeFileSync(`${path}.part`, bytes.subarray(0, 40_000));
    const jobs = engine();
    const job = await finished(jobs, (await jobs.start({ scope: SCOPE, name: 'resume' })).id);
    expect(job.state).toBe('done');
    expect(reached.map(r => r.range)).toEqual(['bytes=40000-99999']);
    expect(readFileSync(path).equals(bytes)).toBe(true);
    expect(jobs.detail(job.id, 0, 10).files.items[0]).toMatchObject({
      state: 'done',
      resumedFrom: 40_000
    });
  });

  it('when the .part holds wrong bytes, then the file is fetched whole once more and verifies', async () => {
    addDataset('badpart', { 'badpart/x.dat': file(50_000) });
    const bytes = FILES.get('badpart/x.dat')?.bytes as Buffer;
    const path = join(home, 'downloads', SCOPE, 'badpart', 'badpart', 'x.dat');
    await mkdir(dirname(path), { recursive: true });
    writeFileSync(`${path}.part`, randomBytes(20_000));
    const jobs = engine();
    const job = await finished(jobs, (await jobs.start({ scope: SCOPE, name: 'badpart' })).id);
    expect(job.state).toBe('done');
    expect(reached.map(r => r.range)).toEqual(['bytes=20000-49999', undefined]);
    expect(readFileSync(path).equals(bytes)).toBe(true);
  });

  it('when a storage ignores the Range and sends the whole file, then the whole file replaces the part', async () => {
    addDataset('norange', { 'norange/x.dat': file(30_000, ['SITE', 'whole']) });
    const bytes = FILES.get('norange/x.dat')?.bytes as Buffer;
    const path = join(home, 'downloads', SCOPE, 'norange', 'norange', 'x.dat');
    await mkdir(dirname(path), { recursive: true });
    writeFileSync(`${path}.part`, bytes.subarray(0, 10_000));
    const jobs = engine();
    const job = await finished(jobs, (await jobs.start({ scope: SCOPE, name: 'norange' })).id);
    expect(job.state).toBe('done');
    expect(readFileSync(path).equals(bytes)).toBe(true);
  });

  it('when a replica is damaged, then the next RSE gives the file; when all are, then the file fails with a sentence and leaves nothing', async () => {
    addDataset('damaged', {
      'damaged/one.dat': file(8000, ['BAD', 'damaged'], ['GOOD', 'ok']),
      'damaged/two.dat': file(8000, ['BAD', 'damaged']),
      'damaged/three.dat': file(8000)
    });
    const jobs = engine();
    const job = await finished(jobs, (await jobs.start({ scope: SCOPE, name: 'damaged' })).id);
    expect(job).toMatchObject({ state: 'failed', filesDone: 2, filesFailed: 1 });
    expect(job.error).toMatch(/1 of the 3 files .* Retry/);
    const files = jobs.detail(job.id, 0, 10).files.items;
    expect(files.find(f => f.name === 'damaged/one.dat')).toMatchObject({
      state: 'done',
      rse: 'GOOD'
    });
    const two = files.find(f => f.name === 'damaged/two.dat');
    expect(two?.state).toBe('failed');
    expect(two?.error).toMatch(/do not match Rucio's checksum.*Retry/);
    const path = join(home, 'downloads', SCOPE, 'damaged', 'damaged', 'two.dat');
    expect(existsSync(path)).toBe(false);
    expect(existsSync(`${path}.part`)).toBe(false);
    expect(
      jobs
        .localPaths({ scope: SCOPE, name: 'damaged' }, 0, 10)
        ?.items.map(i => i.name)
        .sort()
    ).toEqual(['damaged/one.dat', 'damaged/three.dat']);
  });

  it('when the storage drops the connection in the middle of a file, then the same replica is asked again, and the file is done', async () => {
    addDataset('dropped', { 'dropped/one.dat': file(200_000, ['ONLY', 'drop']) });
    const jobs = engine();
    const job = await finished(jobs, (await jobs.start({ scope: SCOPE, name: 'dropped' })).id);
    expect(job).toMatchObject({ state: 'done', filesDone: 1 });
    // Asked twice of the one replica (from where the bytes stopped, or whole when the reset
    // took what was in flight with it); the bytes checked against Rucio's Adler-32.
    expect(reached.filter(r => r.path.endsWith('dropped/one.dat'))).toHaveLength(2);
    const path = join(home, 'downloads', SCOPE, 'dropped', 'dropped', 'one.dat');
    expect(readFileSync(path).equals(FILES.get('dropped/one.dat')?.bytes ?? Buffer.alloc(0))).toBe(
      true
    );
  });

  it('when the storage redirects to another host, then the file fails and nothing reaches that host', async () => {
    addDataset('away', { 'away/x.dat': file(1000, ['SITE', 'away']) });
    const jobs = engine();
    const job = await finished(jobs, (await jobs.start({ scope: SCOPE, name: 'away' })).id);
    expect(job.state).toBe('failed');
    expect(jobs.detail(job.id, 0, 1).files.items[0]?.error).toMatch(
      /redirected .* another address/
    );
    expect(reachedElsewhere).toBe(0);
  });

  it('when the storage is plain http and not trusted, then it gets no token', async () => {
    addDataset('untrusted', { 'untrusted/x.dat': file(1000) });
    const jobs = engine({ trusted: false });
    await finished(jobs, (await jobs.start({ scope: SCOPE, name: 'untrusted' })).id);
    expect(reached.length).toBe(1);
    expect(reached[0]?.token).toBe(false);
  });

  it('when a storage stalls, then that file fails after the timeout with a sentence and the others are done; a retry resumes it', async () => {
    addDataset('stall', {
      'stall/slow.dat': file(5000, ['SITE', 'stall']),
      'stall/fine.dat': file(5000)
    });
    const jobs = engine({ timeoutSeconds: 0.3 });
    const job = await finished(jobs, (await jobs.start({ scope: SCOPE, name: 'stall' })).id);
    expect(job).toMatchObject({ state: 'failed', filesDone: 1, filesFailed: 1 });
    const slow = jobs.detail(job.id, 0, 10).files.items.find(f => f.name === 'stall/slow.dat');
    expect(slow?.error).toMatch(/sent nothing for 0.3 s.*resumes/);
    // The storage comes back: the retry asks only for what the part lacks.
    FILES.set('stall/slow.dat', {
      ...(FILES.get('stall/slow.dat') as StandInFile),
      replicas: [['SITE', 'ok']]
    });
    reached.length = 0;
    jobs.retry(job.id);
    const again = await finished(jobs, job.id);
    expect(again.state).toBe('done');
    expect(reached.filter(r => r.path.includes('slow')).map(r => r.range)).toEqual([
      'bytes=10-4999'
    ]);
  });

  it('when a file is already there, then it is not fetched again; when another file stands there, then it is not overwritten', async () => {
    addDataset('there', { 'there/same.dat': file(3000), 'there/other.dat': file(3000) });
    const folder = join(home, 'downloads', SCOPE, 'there', 'there');
    await mkdir(folder, { recursive: true });
    writeFileSync(join(folder, 'same.dat'), FILES.get('there/same.dat')?.bytes as Buffer);
    writeFileSync(join(folder, 'other.dat'), 'my own notes');
    const jobs = engine();
    const job = await finished(jobs, (await jobs.start({ scope: SCOPE, name: 'there' })).id);
    expect(reached).toEqual([]);
    const files = jobs.detail(job.id, 0, 10).files.items;
    expect(files.find(f => f.name === 'there/same.dat')).toMatchObject({
      state: 'done',
      reused: true
    });
    expect(files.find(f => f.name === 'there/other.dat')?.error).toMatch(
      /already there .* Move it away/
    );
    expect(readFileSync(join(folder, 'other.dat'), 'utf8')).toBe('my own notes');
  });

  it('when names would leave the folder or share a path, then those files fail with a sentence and nothing is written for them', async () => {
    addDataset('odd', {
      'odd/../../escape.dat': file(100),
      'odd//double.dat': file(100),
      'odd/x': file(100),
      'odd/x/y': file(100),
      'odd/ok.dat': file(100)
    });
    const jobs = engine();
    const job = await finished(jobs, (await jobs.start({ scope: SCOPE, name: 'odd' })).id);
    const files = jobs.detail(job.id, 0, 10).files.items;
    const byName = new Map(files.map(f => [f.name, f]));
    expect(byName.get('odd/../../escape.dat')).toMatchObject({ state: 'failed', path: null });
    expect(byName.get('odd/../../escape.dat')?.error).toMatch(/"\." or "\.\." segment/);
    expect(byName.get('odd//double.dat')).toMatchObject({ state: 'failed', path: null });
    // A file whose path another file needs as its folder.
    expect(byName.get('odd/x')?.error).toMatch(/is taken by another file/);
    expect(byName.get('odd/x/y')?.state).toBe('done');
    expect(byName.get('odd/ok.dat')?.state).toBe('done');
    expect(existsSync(join(home, 'downloads', SCOPE, 'escape.dat'))).toBe(false);
    expect(reached.some(r => r.path.includes('escape') || r.path.includes('double'))).toBe(false);
  });

  it('when the companion stopped while a job ran, then the job shows as interrupted and a retry resumes it', async () => {
    addDataset('journal', { 'journal/a.dat': file(2000) });
    const first = engine();
    const started = await first.start({ scope: SCOPE, name: 'journal' });
    await first.dispose();
    engines = engines.filter(e => e !== first);
    const journal = JSON.parse(readFileSync(join(home, 'state', 'downloads.json'), 'utf8')) as {
      jobs: { state: string }[];
    };
    // As a killed companion leaves it: the job was running.
    journal.jobs[0] = { ...journal.jobs[0], state: 'running' };
    writeFileSync(join(home, 'state', 'downloads.json'), JSON.stringify(journal));
    const second = engine();
    const shown = second.list()[0];
    expect(shown).toMatchObject({ id: started.id, state: 'interrupted' });
    expect(shown?.error).toMatch(/stopped while this download ran.*Retry/);
    second.retry(started.id);
    expect((await finished(second, started.id)).state).toBe('done');
  });

  it('when the journal is not JSON or holds jobs without files, then the engine starts with what can be shown', async () => {
    const journal = join(home, 'state', 'downloads.json');
    await mkdir(dirname(journal), { recursive: true });
    writeFileSync(journal, '{not json');
    expect(engine().list()).toEqual([]);
    writeFileSync(journal, JSON.stringify({ version: 1, jobs: [{ id: 'x' }, null, 3] }));
    expect(engine().list()).toEqual([]);
  });

  it('when a job is cancelled, then it says so and a retry finishes it', async () => {
    addDataset('cancel', { 'cancel/a.dat': file(5000, ['SITE', 'stall']) });
    const jobs = engine({ timeoutSeconds: 30 });
    const { id } = await jobs.start({ scope: SCOPE, name: 'cancel' });
    const cancelled = await jobs.cancel(id);
    expect(cancelled.state).toBe('cancelled');
    expect(cancelled.error).toMatch(/cancelled.*Retry/);
    FILES.set('cancel/a.dat', {
      ...(FILES.get('cancel/a.dat') as StandInFile),
      replicas: [['SITE', 'ok']]
    });
    jobs.retry(id);
    expect((await finished(jobs, id)).state).toBe('done');
  });

  it('when the folder is relative or the DID unknown, then the start is refused with a sentence', async () => {
    const jobs = engine();
    await expect(jobs.start({ scope: SCOPE, name: 'plain' }, 'relative/dir')).rejects.toMatchObject(
      {
        status: 400,
        message: expect.stringMatching(/absolute path/)
      }
    );
    await expect(jobs.start({ scope: SCOPE, name: 'nothing-here' })).rejects.toMatchObject({
      status: 404
    });
    expect(() => jobs.retry('no-such-id')).toThrow(/no download with the id/);
  });
});
