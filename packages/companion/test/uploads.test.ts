import type { UploadDetail } from '@dlaas/api';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync
} from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Adler32 } from '../src/adler32.js';
import type { CredentialSource } from '../src/auth/credentials.js';
import type { InstanceConfig } from '../src/config.js';
import { Naming } from '../src/did.js';
import { AppError } from '../src/errors.js';
import { collectLocalFiles } from '../src/domain/local-files.js';
import { Uploads } from '../src/domain/uploads.js';
import { RucioClient } from '../src/rucio/client.js';

/**
 * The upload engine against a stand-in Rucio and a stand-in storage on loopback (the transport of
 * a unit test): the header XRootD needs, credentials, verification, the order of steps, answers
 * that are lost, cancel, the journal across a restart. The integration tests run it against
 * devlake.
 */

const RSE = 'USER_SCRATCHDISK';
const SCOPE = 'user.alice';
const OIDC_TOKEN = 'oidc-access-token-of-alice';

interface StoredObject {
  bytes: Buffer;
  /** What HEAD answers as the Adler-32 (the real one unless a test spoils it). */
  adler32: string;
}

/** What the stand-ins saw and hold. */
const seen: { method: string; path: string; rawHeaders: string[] }[] = [];
const objects = new Map<string, StoredObject>();
const dids = new Map<string, { type: string; open: boolean; account: string }>();
const replicas = new Set<string>();
const attached = new Map<string, string>();
let metadata: Record<string, unknown> = {};
let usedBytes = 0;
let limitBytes: number | 'Infinity' = 10_000_000;
/** Storage behaviours a test switches on; all off at the start of each test. */
const NO_FAULTS = {
  wrongChecksum: false,
  /** Register the replica, then answer 500 (an answer that is lost). */
  loseRegistration: false,
  /** Stop reading a PUT's body (a storage that hangs). */
  stallPut: false,
  /** The RSE's preferred write protocol is XRootD's root://, WebDAV comes second. */
  rootFirst: false,
  /** Hold the answer to the first registration until the storage took this many PUTs (0: off). */
  holdFirstRegistration: 0,
  /** Refuse (register nothing of) a registration that names this file, as Rucio does a bad one. */
  refuseName: '',
  /** Register a registration of several files, then answer 500 (its answer is lost). */
  loseGroupRegistration: false,
  /** Answer 500 to a PFN request of several files. */
  failGroupPfns: false,
  /** Drop the connection (a TCP reset) of this many PUTs, the first ones, before storing them. */
  resetPuts: 0,
  /** Answer this many PUTs, the first ones, with 201 and store nothing (a storage that loses them). */
  losePuts: 0,
  /** Answer this many PUTs, the first ones, with 500 and store nothing. */
  failPuts: 0
};
const faults = { ...NO_FAULTS };
/** Registrations answered and PUTs stored so far (for {@link faults.holdFirstRegistration}). */
let registrations = 0;
let puts = 0;
/** Wakes a held registration when the storage has a new file. */
let stored: (() => void) | null = null;

let server: Server;
let base: string;
let work: string;

function adlerOf(bytes: Buffer): string {
  return new Adler32().update(bytes).hex();
}

async function bodyOf(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function json(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(value));
}

function rucioError(res: ServerResponse, status: number, exceptionClass: string): void {
  res
    .writeHead(status, { ExceptionClass: exceptionClass, ExceptionMessage: exceptionClass })
    .end(JSON.stringify({ ExceptionClass: exceptionClass, ExceptionMessage: exceptionClass }));
}

