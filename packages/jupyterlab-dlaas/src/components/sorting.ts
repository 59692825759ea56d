import { useEffect, useMemo } from 'react';
import type { IWindowedList } from '../hooks';
import type { IDidRow } from './DidList';

/** How a list is ordered: as Rucio streams it, or by name or size. */
export type SortOrder = 'rucio' | 'name' | 'size';

/** The longest list sorted in the browser; longer ones keep Rucio's order. */
export const MAX_SORTED = 10_000;

/** Whether `list` can be sorted: it is complete and short enough to hold whole. */
export function canSort(list: IWindowedList<IDidRow>): boolean {
  return list.total !== null && list.total <= MAX_SORTED;
}

/**
 * `list` in the order asked for. Sorting needs every row, so the remaining windows are fetched
 * first; until they are all there, and for lists over {@link MAX_SORTED} rows, Rucio's order is
 * kept.
 */
export function useSortedList(
  list: IWindowedList<IDidRow>,
  order: SortOrder
): IWindowedList<IDidRow> & { sorting: boolean } {
  const sortable = order !== 'rucio' && canSort(list);
  const total = list.total ?? 0;
  const { show } = list;
  useEffect(() => {
    if (sortable && total > 0) {
      show(0, total - 1);
    }
  }, [sortable, total, show]);
  const rows: IDidRow[] = [];
  for (let i = 0; sortable && i < total; i++) {
    const row = list.item(i);
    if (!row) {
      break;
    }
    rows.push(row);
  }
  const ready = sortable && rows.length === total;
  const signature = ready ? `${order}:${total}:${rows[0]?.name}:${rows[total - 1]?.name}` : '';
  const sorted = useMemo(
    () => (ready ? sortRows(rows, order) : null),
    // The rows are the same while their windows are: the signature names them.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [signature]
  );
  if (!sorted) {
    return { ...list, sorting: sortable };
  }
  return { ...list, item: index => sorted[index], show: () => undefined, sorting: false };
}

/** Rows by name (natural order: `f2` before `f10`) or by size, largest first. */
export function sortRows(rows: IDidRow[], order: SortOrder): IDidRow[] {
  const byName = new Intl.Collator(undefined, { numeric: true }).compare;
  const copy = [...rows];
  if (order === 'name') {
    copy.sort((a, b) => byName(`${a.scope}:${a.name}`, `${b.scope}:${b.name}`));
  } else if (order === 'size') {
    copy.sort((a, b) => (b.bytes ?? -1) - (a.bytes ?? -1) || byName(a.name, b.name));
  }
  return copy;
}
