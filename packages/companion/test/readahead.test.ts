import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ReadAhead, type ReadAheadOptions } from '../src/fuse/readahead.js';
import { SharedBufferPool } from '../src/fuse/storage.js';

const MiB = 1024 * 1024;
const OPTIONS: ReadAheadOptions = { chunk: 2 * MiB, firstAhead: 4 * MiB, maxAhead: 16 * MiB };

/** A file in memory whose range fetches are recorded, and can be made to fail. */
function storage(size: number) {
  const bytes = randomBytes(size);
  const fetches: [number, number][] = [];
  let failing = false;
  let inFlight = 0;
  let mostInFlight = 0;
  return {
    bytes,
    fetches,
    mostInFlight: () => mostInFlight,
    fail: (on: boolean) => {
      failing = on;
    },
    fetch: async (start: number, end: number, target: Buffer, offset: number): Promise<void> => {
      fetches.push([start, end]);
      inFlight++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      await new Promise(resolve => setImmediate(resolve));
      inFlight--;
      if (failing) {
        throw new Error('storage down');
      }
      expect(end).toBeLessThan(size);
      bytes.copy(target, offset, start, end + 1);
    }
  };
}

describe('read-ahead', () => {
  it('when a file is read sequentially in 128 KiB pieces, then the bytes are right and the storage gets few large requests, several at once', async () => {
    const size = 40 * MiB + 12345;
    const s = storage(size);
    const reads = new ReadAhead(size, s.fetch, OPTIONS);
    const out = Buffer.alloc(size);
    for (let at = 0; at < size; at += 128 * 1024) {
      const piece = Buffer.alloc(128 * 1024);
      const count = await reads.read(piece, piece.length, at);
      piece.copy(out, at, 0, count);
    }
    expect(out.equals(s.bytes)).toBe(true);
    // 321 reads of the kernel; about one request per 2 MiB chunk.
    expect(s.fetches.length).toBeLessThan(30);
    expect(s.mostInFlight()).toBeGreaterThan(1);
    const fetched = s.fetches.reduce((sum, [a, b]) => sum + b - a + 1, 0);
    expect(fetched).toBe(size);
  });

  it('when reads jump around, then each fetches only what it asks for', async () => {
    const size = 64 * MiB;
    const s = storage(size);
    const reads = new ReadAhead(size, s.fetch, OPTIONS);
    let seed = 7;
    for (let i = 0; i < 200; i++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const at = (seed % (size / 4096)) * 4096;
      const piece = Buffer.alloc(4096);
      expect(await reads.read(piece, 4096, at)).toBe(4096);
      expect(piece.equals(s.bytes.subarray(at, at + 4096))).toBe(true);
    }
    const fetched = s.fetches.reduce((sum, [a, b]) => sum + b - a + 1, 0);
    expect(fetched).toBeLessThanOrEqual(200 * 4096);
  });

  it('when a read reaches past the end, then it gets what is left, and 0 at the end', async () => {
    const s = storage(1000);
    const reads = new ReadAhead(1000, s.fetch, OPTIONS);
    const piece = Buffer.alloc(4096);
    expect(await reads.read(piece, 4096, 900)).toBe(100);
    expect(piece.subarray(0, 100).equals(s.bytes.subarray(900))).toBe(true);
    expect(await reads.read(piece, 4096, 1000)).toBe(0);
  });

  it('when the storage fails, then the read fails, and the next read after it is back works', async () => {
    const s = storage(8 * MiB);
    const reads = new ReadAhead(8 * MiB, s.fetch, OPTIONS);
    const piece = Buffer.alloc(128 * 1024);
    await reads.read(piece, piece.length, 0);
    s.fail(true);
    await expect(reads.read(piece, piece.length, 6 * MiB)).rejects.toThrow('storage down');
    s.fail(false);
    expect(await reads.read(piece, piece.length, 6 * MiB)).toBe(piece.length);
    expect(piece.equals(s.bytes.subarray(6 * MiB, 6 * MiB + piece.length))).toBe(true);
  });

  it('when a long file is read with a pool, then segments reuse a few blocks of memory instead of one per request', async () => {
    const size = 80 * MiB;
    const s = storage(size);
    const blocks = new Set<ArrayBufferLike>();
    const reads = new ReadAhead(
      size,
      (start, end, target, offset) => {
        blocks.add(target.buffer);
        return s.fetch(start, end, target, offset);
      },
      OPTIONS,
      new SharedBufferPool(OPTIONS.chunk, 32)
    );
    const piece = Buffer.alloc(128 * 1024);
    for (let at = 0; at < size; at += piece.length) {
      await reads.read(piece, piece.length, at);
      expect(piece.equals(s.bytes.subarray(at, at + piece.length))).toBe(true);
    }
    reads.close();
    // 40 requests of 2 MiB; at most 16 MiB ahead and 1 MiB behind are held at once.
    expect(s.fetches.length).toBeGreaterThanOrEqual(40);
    expect(blocks.size).toBeLessThanOrEqual(12);
  });
});