async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', base);
  const path = url.pathname;
  const method = req.method ?? 'GET';
  seen.push({ method, path: decodeURIComponent(path), rawHeaders: req.rawHeaders });
  if (path.startsWith('/store/')) {
    const key = decodeURIComponent(path.slice('/store/'.length));
    if (method === 'PUT') {
      if (faults.stallPut) {
        req.pause();
        return;
      }
      if (faults.resetPuts > 0) {
        faults.resetPuts--;
        req.socket.resetAndDestroy();
        return;
      }
      const bytes = await bodyOf(req);
      if (faults.failPuts > 0) {
        faults.failPuts--;
        res.writeHead(500).end();
        return;
      }
      if (faults.losePuts > 0) {
        faults.losePuts--;
        res.writeHead(201).end();
        return;
      }
      objects.set(key, { bytes, adler32: faults.wrongChecksum ? '00000001' : adlerOf(bytes) });
      puts++;
      stored?.();
      res.writeHead(201).end();
    } else if (method === 'HEAD') {
      const object = objects.get(key);
      if (!object) {
        res.writeHead(404).end();
      } else {
        res
          .writeHead(200, {
            'Content-Length': String(object.bytes.length),
            Digest: `adler32=${object.adler32}`
          })
          .end();
      }
    } else if (method === 'DELETE') {
      res.writeHead(objects.delete(key) ? 204 : 404).end();
    } else {
      res.writeHead(405).end();
    }
    return;
  }
  const body = method === 'POST' ? JSON.parse((await bodyOf(req)).toString() || 'null') : null;
  if (path === '/accounts/alice/attr/') {
    return json(res, 200, []);
  }
  if (path === '/accounts/alice/scopes/') {
    return json(res, 200, [SCOPE]);
  }
  if (path === '/accounts/alice/limits/local') {
    res.writeHead(200).end(`{"${RSE}": ${limitBytes}, "SITE_DATADISK": 1000000}`);
    return;
  }
  if (path === '/accounts/alice/usage/local') {
    res.writeHead(200).end(`${JSON.stringify({ rse: RSE, bytes: usedBytes })}\n`);
    return;
  }
  if (path === `/rses/${RSE}`) {
    return json(res, 200, { rse: RSE, availability_write: true });
  }
  if (path === `/rses/${RSE}/lfns2pfns`) {
    // As Rucio 41: any number of `lfn` parameters, one PFN each.
    const lfns = url.searchParams.getAll('lfn');
    const scheme = url.searchParams.get('scheme');
    if (faults.failGroupPfns && lfns.length > 1) {
      return rucioError(res, 500, 'DatabaseException');
    }
    if (faults.rootFirst && scheme === 'davs') {
      return rucioError(res, 404, 'RSEProtocolNotSupported');
    }
    return json(
      res,
      200,
      Object.fromEntries(
        lfns.map(lfn => [
          lfn,
          faults.rootFirst && scheme === null
            ? `root://xrootd.invalid:1094//store/${lfn}`
            : `${base}/store/${encodeURIComponent(lfn)}`
        ])
      )
    );
  }
  if (path === `/dids/${SCOPE}/dids/search`) {
    const prefix = (url.searchParams.get('name') ?? '').replace(/\*$/, '');
    res.writeHead(200);
    res.end(
      [...dids.keys()]
        .filter(d => d.startsWith(`${SCOPE}:${prefix}`))
        .map(d => `${JSON.stringify(d.slice(SCOPE.length + 1))}\n`)
        .join('')
    );
    return;
  }
  if (path === '/rules/' && method === 'POST') {
    return json(res, 201, ['rule-1']);
  }
  if (path === '/replicas/' && method === 'POST') {
    const { files } = body as { files: { scope: string; name: string }[] };
    if (registrations++ === 0 && faults.holdFirstRegistration > 0) {
      while (puts < faults.holdFirstRegistration) {
        await new Promise<void>(wake => {
          stored = wake;
        });
      }
      stored = null;
    }
    if (faults.refuseName !== '' && files.some(f => f.name === faults.refuseName)) {
      return rucioError(res, 400, 'InvalidObject');
    }
    for (const file of files) {
      replicas.add(`${file.scope}:${file.name}`);
      dids.set(`${file.scope}:${file.name}`, { type: 'FILE', open: false, account: 'alice' });
    }
    if (faults.loseRegistration || (faults.loseGroupRegistration && files.length > 1)) {
      faults.loseRegistration = false;
      faults.loseGroupRegistration = false;
      res.writeHead(500).end('lost');
      return;
    }
    res.writeHead(201).end('Created');
    return;
  }
  if (path === '/replicas/list' && method === 'POST') {
    const { dids: asked } = body as { dids: { scope: string; name: string }[] };
    res.writeHead(200);
    res.end(
      asked
        .filter(d => replicas.has(`${d.scope}:${d.name}`))
        .map(d => `${JSON.stringify({ scope: d.scope, name: d.name, rses: { [RSE]: [] } })}\n`)
        .join('')
    );
    return;
  }
  const parents = /^\/dids\/([^/]+)\/(.+)\/parents$/.exec(decodeURIComponent(path));
  if (parents) {
    const parent = attached.get(`${parents[1]}:${parents[2]}`);
    res.writeHead(200).end(parent ? `${JSON.stringify({ scope: SCOPE, name: parent })}\n` : '');
    return;
  }
  const content = /^\/dids\/([^/]+)\/(.+)\/dids$/.exec(decodeURIComponent(path));
  if (content && method === 'POST') {
    for (const d of (body as { dids: { scope: string; name: string }[] }).dids) {
      attached.set(`${d.scope}:${d.name}`, content[2] as string);
    }
    res.writeHead(201).end('Created');
    return;
  }
  const meta = /^\/dids\/([^/]+)\/(.+)\/meta$/.exec(decodeURIComponent(path));
  if (meta && method === 'POST') {
    metadata = (body as { meta: Record<string, unknown> }).meta;
    res.writeHead(201).end('Created');
    return;
  }
  const did = /^\/dids\/([^/]+)\/(.+)$/.exec(decodeURIComponent(path));
  if (did) {
    const key = `${did[1]}:${did[2]}`;
    if (method === 'POST') {
      dids.set(key, { type: 'DATASET', open: true, account: 'alice' });
      res.writeHead(201).end('Created');
      return;
    }
    const found = dids.get(key);
    if (!found) {
      return rucioError(res, 404, 'DataIdentifierNotFound');
    }
    return json(res, 200, { scope: did[1], name: did[2], ...found });
  }
  rucioError(res, 404, 'NotFound');
}

