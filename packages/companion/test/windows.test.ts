import { describe, expect, it } from 'vitest';
import { StreamWindows, type ListSort } from '../src/domain/windows.js';

/** A stream of `count` numbers that records how far it was read. */
function counting(
  count: number,
  failAt?: number
): {
  stream: () => AsyncGenerator<number>;
  /** The stream, counting how often it is opened. */
  open: () => AsyncGenerator<number>;
  opened: () => number;
  read: () => number;
  closed: () => boolean;
} {
  let read = 0;
  let closed = false;
  let opened = 0;
  const result = {
    stream: async function* () {
      try {
        for (let i = 0; i < count; i++) {
          if (i === failAt) {
            throw new Error('cut');
          }
          read = i + 1;
          yield i;
        }
      } finally {
        closed = true;
      }
    },
    open: () => {
      opened++;
      return result.stream();
    },
    opened: () => opened,
    read: () => read,
    closed: () => closed
  };
  return result;
}

/** A number's key: the number and its opposite. */
interface Opposite {
  row: number;
  value: number;
}

/** Numbers from the largest, counting how often a key is computed and two keys compared. */
function spiedSort(): ListSort<number, Opposite> & { keyed: () => number; compared: () => number } {
  let keyed = 0;
  let compared = 0;
  return {
    name: 'desc',
    key: n => {
      keyed++;
      return { row: n, value: -n };
    },
    compare: (a, b) => {
      compared++;
      return a.value - b.value;
    },
    keyed: () => keyed,
    compared: () => compared
  };
}

const ascending: ListSort<number, { row: number }> = {
  name: 'asc',
  key: row => ({ row }),
  compare: (a, b) => a.row - b.row
};
const tooLong = (): Error => new Error('too long to sort');

