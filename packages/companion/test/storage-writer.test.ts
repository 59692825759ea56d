import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { Adler32 } from '../src/adler32.js';
import {
  ChecksumThread,
  FileLengthChanged,
  type ChecksumJob,
  type Checksums
} from '../src/checksum-thread.js';
import { StorageWriter } from '../src/domain/storage-writer.js';
import { credentials, instance } from './stand-in.js';

/**
 * `StorageWriter.put` against a stand-in storage on loopback: what it sends, and the checksums
 * it gives back, summed on the checksum thread (or, without one, on the sending thread).
 */

/** What the stand-in storage holds, by path; and the PUTs it saw end before their body did. */
const stored = new Map<string, Buffer>();
let brokenPuts = 0;
/** Hears the first bytes of each PUT's body. */
let firstBytes: (() => void) | undefined;
let server: Server;
let base: string;
let work: string;
const never = new AbortController().signal;

function file(name: string, bytes: Uint8Array): string {
  const path = join(work, name);
  writeFileSync(path, bytes);
  return path;
}

function reference(bytes: Uint8Array): { bytes: number; adler32: string; md5: string } {
  return {
    bytes: bytes.length,
    adler32: new Adler32().update(bytes).hex(),
    md5: createHash('md5').update(bytes).digest('hex')
  };
}

async function bodyOf(req: IncomingMessage): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of req) {
      if (chunks.length === 0) {
        firstBytes?.();
      }
      chunks.push(chunk as Buffer);
    }
  } catch {
    return null;
  }
  return req.complete ? Buffer.concat(chunks) : null;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dlaas-storage-writer-'));
  server = createServer((req, res) => {
    void (async () => {
      const body = await bodyOf(req);
      if (body === null) {
        brokenPuts++;
        return;
      }
      stored.set(req.url ?? '', body);
      res.writeHead(201).end();
    })();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise(resolve => server.close(resolve));
  rmSync(work, { recursive: true, force: true });
});

beforeEach(() => {
  stored.clear();
  brokenPuts = 0;
  firstBytes = undefined;
});

describe('StorageWriter.put', () => {
  const writer = new StorageWriter(instance, credentials, new ChecksumThread());

  it('when files of 0, 1 and 5 MiB and 3 bytes are sent, then the storage holds them and the sums are those of node:crypto and Adler32', async () => {
    for (const size of [0, 1, 5 * 1024 * 1024 + 3]) {
      const bytes = randomBytes(size);
      let heard = 0;
      const sent = await writer.put(
        `${base}/store/f${size}`,
        file(`f${size}`, bytes),
        size,
        length => {
          heard += length;
        },
        never
      );
      expect(sent, `${size} bytes`).toEqual(reference(bytes));
      expect(stored.get(`/store/f${size}`)?.equals(bytes)).toBe(true);
      expect(heard).toBe(size);
    }
  });

  it('when a file is sent, then the thread sums its MD5 only and the Adler-32 is of the bytes sent', async () => {
    const thread = new ChecksumThread();
    const sum = vi.spyOn(thread, 'sum');
    const bytes = randomBytes(3 * 1024 * 1024 + 1);
    const expected = reference(bytes);
    const update = vi.spyOn(Adler32.prototype, 'update');
    const sent = await new StorageWriter(instance, credentials, thread).put(
      `${base}/store/split`,
      file('split', bytes),
      bytes.length,
      () => undefined,
      never
    );
    expect(sent).toEqual(expected);
    expect(sum.mock.calls.map(call => call[3])).toEqual(['md5']);
    // The thread's Adler32 is its own copy of the class: these calls are the sending thread's.
    expect(update.mock.calls.reduce((bytes, [chunk]) => bytes + chunk.length, 0)).toBe(
      bytes.length
    );
    update.mockRestore();
  });

  it('when several files are sent at once, then each gets its own sums', async () => {
    const files = [2 * 1024 * 1024 + 1, 3 * 1024 * 1024 + 5, 7].map(size => randomBytes(size));
    const sent = await Promise.all(
      files.map((bytes, index) =>
        writer.put(
          `${base}/store/several${index}`,
          file(`several${index}`, bytes),
          bytes.length,
          () => undefined,
          never
        )
      )
    );
    expect(sent).toEqual(files.map(reference));
  });

  it('when the file is shorter than its size, then the upload fails with the sentence that it changed', async () => {
    const path = file('short', randomBytes(1000));
    await expect(
      writer.put(`${base}/store/short`, path, 1001, () => undefined, never)
    ).rejects.toThrow(
      `${path} changed while it was being uploaded (it was written to, or its length is not what it was when the upload started). Let whatever writes it finish, then retry the upload.`
    );
    expect(stored.has('/store/short')).toBe(false);
  });

  it('when the thread finds the file changed in length while it is sent, then the PUT is broken off with the sentence that it changed', async () => {
    /** A thread whose read of the file finds another length once the storage has some bytes. */
    class ChangedOnSecondRead extends ChecksumThread {
      override ready(): Promise<boolean> {
        return Promise.resolve(true);
      }
      override sum(): ChecksumJob {
        const result = new Promise<Checksums>((_resolve, reject) => {
          firstBytes = () => reject(new FileLengthChanged('not as long'));
        });
        result.catch(() => undefined);
        return { result, cancel: () => undefined };
      }
    }
    const changing = new StorageWriter(instance, credentials, new ChangedOnSecondRead());
    const size = 32 * 1024 * 1024;
    const path = file('changing', randomBytes(size));
    await expect(
      changing.put(`${base}/store/changing`, path, size, () => undefined, never)
    ).rejects.toThrow(`${path} changed while it was being uploaded`);
    await vi.waitFor(() => expect(brokenPuts).toBe(1), { timeout: 10_000 });
    expect(stored.has('/store/changing')).toBe(false);
  });

  it('when the file is written to while it is sent (its length the same), then the upload fails with the sentence that it changed', async () => {
    const size = 8 * 1024 * 1024;
    const path = file('rewritten', randomBytes(size));
    // In place, as a program appending to a log or rewriting a block does: the length stays.
    firstBytes = () => {
      const fd = openSync(path, 'r+');
      writeSync(fd, Buffer.from('rewritten'), 0, 9, size - 9);
      closeSync(fd);
    };
    await expect(
      writer.put(`${base}/store/rewritten`, path, size, () => undefined, never)
    ).rejects.toThrow(`${path} changed while it was being uploaded (it was written to`);
  });

  it('when the upload is aborted, then put fails with the reason and stops the summing', async () => {
    const thread = new ChecksumThread();
    const sum = vi.spyOn(thread, 'sum');
    const aborting = new StorageWriter(instance, credentials, thread);
    const size = 64 * 1024 * 1024;
    const path = file('aborted', randomBytes(size));
    const controller = new AbortController();
    const put = aborting.put(
      `${base}/store/aborted`,
      path,
      size,
      () => controller.abort(new Error('the user cancelled')),
      controller.signal
    );
    await expect(put).rejects.toThrow('the user cancelled');
    const job = sum.mock.results[0]?.value as ChecksumJob;
    await expect(job.result).rejects.toThrow('the user cancelled');
    expect(stored.has('/store/aborted')).toBe(false);
  });

  it('when no checksum thread can start, then the bytes are summed as they are sent', async () => {
    const written = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const alone = new StorageWriter(
        instance,
        credentials,
        new ChecksumThread(() => {
          throw new Error('EAGAIN');
        })
      );
      for (const size of [0, 1, 5 * 1024 * 1024 + 3]) {
        const bytes = randomBytes(size);
        const path = file(`alone${size}`, bytes);
        expect(
          await alone.put(`${base}/store/alone${size}`, path, size, () => undefined, never)
        ).toEqual(reference(bytes));
      }
      expect(written).toHaveBeenCalledTimes(1);
    } finally {
      written.mockRestore();
    }
  });
});

