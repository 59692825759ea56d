import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { READ_AHEAD, ReadAhead, type ReadAheadOptions } from '../src/fuse/readahead.js';
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

  it('when a long file is read with a pool, then segments reuse a few blocks of one reservation instead of memory per request', async () => {
    const size = 80 * MiB;
    const s = storage(size);
    const buffers = new Set<ArrayBufferLike>();
    const blocks = new Set<number>();
    const reads = new ReadAhead(
      size,
      (start, end, target, offset) => {
        buffers.add(target.buffer);
        blocks.add(target.byteOffset);
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
    // 40 requests of 2 MiB; at most 16 MiB ahead and a little behind are held at once.
    expect(s.fetches.length).toBeGreaterThanOrEqual(40);
    expect(buffers.size).toBe(1);
    expect(blocks.size).toBeLessThanOrEqual(12);
  });

  it("when the kernel sends a sequential reader's reads out of order, then each byte is fetched once, in few requests", async () => {
    const size = 32 * MiB;
    const s = storage(size);
    const reads = new ReadAhead(size, s.fetch, OPTIONS);
    const out = Buffer.alloc(size);
    const piece = 128 * 1024;
    // Batches of 8 reads (a 1 MiB kernel read-ahead window), each batch in a shuffled order and
    // answered together, as the kernel's threads ask.
    let seed = 11;
    for (let batch = 0; batch < size; batch += 8 * piece) {
      const order = Array.from({ length: 8 }, (_, i) => batch + i * piece).filter(at => at < size);
      for (let i = order.length - 1; i > 0; i--) {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        const j = seed % (i + 1);
        [order[i], order[j]] = [order[j] as number, order[i] as number];
      }
      await Promise.all(
        order.map(async at => {
          const target = Buffer.alloc(piece);
          const count = await reads.read(target, piece, at);
          target.copy(out, at, 0, count);
        })
      );
    }
    expect(out.equals(s.bytes)).toBe(true);
    const fetched = s.fetches.reduce((sum, [a, b]) => sum + b - a + 1, 0);
    expect(fetched).toBe(size);
    // 16 chunks, the first batch's reads one by one (no run has begun), and a few cut at windows' ends.
    expect(s.fetches.length).toBeLessThan(40);
  });

  it('when 8 files are read at once from one pool, then read-ahead stays within the pool, and every byte is right', async () => {
    const size = 24 * MiB;
    const pool = new SharedBufferPool(OPTIONS.chunk, 16, 12);
    const files = Array.from({ length: 8 }, () => storage(size));
    let mostOut = 0;
    let out = 0;
    const readers = files.map(
      s =>
        new ReadAhead(
          size,
          async (start, end, target, offset) => {
            out += 1;
            mostOut = Math.max(mostOut, out);
            try {
              await s.fetch(start, end, target, offset);
            } finally {
              out -= 1;
            }
          },
          OPTIONS,
          pool
        )
    );
    await Promise.all(
      readers.map(async (reads, i) => {
        const piece = Buffer.alloc(128 * 1024);
        for (let at = 0; at < size; at += piece.length) {
          await reads.read(piece, piece.length, at);
          expect(piece.equals(files[i]?.bytes.subarray(at, at + piece.length) as Buffer)).toBe(
            true
          );
        }
        reads.close();
      })
    );
    // One chunk ahead each is always allowed; beyond that, the pool's 12 blocks bound the rest.
    expect(mostOut).toBeLessThanOrEqual(12 + 8);
    expect(pool.canReadAhead).toBe(true);
  });
  it('when 8 files are read at once, then all their memory comes from a few reused slabs of the pool, none per request', async () => {
    const size = 24 * MiB;
    const pool = new SharedBufferPool(OPTIONS.chunk, 16, 8, 24);
    const files = Array.from({ length: 8 }, () => storage(size));
    const memory = new Set<ArrayBufferLike>();
    const readers = files.map(
      s =>
        new ReadAhead(
          size,
          (start, end, target, offset) => {
            memory.add(target.buffer);
            return s.fetch(start, end, target, offset);
          },
          OPTIONS,
          pool
        )
    );
    await Promise.all(
      readers.map(async (reads, i) => {
        const piece = Buffer.alloc(128 * 1024);
        for (let at = 0; at < size; at += piece.length) {
          await reads.read(piece, piece.length, at);
          expect(piece.equals(files[i]?.bytes.subarray(at, at + piece.length) as Buffer)).toBe(
            true
          );
        }
        reads.close();
      })
    );
    // 8 readers hold 2 or 3 blocks each (reading, ahead, the one behind for its first MiB), a few
    // more as they start: slabs of 16 and 8 blocks; memory per request would be nearly one buffer
    // per request (96 requests).
    expect(memory.size).toBeLessThanOrEqual(2);
    expect(pool.reservedBytes).toBeLessThanOrEqual(24 * OPTIONS.chunk);
    expect(pool.canReadAhead).toBe(true);
  });

  it('when 8 files are read at once with the mount’s read-ahead and pool, then they share at most 24 MiB of reused memory, and every byte is right', async () => {
    const size = 24 * MiB + 4321;
    // The pool as the mount makes it (FuseMount): slabs of 16 blocks, then 8, up to 24.
    const pool = new SharedBufferPool(READ_AHEAD.chunk, 16, 8, 24);
    const files = Array.from({ length: 8 }, () => storage(size));
    const memory = new Set<ArrayBufferLike>();
    const readers = files.map(
      s =>
        new ReadAhead(
          size,
          (start, end, target, offset) => {
            memory.add(target.buffer);
            return s.fetch(start, end, target, offset);
          },
          READ_AHEAD,
          pool
        )
    );
    await Promise.all(
      readers.map(async (reads, i) => {
        const piece = Buffer.alloc(128 * 1024);
        for (let at = 0; at < size; at += piece.length) {
          const count = await reads.read(piece, piece.length, at);
          const expected = files[i]?.bytes.subarray(at, at + piece.length) as Buffer;
          expect(piece.subarray(0, count).equals(expected)).toBe(true);
        }
        reads.close();
      })
    );
    // 2 MiB blocks made 48 MiB here (the companion's largest piece of memory while 8 programs
    // read); a block per request would be a buffer per request (8 × 25).
    expect(pool.reservedBytes).toBeLessThanOrEqual(24 * MiB);
    expect(memory.size).toBeLessThanOrEqual(2);
    for (const s of files) {
      expect(s.fetches.reduce((sum, [a, b]) => sum + b - a + 1, 0)).toBe(size);
    }
  });

  it('when one file is read sequentially with the mount’s read-ahead and pool, then several requests are in flight at once', async () => {
    const size = 64 * MiB;
    const s = storage(size);
    const reads = new ReadAhead(
      size,
      s.fetch,
      READ_AHEAD,
      new SharedBufferPool(READ_AHEAD.chunk, 16, 8, 24)
    );
    const piece = Buffer.alloc(128 * 1024);
    for (let at = 0; at < size; at += piece.length) {
      await reads.read(piece, piece.length, at);
    }
    reads.close();
    // The window ahead (4 to 8 MiB) in 1 MiB requests: smaller blocks must not starve one reader.
    expect(s.mostInFlight()).toBeGreaterThanOrEqual(4);
  });
});