beforeAll(async () => {
  server = createServer((req, res) => {
    answer(req, res).catch(() => res.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  server.close();
  await once(server, 'close');
});

const engines: Uploads[] = [];

beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'dlaas-uploads-unit-'));
  seen.length = 0;
  objects.clear();
  dids.clear();
  replicas.clear();
  attached.clear();
  metadata = {};
  usedBytes = 0;
  limitBytes = 10_000_000;
  Object.assign(faults, NO_FAULTS);
  registrations = 0;
  puts = 0;
  stored = null;
});

afterEach(async () => {
  await Promise.all(engines.splice(0).map(e => e.dispose()));
  rmSync(work, { recursive: true, force: true });
});

/** An instance whose sign-in is `method`, with its credentials. */
function lake(
  method: 'userpass' | 'token',
  extra: Partial<InstanceConfig> = {}
): { instance: InstanceConfig; credentials: CredentialSource } {
  const instance: InstanceConfig = {
    name: 'lake',
    rucioUrl: base,
    auth:
      method === 'userpass'
        ? { method, username: 'u', password: 'p', account: 'alice' }
        : { method, env: 'UNUSED', account: 'alice' },
    scratchRse: RSE,
    ...extra
  };
  const credentials: CredentialSource = {
    method,
    configuredAccount: 'alice',
    token: async () => ({
      value: method === 'token' ? OIDC_TOKEN : 'rucio-session-token',
      expiresAt: Date.now() + 3600_000,
      account: 'alice'
    })
  };
  return { instance, credentials };
}

function engine(
  method: 'userpass' | 'token' = 'userpass',
  extra: Partial<InstanceConfig> = {},
  parallelFiles = 3
): Uploads {
  const { instance, credentials } = lake(method, extra);
  const uploads = new Uploads(new RucioClient(instance, credentials), new Naming(), {
    folder: join(work, 'journal'),
    parallelFiles,
    home: work
  });
  engines.push(uploads);
  return uploads;
}

/** Local files below the test's folder. */
function files(sizes: Record<string, number>): Map<string, Buffer> {
  const made = new Map<string, Buffer>();
  for (const [relative, size] of Object.entries(sizes)) {
    const path = join(work, relative);
    mkdirSync(join(path, '..'), { recursive: true });
    const bytes = randomBytes(size);
    writeFileSync(path, bytes);
    made.set(relative, bytes);
  }
  return made;
}