describe('StorageWriter connections', () => {
  it('when files are sent, checked and one removed in a row, then every request goes over one kept-alive connection and none asks the storage to close it', async () => {
    const held = new Map<string, Buffer>();
    const connections = new Set<unknown>();
    const asked: string[] = [];
    const storage = createServer((req, res) => {
      connections.add(req.socket);
      asked.push(`${req.method} ${req.headers.connection ?? '(none)'}`);
      void bodyOf(req).then(body => {
        const path = req.url ?? '';
        const there = held.get(path);
        if (req.method === 'PUT' && body !== null) {
          held.set(path, body);
          res.writeHead(201).end();
        } else if (req.method === 'HEAD' && there) {
          const digest = `adler32=${new Adler32().update(there).hex()}`;
          res.writeHead(200, { 'Content-Length': String(there.length), Digest: digest }).end();
        } else if (req.method === 'DELETE' && there) {
          held.delete(path);
          res.writeHead(204).end();
        } else {
          res.writeHead(404).end();
        }
      });
    });
    storage.listen(0, '127.0.0.1');
    await once(storage, 'listening');
    const at = `http://127.0.0.1:${(storage.address() as AddressInfo).port}`;
    const writer = new StorageWriter(instance, credentials, new ChecksumThread());
    try {
      for (const name of ['a', 'b', 'c']) {
        const bytes = randomBytes(64 * 1024 + name.charCodeAt(0));
        const sent = await writer.put(
          `${at}/k/${name}`,
          file(`k-${name}`, bytes),
          bytes.length,
          () => undefined,
          never
        );
        expect(await writer.head(`${at}/k/${name}`)).toEqual({
          bytes: sent.bytes,
          adler32: sent.adler32
        });
      }
      await writer.remove(`${at}/k/b`);
      expect(await writer.head(`${at}/k/b`)).toBeNull();
      expect(asked).toHaveLength(8);
      expect(asked.filter(line => line.endsWith(' close'))).toEqual([]);
      expect(connections.size).toBe(1);
    } finally {
      writer.close();
      storage.closeAllConnections();
      await new Promise(resolve => storage.close(resolve));
    }
  });
});
