import type { Did, Window } from '@dlaas/api';
import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import React from 'react';
import { describe, expect, it } from 'vitest';
import { DataLakeView } from '../src/components/DataLakeView';
import { formatCount } from '../src/format';
import { WINDOW_SIZE } from '../src/hooks';
import { availability, testContext, type ICall, type Routes } from './harness';

const INSTANCE = {
  name: 'lake',
  displayName: 'The lake',
  authMethod: 'userpass',
  scratchRse: 'SCRATCH',
  isDefault: true
};

const signedIn: Routes = {
  'GET api/instances': { instances: [INSTANCE] },
  'GET api/instances/lake/auth': {
    instance: 'lake',
    method: 'userpass',
    signedIn: true,
    account: 'alice'
  },
  'GET api/instances/lake/scopes': { scopes: ['lofar', 'user.alice'] }
};

function window<T>(items: T[], offset: number, limit: number, total: number | null): Window<T> {
  return {
    items,
    offset,
    limit,
    total,
    complete: total !== null && offset + items.length >= total
  };
}

/**
 * The companion's `files` of a dataset of `total` files named `file_N`, whose answers carry the
 * count once `counted` says so (the companion counts while it serves the first windows).
 */
function manyFiles(total: number, counted = (): boolean => true): (call: ICall) => Window<unknown> {
  return call => {
    const offset = Number(call.query.get('offset'));
    const limit = Number(call.query.get('limit'));
    const items = Array.from({ length: limit }, (_, i) => ({
      scope: 'lofar',
      name: `file_${offset + i}`,
      bytes: 10,
      adler32: null
    }));
    return window(items, offset, limit, counted() ? total : null);
  };
}

/**
 * The panel with one dataset, `lofar:big0`, whose files `files` answers, opened: answers the
 * test context and the dataset's list.
 */
async function openBigDataset(files: Routes[string]) {
  const lake = testContext({
    ...signedIn,
    'POST api/instances/lake/search': searchAnswering(dids('big', 1), 1),
    'GET api/instances/lake/files': files,
    'GET api/instances/lake/did': details('big0'),
    'GET api/instances/lake/availability': availability({ did: 'lofar:big0' })
  });
  lake.render(<DataLakeView searchDelay={10} />);
  await userEvent.type(await screen.findByRole('searchbox'), 'lofar:big*');
  await userEvent.dblClick(await screen.findByRole('option', { name: /^lofar:big0/ }));
  const list = await screen.findByRole('listbox', { name: 'Contents of lofar:big0' });
  return { lake, list };
}

function dids(prefix: string, n: number, type: Did['type'] = 'DATASET'): Did[] {
  return Array.from({ length: n }, (_, i) => ({
    scope: 'lofar',
    name: `${prefix}${i}`,
    type,
    bytes: 1024 * (i + 1),
    length: 3
  }));
}

/** A search route answering `rows`, `total` of them in all (null: not counted yet). */
function searchAnswering(rows: Did[], total: number | null) {
  return (call: ICall) => {
    const body = call.body as { offset: number; limit: number };
    return window(rows, body.offset, body.limit, total);
  };
}

const STUCK_L0 = {
  did: 'lofar:L0',
  state: 'STUCK',
  ruleId: 'rule-7',
  files: { ok: 1, replicating: 0, stuck: 1, total: 2 },
  error: 'TRANSFER_FAILED: destination unreachable'
} as const;

const details = (name: string, type: Did['type'] = 'DATASET') => ({
  did: { scope: 'lofar', name, type, bytes: 2048, length: 2 },
  metadata: { run_number: 700000, datatype: 'uv' },
  replicas: [{ rse: 'CERN_DATADISK', files: 2, bytes: 2048, availableFiles: 2 }],
  rules: []
});

