import { fileIcon, folderIcon } from '@jupyterlab/ui-components';
import { useVirtualizer } from '@tanstack/react-virtual';
import React, { useEffect, useRef, useState } from 'react';
import { useDataLake } from '../context';
import { formatBytes, formatCount } from '../format';
import type { IWindowedList } from '../hooks';
import { datasetIcon } from '../icons';

/** One row of a DID list: a DID of any type, or a file of a collection. */
export interface IDidRow {
  scope: string;
  name: string;
  /** `FILE` for the rows of a file list. */
  type: 'CONTAINER' | 'DATASET' | 'FILE';
  bytes: number | null;
  /** Files below a collection, when known. */
  length?: number | null;
}

/** Height of a row, in pixels (also in `style/base.css`). */
const ROW_HEIGHT = 26;

/**
 * Rows beyond those drawn, on both sides, whose windows are fetched ahead: scrolling reaches
 * the next window's rows after it has arrived, not while it is on its way.
 */
const PREFETCH_ROWS = 100;

/** Props of {@link DidList}. */
export interface IDidListProps {
  /** The list's accessible name, e.g. "Search results". */
  label: string;
  list: IWindowedList<IDidRow>;
  /** Index of the selected row. */
  selected: number | null;
  onSelect(index: number, row: IDidRow): void;
  /** Opens a container or dataset (double click, Enter). */
  onOpen(row: IDidRow): void;
  /** Whether to show names relative to the scope (inside a collection the scope is known). */
  showScope: boolean;
}

/**
 * A keyboard-navigable, virtualized list of DIDs: only the rows in view exist in the page, and
 * the windows they need are fetched as the user scrolls, so 100,000 rows scroll smoothly.
 */