async function settled(uploads: Uploads, id: string): Promise<UploadDetail> {
  for (;;) {
    const detail = uploads.get(id);
    if (detail.upload.state !== 'running') {
      return detail;
    }
    await sleep(5);
  }
}

function storedKey(name: string): string {
  return `${SCOPE}:${name}`;
}

const request = (paths: string[], dataset = 'results.v1') => ({
  paths,
  scope: SCOPE,
  dataset,
  rse: RSE,
  metadata: { datatype: 'table', telescope: 'lst' }
});

describe('when a folder is uploaded', () => {
  it('then each file goes PUT with Content-Length spelled so, is checked, then registered and attached', async () => {
    const local = files({ 'out/a.csv': 1000, 'out/sub/b.bin': 300_000 });
    const uploads = engine();
    const started = await uploads.start(request(['~/out']));
    const done = await settled(uploads, started.upload.id);
    expect(done.upload).toMatchObject({ state: 'done', filesDone: 2, bytesDone: 301_000 });
    for (const [relative, bytes] of local) {
      const name = `results.v1/${relative}`;
      expect(objects.get(storedKey(name))?.bytes.equals(bytes)).toBe(true);
      expect(replicas.has(storedKey(name))).toBe(true);
      expect(attached.get(storedKey(name))).toBe('results.v1');
      const item = done.files.items.find(f => f.name === name);
      expect(item).toMatchObject({
        adler32: adlerOf(bytes),
        md5: createHash('md5').update(bytes).digest('hex')
      });
    }
    const put = seen.find(s => s.method === 'PUT');
    expect(put?.rawHeaders).toContain('Content-Length');
    // Userpass: Rucio's session token never goes to storage.
    expect(
      seen
        .filter(s => s.path.startsWith('/store/'))
        .every(s => !s.rawHeaders.includes('Authorization'))
    ).toBe(true);
    expect(metadata).toEqual({ datatype: 'table', telescope: 'lst' });
    // Per file: PUT, then HEAD, then the replica, then the attachment.
    const name = 'results.v1/out/a.csv';
    const order = seen
      .filter(s => s.path.includes(name) || (s.method === 'POST' && s.path === '/replicas/'))
      .map(s => `${s.method} ${s.path.startsWith('/store/') ? 'storage' : s.path}`);
    expect(order.indexOf('PUT storage')).toBeLessThan(order.indexOf('HEAD storage'));
    expect(order.indexOf('HEAD storage')).toBeLessThan(order.lastIndexOf('POST /replicas/'));
  });

  it('then the journal file is private to the user (0600)', async () => {
    files({ 'one.txt': 10 });
    const uploads = engine();
    const started = await uploads.start(request(['~/one.txt']));
    await settled(uploads, started.upload.id);
    const journal = join(work, 'journal');
    const [file] = readdirSync(journal);
    expect(statSync(join(journal, file as string)).mode & 0o777).toBe(0o600);
    expect(statSync(journal).mode & 0o777).toBe(0o700);
  });
});

