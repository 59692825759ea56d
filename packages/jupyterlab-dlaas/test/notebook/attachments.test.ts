import type { Availability, AvailabilityState, LocalPath, Window } from '@dlaas/api';
import { StateDB } from '@jupyterlab/statedb';
import { nullTranslator } from '@jupyterlab/translation';
import type { ReadonlyPartialJSONObject } from '@lumino/coreutils';
import { Signal } from '@lumino/signaling';
import { describe, expect, it, vi } from 'vitest';
import { DataLakeClient } from '../../src/client';
import { approvalKey } from '../../src/notebook/approvals';
import {
  METADATA_KEY,
  NotebookAttachments,
  NotebookAttachmentsManager,
  readAttachments,
  type IAttachment,
  type IAttachmentStatus,
  type IAvailabilityFeed
} from '../../src/notebook/attachments';
import { availability, stubTransport, type ICall, type Routes } from '../harness';
import { FakeKernel, FakeNotebook, runPython, settle } from './fakes';

const trans = nullTranslator.load('dlaas');

const FILE = 'user.alice:run1/events.root';
const DATASET = 'user.alice:run1';
const FILE_PATH = '/scratch/user.alice/run1/events.root';
const DATASET_PATHS = ['/scratch/user.alice/run1/a.root', '/scratch/user.alice/run1/b "q".root'];

/**
 * The companion, as far as attachments use it: availability per DID from `states`, and the
 * local paths of the two DIDs above.
 */
function lake(states: Record<string, AvailabilityState>, extra: Routes = {}) {
  const paths: Record<string, LocalPath[]> = {
    [FILE]: [{ scope: 'user.alice', name: 'run1/events.root', path: FILE_PATH, bytes: 10 }],
    [DATASET]: DATASET_PATHS.map((path, i) => ({
      scope: 'user.alice',
      name: `run1/${i}.root`,
      path,
      bytes: 10
    }))
  };
  const { transport, calls } = stubTransport({
    'GET api/instances/lake/availability': (call: ICall) => {
      const did = call.query.get('did') ?? '';
      const state = states[did];
      return state
        ? availability({ did, state })
        : {
            status: 404,
            body: { error: { code: 'not_found', message: `${did} does not exist.` } }
          };
    },
    'GET api/instances/lake/paths': (call: ICall): Window<LocalPath> => {
      const items = paths[call.query.get('did') ?? ''] ?? [];
      return {
        items,
        offset: 0,
        limit: Number(call.query.get('limit')),
        total: items.length,
        complete: true
      };
    },
    ...extra
  });
  return { client: new DataLakeClient(transport), calls };
}

/** The path of the notebooks of these tests. */
const PATH = 'work/analysis.ipynb';

/** JupyterLab's state database (in memory), holding `approved` as agreed for the notebook at PATH. */
function stateWith(approved: readonly IAttachment[] = []): StateDB {
  const contents: ReadonlyPartialJSONObject =
    approved.length === 0
      ? {}
      : {
          [approvalKey(PATH)]: { attachments: approved.map(a => [a.instance, a.did, a.variable]) }
        };
  return new StateDB({ transform: Promise.resolve({ type: 'overwrite', contents }) });
}

/**
 * A notebook with a Python kernel (unless told otherwise) and its attachments. With `agreed`, the
 * user agreed earlier to the attachments its metadata holds.
 */
function setUp(
  options: {
    states?: Record<string, AvailabilityState>;
    language?: string | Error;
    metadata?: Record<string, unknown>;
    agreed?: boolean;
    state?: StateDB;
    events?: IAvailabilityFeed;
    routes?: Routes;
  } = {}
) {
  const kernel = new FakeKernel(options.language ?? 'python');
  const notebook = new FakeNotebook(kernel, options.metadata);
  const { client, calls } = lake(
    options.states ?? { [FILE]: 'AVAILABLE', [DATASET]: 'AVAILABLE' },
    options.routes
  );
  const state =
    options.state ??
    stateWith(options.agreed ? readAttachments(options.metadata?.[METADATA_KEY]) : []);
  const attachments = new NotebookAttachments({
    notebook,
    client,
    trans,
    events: options.events ?? null,
    approvals: state
  });
  const emitted: IAttachmentStatus[][] = [];
  attachments.changed.connect((_, statuses) => emitted.push(statuses));
  return { kernel, notebook, attachments, calls, emitted, state };
}

