import { SharedBufferPool } from './storage.js';
/** Reads `length` bytes at `start` of a file into `target` at `offset`. */
export type RangeFetch = (
  start: number,
  end: number,
  target: Buffer,
  offset: number
) => Promise<void>;

/** Sizes that shape read-ahead; the defaults suit HTTP storage on a LAN. */
export interface ReadAheadOptions {
  /** Bytes asked of the storage in one request while reading ahead. */
  readonly chunk: number;
  /** The most bytes read ahead of the reader (the window doubles up to it on sequential reads). */
  readonly maxAhead: number;
  /** The first window once reads turn sequential. */
  readonly firstAhead: number;
}

/**
 * Defaults of {@link ReadAheadOptions}: 1 MiB requests, windows from 4 to 8 MiB. The request is
 * also the block of the mount's shared memory that each segment takes: 8 readers hold about 3
 * blocks each (the one read, one ahead, the one behind), so 2 MiB blocks made 48 MiB of the
 * companion's memory while they streamed, and 1 MiB blocks make 24 MiB, as fast (the companion
 * README's same-run comparisons).
 */
export const READ_AHEAD: ReadAheadOptions = {
  chunk: 1024 * 1024,
  firstAhead: 4 * 1024 * 1024,
  maxAhead: 8 * 1024 * 1024
};

/** A piece of the file being fetched or fetched. */
interface Segment {
  readonly start: number;
  /** Exclusive. */
  readonly end: number;
  readonly data: Buffer;
  readonly done: Promise<void>;
  /** Fetched ahead of the reader (not because a read asked for it). */
  readonly ahead: boolean;
  /** The bytes are all here. */
  fetched: boolean;
  failed: boolean;
}

/**
 * How far around the furthest read a read still counts as sequential: the kernel sends a
 * sequential reader's reads several at a time (its own read-ahead window, 128 KiB by default, up
 * to a few MiB where raised), and they arrive out of order.
 */
const NEAR = 2 * 1024 * 1024;

/**
 * How far behind the furthest read segments are kept, so that a read arriving late is not
 * fetched again: eight times the kernel's default read-ahead window. Not more: a segment kept
 * behind is a block of the pool held (with 2 MiB kept behind and 2 MiB blocks, each of 8 readers
 * held one more block all the time).
 */
const BEHIND = 1024 * 1024;

/**
 * The reads of one open file: what the kernel asks for is served from segments fetched with
 * range requests. While reads are sequential the window ahead of the furthest read doubles
 * (several chunk-sized requests in flight); a read elsewhere fetches just what it needs and
 * resets the window, so random small reads (ROOT, HDF5 and FITS readers seek a lot) stay small.
 * Segments behind the reader are let go.
 */
export class ReadAhead {
  private segments: Segment[] = [];
  /** Where the furthest read of the current sequential run ended (-1: none yet). */
  private frontier = -1;
  private ahead = 0;

  constructor(
    private readonly size: number,
    private readonly fetch: RangeFetch,
    private readonly options: ReadAheadOptions = READ_AHEAD,
    /** Where segments' memory comes from and goes back to (shared by a mount's open files). */
    private readonly pool: SharedBufferPool = new SharedBufferPool(options.chunk, 8)
  ) {}