describe('when many files are uploaded', () => {
  /** 30 small files; the first registration is held until all are on the storage. */
  function thirty(): Map<string, Buffer> {
    faults.holdFirstRegistration = 30;
    return files(
      Object.fromEntries(
        Array.from({ length: 30 }, (_, i) => [`many/f${String(i).padStart(2, '0')}.txt`, 100 + i])
      )
    );
  }
  const count = (method: string, path: string): number =>
    seen.filter(s => s.method === method && s.path === path).length;

  it('then their PFNs come in one request, and files checked meanwhile are registered and attached together', async () => {
    const local = thirty();
    const uploads = engine();
    const done = await settled(uploads, (await uploads.start(request(['~/many']))).upload.id);
    expect(done.upload).toMatchObject({ state: 'done', filesDone: 30 });
    for (const [relative, bytes] of local) {
      const name = `results.v1/${relative}`;
      expect(objects.get(storedKey(name))?.bytes.equals(bytes)).toBe(true);
      expect(replicas.has(storedKey(name))).toBe(true);
      expect(attached.get(storedKey(name))).toBe('results.v1');
    }
    expect(count('GET', `/rses/${RSE}/lfns2pfns`)).toBe(1);
    // The first file alone; the 29 checked while its registration ran in a few groups (the last
    // ones may still be verifying when it ends), not one request per file.
    expect(count('POST', '/replicas/')).toBeLessThanOrEqual(5);
    expect(count('POST', `/dids/${SCOPE}/results.v1/dids`)).toBeLessThanOrEqual(5);
    // Nothing registered before its bytes were checked: each file's HEAD precedes its group.
    const lastHead = seen.map(s => s.method).lastIndexOf('HEAD');
    const lastRegistration = seen.findLastIndex(
      s => s.method === 'POST' && s.path === '/replicas/'
    );
    expect(lastHead).toBeLessThan(lastRegistration);
    const journal = join(work, 'journal');
    const [file] = readdirSync(journal);
    const saved = JSON.parse(readFileSync(join(journal, file as string), 'utf8')) as {
      files: { phase: string }[];
    };
    expect(saved.files.map(f => f.phase)).toEqual(Array(30).fill('done'));
  });

  it('then a file Rucio refuses in a group fails alone: the others are registered one by one, its bytes are deleted', async () => {
    thirty();
    const refused = 'results.v1/many/f17.txt';
    faults.refuseName = refused;
    const uploads = engine();
    const done = await settled(uploads, (await uploads.start(request(['~/many']))).upload.id);
    expect(done.upload).toMatchObject({ state: 'failed', filesDone: 29, filesFailed: 1 });
    expect(done.files.items.find(f => f.name === refused)?.error).toMatch(/InvalidObject|Rucio/);
    expect(replicas.has(storedKey(refused))).toBe(false);
    expect(objects.has(storedKey(refused))).toBe(false);
    expect(attached.has(storedKey(refused))).toBe(false);
    expect(replicas.size).toBe(29);
    expect(attached.size).toBe(29);
  });

  it('then a PFN request of many files that fails is asked again file by file, and the job is done', async () => {
    thirty();
    faults.failGroupPfns = true;
    const uploads = engine();
    const done = await settled(uploads, (await uploads.start(request(['~/many']))).upload.id);
    expect(done.upload).toMatchObject({ state: 'done', filesDone: 30 });
    expect(objects.size).toBe(30);
    // The failed group request, then one per file.
    expect(count('GET', `/rses/${RSE}/lfns2pfns`)).toBe(31);
  });

  it('then a group registration whose answer is lost is found in Rucio, and every file is attached', async () => {
    thirty();
    faults.loseGroupRegistration = true;
    const uploads = engine();
    const done = await settled(uploads, (await uploads.start(request(['~/many']))).upload.id);
    expect(done.upload).toMatchObject({ state: 'done', filesDone: 30 });
    expect(attached.size).toBe(30);
    expect(objects.size).toBe(30);
    // The lost group was registered once; Rucio was asked (one listing), not sent it again.
    expect(count('POST', '/replicas/')).toBeLessThanOrEqual(5);
    expect(count('POST', '/replicas/list')).toBe(1);
  });
});