const stateOf = (attachments: NotebookAttachments, variable: string) =>
  attachments.status(variable)?.state;

/** Waits until every attachment has left `waiting` and `injecting`, by itself. */
async function injected(attachments: NotebookAttachments): Promise<void> {
  await vi.waitFor(() => {
    expect(attachments.statuses.map(s => s.state)).not.toContain('waiting');
    expect(attachments.statuses.map(s => s.state)).not.toContain('injecting');
  });
  await settle();
}

describe('readAttachments', () => {
  it('when the metadata holds malformed entries, then they are skipped without a crash', () => {
    expect(readAttachments(undefined)).toEqual([]);
    expect(readAttachments('nonsense')).toEqual([]);
    expect(readAttachments({ attachments: 'nonsense' })).toEqual([]);
    expect(
      readAttachments({
        attachments: [
          null,
          42,
          ['lake', FILE, 'x'],
          { instance: 'lake', did: FILE },
          { instance: 'lake', did: 'no-colon', variable: 'x' },
          { instance: '', did: FILE, variable: 'x' },
          { instance: 'lake', did: FILE, variable: 7 },
          { instance: 'lake', did: FILE, variable: 'ok', extra: true },
          { instance: 'lake', did: DATASET, variable: 'ok' }
        ]
      })
    ).toEqual([{ instance: 'lake', did: FILE, variable: 'ok' }]);
  });
});

