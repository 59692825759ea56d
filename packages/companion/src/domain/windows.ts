import type { Window } from '@dlaas/api';
import { setImmediate as nextTurn } from 'node:timers/promises';

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
  /** The whole list in other orders, by order name, once asked for (while sorted, a promise). */
  readonly sorted: Map<string, Promise<T[]>>;
  /**
   * Estimated bytes of the list and its sorted copies, counted against
   * {@link StreamWindowsOptions.maxSortedBytes} once it is sorted; 0 before.
   */
  bytes: number;
}

/** What a row is sorted on, computed once per row before sorting, with the row itself. */
export interface SortKey<T> {
  readonly row: T;
}

/**
 * An order of a list: its name (for the cache), the key each row is sorted on and how two keys
 * compare (negative: the first comes first).
 */
export interface ListSort<T, K extends SortKey<T>> {
  readonly name: string;
  readonly key: (row: T) => K;
  readonly compare: (a: K, b: K) => number;
}

/** Options of {@link StreamWindows}. */
export interface StreamWindowsOptions<T> {
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
  /**
   * Bytes the lists held whole for sorting, with their sorted copies, may take together (by
   * `rowBytes`); the least recently used are dropped first, and a list larger than this alone is
   * served but not kept. 128 MiB by default, so that the longest list the companion sorts (500,000
   * rows) is kept when its names are of usual length: with 50-character names and 10-character
   * scopes it is estimated at 99 MiB.
   */
  readonly maxSortedBytes?: number;
  /** Estimated bytes of one row in memory; 200 by default. */
  readonly rowBytes?: (row: T) => number;
}

/** Bytes of a sorted copy per row: one reference. */
const SORTED_ROW_BYTES = 8;

/**
 * Rows sorted in one piece while the event loop waits; longer lists are sorted in pieces of this
 * many rows, then merged, letting the event loop in between.
 */
const SORT_RUN = 4096;

/** Rows keyed, or merged, between two turns of the event loop. */
const SORT_STEP = 32_768;

/**
 * `rows` in the order `sort`, stable. Each row's key is computed once; pieces of {@link SORT_RUN}
 * keys are sorted, then merged (a comparison reads two keys and nothing else); the event loop
 * gets a turn every {@link SORT_STEP} rows keyed or merged, so that sorting half a million rows
 * (about a second) does not hold up other requests.
 */
export async function sortRows<T, K extends SortKey<T>>(
  rows: readonly T[],
  sort: ListSort<T, K>
): Promise<T[]> {
  const count = rows.length;
  const long = count > SORT_RUN;
  let from: K[] = [];
  for (let start = 0; start < count; start += SORT_STEP) {
    keySome(rows, from, sort.key, start + SORT_STEP);
    await turnIf(long);
  }
  for (let start = 0; start < count; start += SORT_RUN) {
    sortPiece(from, start, start + SORT_RUN, sort.compare);
    await turnIf(long);
  }
  let to = from.slice();
  for (let width = SORT_RUN; width < count; width *= 2) {
    for (let left = 0; left < count; left += 2 * width) {
      const run: MergeRun = {
        i: left,
        middle: Math.min(left + width, count),
        j: Math.min(left + width, count),
        right: Math.min(left + 2 * width, count),
        out: left
      };
      while (!mergeSome(from, to, run, sort.compare, SORT_STEP)) {
        await nextTurn();
      }
    }
    [from, to] = [to, from];
  }
  return from.map(key => key.row);
}

/** A turn of the event loop, when `wanted`. */
async function turnIf(wanted: boolean): Promise<void> {
  if (wanted) {
    await nextTurn();
  }
}

/** Appends to `keys` the keys of the rows after them, up to row `end`. */
function keySome<T, K>(rows: readonly T[], keys: K[], key: (row: T) => K, end: number): void {
  for (let i = keys.length; i < Math.min(end, rows.length); i++) {
    keys.push(key(rows[i] as T));
  }
}

/** Sorts `keys` from `start` to `end`, stably (as Array.prototype.sort is). */
function sortPiece<K>(
  keys: K[],
  start: number,
  end: number,
  compare: (a: K, b: K) => number
): void {
  const piece = keys.slice(start, end).sort(compare);
  for (let i = 0; i < piece.length; i++) {
    keys[start + i] = piece[i] as K;
  }
}

/** Two neighbouring sorted runs, [i, middle) and [j, right), being merged at `out`. */
interface MergeRun {
  i: number;
  readonly middle: number;
  j: number;
  readonly right: number;
  out: number;
}

/**
 * Merges up to `steps` keys of `run` from `from` into `to`, the left run first on ties (so the
 * sort stays stable); true once the run is merged whole.
 */
function mergeSome<K>(
  from: readonly K[],
  to: K[],
  run: MergeRun,
  compare: (a: K, b: K) => number,
  steps: number
): boolean {
  let { i, j, out } = run;
  const { middle, right } = run;
  const stop = out + steps;
  while (i < middle && j < right && out < stop) {
    const a = from[i] as K;
    const b = from[j] as K;
    if (compare(a, b) <= 0) {
      to[out++] = a;
      i++;
    } else {
      to[out++] = b;
      j++;
    }
  }
  if (i < middle && j < right) {
    run.i = i;
    run.j = j;
    run.out = out;
    return false;
  }
  while (i < middle) {
    to[out++] = from[i++] as K;
  }
  while (j < right) {
    to[out++] = from[j++] as K;
  }
  return true;
}