describe('when the storage or Rucio misbehaves', () => {
  /**
   * Uploads a.txt and b.txt with `fault` on: the job must end done, the storage holding both
   * whole and Rucio both replicas, after `puts` PUTs in all.
   */
  async function doneDespite(fault: Partial<typeof NO_FAULTS>, puts: number): Promise<void> {
    const local = files({ 'a.txt': 500, 'b.txt': 600 });
    Object.assign(faults, fault);
    const uploads = engine();
    const done = await settled(
      uploads,
      (await uploads.start(request(['~/a.txt', '~/b.txt']))).upload.id
    );
    expect(done.upload).toMatchObject({ state: 'done', filesDone: 2 });
    for (const [relative, bytes] of local) {
      expect(objects.get(storedKey(`results.v1/${relative}`))?.bytes.equals(bytes)).toBe(true);
    }
    expect(seen.filter(s => s.method === 'PUT')).toHaveLength(puts);
    expect(replicas.size).toBe(2);
  }

  /**
   * Uploads a.txt with `fault` on: the job must fail, the file with `sentence`, after `puts` PUTs,
   * and nothing be registered.
   */
  async function failedDespite(
    fault: Partial<typeof NO_FAULTS>,
    puts: number,
    sentence: RegExp
  ): Promise<void> {
    files({ 'a.txt': 500 });
    Object.assign(faults, fault);
    const uploads = engine();
    const done = await settled(uploads, (await uploads.start(request(['~/a.txt']))).upload.id);
    expect(done.upload).toMatchObject({ state: 'failed', filesFailed: 1 });
    expect(done.files.items[0]?.error).toMatch(sentence);
    expect(seen.filter(s => s.method === 'PUT')).toHaveLength(puts);
    expect(replicas.size).toBe(0);
  }

  it('then a PUT whose connection the storage drops is sent again, and the job is done', async () => {
    await doneDespite({ resetPuts: 2 }, 4);
  });

  it('then a storage that keeps dropping the connection fails the file with a sentence, after three tries', async () => {
    await failedDespite(
      { resetPuts: 100 },
      3,
      /^The storage at .* broke the connection off \(.*ECONNRESET\)/
    );
  });

  it('then a file the storage said it took but does not hold is sent once more, and the job is done', async () => {
    await doneDespite({ losePuts: 1 }, 3);
  });

  it('then a PUT the storage answers with a server error is sent once more, and the job is done', async () => {
    await doneDespite({ failPuts: 1 }, 3);
  });

  it('then a file the storage answers twice with a server error fails with its sentence and is not registered', async () => {
    await failedDespite({ failPuts: 2 }, 2, /^The storage at .* answered 500 to a PUT\./);
  });

  it('then a file is sent once more at most: answered with a server error, then lost, it fails after two PUTs', async () => {
    await failedDespite(
      { failPuts: 1, losePuts: 1 },
      2,
      /does not hold what was sent for .*; the file was sent twice\)/
    );
  });

  it('then a file the storage loses twice fails with a sentence and is not registered', async () => {
    await failedDespite(
      { losePuts: 2 },
      2,
      /does not hold what was sent for .* \(no file where .* were sent; the file was sent twice\)/
    );
  });

  it('then a file the storage holds with another checksum fails, is deleted, and is not registered', async () => {
    files({ 'a.txt': 500 });
    faults.wrongChecksum = true;
    const uploads = engine();
    const done = await settled(uploads, (await uploads.start(request(['~/a.txt']))).upload.id);
    expect(done.upload.state).toBe('failed');
    expect(done.files.items[0]?.error).toMatch(/does not hold what was sent/);
    expect(objects.size).toBe(0);
    expect(replicas.size).toBe(0);
  });

  it('then a registration whose answer is lost is found in Rucio: the bytes stay, a retry only attaches', async () => {
    files({ 'a.txt': 500 });
    faults.loseRegistration = true;
    const uploads = engine();
    const id = (await uploads.start(request(['~/a.txt']))).upload.id;
    const failed = await settled(uploads, id);
    expect(failed.upload.state).toBe('failed');
    // The replica is registered: its bytes must not go.
    expect(objects.has(storedKey('results.v1/a.txt'))).toBe(true);
    const puts = seen.filter(s => s.method === 'PUT').length;
    uploads.retry(id);
    const done = await settled(uploads, id);
    expect(done.upload.state).toBe('done');
    expect(seen.filter(s => s.method === 'PUT')).toHaveLength(puts);
    expect(attached.get(storedKey('results.v1/a.txt'))).toBe('results.v1');
  });

  it('then, once the storage stops answering, the files not begun fail at once with its sentence instead of each waiting out the timeout', async () => {
    files(Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`nine/f${i}.txt`, 1000])));
    faults.stallPut = true;
    const uploads = engine('userpass', { requestTimeoutSeconds: 0.3 });
    const done = await settled(uploads, (await uploads.start(request(['~/nine']))).upload.id);
    expect(done.upload).toMatchObject({ state: 'failed', filesFailed: 9, filesDone: 0 });
    // The three sent at once waited out the timeout; the six others were not sent.
    expect(seen.filter(s => s.method === 'PUT')).toHaveLength(3);
    expect(done.files.items.every(f => /stopped answering for 0\.3 s/.test(f.error ?? ''))).toBe(
      true
    );
    expect(objects.size).toBe(0);
    expect(replicas.size).toBe(0);
  });

  it('then a cancelled upload breaks off the transfer and deletes what was put', async () => {
    files({ 'big.bin': 2_000_000 });
    faults.stallPut = true;
    const uploads = engine();
    const id = (await uploads.start(request(['~/big.bin']))).upload.id;
    while (!seen.some(s => s.method === 'PUT')) {
      await sleep(5);
    }
    const cancelled = await uploads.cancel(id);
    expect(cancelled.upload).toMatchObject({
      state: 'cancelled',
      error: 'You cancelled this upload. Retry it to finish it.'
    });
    expect(cancelled.files.items[0]).toMatchObject({ state: 'cancelled', leftover: false });
    expect(seen.some(s => s.method === 'DELETE')).toBe(true);
    expect(replicas.size).toBe(0);
  });
});

