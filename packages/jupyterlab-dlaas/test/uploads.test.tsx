import type { UploadJob, UploadTargetsResponse } from '@dlaas/api';
import { Notification } from '@jupyterlab/apputils';
import { nullTranslator } from '@jupyterlab/translation';
import { QueryClient } from '@tanstack/react-query';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import React from 'react';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataLakeClient } from '../src/client';
import { UploadsView } from '../src/components/Uploads';
import {
  UploadTracker,
  announceUpload,
  datasetNameProblem,
  localPathFor,
  uploadKeys,
  uploadStatusText
} from '../src/uploads';
import { stubTransport, testContext, type Routes } from './harness';

const trans = nullTranslator.load('dlaas');
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const PATHS = ['/work/results'];

/** An upload job, with sensible defaults: running, 1 of 2 files. */
function job(fields: Partial<UploadJob> = {}): UploadJob {
  return {
    id: 'up-1',
    instance: 'lake',
    account: 'alice',
    scope: 'user.alice',
    dataset: 'results.v1',
    did: 'user.alice:results.v1',
    rse: 'LAKE_SCRATCHDISK',
    lifetimeSeconds: 86400,
    metadata: {},
    state: 'running',
    createdAt: '2026-12-02T10:00:00Z',
    finishedAt: null,
    filesTotal: 2,
    filesDone: 1,
    filesFailed: 0,
    bytesTotal: 20 * MiB,
    bytesDone: 10 * MiB,
    bytesPerSecond: 5 * MiB,
    secondsLeft: 2,
    skipped: [],
    ...fields
  };
}

const TARGETS: UploadTargetsResponse = {
  account: 'alice',
  scopes: [
    { scope: 'shared', own: false },
    { scope: 'user.alice', own: true }
  ],
  rses: [
    {
      rse: 'LAKE_SCRATCHDISK',
      limitBytes: 2 * GiB,
      usedBytes: GiB / 2,
      freeBytes: 1.5 * GiB,
      writable: true
    },
    { rse: 'LAKE_USERDISK', limitBytes: null, usedBytes: 0, freeBytes: null, writable: true },
    { rse: 'LAKE_BLOCKED', limitBytes: GiB, usedBytes: 0, freeBytes: GiB, writable: false }
  ],
  metadataKeys: ['datatype', 'run_number'],
  defaultLifetimeSeconds: 7 * 86400
};

/** A companion with `jobs()` as the uploads of `lake`, and one dataset results.v0 in user.alice. */
function companion(jobs: () => UploadJob[], extra: Routes = {}): Routes {
  return {
    'GET api/instances': { instances: [] },
    'GET api/instances/lake/uploads': () => ({ uploads: jobs() }),
    'GET api/instances/lake/upload-targets': TARGETS,
    'POST api/instances/lake/search': {
      items: [{ scope: 'user.alice', name: 'results.v0', type: 'DATASET', bytes: 1, length: 1 }],
      offset: 0,
      limit: 200,
      total: 1,
      complete: true
    },
    ...extra
  };
}

/** The upload form over `routes`, with the paths chosen. */
async function form(routes: Routes) {
  const lake = testContext(routes);
  let closed = 0;
  lake.render(
    <UploadsView
      instance="lake"
      paths={PATHS}
      onFormClosed={() => closed++}
      onClose={() => undefined}
    />
  );
  const node = await screen.findByRole('form', { name: 'Upload to data lake' });
  // The defaults are filled in once the targets are read.
  const scope = await within(node).findByRole<HTMLSelectElement>('combobox', { name: 'Scope' });
  await waitFor(() => expect(scope.value).toBe('user.alice'));
  return { lake, node, closed: () => closed };
}