describe('NotebookAttachments', () => {
  it('when a DID is attached, then the notebook metadata holds it and keeps the other dlaas keys', () => {
    const { notebook, attachments, emitted } = setUp({
      metadata: { [METADATA_KEY]: { note: 'kept' } }
    });
    attachments.attach({ instance: 'lake', did: FILE, variable: 'events' });
    attachments.attach({ instance: 'lake', did: DATASET, variable: 'run' });
    expect(notebook.model.metadata.get(METADATA_KEY)).toEqual({
      note: 'kept',
      attachments: [
        { instance: 'lake', did: FILE, variable: 'events' },
        { instance: 'lake', did: DATASET, variable: 'run' }
      ]
    });
    expect(attachments.attachments.map(a => a.variable)).toEqual(['events', 'run']);
    expect(emitted.at(-1)?.map(s => s.attachment.variable)).toEqual(['events', 'run']);
  });

  it('when a variable is taken, then attaching again is refused with a sentence unless replacing is asked', () => {
    const { notebook, attachments } = setUp();
    attachments.attach({ instance: 'lake', did: FILE, variable: 'data' });
    expect(() => attachments.attach({ instance: 'lake', did: DATASET, variable: 'data' })).toThrow(
      `The variable data already holds ${FILE} in this notebook: choose another name, or remove that attachment first.`
    );
    expect(() => attachments.attach({ instance: 'lake', did: FILE, variable: 'data' })).toThrow(
      `${FILE} is already attached to this notebook as data.`
    );
    attachments.attach({ instance: 'lake', did: DATASET, variable: 'data' }, { replace: true });
    expect(readAttachments(notebook.model.metadata.get(METADATA_KEY))).toEqual([
      { instance: 'lake', did: DATASET, variable: 'data' }
    ]);
  });

  it('when the variable is not a valid name in the notebook language, then attaching is refused with the reason', () => {
    const { attachments } = setUp({ metadata: { kernelspec: { language: 'R', name: 'ir' } } });
    expect(() => attachments.attach({ instance: 'lake', did: FILE, variable: 'TRUE' })).toThrow(
      /"TRUE" is a reserved word in R/
    );
    expect(attachments.attachments).toEqual([]);
  });

  it('when the language is not known yet, then a name valid in no language is refused and one valid in some is taken', () => {
    const { attachments } = setUp();
    expect(() => attachments.attach({ instance: 'lake', did: FILE, variable: '2x' })).toThrow(
      /"2x" is not a valid Python variable name/
    );
    attachments.attach({ instance: 'lake', did: FILE, variable: 'my.data' });
    expect(attachments.attachments.map(a => a.variable)).toEqual(['my.data']);
  });

  it('when an attachment is detached, then the metadata no longer holds it', () => {
    const { notebook, attachments } = setUp();
    attachments.attach({ instance: 'lake', did: FILE, variable: 'events' });
    attachments.attach({ instance: 'lake', did: DATASET, variable: 'run' });
    expect(attachments.detach('events')).toBe(true);
    expect(attachments.detach('events')).toBe(false);
    expect(readAttachments(notebook.model.metadata.get(METADATA_KEY))).toEqual([
      { instance: 'lake', did: DATASET, variable: 'run' }
    ]);
  });

  it('when the session becomes ready, then each variable is set silently to its path(s), as Python runs it', async () => {
    const { kernel, notebook, attachments } = setUp({
      agreed: true,
      metadata: {
        [METADATA_KEY]: {
          attachments: [
            { instance: 'lake', did: FILE, variable: 'events' },
            { instance: 'lake', did: DATASET, variable: 'run' }
          ]
        }
      }
    });
    await settle();
    expect(kernel.requests).toEqual([]);
    notebook.sessionContext.becomeReady();
    await injected(attachments);
    expect(kernel.requests).toHaveLength(2);
    for (const request of kernel.requests) {
      expect(request).toMatchObject({ silent: true, store_history: false, stop_on_error: false });
    }
    expect(attachments.statuses.map(s => [s.attachment.variable, s.state, s.paths])).toEqual([
      ['events', 'injected', 1],
      ['run', 'injected', 2]
    ]);
    const out = runPython(kernel.codes, 'print(json.dumps([ns["events"], ns["run"]]))');
    expect(JSON.parse(out)).toEqual([FILE_PATH, DATASET_PATHS]);
  });

  it('when the kernel restarts, then the last code is sent again at once and the variables are looked up again once it is idle', async () => {
    const states: Record<string, AvailabilityState> = {
      [FILE]: 'AVAILABLE',
      [DATASET]: 'AVAILABLE'
    };
    const { kernel, notebook, attachments, emitted } = setUp({
      agreed: true,
      metadata: {
        [METADATA_KEY]: {
          attachments: [
            { instance: 'lake', did: FILE, variable: 'events' },
            { instance: 'lake', did: DATASET, variable: 'run' }
          ]
        }
      },
      states
    });
    notebook.sessionContext.becomeReady();
    await injected(attachments);
    const first = kernel.codes;
    expect(first).toHaveLength(2);

    // The dataset is gone from the scratch disk meanwhile.
    states[DATASET] = 'NOT_AVAILABLE';
    notebook.sessionContext.statusChanged.emit('restarting');
    expect(stateOf(attachments, 'events')).toBe('waiting');
    expect(emitted.at(-1)?.[0]?.message).toBe(
      'The kernel is restarting; the variable is set again when it is ready.'
    );
    // Sent while JupyterLab still queues messages for the restarting kernel: ahead of the cells
    // "Restart Kernel and Run All Cells" runs.
    expect(kernel.requests).toHaveLength(2);
    await Promise.resolve();
    expect(kernel.codes.slice(2)).toEqual(first);
    expect(kernel.requests.slice(2).every(r => r.silent && !r.store_history)).toBe(true);
    notebook.sessionContext.statusChanged.emit('starting');
    await settle();
    expect(kernel.requests).toHaveLength(4);

    notebook.sessionContext.statusChanged.emit('idle');
    await injected(attachments);
    expect(kernel.requests).toHaveLength(6);
    expect(kernel.codes.slice(4).sort()).toEqual(
      [`events = "${FILE_PATH}"\n`, expect.stringContaining('not available yet')].sort()
    );
    expect(stateOf(attachments, 'events')).toBe('injected');
    expect(stateOf(attachments, 'run')).toBe('not-available');

    // A busy/idle cycle that is not a restart sets nothing again.
    const count = kernel.requests.length;
    notebook.sessionContext.statusChanged.emit('busy');
    notebook.sessionContext.statusChanged.emit('idle');
    await settle();
    expect(kernel.requests).toHaveLength(count);
  });

  it('when the kernel is changed, then the variables are set in the new kernel, in its language', async () => {
    const { notebook, attachments } = setUp({
      agreed: true,
      metadata: {
        [METADATA_KEY]: { attachments: [{ instance: 'lake', did: FILE, variable: 'events' }] }
      }
    });
    notebook.sessionContext.becomeReady();
    await injected(attachments);
    const r = new FakeKernel('R');
    notebook.sessionContext.changeKernel(r);
    await injected(attachments);
    expect(r.codes).toHaveLength(1);
    expect(r.codes[0]).toContain(`base::assign("events", "${FILE_PATH}", envir = e)`);
    expect(stateOf(attachments, 'events')).toBe('injected');
  });

  it('when a DID is not available, then its state is not-available and the variable fails with the sentence in Python', async () => {
    const { kernel, notebook, attachments } = setUp({
      agreed: true,
      states: { [FILE]: 'NOT_AVAILABLE', [DATASET]: 'REPLICATING' },
      metadata: {
        [METADATA_KEY]: {
          attachments: [
            { instance: 'lake', did: FILE, variable: 'events' },
            { instance: 'lake', did: DATASET, variable: 'run' }
          ]
        }
      }
    });
    notebook.sessionContext.becomeReady();
    await injected(attachments);
    const events = attachments.status('events');
    expect(events?.state).toBe('not-available');
    expect(events?.message).toBe(
      `${FILE} is not available yet: make it available in the Data Lake panel, and this variable will be set when it is.`
    );
    expect(attachments.status('run')?.message).toBe(
      `${DATASET} is not available yet: it is being copied to the scratch disk, and this variable will be set when it is done.`
    );
    const out = runPython(
      kernel.codes,
      ['try:', '    open(ns["events"])', 'except RuntimeError as e:', '    print(e)'].join('\n')
    );
    expect(out.trim()).toBe(events?.message);
  });

  it('when an attached DID becomes available, then its variable is set to the path', async () => {
    const states: Record<string, AvailabilityState> = { [FILE]: 'REPLICATING' };
    const changed = new Signal<unknown, Availability>({});
    const watched: string[] = [];
    const events: IAvailabilityFeed = {
      changed,
      watch: (instance, did) => {
        watched.push(`${instance} ${did}`);
        return { isDisposed: false, dispose: () => undefined };
      }
    };
    const { kernel, notebook, attachments } = setUp({ states, events });
    attachments.attach({ instance: 'lake', did: FILE, variable: 'events' });
    expect(watched).toEqual([`lake ${FILE}`]);
    notebook.sessionContext.becomeReady();
    await injected(attachments);
    expect(stateOf(attachments, 'events')).toBe('not-available');

    // Progress of the same state changes nothing.
    changed.emit(availability({ did: FILE, state: 'REPLICATING' }));
    await settle();
    expect(kernel.requests).toHaveLength(1);

    states[FILE] = 'AVAILABLE';
    changed.emit(availability({ did: FILE, state: 'AVAILABLE' }));
    await injected(attachments);
    expect(stateOf(attachments, 'events')).toBe('injected');
    expect(kernel.codes.at(-1)).toBe(`events = "${FILE_PATH}"\n`);
  });

  it('when onAvailability reports a new state, then the variables are set again', async () => {
    const states: Record<string, AvailabilityState> = { [FILE]: 'NOT_AVAILABLE' };
    const { kernel, notebook, attachments } = setUp({ states });
    attachments.attach({ instance: 'lake', did: FILE, variable: 'events' });
    notebook.sessionContext.becomeReady();
    await injected(attachments);
    states[FILE] = 'AVAILABLE';
    attachments.onAvailability('other', FILE, 'AVAILABLE');
    await settle();
    expect(kernel.requests).toHaveLength(1);
    attachments.onAvailability('lake', FILE, 'AVAILABLE');
    await injected(attachments);
    expect(stateOf(attachments, 'events')).toBe('injected');
  });

  it("when the kernel's language is not supported, then every attachment fails with the sentence and nothing runs", async () => {
    const { kernel, notebook, attachments } = setUp({ language: 'bash' });
    attachments.attach({ instance: 'lake', did: FILE, variable: 'events' });
    notebook.sessionContext.becomeReady();
    await injected(attachments);
    expect(attachments.status('events')).toMatchObject({
      state: 'failed',
      message:
        "dlaas can inject variables into Python, R and Julia kernels; this notebook's kernel is bash."
    });
    expect(kernel.requests).toEqual([]);
  });

  it("when the kernel gives no info, then the language comes from the notebook's kernelspec", async () => {
    const { kernel, notebook, attachments } = setUp({
      language: new Error('no kernel info'),
      metadata: { kernelspec: { name: 'julia-1.11', language: 'julia' } }
    });
    attachments.attach({ instance: 'lake', did: DATASET, variable: 'runs' });
    notebook.sessionContext.becomeReady();
    await injected(attachments);
    expect(kernel.codes).toEqual([
      `global runs = String["${DATASET_PATHS[0]}", "/scratch/user.alice/run1/b \\"q\\".root"];\nnothing\n`
    ]);
  });

  it('when the data lake cannot be reached, then the attachment fails with its sentence and nothing runs', async () => {
    const { kernel, notebook, attachments } = setUp({ states: {} });
    attachments.attach({ instance: 'lake', did: FILE, variable: 'events' });
    notebook.sessionContext.becomeReady();
    await injected(attachments);
    expect(attachments.status('events')).toMatchObject({
      state: 'failed',
      message: `Could not look up ${FILE}: ${FILE} does not exist.`
    });
    expect(kernel.requests).toEqual([]);
  });

  it('when the files have no local path, then the variable holds the not-available value with the reason', async () => {
    const { notebook, attachments } = setUp({
      routes: {
        'GET api/instances/lake/paths': {
          items: [{ scope: 'user.alice', name: 'run1/events.root', path: null, bytes: 1 }],
          offset: 0,
          limit: 5000,
          total: 1,
          complete: true
        }
      }
    });
    attachments.attach({ instance: 'lake', did: FILE, variable: 'events' });
    notebook.sessionContext.becomeReady();
    await injected(attachments);
    expect(attachments.status('events')).toMatchObject({
      state: 'not-available',
      message: `${FILE} is available, but 1 of its files has no local path in this Jupyter server: ask your hub admin to configure the path of the scratch disk in dlaas.`
    });
  });

  it('when a file’s own name keeps it from having a path, then the not-available value carries the companion’s reason', async () => {
    const problem =
      'user.alice:run1/../events.root has no local path: its name has a ".." segment.';
    const { notebook, attachments } = setUp({
      routes: {
        'GET api/instances/lake/paths': {
          items: [
            { scope: 'user.alice', name: 'run1/../events.root', path: null, bytes: 1, problem }
          ],
          offset: 0,
          limit: 5000,
          total: 1,
          complete: true
        }
      }
    });
    attachments.attach({ instance: 'lake', did: FILE, variable: 'events' });
    notebook.sessionContext.becomeReady();
    await injected(attachments);
    expect(attachments.status('events')).toMatchObject({
      state: 'not-available',
      message: problem
    });
  });

  it('when the kernel answers an error, then the attachment fails with the error', async () => {
    const { kernel, notebook, attachments } = setUp();
    kernel.reply = { status: 'error', ename: 'MemoryError', evalue: 'out of memory' };
    attachments.attach({ instance: 'lake', did: FILE, variable: 'events' });
    notebook.sessionContext.becomeReady();
    await injected(attachments);
    expect(attachments.status('events')).toMatchObject({
      state: 'failed',
      message: 'The kernel could not set events: MemoryError: out of memory'
    });
  });

  it('when a hand-edited notebook holds code as a variable name, then it fails and is never run', async () => {
    const { kernel, notebook, attachments } = setUp({
      metadata: {
        [METADATA_KEY]: {
          attachments: [
            { instance: 'lake', did: FILE, variable: 'x = __import__("os").system("id"); y' }
          ]
        }
      }
    });
    notebook.sessionContext.becomeReady();
    await vi.waitFor(() => expect(attachments.statuses[0]?.state).toBe('needs-approval'));
    // Even allowed, the name is refused, and nothing runs.
    await attachments.allow();
    expect(attachments.statuses[0]).toMatchObject({ state: 'failed' });
    expect(attachments.statuses[0]?.message).toMatch(/is not a valid Python variable name/);
    expect(kernel.requests).toEqual([]);
  });

  it('when there is no kernel, then the attachments wait with a sentence', async () => {
    const notebook = new FakeNotebook(null);
    const { client } = lake({});
    const attachments = new NotebookAttachments({ notebook, client, trans });
    attachments.attach({ instance: 'lake', did: FILE, variable: 'events' });
    await attachments.inject();
    expect(attachments.status('events')).toMatchObject({
      state: 'waiting',
      message: 'Start a kernel to get this variable.'
    });
  });

  it('when disposed, then restarts inject nothing and it can be disposed twice', async () => {
    const { kernel, notebook, attachments } = setUp();
    attachments.attach({ instance: 'lake', did: FILE, variable: 'events' });
    attachments.dispose();
    attachments.dispose();
    notebook.sessionContext.becomeReady();
    notebook.sessionContext.restart();
    await settle();
    expect(kernel.requests).toEqual([]);
    expect(attachments.isDisposed).toBe(true);
  });
});

