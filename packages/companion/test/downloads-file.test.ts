import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as fs from 'node:fs';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent as HttpAgent, createServer, type Server } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { Adler32 } from '../src/adler32.js';
import { fetchFile, type FileTarget, type StorageAccess } from '../src/domain/download-file.js';

/** Every file the code under test opens for reading, with the range it asks for. */
const reads = vi.hoisted(() => [] as { path: string; start?: number; end?: number }[]);

vi.mock('node:fs', async importOriginal => {
  const real = await importOriginal<typeof fs>();
  return {
    ...real,
    createReadStream: (path: string, options?: { start?: number; end?: number }) => {
      reads.push({ path, start: options?.start, end: options?.end });
      return real.createReadStream(path, options);
    }
  };
});

/**
 * One file's transfer (fetchFile) against a stand-in storage on loopback: how often the bytes on
 * disk are read back to sum them. The Adler-32 is summed while the bytes stream to disk, so a
 * fresh file is never read back, and a resumed one reads only the part it already had, once.
 */

const BYTES = randomBytes(3 * 1024 * 1024 + 17);
/** A file large enough for the checksum thread (served at `/big`, whole). */
const BIG = randomBytes(9 * 1024 * 1024 + 5);
let server: Server;
let url: URL;
let work: string;
let ranges: (string | undefined)[] = [];

const access: StorageAccess = {
  http: new HttpAgent({ keepAlive: true }),
  https: new HttpsAgent({ keepAlive: true }),
  headers: () => Promise.resolve({}),
  timeoutMs: 5000
};

function target(name: string, adler32 = new Adler32().update(BYTES).hex()): FileTarget {
  return { did: `user.alice:${name}`, path: join(work, name), bytes: BYTES.length, adler32 };
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dlaas-download-file-'));
  server = createServer((req, res) => {
    if (req.url === '/big') {
      res.writeHead(200, { 'Content-Length': String(BIG.length) }).end(BIG);
      return;
    }
    const range = req.headers.range;
    ranges.push(range);
    const match = /^bytes=(\d+)-(\d+)$/.exec(range ?? '');
    if (match) {
      const [from, to] = [Number(match[1]), Number(match[2])];
      res
        .writeHead(206, {
          'Content-Length': String(to - from + 1),
          'Content-Range': `bytes ${from}-${to}/${BYTES.length}`
        })
        .end(BYTES.subarray(from, to + 1));
    } else {
      res.writeHead(200, { 'Content-Length': String(BYTES.length) }).end(BYTES);
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/file`);
});

afterAll(() => {
  server.close();
  access.http.destroy();
  rmSync(work, { recursive: true, force: true });
});

beforeEach(() => {
  reads.length = 0;
  ranges = [];
});

describe('fetchFile', () => {
  it('when a file is fetched whole, then its checksum is summed on the way and the file is never read back', async () => {
    const file = target('whole.bin');
    const result = await fetchFile(
      file,
      { rse: 'SITE_DISK', url },
      access,
      () => undefined,
      new AbortController().signal
    );
    expect(result).toEqual({ reused: false, resumedFrom: 0 });
    expect(readFileSync(file.path).equals(BYTES)).toBe(true);
    expect(reads).toEqual([]);
  });

  it('when a .part of n bytes is resumed, then only those n bytes are read back, once, and the file verifies', async () => {
    const file = target('resumed.bin');
    const had = 1024 * 1024 + 5;
    writeFileSync(`${file.path}.part`, BYTES.subarray(0, had));
    const result = await fetchFile(
      file,
      { rse: 'SITE_DISK', url },
      access,
      () => undefined,
      new AbortController().signal
    );
    expect(result).toEqual({ reused: false, resumedFrom: had });
    expect(ranges).toEqual([`bytes=${had}-${BYTES.length - 1}`]);
    expect(readFileSync(file.path).equals(BYTES)).toBe(true);
    expect(reads).toEqual([{ path: `${file.path}.part`, start: 0, end: had - 1 }]);
  });

  it('when the resumed .part held wrong bytes, then the file is fetched whole once more, not read back, and verifies', async () => {
    const file = target('spoiled.bin');
    const had = 4096;
    writeFileSync(`${file.path}.part`, randomBytes(had));
    const result = await fetchFile(
      file,
      { rse: 'SITE_DISK', url },
      access,
      () => undefined,
      new AbortController().signal
    );
    expect(result).toEqual({ reused: false, resumedFrom: 0 });
    expect(ranges).toEqual([`bytes=${had}-${BYTES.length - 1}`, undefined]);
    expect(readFileSync(file.path).equals(BYTES)).toBe(true);
    expect(reads).toEqual([{ path: `${file.path}.part`, start: 0, end: had - 1 }]);
  });

  it('when the bytes do not match Rucio, then nothing is kept and the sentence names both checksums', async () => {
    const file = target('damaged.bin', '00000001');
    await expect(
      fetchFile(
        file,
        { rse: 'SITE_DISK', url },
        access,
        () => undefined,
        new AbortController().signal
      )
    ).rejects.toThrow(/Adler-32 [0-9a-f]{8}, Rucio says 00000001/);
    expect(fs.existsSync(file.path) || fs.existsSync(`${file.path}.part`)).toBe(false);
    expect(reads).toEqual([]);
  });

  it('when a file of 4 MiB or more is fetched whole, then its Adler-32 is summed on the checksum thread, not on the main thread, and a wrong one is still refused', async () => {
    const big = new URL('/big', url);
    const summedHere = vi.spyOn(Adler32.prototype, 'update');
    try {
      const file: FileTarget = {
        did: 'user.alice:big.bin',
        path: join(work, 'big.bin'),
        bytes: BIG.length,
        adler32: new Adler32().update(BIG).hex()
      };
      summedHere.mockClear();
      const result = await fetchFile(
        file,
        { rse: 'SITE_DISK', url: big },
        access,
        () => undefined,
        new AbortController().signal
      );
      expect(result).toEqual({ reused: false, resumedFrom: 0 });
      expect(readFileSync(file.path).equals(BIG)).toBe(true);
      expect(summedHere).not.toHaveBeenCalled();

      const damaged = { ...file, did: 'user.alice:big-damaged.bin', path: join(work, 'bad.bin') };
      await expect(
        fetchFile(
          { ...damaged, adler32: '00000001' },
          { rse: 'SITE_DISK', url: big },
          access,
          () => undefined,
          new AbortController().signal
        )
      ).rejects.toThrow(`(Adler-32 ${file.adler32}, Rucio says 00000001)`);
      expect(fs.existsSync(damaged.path) || fs.existsSync(`${damaged.path}.part`)).toBe(false);
      expect(summedHere).not.toHaveBeenCalled();
    } finally {
      summedHere.mockRestore();
    }
  });
});