  /**
   * Copies up to `length` bytes at `position` into `target` and gives the count (0 at the end):
   * at once when those bytes are here already (the common case of a sequential reader, whose
   * reads the window ahead has fetched), else a promise of it. Answering at once matters: the
   * kernel keeps only a few reads of a sequential reader in flight, so each read's turnaround in
   * the companion bounds the throughput.
   */
  read(target: Buffer, length: number, position: number): number | Promise<number> {
    const end = Math.min(position + length, this.size);
    if (position >= end) {
      return 0;
    }
    // Sequential: right after the furthest read, or, once a sequential run has begun, near it
    // (the kernel's reads arrive out of order), or inside what was read ahead; anything else is
    // a jump (random reads are contiguous only by chance, and then cost one window).
    const near =
      this.ahead > 0
        ? position >= this.frontier - NEAR && position <= this.frontier + NEAR
        : position === this.frontier;
    const sequential =
      near ||
      this.segments.some(s => s.ahead && !s.failed && position >= s.start && position < s.end);
    this.ahead = sequential
      ? Math.min(Math.max(this.ahead * 2, this.options.firstAhead), this.options.maxAhead)
      : 0;
    this.frontier = sequential ? Math.max(this.frontier, end) : end;
    // Let go of what failed, and of what lies behind a sequential reader or away from a jump.
    const kept: Segment[] = [];
    for (const s of this.segments) {
      const keep = s.failed
        ? false
        : sequential
          ? s.end > this.frontier - BEHIND
          : s.end > position && s.start < end;
      if (keep) {
        kept.push(s);
      } else {
        this.release(s);
      }
    }
    this.segments = kept;
    const chunk = this.options.chunk;
    if (sequential) {
      // What is missing of a sequential reader's read is fetched up to the end of its chunk: the
      // reader's next reads fall there, and a block of the pool per 128 KiB read (the kernel's
      // reads outrun read-ahead that waits for memory) drained the pool for all readers.
      this.cover(position, Math.min(Math.ceil(end / chunk) * chunk, this.size), 'chunks');
    } else {
      this.cover(position, end, 'exact');
    }
    if (this.ahead > 0) {
      // Up to a chunk boundary, so that the window moves on by whole chunks.
      const until = Math.ceil((this.frontier + this.ahead) / chunk) * chunk;
      this.cover(this.frontier, Math.min(until, this.size), 'ahead');
    }
    const needed = this.segments.filter(s => s.start < end && s.end > position);
    const copy = (): number => {
      for (const s of needed) {
        const from = Math.max(s.start, position);
        const to = Math.min(s.end, end);
        s.data.copy(target, from - position, from - s.start, to - s.start);
      }
      return end - position;
    };
    return needed.every(s => s.fetched) ? copy() : Promise.all(needed.map(s => s.done)).then(copy);
  }

  /**
   * Starts fetches for the parts of [from, to) no segment covers: each part as one request
   * (`exact`), or cut at chunk boundaries, for a read (`chunks`) or ahead of the reader (`ahead`,
   * which stops while the pool's memory is out).
   */
  private cover(from: number, to: number, mode: 'exact' | 'chunks' | 'ahead'): void {
    const sorted = this.segments
      .filter(s => s.end > from && s.start < to)
      .sort((a, b) => a.start - b.start);
    let cursor = from;
    const gaps: [number, number][] = [];
    for (const s of sorted) {
      if (s.start > cursor) {
        gaps.push([cursor, s.start]);
      }
      cursor = Math.max(cursor, s.end);
    }
    if (cursor < to) {
      gaps.push([cursor, to]);
    }
    if (mode === 'exact') {
      for (const [start, end] of gaps) {
        this.start(start, end, false);
      }
      return;
    }
    const chunk = this.options.chunk;
    // Beyond one chunk ahead of the reader, read-ahead waits while the open files together hold
    // the pool's share of memory (8 readers must not hold 8 full windows).
    let ahead = this.segments.filter(s => s.ahead && s.start >= this.frontier).length;
    for (const [start, end] of gaps) {
      for (let at = start; at < end;) {
        if (mode === 'ahead' && ahead >= 1 && !this.pool.canReadAhead) {
          return;
        }
        const next = Math.min((Math.floor(at / chunk) + 1) * chunk, end);
        this.start(at, next, mode === 'ahead');
        ahead += mode === 'ahead' ? 1 : 0;
        at = next;
      }
    }
  }

  private start(start: number, end: number, ahead: boolean): void {
    const data = this.pool.take(end - start);
    const segment: Segment = {
      start,
      end,
      data,
      ahead,
      fetched: false,
      failed: false,
      done: this.fetch(start, end - 1, data, 0).then(
        () => {
          segment.fetched = true;
        },
        (error: unknown) => {
          segment.failed = true;
          throw error;
        }
      )
    };
    // A read-ahead nobody waits for may fail unseen; the read that needs it fetches again.
    segment.done.catch(() => undefined);
    this.segments.push(segment);
  }

  /** Gives the memory of segments back once their fetches are over (the storage may still write). */
  private release(segment: Segment): void {
    const give = (): void => this.pool.give(segment.data);
    if (segment.fetched || segment.failed) {
      give();
    } else {
      segment.done.then(give, give);
    }
  }

  /** Lets go of every segment (the file was closed). */
  close(): void {
    for (const segment of this.segments) {
      this.release(segment);
    }
    this.segments = [];
  }
}