describe('agreeing to the attachments that came with a notebook', () => {
  const EVENTS = { instance: 'lake', did: FILE, variable: 'events' };
  const RUN = { instance: 'lake', did: DATASET, variable: 'run' };
  const shared = (...attachments: IAttachment[]) => ({ [METADATA_KEY]: { attachments } });

  it('when a notebook arrives with attachments, then none is set until the user allows them, and each says it waits for that', async () => {
    const { kernel, notebook, attachments, calls } = setUp({ metadata: shared(EVENTS, RUN) });
    const requested: string[][] = [];
    attachments.approvalRequested.connect((_, pending) =>
      requested.push(pending.map(a => a.variable))
    );
    notebook.sessionContext.becomeReady();
    await vi.waitFor(() => expect(attachments.pending).toHaveLength(2));
    await attachments.inject();
    await attachments.refresh();
    notebook.sessionContext.restart();
    await settle();

    expect(kernel.requests).toEqual([]);
    // Not even looked up in the data lake.
    expect(calls).toEqual([]);
    expect(attachments.statuses.map(s => [s.attachment.variable, s.state])).toEqual([
      ['events', 'needs-approval'],
      ['run', 'needs-approval']
    ]);
    expect(attachments.status('events')?.message).toBe(
      'This attachment came with the notebook: choose "Allow" to set events in the kernel, or "Remove" if you do not want it.'
    );
    expect(requested).toEqual([['events', 'run']]);
  });

  it('when the user allows them, then every variable is set, and the notebook opened again later needs no new approval', async () => {
    const { kernel, notebook, attachments, state } = setUp({ metadata: shared(EVENTS, RUN) });
    notebook.sessionContext.becomeReady();
    await vi.waitFor(() => expect(attachments.pending).toHaveLength(2));
    await attachments.allow();
    expect(attachments.statuses.map(s => [s.attachment.variable, s.state])).toEqual([
      ['events', 'injected'],
      ['run', 'injected']
    ]);
    expect(attachments.pending).toEqual([]);
    const out = runPython(kernel.codes, 'print(json.dumps([ns["events"], ns["run"]]))');
    expect(JSON.parse(out)).toEqual([FILE_PATH, DATASET_PATHS]);
    await vi.waitFor(async () =>
      expect(await state.fetch(approvalKey(PATH))).toEqual({
        attachments: [
          ['lake', DATASET, 'run'],
          ['lake', FILE, 'events']
        ]
      })
    );

    // Saved and opened again (same path, same metadata): set at once.
    attachments.dispose();
    const again = setUp({ metadata: shared(EVENTS, RUN), state });
    again.notebook.sessionContext.becomeReady();
    await injected(again.attachments);
    expect(again.attachments.statuses.map(s => s.state)).toEqual(['injected', 'injected']);
    expect(again.kernel.requests).toHaveLength(2);
  });

  it('when the user adds data in this JupyterLab, then its variable is set at once, while what came with the notebook still waits', async () => {
    const { kernel, notebook, attachments, state } = setUp({ metadata: shared(EVENTS) });
    const requested: string[][] = [];
    attachments.approvalRequested.connect((_, pending) =>
      requested.push(pending.map(a => a.variable))
    );
    notebook.sessionContext.becomeReady();
    await vi.waitFor(() => expect(attachments.pending).toHaveLength(1));
    attachments.attach(RUN);
    await attachments.inject();
    expect(attachments.statuses.map(s => [s.attachment.variable, s.state])).toEqual([
      ['events', 'needs-approval'],
      ['run', 'injected']
    ]);
    expect(kernel.codes).toEqual([
      `run = [${DATASET_PATHS.map(p => JSON.stringify(p)).join(', ')}]\n`
    ]);
    // Asked once: adding agreed data does not ask again.
    expect(requested).toEqual([['events']]);
    await vi.waitFor(async () =>
      expect(await state.fetch(approvalKey(PATH))).toEqual({
        attachments: [['lake', DATASET, 'run']]
      })
    );
  });

  it('when someone else changes the attachments (another DID for a variable, a new variable), then those are asked about again and the unchanged one stays set', async () => {
    const { kernel, notebook, attachments } = setUp({
      metadata: shared(EVENTS, RUN),
      agreed: true
    });
    notebook.sessionContext.becomeReady();
    await injected(attachments);
    expect(kernel.requests).toHaveLength(2);
    const requested: string[][] = [];
    attachments.approvalRequested.connect((_, pending) =>
      requested.push(pending.map(a => a.variable))
    );

    // The notebook file is replaced by a version written elsewhere.
    notebook.model.setMetadata(
      METADATA_KEY,
      shared(RUN, { ...EVENTS, did: 'user.mallory:other.root' }, { ...EVENTS, variable: 'more' })[
        METADATA_KEY
      ]
    );
    await attachments.refresh();
    notebook.sessionContext.restart();
    await settle();
    await injected(attachments);

    expect(attachments.statuses.map(s => [s.attachment.variable, s.state])).toEqual([
      ['run', 'injected'],
      ['events', 'needs-approval'],
      ['more', 'needs-approval']
    ]);
    expect(requested).toEqual([['events', 'more']]);
    expect(kernel.codes.some(code => code.includes('other.root'))).toBe(false);
    expect(kernel.codes.some(code => code.startsWith('more'))).toBe(false);
    // The restart sent the code of the unchanged attachment only.
    expect(kernel.codes.slice(2).every(code => code.startsWith('run'))).toBe(true);
  });

  it('when the notebook is renamed in this JupyterLab, then the agreement follows it', async () => {
    const { notebook, attachments, state } = setUp({ metadata: shared(EVENTS) });
    await vi.waitFor(() => expect(attachments.pending).toHaveLength(1));
    await attachments.allow();
    notebook.context.rename('work/renamed.ipynb');
    await vi.waitFor(async () => {
      expect(await state.fetch(approvalKey('work/renamed.ipynb'))).toEqual({
        attachments: [['lake', FILE, 'events']]
      });
      expect(await state.fetch(approvalKey(PATH))).toBeUndefined();
    });
  });

  it('when the agreements cannot be read, then the attachments wait for the user and nothing is set', async () => {
    const state = stateWith();
    state.fetch = () => Promise.reject(new Error('workspace unreadable'));
    const { kernel, notebook, attachments } = setUp({
      metadata: shared(EVENTS),
      state
    });
    notebook.sessionContext.becomeReady();
    await vi.waitFor(() => expect(attachments.status('events')?.state).toBe('needs-approval'));
    expect(kernel.requests).toEqual([]);
  });

  it('when an allowed attachment is removed and someone puts it back, then it is asked about again', async () => {
    const { notebook, attachments } = setUp({ metadata: shared(EVENTS, RUN), agreed: true });
    await attachments.inject();
    expect(attachments.status('run')?.state).toBe('injected');
    attachments.detach('run');
    notebook.model.setMetadata(METADATA_KEY, shared(EVENTS, RUN)[METADATA_KEY]);
    expect(attachments.status('run')?.state).toBe('needs-approval');
    expect(attachments.status('events')?.state).not.toBe('needs-approval');
  });
});