describe('the Data Lake panel', () => {
  it('when no data lake is configured, then the panel says how to configure one', async () => {
    const lake = testContext({
      'GET api/instances': {
        instances: [],
        message: 'No data lake is configured. Set DLAAS_CONFIG.'
      }
    });
    lake.render(<DataLakeView />);
    expect(await screen.findByRole('status')).toHaveProperty(
      'textContent',
      'No data lake is configured. Set DLAAS_CONFIG.'
    );
  });

  it('when alice types a pattern, then one search is sent after she stops typing and its results show with their count', async () => {
    const lake = testContext({
      ...signedIn,
      'POST api/instances/lake/search': call => {
        const body = call.body as { offset: number; limit: number };
        return window(dids('L', 3), body.offset, body.limit, null);
      }
    });
    lake.render(<DataLakeView searchDelay={50} />);
    await userEvent.type(
      await screen.findByRole('searchbox', { name: 'Search the data lake' }),
      'lofar:L*'
    );
    const list = await screen.findByRole('listbox', { name: 'Search results' });
    await waitFor(() => expect(within(list).getAllByRole('option')).toHaveLength(3));
    expect(within(list).getAllByRole('option')[0]?.textContent).toContain('lofar:L0');
    expect(screen.getByText('3 items')).toBeTruthy();
    const searches = lake.calls.filter(c => c.path === 'api/instances/lake/search');
    expect(searches.map(c => (c.body as { did: string }).did)).toEqual(['lofar:L*']);
  });

  it('when a scope, a type and a metadata condition are picked, then the search carries them', async () => {
    const lake = testContext({
      ...signedIn,
      'POST api/instances/lake/search': call => {
        const body = call.body as { offset: number; limit: number };
        return window([], body.offset, body.limit, 0);
      }
    });
    lake.render(<DataLakeView searchDelay={10} />);
    await waitFor(() =>
      expect(
        screen.getByRole('combobox', { name: 'Scope' }).querySelectorAll('option')
      ).toHaveLength(3)
    );
    await userEvent.selectOptions(screen.getByRole('combobox', { name: 'Scope' }), 'user.alice');
    await userEvent.selectOptions(screen.getByRole('combobox', { name: 'Type' }), 'dataset');
    await userEvent.click(screen.getByRole('button', { name: /Metadata filters/ }));
    await userEvent.click(screen.getByRole('button', { name: 'Add condition' }));
    await userEvent.type(screen.getByRole('textbox', { name: 'Key' }), 'run_number');
    await userEvent.selectOptions(screen.getByRole('combobox', { name: 'Operator' }), '>=');
    await userEvent.type(screen.getByRole('textbox', { name: 'Value' }), '7');
    await waitFor(() => {
      const last = lake.calls.filter(c => c.path === 'api/instances/lake/search').at(-1);
      expect(last?.body).toMatchObject({
        did: 'user.alice:*',
        type: 'dataset',
        filters: [[{ key: 'run_number', operator: '>=', value: 7 }]]
      });
    });
    expect(await screen.findByText('0 items')).toBeTruthy();
  });

  it('when a dataset of 100,000 files is opened, then only the windows in view are fetched and the breadcrumbs lead back', async () => {
    const total = 100_000;
    const { lake, list } = await openBigDataset(manyFiles(total));
    await waitFor(() =>
      expect(within(list).getAllByRole('option')[0]?.textContent).toContain('file_0')
    );
    expect(screen.getByText(`${formatCount(100_000)} items`)).toBeTruthy();
    const rendered = within(list).getAllByRole('option').length;
    expect(rendered).toBeLessThan(100);
    const fileCalls = (): ICall[] => lake.calls.filter(c => c.path === 'api/instances/lake/files');
    expect(fileCalls().map(c => c.query.get('offset'))).toEqual(['0']);

    // Keyboard: End jumps to the last row, whose window is then fetched.
    list.focus();
    await userEvent.keyboard('{ArrowDown}');
    await userEvent.keyboard('{End}');
    await waitFor(() => expect(fileCalls().map(c => c.query.get('offset'))).toContain('99800'));
    expect(fileCalls().length).toBeLessThan(5);

    // Details are asked for the row the keyboard stopped on, not for the dataset whose first
    // click of the double-click selected it, nor for the rows passed over.
    const detailCalls = (): (string | null)[] =>
      lake.calls.filter(c => c.path === 'api/instances/lake/did').map(c => c.query.get('did'));
    await screen.findByRole('heading', { name: 'lofar:file_99999' });
    await waitFor(() => expect(detailCalls()).toEqual(['lofar:file_99999']));

    const nav = screen.getByRole('navigation', { name: 'Location' });
    await userEvent.click(within(nav).getByRole('button', { name: 'Search results' }));
    expect(await screen.findByRole('listbox', { name: 'Search results' })).toBeTruthy();
  });

  it('when End is pressed before the companion has counted the files, then it goes to the last row known and, once they are counted, to the last file', async () => {
    const total = 1_000;
    let counted = false;
    const { lake, list } = await openBigDataset(manyFiles(total, () => counted));
    await waitFor(() =>
      expect(within(list).getAllByRole('option')[0]?.textContent).toContain('file_0')
    );
    list.focus();
    await userEvent.keyboard('{ArrowDown}');
    await userEvent.keyboard('{End}');
    await waitFor(() =>
      expect(list.getAttribute('aria-activedescendant')).toMatch(new RegExp(`-${WINDOW_SIZE}$`))
    );
    expect(screen.getByText(/items so far, more as you scroll/)).toBeTruthy();

    // The panel asks again for a window without the length, and gets it once counted.
    counted = true;
    expect(
      await screen.findByText(`${formatCount(total)} items`, {}, { timeout: 3000 })
    ).toBeTruthy();
    await waitFor(() =>
      expect(list.getAttribute('aria-activedescendant')).toMatch(new RegExp(`-${total - 1}$`))
    );
    expect(
      lake.calls.filter(c => c.path === 'api/instances/lake/files').map(c => c.query.get('offset'))
    ).toContain(String(total - WINDOW_SIZE));
  });

  it('when a dataset is sorted by size, then the companion sorts it, the count says what is sorted meanwhile, and a list too long to sort says so', async () => {
    const total = 1_000;
    const unsorted = manyFiles(total);
    let release: () => void = () => undefined;
    const { lake, list } = await openBigDataset(async call => {
      const sort = call.query.get('sort');
      if (sort === null) {
        return unsorted(call);
      }
      if (sort === 'name') {
        return {
          status: 422,
          body: {
            error: {
              code: 'too_large',
              message: 'This list has more than 500,000 items, too many to sort.'
            }
          }
        };
      }
      await new Promise<void>(resolve => (release = resolve));
      const offset = Number(call.query.get('offset'));
      const limit = Number(call.query.get('limit'));
      const items = Array.from({ length: limit }, (_, i) => ({
        scope: 'lofar',
        name: `largest_${offset + i}`,
        bytes: total - offset - i,
        adler32: null
      }));
      return window(items, offset, limit, total);
    });
    await waitFor(() =>
      expect(within(list).getAllByRole('option')[0]?.textContent).toContain('file_0')
    );

    await userEvent.selectOptions(screen.getByRole('combobox', { name: 'Sort' }), 'size');
    expect(await screen.findByText(`Sorting ${formatCount(total)} items…`)).toBeTruthy();
    const sortedCall = lake.calls.find(c => c.query.get('sort') === 'size');
    expect(sortedCall?.query.get('offset')).toBe('0');
    act(() => release());
    await waitFor(() =>
      expect(within(list).getAllByRole('option')[0]?.textContent).toContain('largest_0')
    );
    expect(screen.getByText(`${formatCount(total)} items`)).toBeTruthy();

    await userEvent.selectOptions(screen.getByRole('combobox', { name: 'Sort' }), 'name');
    expect(
      await screen.findByText('This list has more than 500,000 items, too many to sort.')
    ).toBeTruthy();
    await userEvent.selectOptions(screen.getByRole('combobox', { name: 'Sort' }), 'rucio');
    await waitFor(() =>
      expect(within(list).getAllByRole('option')[0]?.textContent).toContain('file_0')
    );
  });

  it('when alice makes a dataset available, then the progress bar follows the pushed events to done and the paths can be used', async () => {
    let created = 0;
    const lake = testContext({
      ...signedIn,
      'POST api/instances/lake/search': searchAnswering(dids('L', 1), 1),
      'GET api/instances/lake/did': details('L0'),
      'GET api/instances/lake/availability': availability({ did: 'lofar:L0' }),
      'POST api/instances/lake/make-available': () => {
        created++;
        return {
          created: true,
          availability: availability({
            did: 'lofar:L0',
            state: 'REPLICATING',
            files: { ok: 0, replicating: 2, stuck: 0, total: 2 },
            totalBytes: 2048
          })
        };
      },
      'GET api/instances/lake/paths': call =>
        window(
          [
            { scope: 'lofar', name: 'a', path: '/home/u/datalake/lofar/1a/a', bytes: 1 },
            { scope: 'lofar', name: 'b', path: '/home/u/datalake/lofar/2b/b', bytes: 1 }
          ],
          Number(call.query.get('offset')),
          Number(call.query.get('limit')),
          2
        )
    });
    lake.render(<DataLakeView searchDelay={10} />);
    await userEvent.type(await screen.findByRole('searchbox'), 'lofar:L*');
    await userEvent.click(await screen.findByRole('option', { name: /^lofar:L0/ }));
    const detailsRegion = await screen.findByRole('region', { name: 'Details' });
    await userEvent.click(
      await within(detailsRegion).findByRole('button', { name: 'Make available' })
    );
    const bar = await screen.findByRole('progressbar', { name: 'Replication progress' });
    expect(bar.getAttribute('value')).toBe('0');
    expect(created).toBe(1);

    await waitFor(() =>
      expect(lake.streams.open.some(s => s.url.includes('did=lofar%3AL0'))).toBe(true)
    );
    act(() =>
      lake.streams.push(
        availability({
          did: 'lofar:L0',
          state: 'REPLICATING',
          files: { ok: 1, replicating: 1, stuck: 0, total: 2 },
          totalBytes: 2048
        })
      )
    );
    await waitFor(() => expect(bar.getAttribute('value')).toBe('1'));
    expect(screen.getByText(/1 of 2 files ready/)).toBeTruthy();
    act(() =>
      lake.streams.push(
        availability({
          did: 'lofar:L0',
          state: 'AVAILABLE',
          files: { ok: 2, replicating: 0, stuck: 0, total: 2 },
          totalBytes: 2048
        })
      )
    );
    await userEvent.click(await screen.findByRole('button', { name: 'Open in file browser' }));
    await userEvent.click(screen.getByRole('button', { name: 'Copy path' }));
    await userEvent.click(screen.getByRole('button', { name: 'Add to notebook' }));
    expect(lake.done).toEqual([
      { action: 'openInFileBrowser', args: ['/home/u/datalake/lofar'] },
      {
        action: 'copyPath',
        args: ['/home/u/datalake/lofar/1a/a\n/home/u/datalake/lofar/2b/b', '2 paths']
      },
      { action: 'addToNotebook', args: ['lake', 'lofar:L0', 'DATASET'] }
    ]);
  });

  it('when search results are sorted by size or name, then the companion is asked for that order and the rows follow it; Rucio’s order comes back', async () => {
    const orders: Record<string, string[]> = {
      rucio: ['f10', 'f2', 'f1'],
      size: ['f10', 'f1', 'f2'],
      name: ['f1', 'f2', 'f10']
    };
    const lake = testContext({
      ...signedIn,
      'POST api/instances/lake/search': call => {
        const body = call.body as { offset: number; limit: number; sort?: string };
        const rows = (orders[body.sort ?? 'rucio'] ?? []).map(name => ({
          scope: 'lofar',
          name,
          type: 'FILE' as const,
          bytes: 5,
          length: 1
        }));
        return window(rows, body.offset, body.limit, 3);
      }
    });
    lake.render(<DataLakeView searchDelay={10} />);
    await userEvent.type(await screen.findByRole('searchbox'), 'lofar:f*');
    const list = await screen.findByRole('listbox', { name: 'Search results' });
    await waitFor(() => expect(within(list).getAllByRole('option')).toHaveLength(3));
    const rowNames = (): string[] =>
      within(list)
        .getAllByRole('option')
        .map(o => o.getAttribute('title') ?? '');
    expect(rowNames()).toEqual(['lofar:f10', 'lofar:f2', 'lofar:f1']);
    for (const order of ['size', 'name', 'rucio']) {
      await userEvent.selectOptions(screen.getByRole('combobox', { name: 'Sort' }), order);
      await waitFor(() => expect(rowNames()).toEqual(orders[order]?.map(n => `lofar:${n}`)));
    }
    const sorts = lake.calls
      .filter(c => c.path === 'api/instances/lake/search')
      .map(c => (c.body as { sort?: string }).sort ?? 'rucio');
    expect(new Set(sorts)).toEqual(new Set(['rucio', 'size', 'name']));
  });

  it('when a rule is stuck and Retry is pressed, then the companion is asked to retry that DID and the panel says Rucio will try again', async () => {
    const lake = testContext({
      ...signedIn,
      'POST api/instances/lake/search': searchAnswering(dids('L', 1), 1),
      'GET api/instances/lake/did': details('L0'),
      'GET api/instances/lake/availability': availability(STUCK_L0),
      'POST api/instances/lake/retry': availability(STUCK_L0)
    });
    lake.render(<DataLakeView searchDelay={10} />);
    await userEvent.type(await screen.findByRole('searchbox'), 'lofar:L*');
    await userEvent.click(await screen.findByRole('option', { name: /^lofar:L0/ }));
    expect((await screen.findByRole('alert')).textContent).toContain(
      'TRANSFER_FAILED: destination unreachable'
    );
    expect(screen.getByText(/the rule id rule-7/)).toBeTruthy();
    const retry = screen.getByRole('button', { name: 'Retry' });
    await userEvent.click(retry);
    expect(
      await screen.findByText('Rucio will try these transfers again in a moment…')
    ).toBeTruthy();
    const asked = lake.calls.filter(c => c.path === 'api/instances/lake/retry');
    expect(asked.map(c => [c.method, c.body])).toEqual([['POST', { did: 'lofar:L0' }]]);
    expect((retry as HTMLButtonElement).disabled).toBe(true);
  });

  it('when a retry is refused by the data lake, then the companion’s sentence shows and Retry stays', async () => {
    const refusal =
      'lake lets only its admins retry a rule, so "lofar:L0" cannot be retried from here.';
    const lake = testContext({
      ...signedIn,
      'POST api/instances/lake/search': searchAnswering(dids('L', 1), 1),
      'GET api/instances/lake/did': details('L0'),
      'GET api/instances/lake/availability': availability(STUCK_L0),
      'POST api/instances/lake/retry': {
        status: 403,
        body: { error: { code: 'forbidden', message: refusal } }
      }
    });
    lake.render(<DataLakeView searchDelay={10} />);
    await userEvent.type(await screen.findByRole('searchbox'), 'lofar:L*');
    await userEvent.click(await screen.findByRole('option', { name: /^lofar:L0/ }));
    await userEvent.click(await screen.findByRole('button', { name: 'Retry' }));
    expect(await screen.findByText(refusal)).toBeTruthy();
    expect((screen.getByRole('button', { name: 'Retry' }) as HTMLButtonElement).disabled).toBe(
      false
    );
  });

  it('when an instance signs in with the device flow and its session expired, then the panel shows the sentence and Sign in, and then the code to enter', async () => {
    let started = false;
    const lake = testContext({
      'GET api/instances': {
        instances: [{ ...INSTANCE, authMethod: 'device' }]
      },
      'GET api/instances/lake/auth': () => ({
        instance: 'lake',
        method: 'device',
        signedIn: false,
        account: null,
        message: 'Your session with The lake has expired: sign in again.',
        ...(started
          ? {
              deviceSignIn: {
                userCode: 'ABCD-EFGH',
                verificationUri: 'https://iam.example/device',
                verificationUriComplete: 'https://iam.example/device?user_code=ABCD-EFGH',
                expiresAt: '2030-01-01T00:00:00Z'
              }
            }
          : {})
      }),
      'POST api/instances/lake/auth/device': () => {
        started = true;
        return {
          userCode: 'ABCD-EFGH',
          verificationUri: 'https://iam.example/device',
          verificationUriComplete: null,
          expiresAt: '2030-01-01T00:00:00Z'
        };
      }
    });
    lake.render(<DataLakeView />);
    expect(await screen.findByText(/sign in again/)).toBeTruthy();
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    const device = await screen.findByText(
      (_, node) => node?.tagName === 'P' && /^Enter the code/.test(node.textContent ?? '')
    );
    expect(device.textContent).toBe(
      'Enter the code ABCD-EFGH at https://iam.example/device. This panel updates once you have signed in.'
    );
    expect(
      screen.getByRole('link', { name: 'https://iam.example/device' }).getAttribute('href')
    ).toBe('https://iam.example/device?user_code=ABCD-EFGH');
    expect(screen.queryByRole('searchbox')).toBeNull();
  });

  it('when a large available dataset is selected, then Rucio’s count shows while its paths are read, and the buttons wait for them', async () => {
    let release: () => void = () => undefined;
    const pathsRead = new Promise<void>(resolvePromise => (release = resolvePromise));
    const lake = testContext({
      ...signedIn,
      'POST api/instances/lake/search': searchAnswering(dids('L', 1), 1),
      'GET api/instances/lake/did': details('L0'),
      'GET api/instances/lake/availability': availability({
        did: 'lofar:L0',
        state: 'AVAILABLE',
        ruleId: 'r',
        files: { ok: 100_000, replicating: 0, stuck: 0, total: 100_000 }
      }),
      'GET api/instances/lake/paths': async call => {
        await pathsRead;
        return window(
          [{ scope: 'lofar', name: 'a', path: '/home/u/datalake/lofar/1a/a', bytes: 1 }],
          Number(call.query.get('offset')),
          Number(call.query.get('limit')),
          1
        );
      }
    });
    lake.render(<DataLakeView searchDelay={10} />);
    await userEvent.type(await screen.findByRole('searchbox'), 'lofar:L*');
    await userEvent.click(await screen.findByRole('option', { name: /^lofar:L0/ }));
    expect(await screen.findByText(`${formatCount(100_000)} files available`)).toBeTruthy();
    expect(screen.getByText('Finding where their copies are…')).toBeTruthy();
    const copy = screen.getByRole('button', { name: 'Copy path' }) as HTMLButtonElement;
    expect(copy.disabled).toBe(true);
    release();
    expect(await screen.findByText('1 file available')).toBeTruthy();
    expect(screen.queryByText('Finding where their copies are…')).toBeNull();
    await waitFor(() => expect(copy.disabled).toBe(false));
  });

  it('when an available file’s own name keeps it from having a path, then the companion’s reason shows instead of the advice to mount the scratch disk', async () => {
    const problem =
      'lofar:a/../b has no local path: its name has a "." or ".." segment, which file systems and web addresses resolve to another name, so it would be another file\'s path. Ask its owner for a copy under a plain name.';
    const lake = testContext({
      ...signedIn,
      'POST api/instances/lake/search': searchAnswering(dids('L', 1), 1),
      'GET api/instances/lake/did': details('L0'),
      'GET api/instances/lake/availability': availability({
        did: 'lofar:L0',
        state: 'AVAILABLE',
        ruleId: 'r',
        files: { ok: 1, replicating: 0, stuck: 0, total: 1 }
      }),
      'GET api/instances/lake/paths': async call =>
        window(
          [{ scope: 'lofar', name: 'a/../b', path: null, bytes: 1, problem }],
          Number(call.query.get('offset')),
          Number(call.query.get('limit')),
          1
        )
    });
    lake.render(<DataLakeView searchDelay={10} />);
    await userEvent.type(await screen.findByRole('searchbox'), 'lofar:L*');
    await userEvent.click(await screen.findByRole('option', { name: /^lofar:L0/ }));
    expect(await screen.findByText(problem)).toBeTruthy();
    expect(screen.queryByText(/Ask your hub admin to mount the scratch disk/)).toBeNull();
  });

  it('when a search fails because Rucio cannot be reached, then the sentence shows with Try again, which asks anew', async () => {
    let failures = 1;
    const unreachable = 'lake (http://rucio) cannot be reached (connect ECONNREFUSED).';
    const lake = testContext({
      ...signedIn,
      'POST api/instances/lake/search': (call: ICall) =>
        failures-- > 0
          ? { status: 502, body: { error: { code: 'rucio_unreachable', message: unreachable } } }
          : searchAnswering(dids('L', 2), 2)(call)
    });
    lake.render(<DataLakeView searchDelay={10} />);
    await userEvent.type(await screen.findByRole('searchbox'), 'lofar:L*');
    expect((await screen.findByRole('alert')).textContent).toBe(unreachable);
    await userEvent.click(screen.getByRole('button', { name: 'Try again' }));
    const list = await screen.findByRole('listbox', { name: 'Search results' });
    await waitFor(() => expect(within(list).getAllByRole('option')).toHaveLength(2));
    expect(screen.queryByRole('alert')).toBeNull();
    expect(lake.calls.filter(c => c.path === 'api/instances/lake/search')).toHaveLength(2);
  });

  describe('previews', () => {
    /** A file's bytes through the content route, honouring `Range` as the companion does. */
    function content(type: string, size: number, text: string) {
      const bytes = new TextEncoder().encode(text.repeat(Math.ceil(size / text.length)));
      return (call: ICall) => {
        const range = /bytes=0-(\d+)/.exec(call.headers.get('Range') ?? '');
        const end = range ? Math.min(Number(range[1]), size - 1) : size - 1;
        const partial = end < size - 1;
        return new Response(bytes.slice(0, end + 1), {
          status: partial ? 206 : 200,
          headers: {
            'Content-Type': type,
            'Content-Length': String(end + 1),
            ...(partial ? { 'Content-Range': `bytes 0-${end}/${size}` } : {})
          }
        });
      };
    }

    async function openPreview(name: string, type: string, size: number, text = 'A') {
      const lake = testContext({
        ...signedIn,
        'POST api/instances/lake/search': searchAnswering(
          [{ scope: 'lofar', name, type: 'FILE', bytes: size, length: null }],
          1
        ),
        'GET api/instances/lake/did': {
          ...details(name, 'FILE'),
          did: { scope: 'lofar', name, type: 'FILE', bytes: size, length: 1 }
        },
        'GET api/instances/lake/availability': availability({ did: `lofar:${name}` }),
        'GET api/instances/lake/content': content(type, size, text)
      });
      const created: Blob[] = [];
      URL.createObjectURL = (blob: Blob) => {
        created.push(blob);
        return `blob:preview-${created.length}`;
      };
      URL.revokeObjectURL = () => undefined;
      lake.render(<DataLakeView searchDelay={10} />);
      await userEvent.type(await screen.findByRole('searchbox'), `lofar:${name}`);
      await userEvent.click(await screen.findByRole('option', { name: new RegExp(name) }));
      await userEvent.click(await screen.findByRole('button', { name: 'Preview' }));
      const region = await screen.findByRole('region', { name: 'Preview' });
      return { lake, created, region };
    }

    it('when an image larger than 64 KiB is previewed, then it is read whole and shown', async () => {
      const { created, region } = await openPreview('sky.png', 'image/png', 300_000);
      const image = await within(region).findByRole('img', { name: 'lofar:sky.png' });
      expect(image.getAttribute('src')).toBe('blob:preview-1');
      expect(created.map(blob => blob.size)).toEqual([300_000]);
    });

    it('when an image is larger than a preview shows, then the panel says so instead of drawing part of it', async () => {
      const { created, region } = await openPreview('huge.png', 'image/png', 40_000_000);
      expect(
        (await within(region).findByText(/This image is .*too large to preview here/)).textContent
      ).toContain('Make it available and open it from the file browser.');
      expect(created).toEqual([]);
    });

    it('when a long CSV file is previewed, then its first 64 KiB show as a table, the cut last line left out', async () => {
      const { region } = await openPreview('table.csv', 'text/csv', 1_000_000, 'energy,"a, b"\n');
      const table = await within(region).findByRole('table');
      expect(
        within(table)
          .getAllByRole('columnheader')
          .map(c => c.textContent)
      ).toEqual(['energy', 'a, b']);
      expect(within(table).getAllByRole('row')).toHaveLength(50);
      expect(within(region).getByText('Showing the first 64 KiB.')).toBeTruthy();
    });
  });
});
