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

/** Defaults of {@link ReadAheadOptions}: 2 MiB requests, windows from 4 to 16 MiB. */
export const READ_AHEAD: ReadAheadOptions = {
  chunk: 2 * 1024 * 1024,
  firstAhead: 4 * 1024 * 1024,
  maxAhead: 16 * 1024 * 1024
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
  failed: boolean;
}

/** How far behind the reader segments are kept (the kernel's reads may arrive a little out of order). */
const KEEP_BEHIND = 1024 * 1024;

/**
 * The reads of one open file: what the kernel asks for is served from segments fetched with
 * range requests. While reads are sequential the window ahead of the reader doubles (several
 * chunk-sized requests in flight); a read elsewhere fetches just what it needs and resets the
 * window, so random small reads (ROOT, HDF5 and FITS readers seek a lot) stay small. Segments
 * behind the reader are let go.
 */
export class ReadAhead {
  private segments: Segment[] = [];
  private lastEnd = -1;
  private ahead = 0;

  constructor(
    private readonly size: number,
    private readonly fetch: RangeFetch,
    private readonly options: ReadAheadOptions = READ_AHEAD,
    /** Where segments' memory comes from and goes back to (shared by a mount's open files). */
    private readonly pool: SharedBufferPool = new SharedBufferPool(options.chunk, 0)
  ) {}

  /** Copies up to `length` bytes at `position` into `target`; resolves with the count (0 at the end). */
  async read(target: Buffer, length: number, position: number): Promise<number> {
    const end = Math.min(position + length, this.size);
    if (position >= end) {
      return 0;
    }
    // Sequential: right after the last read, or inside what was read ahead (the kernel's reads
    // may arrive out of order); anything else is a jump.
    const sequential =
      position === this.lastEnd ||
      this.segments.some(s => s.ahead && !s.failed && position >= s.start && position < s.end);
    this.ahead = sequential
      ? Math.min(Math.max(this.ahead * 2, this.options.firstAhead), this.options.maxAhead)
      : 0;
    this.lastEnd = end;
    // Let go of what failed, and of what lies behind a sequential reader or away from a jump.
    const kept = this.segments.filter(s =>
      s.failed
        ? false
        : sequential
          ? s.end > position - KEEP_BEHIND
          : s.end > position && s.start < end
    );
    this.release(this.segments.filter(s => !kept.includes(s)));
    this.segments = kept;
    this.cover(position, end, false);
    if (this.ahead > 0) {
      // Up to a chunk boundary, so that the window moves on by whole chunks.
      const chunk = this.options.chunk;
      this.cover(end, Math.min(Math.ceil((end + this.ahead) / chunk) * chunk, this.size), true);
    }
    const needed = this.segments.filter(s => s.start < end && s.end > position);
    await Promise.all(needed.map(s => s.done));
    for (const s of needed) {
      const from = Math.max(s.start, position);
      const to = Math.min(s.end, end);
      s.data.copy(target, from - position, from - s.start, to - s.start);
    }
    return end - position;
  }

  /** Starts fetches for the parts of [from, to) no segment covers. */
  private cover(from: number, to: number, inChunks: boolean): void {
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
    const chunk = this.options.chunk;
    for (const [start, end] of gaps) {
      if (!inChunks) {
        this.start(start, end, false);
        continue;
      }
      for (let at = start; at < end;) {
        const next = Math.min((Math.floor(at / chunk) + 1) * chunk, end);
        this.start(at, next, true);
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
      failed: false,
      done: this.fetch(start, end - 1, data, 0).catch((error: unknown) => {
        segment.failed = true;
        throw error;
      })
    };
    // A read-ahead nobody waits for may fail unseen; the read that needs it fetches again.
    segment.done.catch(() => undefined);
    this.segments.push(segment);
  }

  /** Gives the memory of segments back once their fetches are over (the storage may still write). */
  private release(segments: readonly Segment[]): void {
    for (const segment of segments) {
      const give = (): void => this.pool.give(segment.data);
      segment.done.then(give, give);
    }
  }

  /** Lets go of every segment (the file was closed). */
  close(): void {
    this.release(this.segments);
    this.segments = [];
  }
}