describe('the upload form', () => {
  it('when it opens, then the own scope, the first writable RSE with its free quota and the instance’s lifetime are proposed, and the blocked RSE cannot be chosen', async () => {
    const { node } = await form(companion(() => []));
    expect(within(node).getByRole<HTMLSelectElement>('combobox', { name: 'Scope' }).value).toBe(
      'user.alice'
    );
    const rse = within(node).getByRole<HTMLSelectElement>('combobox', { name: 'Storage (RSE)' });
    expect(rse.value).toBe('LAKE_SCRATCHDISK');
    expect(
      within(node).getByText('Your quota on LAKE_SCRATCHDISK: 1.5 GiB free of 2.0 GiB.')
    ).toBeTruthy();
    expect(
      within(rse).getByRole<HTMLOptionElement>('option', { name: /LAKE_BLOCKED/ }).disabled
    ).toBe(true);
    await userEvent.selectOptions(rse, 'LAKE_USERDISK');
    expect(within(node).getByText('Your quota on LAKE_USERDISK: no limit.')).toBeTruthy();
    expect(
      within(node).getByRole<HTMLInputElement>('textbox', { name: 'Lifetime (days)' }).value
    ).toBe('7');
    // The folder's name is proposed as the dataset's.
    expect(within(node).getByRole<HTMLInputElement>('combobox', { name: 'Dataset' }).value).toBe(
      'results'
    );
  });

  it('when a dataset name is typed, then it is checked as it is typed, and Upload is enabled only for a good name', async () => {
    const { node } = await form(companion(() => []));
    const name = within(node).getByRole('combobox', { name: 'Dataset' });
    const upload = within(node).getByRole('button', { name: 'Upload' });
    await userEvent.clear(name);
    expect(within(node).getByText('Give the dataset a name.')).toBeTruthy();
    expect(upload).toHaveProperty('disabled', true);
    await userEvent.type(name, 'my results');
    expect(within(node).getByText(/^Names have up to 250 letters/)).toBeTruthy();
    expect(name.getAttribute('aria-invalid')).toBe('true');
    expect(upload).toHaveProperty('disabled', true);
    await userEvent.clear(name);
    await userEvent.type(name, 'a/../b');
    expect(within(node).getByText(/may not hold "\." or "\.\." parts/)).toBeTruthy();
    await userEvent.clear(name);
    await userEvent.type(name, 'my_results.v1');
    expect(
      within(node).getByText('A new dataset user.alice:my_results.v1 is created.')
    ).toBeTruthy();
    expect(upload).toHaveProperty('disabled', false);
    // One of the scope's datasets: the files are added to it.
    await userEvent.clear(name);
    await userEvent.type(name, 'results.v0');
    expect(
      await within(node).findByText(
        'The files are added to the existing dataset user.alice:results.v0.'
      )
    ).toBeTruthy();
  });

  it('when a metadata row or the lifetime is incomplete, then it says what is missing and Upload waits', async () => {
    const { node } = await form(companion(() => []));
    const upload = within(node).getByRole('button', { name: 'Upload' });
    await userEvent.click(within(node).getByRole('button', { name: 'Add metadata' }));
    await userEvent.type(within(node).getByRole('combobox', { name: 'Metadata key' }), 'datatype');
    expect(
      within(node).getByText('Give the key "datatype" a value, or remove its row.')
    ).toBeTruthy();
    expect(upload).toHaveProperty('disabled', true);
    await userEvent.type(within(node).getByRole('textbox', { name: 'Metadata value' }), 'x');
    expect(upload).toHaveProperty('disabled', false);
    const lifetime = within(node).getByRole('textbox', { name: 'Lifetime (days)' });
    await userEvent.clear(lifetime);
    await userEvent.type(lifetime, '0.5');
    expect(within(node).getByText(/^The lifetime is a whole number of days/)).toBeTruthy();
    expect(upload).toHaveProperty('disabled', true);
  });

  it('when the targets are read again (the quota changed), then the user’s choices stay, an emptied lifetime (kept until deleted) included', async () => {
    let reads = 0;
    const { lake, node } = await form(
      companion(() => [], {
        'GET api/instances/lake/upload-targets': () => {
          reads++;
          return { ...TARGETS, rses: TARGETS.rses.map(r => ({ ...r, usedBytes: reads })) };
        },
        'POST api/instances/lake/uploads': {
          status: 409,
          body: { error: { code: 'conflict', message: 'No.' } }
        }
      })
    );
    await userEvent.clear(within(node).getByRole('textbox', { name: 'Lifetime (days)' }));
    await userEvent.selectOptions(
      within(node).getByRole('combobox', { name: 'Storage (RSE)' }),
      'LAKE_USERDISK'
    );
    await lake.queryClient.refetchQueries({ queryKey: uploadKeys.targets('lake') });
    await waitFor(() => expect(reads).toBe(2));
    await userEvent.click(within(node).getByRole('button', { name: 'Upload' }));
    await within(node).findByText('No.');
    const body = lake.calls.find(c => c.method === 'POST' && c.path.endsWith('/uploads'))
      ?.body as Record<string, unknown>;
    expect(body['rse']).toBe('LAKE_USERDISK');
    expect(body).not.toHaveProperty('lifetimeSeconds');
  });

  it('when the account may write to no RSE, then the form says whom to ask and Upload stays disabled', async () => {
    const { node } = await form(
      companion(() => [], { 'GET api/instances/lake/upload-targets': { ...TARGETS, rses: [] } })
    );
    expect(within(node).getByText(/may not write to any storage of this data lake/)).toBeTruthy();
    expect(within(node).getByRole('button', { name: 'Upload' })).toHaveProperty('disabled', true);
  });

  it('when Upload is clicked, then the companion gets the paths, scope, dataset, RSE, lifetime and typed metadata, and the job shows in the list', async () => {
    let jobs: UploadJob[] = [];
    const { lake, node, closed } = await form(
      companion(() => jobs, {
        'POST api/instances/lake/uploads': () => {
          jobs = [job({ did: 'user.alice:results', dataset: 'results', filesDone: 0 })];
          return {
            status: 202,
            body: {
              upload: jobs[0],
              files: { items: [], offset: 0, limit: 50, total: 2, complete: true }
            }
          };
        }
      })
    );
    await userEvent.click(within(node).getByRole('button', { name: 'Add metadata' }));
    await userEvent.type(
      within(node).getByRole('combobox', { name: 'Metadata key' }),
      'run_number'
    );
    await userEvent.type(within(node).getByRole('textbox', { name: 'Metadata value' }), '42');
    await userEvent.click(within(node).getByRole('button', { name: 'Upload' }));
    await waitFor(() => expect(closed()).toBe(1));
    // Only Upload submits the form (Add metadata does not).
    expect(lake.calls.filter(c => c.method === 'POST' && c.path.endsWith('/uploads'))).toHaveLength(
      1
    );
    expect(lake.calls.find(c => c.method === 'POST' && c.path.endsWith('/uploads'))?.body).toEqual({
      paths: PATHS,
      scope: 'user.alice',
      dataset: 'results',
      rse: 'LAKE_SCRATCHDISK',
      lifetimeSeconds: 7 * 86400,
      metadata: { run_number: 42 }
    });
    const list = screen.getByRole('list', { name: 'Upload jobs' });
    const item = await within(list).findByRole('listitem', { name: 'user.alice:results' });
    expect(
      within(item).getByRole('progressbar', { name: 'Upload progress of user.alice:results' })
    ).toBeTruthy();
  });

  it('when the companion refuses the upload (the quota will not hold it), then its sentence shows and the form stays', async () => {
    const sentence =
      'The upload needs 3.0 GiB but your quota on LAKE_SCRATCHDISK has 1.5 GiB left. Free space or choose another RSE.';
    const { node, closed } = await form(
      companion(() => [], {
        'POST api/instances/lake/uploads': {
          status: 409,
          body: { error: { code: 'quota_exceeded', message: sentence } }
        }
      })
    );
    await userEvent.click(within(node).getByRole('button', { name: 'Upload' }));
    expect(await within(node).findByText(sentence)).toBeTruthy();
    expect(closed()).toBe(0);
  });
});