/**
 * Serves windows (offset, limit) of long lists that Rucio streams without pagination. Each list is
 * read incrementally and only as far as the windows asked so far reach, so the first window of a
 * million-file dataset is answered after reading its first rows. Rows read are kept for the next
 * windows; a list is dropped after `idleMs` or when `maxLists` newer lists are in use. Lists read
 * whole and sorted are also dropped, least recently used first, when they take more than
 * `maxSortedBytes` together.
 */
export class StreamWindows<T> {
  private readonly lists = new Map<string, Entry<T>>();
  private readonly maxLists: number;
  private readonly idleMs: number;
  private readonly countUpTo: number;
  private readonly maxSortedBytes: number;
  private readonly rowBytes: (row: T) => number;

  constructor(options: StreamWindowsOptions<T> = {}) {
    this.maxLists = options.maxLists ?? 16;
    this.idleMs = options.idleMs ?? 5 * 60_000;
    this.countUpTo = options.countUpTo ?? 0;
    this.maxSortedBytes = options.maxSortedBytes ?? 128 * 1024 * 1024;
    this.rowBytes = options.rowBytes ?? (() => 200);
  }

  /**
   * The window [offset, offset+limit) of the list `key`, opening its stream with `open` when it is
   * not held yet. `total` is the length once the stream has ended, else `knownTotal` (the length
   * Rucio counted): a window that starts there or later is answered empty without reading on.
   */
  async window(
    key: string,
    open: () => AsyncIterator<T>,
    offset: number,
    limit: number,
    knownTotal: number | null = null
  ): Promise<Window<T>> {
    const pastEnd = this.pastKnownEnd(key, offset, limit, knownTotal);
    if (pastEnd) {
      return pastEnd;
    }
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
   * sorted once and kept (within `maxSortedBytes`). `tooLong` is thrown when the list has, or
   * is known (`knownTotal`) to have, more than `max` rows. A window that starts at or past
   * `knownTotal` is answered empty without reading a list not held.
   */
  async sortedWindow<K extends SortKey<T>>(
    key: string,
    open: () => AsyncIterator<T>,
    offset: number,
    limit: number,
    sort: ListSort<T, K>,
    max: number,
    tooLong: () => Error,
    knownTotal: number | null = null
  ): Promise<Window<T>> {
    if (knownTotal !== null && knownTotal > max) {
      throw tooLong();
    }
    const pastEnd = this.pastKnownEnd(key, offset, limit, knownTotal);
    if (pastEnd) {
      return pastEnd;
    }
    const entry = await this.read(key, open, max + 1);
    if (!entry.done) {
      throw tooLong();
    }
    let sorting = entry.sorted.get(sort.name);
    if (!sorting) {
      sorting = sortRows(entry.items, sort);
      entry.sorted.set(sort.name, sorting);
      sorting.then(
        () => this.keepWithinBytes(key, entry),
        () => entry.sorted.delete(sort.name)
      );
    }
    const sorted = await sorting;
    return {
      items: sorted.slice(offset, offset + limit),
      offset,
      limit,
      total: sorted.length,
      complete: true
    };
  }

  /**
   * An empty window when it starts at or past `knownTotal` and the list is not held whole (whose
   * length is then known exactly): its total is Rucio's count, and the list is not read.
   */
  private pastKnownEnd(
    key: string,
    offset: number,
    limit: number,
    knownTotal: number | null
  ): Window<T> | undefined {
    if (knownTotal === null || offset < knownTotal || this.lists.get(key)?.done) {
      return undefined;
    }
    return { items: [], offset, limit, total: knownTotal, complete: false };
  }

  /**
   * Counts a list just sorted against `maxSortedBytes`: drops it if it is larger alone, else drops
   * the least recently used other sorted lists until all fit.
   */
  private keepWithinBytes(key: string, entry: Entry<T>): void {
    if (this.lists.get(key) !== entry) {
      return;
    }
    let bytes = 0;
    for (const row of entry.items) {
      bytes += this.rowBytes(row);
    }
    entry.bytes = bytes + SORTED_ROW_BYTES * entry.items.length * entry.sorted.size;
    if (entry.bytes > this.maxSortedBytes) {
      this.drop(key, entry);
      return;
    }
    let held = 0;
    for (const list of this.lists.values()) {
      held += list.bytes;
    }
    // The map holds the lists from the least recently used on.
    for (const [otherKey, other] of [...this.lists]) {
      if (held <= this.maxSortedBytes) {
        break;
      }
      if (other !== entry && other.bytes > 0) {
        held -= other.bytes;
        this.drop(otherKey, other);
      }
    }
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
        sorted: new Map(),
        bytes: 0
      };
    }
    // Moved to the end of the map, which holds the lists from the least recently used on.
    this.lists.delete(key);
    this.lists.set(key, entry);
    entry.lastUsed = Date.now();
    this.evict();
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
    for (const [oldestKey, oldest] of [...this.lists]) {
      if (this.lists.size <= this.maxLists) {
        break;
      }
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
