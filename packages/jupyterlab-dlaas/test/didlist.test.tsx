import { screen, within } from '@testing-library/react';
import React from 'react';
import { describe, expect, it } from 'vitest';
import { DidList, type IDidRow } from '../src/components/DidList';
import type { IWindowedList } from '../src/hooks';
import { testContext } from './harness';

function listOf(rows: IDidRow[]): IWindowedList<IDidRow> {
  return {
    count: rows.length,
    total: rows.length,
    complete: true,
    item: index => rows[index],
    show: () => undefined,
    error: null,
    retrying: false,
    retry: () => undefined,
    isLoading: false
  };
}

describe('DID list rows', () => {
  it('when names are long, then folders are drawn apart from the name, and a numbered end apart from its start, while the row is named in one piece', () => {
    const rows: IDidRow[] = [
      {
        scope: 'lofar',
        name: 'L600000/SAP000/L600000_SAP000_SB012_uv.MS.tar',
        type: 'FILE',
        bytes: 2048
      },
      { scope: 'cta', name: 'prod5.gamma_onSource', type: 'DATASET', bytes: 825_000, length: 6 }
    ];
    testContext({}).render(
      <DidList
        label="Search results"
        list={listOf(rows)}
        selected={null}
        onSelect={() => undefined}
        onOpen={() => undefined}
        showScope={true}
      />
    );
    const [file, dataset] = screen.getAllByRole('option');
    const parts = (row: HTMLElement | undefined): (string | null)[] =>
      ['rowHead', 'rowTail', 'rowEnd'].map(
        part => row?.querySelector(`.jp-DataLake-${part}`)?.textContent ?? null
      );
    expect(parts(file)).toEqual(['lofar:L600000/SAP000/', 'L600000_SAP000_', 'SB012_uv.MS.tar']);
    expect(file?.getAttribute('aria-label')).toBe(
      'lofar:L600000/SAP000/L600000_SAP000_SB012_uv.MS.tar 2.0 KiB'
    );
    // No folders, and no numbered end: one piece, cut at its end by the browser.
    expect(parts(dataset)).toEqual(['', 'cta:prod5.gamma_onSource', '']);
    expect(within(dataset as HTMLElement).getByText('6 files · 806 KiB')).toBeTruthy();
  });
});
