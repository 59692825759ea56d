import { describe, expect, it } from 'vitest';
import { StreamWindows } from '../src/domain/windows.js';

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

  it('when a sorted window is asked for, then the whole list is read, sorted once, and served with its length', async () => {
    const source = counting(1000);
    const windows = new StreamWindows<number>();
    const open = source.open;
    let compared = 0;
    const descending = {
      name: 'desc',
      compare: (a: number, b: number) => {
        compared++;
        return b - a;
      }
    };
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
    const comparisons = compared;
    const last = await windows.sortedWindow('k', open, 998, 10, descending, 5000, tooLong);
    expect(last.items).toEqual([1, 0]);
    expect(compared).toBe(comparisons);
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
        { name: 'asc', compare: (a, b) => a - b },
        2000,
        () => new Error('too long to sort')
      )
    ).rejects.toThrow('too long to sort');
    expect(source.read()).toBeLessThan(3000);
  });
});