describe('NotebookAttachmentsManager', () => {
  class Tracker {
    currentWidget: FakeNotebook | null = null;
    readonly currentChanged = new Signal<this, FakeNotebook | null>(this);
    readonly widgetAdded = new Signal<this, FakeNotebook>(this);
    readonly notebooks: FakeNotebook[] = [];
    forEach(fn: (notebook: FakeNotebook) => void): void {
      this.notebooks.forEach(fn);
    }
    open(notebook: FakeNotebook): void {
      this.notebooks.push(notebook);
      this.widgetAdded.emit(notebook);
      this.currentWidget = notebook;
      this.currentChanged.emit(notebook);
    }
  }

  it('when notebooks open, change and close, then each has its own attachments, disposed with it', () => {
    const tracker = new Tracker();
    const first = new FakeNotebook(new FakeKernel('python'), {}, 'first.ipynb');
    tracker.notebooks.push(first);
    const { client } = lake({});
    const manager = new NotebookAttachmentsManager<FakeNotebook>({ tracker, client, trans });
    const seen: (string | null)[] = [];
    manager.currentChanged.connect((_, current) =>
      seen.push(current?.notebook.title.label ?? null)
    );
    const firstAttachments = manager.get(first);
    expect(manager.get(first)).toBe(firstAttachments);

    const second = new FakeNotebook(new FakeKernel('python'), {}, 'second.ipynb');
    tracker.open(second);
    expect(manager.current?.notebook).toBe(second);
    expect(seen).toEqual(['second.ipynb']);
    const secondAttachments = manager.get(second);

    second.disposed.emit();
    expect(secondAttachments.isDisposed).toBe(true);
    expect(manager.get(first)).toBe(firstAttachments);
    expect(firstAttachments.isDisposed).toBe(false);
    manager.dispose();
    manager.dispose();
    expect(firstAttachments.isDisposed).toBe(true);
  });

  it('when a notebook is closed, then its attachments are disposed', () => {
    const tracker = new Tracker();
    const { client } = lake({});
    const manager = new NotebookAttachmentsManager<FakeNotebook>({ tracker, client, trans });
    const notebook = new FakeNotebook(new FakeKernel('python'));
    tracker.open(notebook);
    const attachments = manager.get(notebook);
    notebook.disposed.emit();
    expect(attachments.isDisposed).toBe(true);
  });
});
