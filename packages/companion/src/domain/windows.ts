import type { Window } from '@dlaas/api';

interface Entry<T> {
  readonly iterator: AsyncIterator<T>;
  readonly items: T[];
  done: boolean;
  error: unknown;
  lastUsed: number;
  /** The read in progress, so that concurrent windows share it. */
  reading: Promise<void> | undefined;
  /** Whether the list is being read on in the background, to learn its length. */
  readingAhead: boolean;
  /** The whole list in other orders, by order name, once asked for. */
  readonly sorted: Map<string, T[]>;
}

/** An order of a list: its name (for the cache) and how two rows compare. */
export interface ListSort<T> {
  readonly name: string;
  readonly compare: (a: T, b: T) => number;
}

/** Options of {@link StreamWindows}. */
export interface StreamWindowsOptions {
  /** Lists kept at once; the least recently used is dropped first. */
  readonly maxLists?: number;
  /** A list unused for this long is dropped (and its stream closed). */
  readonly idleMs?: number;
  /**
   * Once a window is served, read on in the background until the list ends or holds this many
   * rows, so that later windows carry its length ("1,234 items") without the user scrolling to
   * its end. 0 (the default) reads only as far as windows reach.
   */
  readonly countUpTo?: number;
}

/**
 * Serves windows (offset, limit) of long lists that Rucio streams without pagination. Each list is
 * read incrementally and only as far as the windows asked so far reach, so the first window of a
 * million-file dataset is answered after reading its first rows. Rows read are kept for the next
 * windows; a list is dropped after `idleMs` or when `maxLists` newer lists are in use.
 */
export class StreamWindows<T> {
  private readonly lists = new Map<string, Entry<T>>();
  private readonly maxLists: number;
  private readonly idleMs: number;
  private readonly countUpTo: number;

  constructor(options: StreamWindowsOptions = {}) {
    this.maxLists = options.maxLists ?? 16;
    this.idleMs = options.idleMs ?? 5 * 60_000;
    this.countUpTo = options.countUpTo ?? 0;
  }

  /**
   * The window [offset, offset+limit) of the list `key`, opening its stream with `open` when it is
   * not held yet. `total` is the length once the stream has ended, else `knownTotal`.
   */
  async window(
    key: string,
    open: () => AsyncIterator<T>,
    offset: number,
    limit: number,
    knownTotal: number | null = null
  ): Promise<Window<T>> {
    const entry = await this.read(key, open, offset + limit);
    this.readAhead(entry);
    return {
      items: entry.items.slice(offset, offset + limit),
      offset,
      limit,
      total: entry.done ? entry.items.length : knownTotal,
      complete: entry.done
    };
  }

  /**
   * The window [offset, offset+limit) of the list `key` in the order `sort`: the whole list is
   * read first (so the first window of a long list takes as long as Rucio's whole stream), then
   * sorted once and kept. `tooLong` is thrown when the list has more than `max` rows.
   */
  async sortedWindow(
    key: string,
    open: () => AsyncIterator<T>,
    offset: number,
    limit: number,
    sort: ListSort<T>,
    max: number,
    tooLong: () => Error
  ): Promise<Window<T>> {
    const entry = await this.read(key, open, max + 1);
    if (!entry.done) {
      throw tooLong();
    }
    let sorted = entry.sorted.get(sort.name);
    if (!sorted) {
      sorted = [...entry.items].sort(sort.compare);
      entry.sorted.set(sort.name, sorted);
    }
    return {
      items: sorted.slice(offset, offset + limit),
      offset,
      limit,
      total: sorted.length,
      complete: true
    };
  }

  /** The entry of `key`, opened when it is not held, read until it holds `wanted` rows or ends. */
  private async read(key: string, open: () => AsyncIterator<T>, wanted: number): Promise<Entry<T>> {
    this.sweep();
    let entry = this.lists.get(key);
    if (!entry || (entry.error !== undefined && entry.items.length < wanted)) {
      entry = {
        iterator: open(),
        items: [],
        done: false,
        error: undefined,
        lastUsed: Date.now(),
        reading: undefined,
        readingAhead: false,
        sorted: new Map()
      };
      this.lists.set(key, entry);
      this.evict();
    }
    entry.lastUsed = Date.now();
    await this.fill(entry, wanted);
    if (entry.error !== undefined && entry.items.length < wanted) {
      this.lists.delete(key);
      throw entry.error;
    }
    return entry;
  }

  private async fill(entry: Entry<T>, wanted: number): Promise<void> {
    while (!entry.done && entry.error === undefined && entry.items.length < wanted) {
      entry.reading ??= (async () => {
        try {
          // Read in batches so that concurrent windows do not interleave single rows.
          const target = Math.max(wanted, entry.items.length + 500);
          while (entry.items.length < target) {
            const next = await entry.iterator.next();
            if (next.done) {
              entry.done = true;
              return;
            }
            entry.items.push(next.value);
          }
        } catch (error) {
          entry.error = error;
        } finally {
          entry.reading = undefined;
        }
      })();
      await entry.reading;
    }
  }

  /**
   * Reads on up to {@link StreamWindowsOptions.countUpTo} rows, 500 at a time, so that a window
   * asked meanwhile waits for one batch at most. An error is kept for the window that needs it.
   */
  private readAhead(entry: Entry<T>): void {
    if (entry.readingAhead || entry.done || entry.items.length >= this.countUpTo) {
      return;
    }
    entry.readingAhead = true;
    void (async () => {
      while (
        !entry.done &&
        entry.error === undefined &&
        entry.items.length < this.countUpTo &&
        [...this.lists.values()].includes(entry)
      ) {
        await this.fill(entry, Math.min(entry.items.length + 500, this.countUpTo));
      }
      entry.readingAhead = false;
    })();
  }

  private sweep(): void {
    const cutoff = Date.now() - this.idleMs;
    for (const [key, entry] of this.lists) {
      if (entry.lastUsed < cutoff && entry.reading === undefined) {
        this.drop(key, entry);
      }
    }
  }

  private evict(): void {
    while (this.lists.size > this.maxLists) {
      const [oldestKey, oldest] = [...this.lists.entries()].sort(
        (a, b) => a[1].lastUsed - b[1].lastUsed
      )[0] as [string, Entry<T>];
      this.drop(oldestKey, oldest);
    }
  }

  private drop(key: string, entry: Entry<T>): void {
    this.lists.delete(key);
    if (!entry.done) {
      void entry.iterator.return?.(undefined);
    }
  }

  /** Drops one list, so that its next window reads Rucio afresh. */
  forget(key: string): void {
    const entry = this.lists.get(key);
    if (entry) {
      this.drop(key, entry);
    }
  }

  /** Closes every open stream. */
  clear(): void {
    for (const [key, entry] of this.lists) {
      this.drop(key, entry);
    }
  }
}

/** Maps each value of a stream as it is read; closing the result closes the source. */
export async function* mapStream<A, B>(
  source: AsyncIterable<A>,
  map: (value: A) => B
): AsyncGenerator<B, void, undefined> {
  for await (const value of source) {
    yield map(value);
  }
}
