import type { Window } from '@dlaas/api';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { act, renderHook, waitFor } from '@testing-library/react';
import React from 'react';
import { describe, expect, it } from 'vitest';
import { useWindowedList, WINDOW_SIZE } from '../src/hooks';

/** Windows of a list of `length` numbers; `total` as the companion tells it before the end is read. */
function numbers(total: number | null, length: number) {
  const asked: number[] = [];
  const fetchWindow = async (offset: number, limit: number): Promise<Window<number>> => {
    asked.push(offset / WINDOW_SIZE);
    const items = Array.from(
      { length: Math.max(0, Math.min(limit, length - offset)) },
      (_, i) => offset + i
    );
    // As the companion does: a window that reaches the end of the stream carries the length.
    const complete = offset + items.length >= length;
    return { items, offset, limit, total: complete ? length : total, complete };
  };
  return { asked, fetchWindow };
}

function render(fetchWindow: (offset: number, limit: number) => Promise<Window<number>>) {
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  const hook = renderHook(() => useWindowedList(['numbers'], fetchWindow), {
    wrapper: ({ children }) => (
      <QueryClientProvider client={queryClient}>{children}</QueryClientProvider>
    )
  });
  const active = (): number =>
    queryClient
      .getQueryCache()
      .findAll({ queryKey: ['numbers'] })
      .filter(query => query.getObserversCount() > 0).length;
  return { ...hook, active };
}

describe('windowed lists', () => {
  it('when the view scrolls through 100,000 rows, then only the windows near it (and the first) stay in use', async () => {
    const { fetchWindow, asked } = numbers(100_000, 100_000);
    const { result, active } = render(fetchWindow);
    await waitFor(() => expect(result.current.count).toBe(100_000));
    for (let row = 0; row < 100_000; row += 2_000) {
      act(() => result.current.show(row, row + 20));
      await waitFor(() => expect(result.current.item(row)).toBe(row));
      expect(active()).toBeLessThanOrEqual(1 + 2 * 5 + 1);
    }
    act(() => result.current.show(99_990, 99_999));
    await waitFor(() => expect(result.current.item(99_990)).toBe(99_990));
    expect(result.current.item(0)).toBe(0);
    // Far windows were let go: a row passed long ago is not held any more.
    expect(result.current.item(50_000)).toBeUndefined();
    expect(new Set(asked).size).toBe(asked.length);
  });

  it('when a list of unknown length is scrolled to its end and back, then its count stays', async () => {
    const { fetchWindow } = numbers(null, 5_000);
    const { result } = render(fetchWindow);
    await waitFor(() => expect(result.current.count).toBe(WINDOW_SIZE + 1));
    act(() => result.current.show(4_990, 4_999));
    await waitFor(() => expect(result.current.count).toBe(5_000));
    expect(result.current.complete).toBe(true);
    act(() => result.current.show(0, 20));
    await waitFor(() => expect(result.current.item(4_990)).toBeUndefined());
    expect(result.current.count).toBe(5_000);
    expect(result.current.total).toBe(5_000);
  });
});