/** The Uploads list of `lake` (no form), and its item of the job user.alice:results.v1. */
async function jobItem(lake: ReturnType<typeof testContext>): Promise<HTMLElement> {
  lake.render(
    <UploadsView
      instance="lake"
      paths={null}
      onFormClosed={() => undefined}
      onClose={() => undefined}
    />
  );
  return screen.findByRole('listitem', { name: 'user.alice:results.v1' });
}

describe('the Uploads list (the job view shared with downloads)', () => {
  it('when an upload runs, then its progress reads in files, bytes, rate and time left, and Cancel stops it', async () => {
    let jobs = [job()];
    const lake = testContext(
      companion(() => jobs, {
        'POST api/instances/lake/uploads/up-1/cancel': () => {
          jobs = [job({ state: 'cancelled', error: 'You cancelled the upload; Retry goes on.' })];
          return {
            upload: jobs[0],
            files: { items: [], offset: 0, limit: 50, total: 2, complete: true }
          };
        }
      })
    );
    const item = await jobItem(lake);
    expect(
      within(item).getByText('1 of 2 files · 10 MiB of 20 MiB · 5.0 MiB/s · 2 s left')
    ).toBeTruthy();
    await userEvent.click(within(item).getByRole('button', { name: 'Cancel' }));
    expect(await within(item).findByText('You cancelled the upload; Retry goes on.')).toBeTruthy();
    expect(within(item).getByRole('button', { name: 'Retry' })).toBeTruthy();
    expect(within(item).getByRole('button', { name: 'Remove' }).title).toBe(
      'Remove this upload from the list; user.alice:results.v1 stays in the lake'
    );
  });

  it('when some files of an upload failed and the user asks which, then each failed file shows with its local path, the DID it was to become and its sentence, and a leftover says Retry removes it', async () => {
    const file = (
      name: string,
      state: 'done' | 'failed',
      error: string | null,
      leftover = false
    ) => ({
      path: `/work/results/${name}`,
      name: `results.v1/${name}`,
      bytesTotal: 10,
      bytesDone: state === 'done' ? 10 : 0,
      state,
      adler32: null,
      md5: null,
      error,
      leftover
    });
    const failedJob = job({
      state: 'failed',
      filesTotal: 3,
      filesDone: 1,
      filesFailed: 2,
      bytesPerSecond: 0,
      secondsLeft: null,
      finishedAt: '2026-12-02T10:05:00Z',
      error: '2 of the 3 files failed. Retry goes on with them.'
    });
    const lake = testContext(
      companion(() => [failedJob], {
        'GET api/instances/lake/uploads/up-1': {
          upload: failedJob,
          files: {
            items: [
              file('a.csv', 'done', null),
              file('b.csv', 'failed', 'The storage refused the file: it is full.'),
              file('c.csv', 'failed', 'The storage did not answer.', true)
            ],
            offset: 0,
            limit: 1000,
            total: 3,
            complete: true
          }
        }
      })
    );
    const item = await jobItem(lake);
    await userEvent.click(within(item).getByText('Which files failed'));
    const details = within(item).getByRole('group');
    const files = await within(details).findAllByRole('listitem');
    expect(files.map(f => f.textContent)).toEqual([
      '/work/results/b.csv (to become user.alice:results.v1/b.csv) The storage refused the file: it is full.',
      '/work/results/c.csv (to become user.alice:results.v1/c.csv) The storage did not answer. Bytes of it may still be on the storage (it could not be reached to delete them); Retry removes them before anything else.'
    ]);
    expect(within(details).getByText('/work/results/b.csv').tagName).toBe('STRONG');
    expect(lake.calls.find(c => c.path.endsWith('/uploads/up-1'))?.query.get('limit')).toBe('1000');
  });

  it('when uploads run, then the status bar sums their files and rates', () => {
    expect(
      uploadStatusText(
        [
          job(),
          job({ id: 'up-2', filesTotal: 3, filesDone: 0 }),
          job({ id: 'up-3', state: 'done' })
        ],
        trans
      )
    ).toBe('Uploading 1 of 5 files · 10 MiB/s');
    expect(uploadStatusText([job({ state: 'failed' })], trans)).toBeNull();
  });
});

