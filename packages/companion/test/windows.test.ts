import { describe, expect, it } from 'vitest';
import { StreamWindows } from '../src/domain/windows.js';

/** A stream of `count` numbers that records how far it was read. */
function counting(
  count: number,
  failAt?: number
): { stream: () => AsyncGenerator<number>; read: () => number; closed: () => boolean } {
  let read = 0;
  let closed = false;
  return {
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
    read: () => read,
    closed: () => closed
  };
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

  it('when later windows are asked for, then the stream is opened once and read on', async () => {
    let opened = 0;
    const source = counting(1000);
    const windows = new StreamWindows<number>();
    const open = (): AsyncGenerator<number> => {
      opened++;
      return source.stream();
    };
    await windows.window('k', open, 0, 10);
    const last = await windows.window('k', open, 990, 50);
    expect(opened).toBe(1);
    expect(last.items).toEqual(Array.from({ length: 10 }, (_, i) => 990 + i));
    expect(last).toMatchObject({ complete: true, total: 1000 });
  });

  it('when concurrent windows ask for the same list, then they share one read', async () => {
    let opened = 0;
    const source = counting(5000);
    const windows = new StreamWindows<number>();
    const open = (): AsyncGenerator<number> => {
      opened++;
      return source.stream();
    };
    const results = await Promise.all([
      windows.window('k', open, 0, 100),
      windows.window('k', open, 2000, 100),
      windows.window('k', open, 4950, 100)
    ]);
    expect(opened).toBe(1);
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
});
