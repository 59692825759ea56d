import type { AvailabilityState } from '@dlaas/api';
import { StateDB } from '@jupyterlab/statedb';
import { nullTranslator } from '@jupyterlab/translation';
import { Signal } from '@lumino/signaling';
import { act, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import React from 'react';
import { describe, expect, it } from 'vitest';
import { DataLakeClient } from '../../src/client';
import { approvalKey } from '../../src/notebook/approvals';
import { METADATA_KEY, NotebookAttachments } from '../../src/notebook/attachments';
import {
  AttachmentsPanel,
  AttachmentsView,
  notebookDataIcon,
  type ICurrentAttachments
} from '../../src/notebook/AttachmentsPanel';
import { availability, stubTransport } from '../harness';
import { FakeKernel, FakeNotebook } from './fakes';

const trans = nullTranslator.load('dlaas');

const FILE = 'user.alice:events.root';
const MISSING = 'user.alice:later.root';

/** The companion: FILE is available at one path, MISSING is not available. */
function client(): DataLakeClient {
  const states: Record<string, AvailabilityState> = {
    [FILE]: 'AVAILABLE',
    [MISSING]: 'NOT_AVAILABLE'
  };
  const { transport } = stubTransport({
    'GET api/instances/lake/availability': call => {
      const did = call.query.get('did') ?? '';
      return availability({ did, state: states[did] ?? 'NOT_AVAILABLE' });
    },
    'GET api/instances/lake/paths': {
      items: [{ scope: 'user.alice', name: 'events.root', path: '/scratch/events.root', bytes: 1 }],
      offset: 0,
      limit: 5000,
      total: 1,
      complete: true
    }
  });
  return new DataLakeClient(transport);
}

/**
 * A notebook whose kernel is ready, with `variables` attached (FILE, then MISSING...); the user
 * agreed to them earlier unless `agreed` is false (they came with a shared notebook).
 */
function notebookWith(
  label: string,
  attachments: { did: string; variable: string }[],
  agreed = true
) {
  const kernel = new FakeKernel('python');
  const entries = attachments.map(a => ({ instance: 'lake', ...a }));
  const notebook = new FakeNotebook(kernel, { [METADATA_KEY]: { attachments: entries } }, label);
  const contents = agreed
    ? {
        [approvalKey(notebook.context.path)]: {
          attachments: entries.map(a => [a.instance, a.did, a.variable])
        }
      }
    : {};
  const approvals = new StateDB({ transform: Promise.resolve({ type: 'overwrite', contents }) });
  notebook.sessionContext.becomeReady();
  return {
    kernel,
    notebook,
    model: new NotebookAttachments({ notebook, client: client(), trans, approvals })
  };
}

/** The current notebook, as the manager gives it. */
class Current implements ICurrentAttachments {
  constructor(public current: NotebookAttachments | null) {}
  readonly currentChanged = new Signal<this, NotebookAttachments | null>(this);
  set(next: NotebookAttachments | null): void {
    this.current = next;
    this.currentChanged.emit(next);
  }
}

describe('AttachmentsView', () => {
  it('when no notebook is open, then it says to open one', () => {
    render(<AttachmentsView attachments={new Current(null)} trans={trans} />);
    expect(screen.getByRole('heading', { name: 'Notebook data' })).toBeTruthy();
    expect(screen.getByText('Open a notebook to see the data attached to it.')).toBeTruthy();
    expect(screen.queryByRole('list')).toBeNull();
  });

  it('when the notebook has no attachments, then it says how to add some', () => {
    const { model } = notebookWith('empty.ipynb', []);
    render(<AttachmentsView attachments={new Current(model)} trans={trans} />);
    expect(
      screen.getByText(
        'No data is attached to empty.ipynb. In the Data Lake panel, select data and choose "Add to notebook".'
      )
    ).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Inject again' })).toBeNull();
  });

  it('when data is attached, then a labelled list shows each variable, DID, instance and state', async () => {
    const { model } = notebookWith('analysis.ipynb', [
      { did: FILE, variable: 'events' },
      { did: MISSING, variable: 'later' }
    ]);
    render(<AttachmentsView attachments={new Current(model)} trans={trans} />);
    const list = screen.getByRole('list', { name: 'Data attached to analysis.ipynb' });
    const rows = within(list).getAllByRole('listitem');
    expect(rows).toHaveLength(2);
    const [events, later] = rows as [HTMLElement, HTMLElement];
    expect(events.getAttribute('aria-label')).toBe(`events: ${FILE}`);
    expect(within(events).getByText('events')).toBeTruthy();
    expect(within(events).getByText(FILE)).toBeTruthy();
    expect(within(events).getByText('Instance: lake')).toBeTruthy();

    await waitFor(() => expect(within(events).getByText('Injected')).toBeTruthy());
    await waitFor(() => expect(within(later).getByText('Not available yet')).toBeTruthy());
    expect(
      within(later).getByText(
        `${MISSING} is not available yet: make it available in the Data Lake panel, and this variable will be set when it is.`
      )
    ).toBeTruthy();
    expect(events.className).toContain('jp-mod-injected');
    expect(later.className).toContain('jp-mod-not-available');
  });

  it('when Remove is clicked, then the attachment leaves the notebook and the list', async () => {
    const { model, notebook } = notebookWith('analysis.ipynb', [
      { did: FILE, variable: 'events' },
      { did: MISSING, variable: 'later' }
    ]);
    render(<AttachmentsView attachments={new Current(model)} trans={trans} />);
    await userEvent.click(screen.getByRole('button', { name: 'Remove events' }));
    expect(screen.getAllByRole('listitem')).toHaveLength(1);
    expect(screen.queryByRole('button', { name: 'Remove events' })).toBeNull();
    expect(notebook.model.metadata.get(METADATA_KEY)).toEqual({
      attachments: [{ instance: 'lake', did: MISSING, variable: 'later' }]
    });
  });

  it('when Inject again is clicked, then every variable is set again in the kernel', async () => {
    const { model, kernel } = notebookWith('analysis.ipynb', [{ did: FILE, variable: 'events' }]);
    render(<AttachmentsView attachments={new Current(model)} trans={trans} />);
    await waitFor(() => expect(screen.getByText('Injected')).toBeTruthy());
    expect(kernel.requests).toHaveLength(1);
    await userEvent.click(screen.getByRole('button', { name: 'Inject again' }));
    await waitFor(() => expect(kernel.requests).toHaveLength(2));
    expect(kernel.codes[1]).toBe('events = "/scratch/events.root"\n');
  });

  it('when setting a variable fails, then its sentence is announced', async () => {
    const { model } = notebookWith('analysis.ipynb', [{ did: FILE, variable: 'list' }]);
    render(<AttachmentsView attachments={new Current(model)} trans={trans} />);
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toMatch(/"list" already means something in Python/);
    expect(screen.getByText('Failed')).toBeTruthy();
  });

  it('when a notebook came with attachments, then a notice asks to allow them, each waits for it, and Allow sets them', async () => {
    const { model, kernel } = notebookWith(
      'shared.ipynb',
      [
        { did: FILE, variable: 'events' },
        { did: MISSING, variable: 'later' }
      ],
      false
    );
    render(<AttachmentsView attachments={new Current(model)} trans={trans} />);
    const notice = await screen.findByRole('region', {
      name: 'This notebook asks to set 2 variables from the data lake: events, later. Allow?'
    });
    const rows = screen.getAllByRole('listitem').filter(row => !notice.contains(row));
    for (const row of rows) {
      expect(within(row).getByText('Waiting for your approval')).toBeTruthy();
      expect(row.className).toContain('jp-mod-needs-approval');
    }
    expect(kernel.requests).toEqual([]);

    // The details say where they come from and what each sets.
    await userEvent.click(within(notice).getByText('Details'));
    expect(within(notice).getByText(/written into it elsewhere/)).toBeTruthy();
    expect(within(notice).getByText(`events ← ${FILE} (instance lake)`)).toBeTruthy();

    await userEvent.click(within(notice).getByRole('button', { name: 'Allow' }));
    await waitFor(() => expect(screen.getByText('Injected')).toBeTruthy());
    expect(screen.getByText('Not available yet')).toBeTruthy();
    expect(screen.queryByRole('region', { name: /asks to set/ })).toBeNull();
    expect(kernel.codes).toContain('events = "/scratch/events.root"\n');
  });

  it('when one attachment came with the notebook, then the notice says so in the singular', async () => {
    const { model } = notebookWith('shared.ipynb', [{ did: FILE, variable: 'events' }], false);
    render(<AttachmentsView attachments={new Current(model)} trans={trans} />);
    expect(
      await screen.findByRole('region', {
        name: 'This notebook asks to set 1 variable from the data lake: events. Allow?'
      })
    ).toBeTruthy();
  });

  it('when another notebook becomes current, then its attachments are shown', async () => {
    const first = notebookWith('first.ipynb', [{ did: FILE, variable: 'events' }]);
    const second = notebookWith('second.ipynb', [{ did: MISSING, variable: 'later' }]);
    const current = new Current(first.model);
    render(<AttachmentsView attachments={current} trans={trans} />);
    expect(screen.getByRole('list', { name: 'Data attached to first.ipynb' })).toBeTruthy();
    act(() => current.set(second.model));
    expect(screen.getByRole('list', { name: 'Data attached to second.ipynb' })).toBeTruthy();
    expect(screen.getByText('later')).toBeTruthy();
    expect(screen.queryByText('events')).toBeNull();
    act(() => current.set(null));
    expect(screen.getByText('Open a notebook to see the data attached to it.')).toBeTruthy();
  });
});

describe('AttachmentsPanel', () => {
  it('when created, then it is a sidebar widget captioned "Notebook data" with its own id', () => {
    const panel = new AttachmentsPanel({ attachments: new Current(null), trans });
    expect(panel.id).toBe('dlaas-notebook-data');
    expect(panel.title.caption).toBe('Notebook data');
    expect(panel.hasClass('jp-DataLake-attachments')).toBe(true);
    expect(panel.title.icon).toBe(notebookDataIcon);
    expect(notebookDataIcon.name).toBe('dlaas:notebook-data');
    panel.dispose();
  });
});