describe('the notifications of uploads that end', () => {
  beforeEach(() => Notification.manager.dismiss());
  afterEach(() => Notification.manager.dismiss());

  it('when an upload seen running ends, then it is announced once; a failure keeps the companion’s sentence; a cancelled one is not announced', async () => {
    let jobs = [job(), job({ id: 'up-2' }), job({ id: 'up-3' })];
    const { transport } = stubTransport(
      companion(() => jobs, {
        'GET api/instances': {
          instances: [
            {
              name: 'lake',
              displayName: 'lake',
              authMethod: 'userpass',
              scratchRse: 'S',
              isDefault: true
            }
          ]
        }
      })
    );
    const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    const tracker = new UploadTracker(new DataLakeClient(transport), queryClient);
    const shown: string[] = [];
    tracker.ended.connect((_, ended) => announceUpload(ended, trans, j => shown.push(j.did)));
    tracker.start();
    await waitFor(() => expect(tracker.active).toHaveLength(3));
    jobs = [
      job({ state: 'done', filesDone: 2 }),
      job({ id: 'up-2', state: 'failed', error: 'The storage did not answer. Retry later.' }),
      job({ id: 'up-3', state: 'cancelled' })
    ];
    const readAgain = () => queryClient.refetchQueries({ queryKey: uploadKeys.list('lake') });
    await readAgain();
    await readAgain();
    expect(
      Notification.manager.notifications.map(n => [n.type, n.message, n.options.autoClose])
    ).toEqual([
      // The newest first.
      [
        'error',
        'The upload to user.alice:results.v1 did not finish: The storage did not answer. Retry later.',
        false
      ],
      ['success', 'user.alice:results.v1 is uploaded to LAKE_SCRATCHDISK', 8000]
    ]);
    tracker.dispose();
  });
});

describe('from the file browser’s paths to the companion’s', () => {
  it('when the server root is absolute or below the home, then a browser path maps below it; with no root or on another drive, not at all', () => {
    expect(localPathFor('tmp/results', '/srv/workspace')).toBe('/srv/workspace/tmp/results');
    expect(localPathFor('results/', '/srv/workspace/')).toBe('/srv/workspace/results');
    expect(localPathFor('', '/srv/workspace')).toBe('/srv/workspace');
    expect(localPathFor('work/a b.csv', '~')).toBe('~/work/a b.csv');
    expect(localPathFor('work', '~/lab')).toBe('~/lab/work');
    expect(localPathFor('work', '')).toBeNull();
    expect(localPathFor('RTC:work/a.ipynb', '/srv')).toBeNull();
  });

  it('when a name has a space or a dot segment, then it is refused with a sentence', () => {
    expect(datasetNameProblem('results.v1', trans)).toBeNull();
    expect(datasetNameProblem('/store/x', trans)).toBeNull();
    expect(datasetNameProblem('a b', trans)).toMatch(/^Names have/);
    expect(datasetNameProblem('x//y', trans)).toMatch(/two slashes/);
  });
});
