import type { Download } from '@dlaas/api';
import { Notification } from '@jupyterlab/apputils';
import { nullTranslator } from '@jupyterlab/translation';
import { QueryClient } from '@tanstack/react-query';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import React from 'react';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataLakeClient } from '../src/client';
import { DataLakeView } from '../src/components/DataLakeView';
import { DownloadBlock, DownloadsView } from '../src/components/Downloads';
import {
  DOWNLOAD_POLL_MS,
  DownloadTracker,
  announceDownload,
  downloadKeys,
  downloadsRefetchInterval,
  progressText,
  statusText
} from '../src/downloads';
import { formatDuration } from '../src/transfers';
import { stubTransport, testContext, type Routes } from './harness';

const trans = nullTranslator.load('dlaas');
const MiB = 1024 * 1024;
const FOLDER = '/home/jovyan/datalake-downloads/user.alice/analysis.v1';

/** A download job, with sensible defaults: running, 1 of 3 files. */
function job(fields: Partial<Download> = {}): Download {
  return {
    id: 'job-1',
    instance: 'lake',
    did: 'user.alice:analysis.v1',
    folder: FOLDER,
    state: 'running',
    createdAt: '2026-12-02T10:00:00Z',
    finishedAt: null,
    filesTotal: 3,
    filesDone: 1,
    filesFailed: 0,
    bytesTotal: 30 * MiB,
    bytesDone: 10 * MiB,
    bytesPerSecond: 2 * MiB,
    secondsLeft: 10,
    ...fields
  };
}

const LAKE = {
  name: 'lake',
  displayName: 'The lake',
  authMethod: 'userpass',
  scratchRse: 'SCRATCH',
  isDefault: true
};

/** A companion whose jobs of `lake` are `jobs` (a function: read at each request). */
function companion(jobs: () => Download[], extra: Routes = {}): Routes {
  return {
    'GET api/instances': { instances: [LAKE] },
    'GET api/instances/lake/downloads': () => ({ downloads: jobs() }),
    ...extra
  };
}

describe('the words of a download’s progress', () => {
  it('when a job runs, then its progress says files and bytes done of all, the rate and the time left', () => {
    expect(progressText(job(), trans)).toBe(
      '1 of 3 files · 10 MiB of 30 MiB · 2.0 MiB/s · 10 s left'
    );
  });

  it('when a job has ended with failed files, then its progress says how many failed, and no rate', () => {
    expect(progressText(job({ state: 'failed', filesFailed: 2, bytesPerSecond: 0 }), trans)).toBe(
      '1 of 3 files · 10 MiB of 30 MiB · 2 failed'
    );
  });

  it('when a job still lists its files, then its progress says so', () => {
    expect(progressText(job({ state: 'listing', filesTotal: 0 }), trans)).toBe(
      'Listing the files and their replicas…'
    );
  });

  it('when a time is long, then it reads in minutes and hours', () => {
    expect([45, 180, 4800, 7200].map(formatDuration)).toEqual([
      '45 s',
      '3 min',
      '1 h 20 min',
      '2 h'
    ]);
  });

  it('when several jobs run, then the status bar sums their files and rates, and ignores ended jobs', () => {
    expect(
      statusText(
        [
          job(),
          job({ id: 'job-2', filesDone: 2, filesTotal: 7, bytesPerSecond: 10 * MiB }),
          job({ id: 'job-3', state: 'done', filesDone: 100, filesTotal: 100 })
        ],
        trans
      )
    ).toBe('Downloading 3 of 10 files · 12 MiB/s');
  });

  it('when no job runs, then the status bar has nothing to say', () => {
    expect(statusText([job({ state: 'done' }), job({ state: 'failed' })], trans)).toBeNull();
  });

  it('when a job runs, then its list is read again every second, and not once none runs', () => {
    const query = (downloads: Download[], status = 'success') =>
      ({ state: { status, data: { downloads } } }) as unknown as Parameters<
        typeof downloadsRefetchInterval
      >[0];
    expect(downloadsRefetchInterval(query([job({ state: 'done' }), job()]))).toBe(DOWNLOAD_POLL_MS);
    expect(downloadsRefetchInterval(query([job({ state: 'done' })]))).toBe(false);
  });
});