describe('when the RSE prefers a protocol that is not HTTP', () => {
  it('then the upload asks Rucio for its WebDAV or HTTP address instead', async () => {
    files({ 'a.txt': 10 });
    faults.rootFirst = true;
    const uploads = engine();
    const done = await settled(uploads, (await uploads.start(request(['~/a.txt']))).upload.id);
    expect(done.upload.state).toBe('done');
    expect(objects.has(storedKey('results.v1/a.txt'))).toBe(true);
  });
});

describe('when the instance signs in with an OIDC token', () => {
  it('then storage on plain http gets the token only when the host is trusted', async () => {
    files({ 'a.txt': 10 });
    const untrusted = engine('token');
    await settled(untrusted, (await untrusted.start(request(['~/a.txt'], 'one'))).upload.id);
    const first = seen.filter(s => s.path.startsWith('/store/'));
    expect(first.length).toBeGreaterThan(0);
    expect(first.every(s => !s.rawHeaders.includes(`Bearer ${OIDC_TOKEN}`))).toBe(true);
    seen.length = 0;
    const trusted = engine('token', { trustedHttpHosts: [new URL(base).host] });
    const two = await settled(
      trusted,
      (await trusted.start(request(['~/a.txt'], 'two'))).upload.id
    );
    expect(two.upload.error).toBeUndefined();
    const put = seen.find(s => s.method === 'PUT');
    expect(put?.rawHeaders).toContain(`Bearer ${OIDC_TOKEN}`);
  });
});

describe('when an upload is refused before any byte moves', () => {
  async function refusal(body: ReturnType<typeof request>): Promise<AppError> {
    const uploads = engine();
    const error = await uploads.start(body).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect(seen.filter(s => s.path.startsWith('/store/'))).toEqual([]);
    return error as AppError;
  }

  it('then a quota too small says the limit, the usage and what the upload needs', async () => {
    files({ 'a.bin': 3000 });
    limitBytes = 5000;
    usedBytes = 4000;
    const error = await refusal(request(['~/a.bin']));
    expect(error).toMatchObject({ status: 409, code: 'quota_exceeded' });
    expect(error.message).toBe(
      `Your quota on ${RSE} cannot hold this upload: it needs 2.93 KiB (3,000 bytes), and Rucio counts a limit of 4.88 KiB (5,000 bytes) with 3.91 KiB (4,000 bytes) used, leaving 1000 bytes. Upload less, let older data expire, or ask the data lake's admins for more quota.`
    );
  });

  it('then an unlimited quota (Rucio writes Infinity) takes any upload', async () => {
    files({ 'a.bin': 3000 });
    limitBytes = 'Infinity';
    const uploads = engine();
    const done = await settled(uploads, (await uploads.start(request(['~/a.bin']))).upload.id);
    expect(done.upload.state).toBe('done');
    expect((await uploads.targets()).rses).toEqual([
      { rse: RSE, limitBytes: null, usedBytes: 0, freeBytes: null, writable: true }
    ]);
  });

  it('then a name that exists, a closed dataset, a site disk and metadata Rucio keeps are refused', async () => {
    files({ 'a.txt': 10 });
    dids.set(`${SCOPE}:results.v1/a.txt`, { type: 'FILE', open: false, account: 'alice' });
    expect(await refusal(request(['~/a.txt']))).toMatchObject({ status: 409, code: 'conflict' });
    dids.clear();
    dids.set(`${SCOPE}:closed`, { type: 'DATASET', open: false, account: 'alice' });
    expect((await refusal(request(['~/a.txt'], 'closed'))).message).toMatch(/is closed/);
    expect(await refusal({ ...request(['~/a.txt']), rse: 'SITE_DATADISK' })).toMatchObject({
      status: 403
    });
    expect((await refusal({ ...request(['~/a.txt']), metadata: { bytes: 5 } })).message).toMatch(
      /"bytes" is kept by Rucio itself/
    );
    expect(
      (await refusal({ ...request(['~/a.txt']), metadata: { run_number: 'abc' } })).message
    ).toMatch(/The metadata "run_number" cannot be set/);
  });

  it('then a second upload of files an unfinished one sends is refused', async () => {
    files({ 'big.bin': 100_000 });
    faults.stallPut = true;
    const uploads = engine();
    await uploads.start(request(['~/big.bin']));
    const error = await uploads.start(request(['~/big.bin'])).catch((e: unknown) => e);
    expect(error).toMatchObject({
      status: 409,
      message: expect.stringMatching(/sends .* already/)
    });
    // Nor can a running job be forgotten.
    const [running] = uploads.list();
    await expect(uploads.forget(running?.id ?? '')).rejects.toMatchObject({
      status: 409,
      message: expect.stringMatching(/still running\. Cancel it first/)
    });
  });
});