describe('StreamWindows', () => {
  it('when the first window of a long list is asked for, then only a batch beyond it is read', async () => {
    const source = counting(1_000_000);
    const windows = new StreamWindows<number>();
    const first = await windows.window('k', source.stream, 0, 100);
    expect(first.items).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(first.complete).toBe(false);
    expect(first.total).toBeNull();
    expect(source.read()).toBeLessThanOrEqual(600);
  });

  it('when lists are counted up to N, then after the first window a short list is read to its end and a long one to N, no further', async () => {
    const short = counting(3_000);
    const long = counting(1_000_000);
    const windows = new StreamWindows<number>({ countUpTo: 10_000 });
    const first = await windows.window('short', short.stream, 0, 100);
    expect(first.total).toBeNull();
    await windows.window('long', long.stream, 0, 100);
    for (let i = 0; i < 200 && (short.read() < 3_000 || long.read() < 10_000); i++) {
      await new Promise(resolvePromise => setTimeout(resolvePromise, 5));
    }
    const again = await windows.window('short', short.stream, 100, 100);
    expect(again).toMatchObject({ total: 3_000, complete: true });
    await new Promise(resolvePromise => setTimeout(resolvePromise, 50));
    expect(long.read()).toBe(10_000);
    expect((await windows.window('long', long.stream, 0, 100)).total).toBeNull();
    windows.clear();
  });

  it('when later windows are asked for, then the stream is opened once and read on', async () => {
    const source = counting(1000);
    const windows = new StreamWindows<number>();
    const open = source.open;
    await windows.window('k', open, 0, 10);
    const last = await windows.window('k', open, 990, 50);
    expect(source.opened()).toBe(1);
    expect(last.items).toEqual(Array.from({ length: 10 }, (_, i) => 990 + i));
    expect(last).toMatchObject({ complete: true, total: 1000 });
  });

  it('when concurrent windows ask for the same list, then they share one read', async () => {
    const source = counting(5000);
    const windows = new StreamWindows<number>();
    const open = source.open;
    const results = await Promise.all([
      windows.window('k', open, 0, 100),
      windows.window('k', open, 2000, 100),
      windows.window('k', open, 4950, 100)
    ]);
    expect(source.opened()).toBe(1);
    expect(results.map(r => r.items[0])).toEqual([0, 2000, 4950]);
  });

  it('when the stream fails before the window, then the error surfaces and the next call opens it again', async () => {
    const failing = counting(100, 50);
    const windows = new StreamWindows<number>();
    await expect(windows.window('k', failing.stream, 40, 20)).rejects.toThrow('cut');
    const healthy = counting(100);
    expect((await windows.window('k', healthy.stream, 40, 20)).items[0]).toBe(40);
  });

  it('when more lists are open than allowed, then the oldest is dropped and its stream closed', async () => {
    const windows = new StreamWindows<number>({ maxLists: 2 });
    const sources = [counting(10_000), counting(10_000), counting(10_000)];
    for (const [i, source] of sources.entries()) {
      await windows.window(`k${i}`, source.stream, 0, 1);
    }
    await new Promise(resolvePromise => setTimeout(resolvePromise, 0));
    expect(sources.map(s => s.closed())).toEqual([true, false, false]);
  });

  it('when a sorted window is asked for, then the whole list is read, keyed once a row, sorted once, and served with its length', async () => {
    const source = counting(1000);
    const windows = new StreamWindows<number>();
    const open = source.open;
    const descending = spiedSort();
    const tooLong = (): Error => new Error('too long');
    const first = await windows.sortedWindow('k', open, 0, 3, descending, 5000, tooLong);
    expect(first).toEqual({
      items: [999, 998, 997],
      offset: 0,
      limit: 3,
      total: 1000,
      complete: true
    });
    expect(source.read()).toBe(1000);
    // One key a row, however many comparisons: no comparison builds a key of its own.
    expect(descending.keyed()).toBe(1000);
    expect(descending.compared()).toBeGreaterThanOrEqual(999);
    const comparisons = descending.compared();
    const last = await windows.sortedWindow('k', open, 998, 10, descending, 5000, tooLong);
    expect(last.items).toEqual([1, 0]);
    expect(descending.compared()).toBe(comparisons);
    expect(descending.keyed()).toBe(1000);
    // Rucio's order comes from the same read.
    expect((await windows.window('k', open, 10, 2)).items).toEqual([10, 11]);
    expect(source.opened()).toBe(1);
  });

  it('when a list is longer than the sorting limit, then the sorted window fails with the given error and reads no further', async () => {
    const source = counting(1_000_000);
    const windows = new StreamWindows<number>();
    await expect(
      windows.sortedWindow(
        'k',
        source.stream,
        0,
        10,
        ascending,
        2000,
        () => new Error('too long to sort')
      )
    ).rejects.toThrow('too long to sort');
    expect(source.read()).toBeLessThan(3000);
  });

  it('when a long list is sorted, then the event loop gets turns before the sort ends', async () => {
    const source = counting(50_000);
    const windows = new StreamWindows<number>();
    await windows.window('k', source.open, 49_999, 1);
    let turns = 0;
    let sorting = true;
    const spin = (): void => {
      if (sorting) {
        turns++;
        setImmediate(spin);
      }
    };
    setImmediate(spin);
    const sorted = await windows.sortedWindow(
      'k',
      source.open,
      0,
      50_000,
      spiedSort(),
      60_000,
      tooLong
    );
    sorting = false;
    expect(turns).toBeGreaterThan(0);
    expect(sorted.items).toEqual(Array.from({ length: 50_000 }, (_, i) => 49_999 - i));
  });

  it('when sorted lists take more than the byte budget, then the least recently used are dropped', async () => {
    // 40 rows of 100 bytes and a sorted copy (8 bytes a row): 4,320 bytes a list; two fit in 10,000.
    const windows = new StreamWindows<number>({ maxSortedBytes: 10_000, rowBytes: () => 100 });
    const [a, b, c] = [counting(40), counting(40), counting(40)] as const;
    const sorted = (key: string, source: ReturnType<typeof counting>) =>
      windows.sortedWindow(key, source.open, 0, 5, ascending, 1000, tooLong);
    await sorted('a', a);
    await sorted('b', b);
    await sorted('a', a);
    expect((await sorted('c', c)).items).toEqual([0, 1, 2, 3, 4]);
    await sorted('a', a);
    await sorted('c', c);
    expect([a.opened(), c.opened()]).toEqual([1, 1]);
    await sorted('b', b);
    expect(b.opened()).toBe(2);
  });

  it('when one sorted list is larger than the byte budget, then it is served but not kept, and the others stay', async () => {
    const windows = new StreamWindows<number>({ maxSortedBytes: 10_000, rowBytes: () => 100 });
    const small = counting(40);
    const large = counting(200);
    await windows.sortedWindow('small', small.open, 0, 5, ascending, 1000, tooLong);
    const first = await windows.sortedWindow(
      'large',
      large.open,
      195,
      10,
      ascending,
      1000,
      tooLong
    );
    expect(first).toEqual({
      items: [195, 196, 197, 198, 199],
      offset: 195,
      limit: 10,
      total: 200,
      complete: true
    });
    await windows.sortedWindow('large', large.open, 0, 10, ascending, 1000, tooLong);
    expect(large.opened()).toBe(2);
    await windows.sortedWindow('small', small.open, 0, 5, ascending, 1000, tooLong);
    expect(small.opened()).toBe(1);
  });

  it('when a window starts past the length Rucio counted, then it is empty with that total and the stream is not read', async () => {
    const source = counting(100_000);
    const windows = new StreamWindows<number>();
    expect(await windows.window('k', source.open, 5_000_000, 100, 100_000)).toEqual({
      items: [],
      offset: 5_000_000,
      limit: 100,
      total: 100_000,
      complete: false
    });
    expect(source.opened()).toBe(0);
    await windows.window('k', source.open, 0, 100, 100_000);
    const past = await windows.window('k', source.open, 100_000, 100, 100_000);
    expect(past).toMatchObject({ items: [], total: 100_000, complete: false });
    expect(source.read()).toBeLessThanOrEqual(600);
    expect(source.opened()).toBe(1);
  });

  it('when a list read to its end is longer than Rucio counted, then its windows and length are the rows read', async () => {
    const source = counting(80);
    const windows = new StreamWindows<number>();
    await windows.window('k', source.open, 0, 100);
    const window = await windows.window('k', source.open, 60, 10, 50);
    expect(window).toMatchObject({ total: 80, complete: true });
    expect(window.items).toEqual([60, 61, 62, 63, 64, 65, 66, 67, 68, 69]);
  });

  it('when a sorted window starts past the end, then the list held is used, or, not held, the count Rucio gave', async () => {
    const source = counting(1000);
    const windows = new StreamWindows<number>();
    const descending = spiedSort();
    await windows.sortedWindow('k', source.open, 0, 10, descending, 5000, tooLong);
    expect(
      await windows.sortedWindow('k', source.open, 1_000_000, 10, descending, 5000, tooLong)
    ).toEqual({
      items: [],
      offset: 1_000_000,
      limit: 10,
      total: 1000,
      complete: true
    });
    expect([source.opened(), descending.keyed()]).toEqual([1, 1000]);
    const other = counting(1000);
    expect(
      await windows.sortedWindow('other', other.open, 1000, 10, descending, 5000, tooLong, 1000)
    ).toMatchObject({ items: [], total: 1000, complete: false });
    expect(other.opened()).toBe(0);
    await expect(
      windows.sortedWindow('longer', other.open, 0, 10, descending, 5000, tooLong, 6000)
    ).rejects.toThrow('too long to sort');
    expect(other.opened()).toBe(0);
  });
});