describe('Download in the details of a DID', () => {
  it('when the DID was never downloaded and Download is clicked, then the companion is asked to download it and its progress shows with Cancel', async () => {
    let jobs: Download[] = [];
    const lake = testContext(
      companion(() => jobs, {
        'POST api/instances/lake/downloads': () => {
          jobs = [job({ state: 'listing', filesDone: 0, bytesDone: 0 })];
          return { status: 202, body: jobs[0] };
        }
      })
    );
    lake.render(
      <DownloadBlock instance="lake" did="user.alice:analysis.v1" type="DATASET" primary={false} />
    );
    await userEvent.click(await screen.findByRole('button', { name: 'Download' }));
    expect(lake.calls.find(c => c.method === 'POST')?.body).toEqual({
      did: 'user.alice:analysis.v1'
    });
    expect(
      await screen.findByRole('progressbar', {
        name: 'Download progress of user.alice:analysis.v1'
      })
    ).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Cancel' })).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Download' })).toBeNull();
  });

  it('when Download is the main action (download mode), then it is the accented button; elsewhere a plain one', async () => {
    const lake = testContext(companion(() => []));
    const { unmount } = lake.render(
      <DownloadBlock instance="lake" did="user.alice:analysis.v1" type="DATASET" primary />
    );
    expect((await screen.findByRole('button', { name: 'Download' })).className).toContain(
      'jp-mod-accept'
    );
    unmount();
    lake.render(
      <DownloadBlock instance="lake" did="user.alice:analysis.v1" type="DATASET" primary={false} />
    );
    expect((await screen.findByRole('button', { name: 'Download' })).className).not.toContain(
      'jp-mod-accept'
    );
  });

  it('when the job is done, then Open in file browser and Copy path act on its folder', async () => {
    const lake = testContext(companion(() => [job({ state: 'done', filesDone: 3 })]));
    lake.render(
      <DownloadBlock instance="lake" did="user.alice:analysis.v1" type="DATASET" primary />
    );
    expect(await screen.findByText(`Downloaded to ${FOLDER}`)).toBeTruthy();
    await userEvent.click(screen.getByRole('button', { name: 'Open in file browser' }));
    await userEvent.click(screen.getByRole('button', { name: 'Copy path' }));
    expect(lake.done).toEqual([
      { action: 'openInFileBrowser', args: [FOLDER] },
      { action: 'copyPath', args: [FOLDER, 'path'] }
    ]);
    expect(screen.queryByRole('button', { name: 'Cancel' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Retry' })).toBeNull();
  });

  it('when a file DID is done, then Copy path gives the file in its scope’s folder', async () => {
    const file = job({
      did: 'user.alice:events.csv',
      folder: '/home/jovyan/datalake-downloads/user.alice',
      state: 'done',
      filesTotal: 1,
      filesDone: 1
    });
    const lake = testContext(companion(() => [file]));
    lake.render(
      <DownloadBlock instance="lake" did="user.alice:events.csv" type="FILE" primary={false} />
    );
    await userEvent.click(await screen.findByRole('button', { name: 'Copy path' }));
    expect(lake.done).toEqual([
      {
        action: 'copyPath',
        args: ['/home/jovyan/datalake-downloads/user.alice/events.csv', 'path']
      }
    ]);
  });

  for (const state of ['failed', 'cancelled', 'interrupted'] as const) {
    it(`when the job is ${state}, then its sentence shows with Retry, which resumes it`, async () => {
      let jobs = [job({ state, error: `The download was ${state}. Retry it.` })];
      const lake = testContext(
        companion(() => jobs, {
          'POST api/instances/lake/downloads/job-1/retry': () => {
            jobs = [job()];
            return { status: 202, body: jobs[0] };
          }
        })
      );
      lake.render(
        <DownloadBlock instance="lake" did="user.alice:analysis.v1" type="DATASET" primary />
      );
      expect((await screen.findByRole('alert')).textContent).toBe(
        `The download was ${state}. Retry it.`
      );
      expect(screen.queryByRole('button', { name: 'Open in file browser' })).toBeNull();
      await userEvent.click(screen.getByRole('button', { name: 'Retry' }));
      expect(await screen.findByRole('button', { name: 'Cancel' })).toBeTruthy();
      expect(screen.queryByRole('alert')).toBeNull();
    });
  }

  it('when some files failed and the user asks which, then each failed file shows with its sentence', async () => {
    const file = (name: string, state: 'done' | 'failed', error?: string) => ({
      scope: 'user.alice',
      name,
      path: `${FOLDER}/${name}`,
      state,
      bytesTotal: 10,
      bytesDone: state === 'done' ? 10 : 0,
      adler32: '00000001',
      ...(error ? { error } : {})
    });
    const lake = testContext(
      companion(
        () => [
          job({ state: 'failed', filesDone: 1, filesFailed: 2, error: '2 of the 3 files failed.' })
        ],
        {
          'GET api/instances/lake/downloads/job-1': {
            download: job(),
            files: {
              items: [
                file('a.dat', 'done'),
                file('b.dat', 'failed', 'Its checksum differs from Rucio’s.'),
                file('c.dat', 'failed', 'It has no replica dlaas can read.')
              ],
              offset: 0,
              limit: 1000,
              total: 3,
              complete: true
            }
          }
        }
      )
    );
    lake.render(
      <DownloadBlock instance="lake" did="user.alice:analysis.v1" type="DATASET" primary />
    );
    await userEvent.click(await screen.findByText('Which files failed'));
    const items = await screen.findAllByRole('listitem');
    expect(items.map(item => item.textContent)).toEqual([
      'user.alice:b.dat Its checksum differs from Rucio’s.',
      'user.alice:c.dat It has no replica dlaas can read.'
    ]);
    expect(lake.calls.find(c => c.path.endsWith('/job-1'))?.query.get('limit')).toBe('1000');
  });

  it('when the companion refuses the download, then its sentence shows as the panel shows errors', async () => {
    const lake = testContext(
      companion(() => [], {
        'POST api/instances/lake/downloads': {
          status: 400,
          body: {
            error: {
              code: 'bad_request',
              message: 'user.alice:a/../b cannot be a folder name. Name a folder for it.'
            }
          }
        }
      })
    );
    lake.render(
      <DownloadBlock instance="lake" did="user.alice:a/../b" type="DATASET" primary={false} />
    );
    await userEvent.click(await screen.findByRole('button', { name: 'Download' }));
    expect((await screen.findByRole('alert')).textContent).toBe(
      'user.alice:a/../b cannot be a folder name. Name a folder for it.'
    );
  });

  it('when the instance is in download mode, then the details offer Download as the main action and no Make available', async () => {
    const lake = testContext({
      'GET api/instances': { instances: [{ ...LAKE, scratchRse: '', mode: 'download' }] },
      'GET api/instances/lake/auth': {
        instance: 'lake',
        method: 'userpass',
        signedIn: true,
        account: 'alice'
      },
      'GET api/instances/lake/scopes': { scopes: ['user.alice'] },
      'POST api/instances/lake/search': {
        items: [
          { scope: 'user.alice', name: 'analysis.v1', type: 'DATASET', bytes: 30, length: 3 }
        ],
        offset: 0,
        limit: 200,
        total: 1,
        complete: true
      },
      'GET api/instances/lake/did': {
        did: { scope: 'user.alice', name: 'analysis.v1', type: 'DATASET', bytes: 30, length: 3 },
        metadata: {},
        replicas: [],
        rules: []
      },
      'GET api/instances/lake/downloads': { downloads: [] }
    });
    lake.render(<DataLakeView searchDelay={10} />);
    await userEvent.type(await screen.findByRole('searchbox'), 'user.alice:analysis*');
    await userEvent.click(await screen.findByRole('option', { name: /^user\.alice:analysis\.v1/ }));
    const details = await screen.findByRole('region', { name: 'Details' });
    const download = await within(details).findByRole('button', { name: 'Download' });
    expect(download.className).toContain('jp-mod-accept');
    expect(within(details).queryByRole('button', { name: 'Make available' })).toBeNull();
    expect(lake.calls.some(c => c.path.endsWith('/availability'))).toBe(false);
  });
});

describe('the Downloads list', () => {
  it('when jobs are listed, then each shows with the buttons its state allows, and Remove forgets a job, saying that the files stay', async () => {
    let jobs = [
      job({ id: 'job-2', did: 'user.alice:raw.v2', folder: '/h/raw.v2' }),
      job({ state: 'done', filesDone: 3 })
    ];
    const lake = testContext(
      companion(() => jobs, {
        'DELETE api/instances/lake/downloads/job-1': () => {
          jobs = jobs.filter(j => j.id !== 'job-1');
          return { status: 204, body: null };
        }
      })
    );
    lake.render(<DownloadsView instance="lake" onClose={() => undefined} />);
    const list = await screen.findByRole('list', { name: 'Download jobs' });
    await within(list).findAllByRole('listitem');
    const running = within(list).getByRole('listitem', { name: 'user.alice:raw.v2' });
    const done = within(list).getByRole('listitem', { name: 'user.alice:analysis.v1' });
    expect(within(list).getAllByRole('listitem')[0]).toBe(running);
    expect(within(running).getByRole('button', { name: 'Cancel' })).toBeTruthy();
    // A running job cannot be removed: cancel it first.
    expect(within(running).queryByRole('button', { name: 'Remove' })).toBeNull();
    const remove = within(done).getByRole('button', { name: 'Remove' });
    expect(remove.title).toBe(`Remove this download from the list; its files stay in ${FOLDER}`);
    await userEvent.click(remove);
    await waitFor(() => expect(within(list).getAllByRole('listitem')).toHaveLength(1));
    expect(lake.calls.some(c => c.method === 'DELETE')).toBe(true);
  });

  it('when the sidebar asks for the Downloads list, then it shows instead of the search, which comes back as it was', async () => {
    const lake = testContext({
      ...companion(() => [job()]),
      'GET api/instances/lake/auth': {
        instance: 'lake',
        method: 'userpass',
        signedIn: true,
        account: 'alice'
      },
      'GET api/instances/lake/scopes': { scopes: ['user.alice'] }
    });
    // The sidebar passes a new request object each time it is asked (the status bar's click).
    function Sidebar(): JSX.Element {
      const [request, setRequest] = React.useState<{ instance?: string } | null>(null);
      return (
        <>
          <button onClick={() => setRequest({ instance: 'lake' })}>status bar</button>
          <DataLakeView searchDelay={10} showDownloads={request} />
        </>
      );
    }
    lake.render(<Sidebar />);
    await userEvent.type(await screen.findByRole('searchbox'), 'user.alice:x');
    await userEvent.click(screen.getByRole('button', { name: 'status bar' }));
    expect(await screen.findByRole('region', { name: 'Downloads' })).toBeTruthy();
    expect(screen.queryByRole('searchbox')).toBeNull();
    await userEvent.click(screen.getByRole('button', { name: 'Back to the data lake' }));
    expect((screen.getByRole('searchbox') as HTMLInputElement).value).toBe('user.alice:x');
  });
});

describe('the notifications of downloads that end', () => {
  beforeEach(() => Notification.manager.dismiss());
  afterEach(() => Notification.manager.dismiss());

  /** A tracker over a companion whose jobs are `jobs()`, and the jobs it announced. */
  function tracked(jobs: () => Download[]) {
    const { transport } = stubTransport(companion(jobs));
    const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    const tracker = new DownloadTracker(new DataLakeClient(transport), queryClient);
    const announced: Download[] = [];
    tracker.ended.connect((_, ended) => {
      announced.push(ended);
      announceDownload(ended, trans, () => undefined);
    });
    const readAgain = () => queryClient.refetchQueries({ queryKey: downloadKeys.list('lake') });
    return { tracker, announced, readAgain };
  }

  it('when a job seen running ends, then it is announced once, also when its list is read again', async () => {
    let jobs = [job()];
    const { tracker, announced, readAgain } = tracked(() => jobs);
    tracker.start();
    await waitFor(() => expect(tracker.active).toHaveLength(1));
    jobs = [job({ state: 'done', filesDone: 3, bytesDone: 30 * MiB })];
    await readAgain();
    await readAgain();
    expect(announced.map(j => j.id)).toEqual(['job-1']);
    expect(tracker.active).toEqual([]);
    expect(Notification.manager.notifications.map(n => [n.type, n.message])).toEqual([
      ['success', `user.alice:analysis.v1 downloaded to ${FOLDER}`]
    ]);
    tracker.dispose();
  });

  it('when a job that ended before JupyterLab was loaded is read, then it is not announced again', async () => {
    const jobs = [job({ state: 'done' }), job({ id: 'job-0', state: 'failed', error: 'x' })];
    const { tracker, announced, readAgain } = tracked(() => jobs);
    const changed = new Promise<void>(resolve => tracker.changed.connect(() => resolve()));
    tracker.start();
    await changed;
    await readAgain();
    expect(announced).toEqual([]);
    expect(Notification.manager.count).toBe(0);
    tracker.dispose();
  });

  it('when a job fails, then the companion’s sentence is an error kept until dismissed; a cancelled job is not announced', async () => {
    let jobs = [job(), job({ id: 'job-2' })];
    const { tracker, announced, readAgain } = tracked(() => jobs);
    tracker.start();
    await waitFor(() => expect(tracker.active).toHaveLength(2));
    jobs = [
      job({ state: 'failed', error: 'One file failed: its checksum differs. Retry it.' }),
      job({ id: 'job-2', state: 'cancelled' })
    ];
    await readAgain();
    expect(announced.map(j => j.state)).toEqual(['failed', 'cancelled']);
    const shown = Notification.manager.notifications;
    expect(shown.map(n => [n.type, n.message, n.options.autoClose])).toEqual([
      [
        'error',
        'The download of user.alice:analysis.v1 did not finish: One file failed: its checksum differs. Retry it.',
        false
      ]
    ]);
    tracker.dispose();
  });
});