export function DidList(props: IDidListProps): JSX.Element {
  const { trans } = useDataLake();
  const { list, selected } = props;
  const scroller = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: list.count,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 20,
    initialRect: { width: 300, height: 20 * ROW_HEIGHT }
  });
  const rows = virtualizer.getVirtualItems();
  const first = rows[0]?.index ?? 0;
  const last = rows[rows.length - 1]?.index ?? 0;
  const { show, count } = list;
  useEffect(() => {
    show(Math.max(0, first - PREFETCH_ROWS), Math.min(count - 1, last + PREFETCH_ROWS));
  }, [show, first, last, count]);

  // A row reached by the keyboard may not have arrived yet: it is selected once its window has.
  const [pending, setPending] = useState<number | null>(null);
  const pendingRow = pending === null ? undefined : list.item(pending);
  const { onSelect } = props;
  useEffect(() => {
    if (pending !== null && pendingRow) {
      setPending(null);
      onSelect(pending, pendingRow);
    }
  }, [pending, pendingRow, onSelect]);
  const move = (index: number): void => {
    const target = Math.max(0, Math.min(list.count - 1, index));
    show(target, target);
    virtualizer.scrollToIndex(target);
    setPending(target);
  };

  // End before the list's length is known (a dataset's files are counted while its first rows
  // show) goes to the last row known so far, and on to the real last row once it is known.
  const [toEnd, setToEnd] = useState(false);
  const { total } = list;
  useEffect(() => {
    if (toEnd && total !== null) {
      setToEnd(false);
      const target = Math.max(0, total - 1);
      show(target, target);
      virtualizer.scrollToIndex(target);
      setPending(target);
    }
  }, [toEnd, total, show, virtualizer]);
  const onKeyDown = (event: React.KeyboardEvent): void => {
    const current = selected ?? -1;
    const page = Math.max(1, Math.floor((scroller.current?.clientHeight ?? 260) / ROW_HEIGHT) - 1);
    const moves: Record<string, number> = {
      ArrowDown: current + 1,
      ArrowUp: current - 1,
      PageDown: current + page,
      PageUp: current - page,
      Home: 0,
      End: list.count - 1
    };
    const target = moves[event.key];
    if (target !== undefined) {
      event.preventDefault();
      setToEnd(event.key === 'End' && list.total === null && !list.complete);
      move(target);
    } else if (event.key === 'Enter' && selected !== null) {
      const row = list.item(selected);
      if (row && row.type !== 'FILE') {
        event.preventDefault();
        props.onOpen(row);
      }
    }
  };

  return (
    <div
      ref={scroller}
      className="jp-DataLake-list"
      role="listbox"
      aria-label={props.label}
      tabIndex={0}
      aria-activedescendant={selected === null ? undefined : Private.rowId(props.label, selected)}
      onKeyDown={onKeyDown}
    >
      <div className="jp-DataLake-listSpacer" style={{ height: virtualizer.getTotalSize() }}>
        {rows.map(virtual => {
          const row = list.item(virtual.index);
          const style = { transform: `translateY(${virtual.start}px)`, height: ROW_HEIGHT };
          if (!row) {
            return (
              <div
                key={virtual.key}
                className="jp-DataLake-row jp-mod-loading"
                style={style}
                role="option"
                aria-selected={false}
                aria-setsize={list.total ?? -1}
                aria-posinset={virtual.index + 1}
              >
                {trans.__('Loading…')}
              </div>
            );
          }
          const isSelected = virtual.index === selected;
          const name = props.showScope ? `${row.scope}:${row.name}` : row.name;
          const icon =
            row.type === 'CONTAINER' ? folderIcon : row.type === 'DATASET' ? datasetIcon : fileIcon;
          const size =
            (row.type !== 'FILE' && row.length !== null && row.length !== undefined
              ? trans._n('%2 file', '%2 files', row.length, formatCount(row.length)) + ' · '
              : '') + formatBytes(row.bytes);
          return (
            <div
              key={virtual.key}
              id={Private.rowId(props.label, virtual.index)}
              className={`jp-DataLake-row${isSelected ? ' jp-mod-selected' : ''}`}
              style={style}
              role="option"
              aria-selected={isSelected}
              aria-setsize={list.total ?? -1}
              aria-posinset={virtual.index + 1}
              // The name in one piece (it is drawn in two, see below), then its size.
              aria-label={`${name} ${size}`}
              title={`${row.scope}:${row.name}`}
              onClick={() => {
                setToEnd(false);
                props.onSelect(virtual.index, row);
              }}
              onDoubleClick={() => row.type !== 'FILE' && props.onOpen(row)}
            >
              <icon.react className="jp-DataLake-rowIcon" tag="span" />
              <span className="jp-DataLake-rowName">
                <span className="jp-DataLake-rowHead">{Private.head(name)}</span>
                <span
                  className={`jp-DataLake-rowTail${Private.tailEnd(name) ? ' jp-mod-split' : ''}`}
                >
                  {Private.tailStart(name)}
                </span>
                <span className="jp-DataLake-rowEnd">{Private.tailEnd(name)}</span>
              </span>
              <span className="jp-DataLake-rowSize">{size}</span>
            </div>
          );
        })}
      </div>
    </div>
  );
}

namespace Private {
  /**
   * Where a shown name splits into what may be cut first (scope and folders, up to the last `/`)
   * and its last part; a name without folders is one piece, cut at its end as usual.
   */
  function split(name: string): number {
    return name.lastIndexOf('/') + 1;
  }

  /** The scope and folders of a shown name, with the trailing `/`; empty without folders. */
  export function head(name: string): string {
    return name.slice(0, split(name));
  }

  /**
   * The last part of a shown name (the file or collection name itself) is drawn in two when it is
   * long and ends in a numbered token, as run and subband files do: that end always shows, so that
   * such names stay apart when their start is cut ("L600…SB017_uv.MS.tar"). Other names are cut
   * at their end, as usual.
   */
  function endLength(tail: string): number {
    if (tail.length <= 20) {
      return 0;
    }
    const numbered = /[A-Za-z]*\d+\D*$/.exec(tail)?.[0].length ?? 0;
    return numbered <= 18 && numbered <= tail.length - 6 ? numbered : 0;
  }

  /** The last part of a shown name without its end. */
  export function tailStart(name: string): string {
    const tail = name.slice(split(name));
    return tail.slice(0, tail.length - endLength(tail));
  }

  /** The end of the last part of a shown name, which is never cut. */
  export function tailEnd(name: string): string {
    const tail = name.slice(split(name));
    return tail.slice(tail.length - endLength(tail));
  }

  export function rowId(label: string, index: number): string {
    return `jp-DataLake-row-${label.replace(/[^A-Za-z0-9]/g, '')}-${index}`;
  }
}