describe('when the companion stops in the middle of an upload and starts again', () => {
  it('then the job shows as interrupted, its half file is deleted, and a retry finishes it', async () => {
    files({ 'big.bin': 1_000_000 });
    faults.stallPut = true;
    const first = engine();
    const id = (await first.start(request(['~/big.bin']))).upload.id;
    while (!seen.some(s => s.method === 'PUT')) {
      await sleep(5);
    }
    // A half file, as a killed companion leaves it.
    objects.set(storedKey('results.v1/big.bin'), { bytes: Buffer.alloc(10), adler32: '1' });
    await first.dispose();
    faults.stallPut = false;
    const second = engine();
    expect(second.get(id).upload).toMatchObject({
      state: 'interrupted',
      error: expect.stringMatching(/The companion stopped while this upload ran/)
    });
    while (objects.has(storedKey('results.v1/big.bin'))) {
      await sleep(5);
    }
    second.retry(id);
    const done = await settled(second, id);
    expect(done.upload.state).toBe('done');
    expect(objects.get(storedKey('results.v1/big.bin'))?.bytes.length).toBe(1_000_000);
  });
});

describe('when local files are chosen', () => {
  it('then links leading out of a chosen folder are skipped, and names are <folder>/<path>', async () => {
    files({ 'chosen/a.txt': 1, 'chosen/sub/b.txt': 2, 'outside.txt': 3 });
    symlinkSync(join(work, 'outside.txt'), join(work, 'chosen', 'out-link'));
    symlinkSync(join(work, 'chosen', 'a.txt'), join(work, 'chosen', 'in-link'));
    symlinkSync(join(work, 'chosen', 'sub'), join(work, 'chosen', 'dir-link'));
    const selection = await collectLocalFiles(['~/chosen'], work);
    expect(selection.files.map(f => f.relativeName)).toEqual([
      'chosen/a.txt',
      'chosen/in-link',
      'chosen/sub/b.txt'
    ]);
    expect(selection.skipped.map(s => s.reason)).toEqual([
      'a link to a folder (links to folders are not followed)',
      'a link that leads out of the chosen folder'
    ]);
  });

  it('then two files of one name, a relative path and an empty folder are refused with a sentence', async () => {
    files({ 'x/same.txt': 1, 'y/same.txt': 1 });
    mkdirSync(join(work, 'empty'));
    await expect(collectLocalFiles(['~/x/same.txt', '~/y/same.txt'], work)).rejects.toThrow(
      /would both be named "same.txt"/
    );
    await expect(collectLocalFiles(['x/same.txt'], work)).rejects.toThrow(/absolute path/);
    await expect(collectLocalFiles(['~/empty'], work)).rejects.toThrow(/nothing to upload/);
  });
});
