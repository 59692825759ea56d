/**
 * Download mode in the panel: the companion's download jobs as react-query data, how their
 * progress reads, and the {@link DownloadTracker} that follows running jobs for the status bar
 * and the notifications, also across a JupyterLab reload.
 */
import type { Download, DownloadFile, DownloadsResponse } from '@dlaas/api';
import { Notification } from '@jupyterlab/apputils';
import type { TranslationBundle } from '@jupyterlab/translation';
import type { IDisposable } from '@lumino/disposable';
import { Signal, type ISignal } from '@lumino/signaling';
import {
  QueryObserver,
  useMutation,
  useQuery,
  useQueryClient,
  type Query,
  type QueryClient
} from '@tanstack/react-query';
import type { DataLakeClient, DataLakeError } from './client';
import { useDataLake } from './context';
import { formatBytes, formatCount } from './format';
import { keys } from './hooks';

/** How often the jobs of an instance are read while one of them runs (ms). */
export const DOWNLOAD_POLL_MS = 1000;

/**
 * How often the {@link DownloadTracker} asks again for what it could not read (the companion
 * restarting, say), in ms.
 */
export const DOWNLOAD_RETRY_MS = 10_000;

/** Query keys of download mode. */
export const downloadKeys = {
  list: (instance: string) => ['dlaas', instance, 'downloads'] as const,
  failedFiles: (instance: string, id: string) =>
    ['dlaas', instance, 'downloads', id, 'failed'] as const
};

/** How many failed files {@link useFailedFiles} shows at most. */
export const FAILED_FILES_SHOWN = 10;

/** Files of a job read per request while looking for its failed ones. */
const FAILED_FILES_WINDOW = 1000;

/** Whether a job is under way: listing its files or transferring them. */
export function isActive(job: Pick<Download, 'state'>): boolean {
  return job.state === 'listing' || job.state === 'running';
}

/** Whether a job stopped before it was done, so that Retry may finish it. */
export function canRetry(job: Pick<Download, 'state'>): boolean {
  return job.state === 'failed' || job.state === 'cancelled' || job.state === 'interrupted';
}

/**
 * How often a list of jobs is read again: every second while a job runs, else not at all (the
 * panel's own actions update it); every {@link DOWNLOAD_RETRY_MS} while it cannot be read.
 */
export function downloadsRefetchInterval(
  query: Query<DownloadsResponse, DataLakeError, DownloadsResponse, readonly unknown[]>
): number | false {
  if (query.state.status === 'error') {
    return DOWNLOAD_RETRY_MS;
  }
  return query.state.data?.downloads.some(isActive) ? DOWNLOAD_POLL_MS : false;
}

/** A transfer rate: `12 MiB/s`. */
export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(Math.round(bytesPerSecond))}/s`;
}

/** A duration to wait, short: `45 s`, `3 min`, `1 h 20 min`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) {
    return `${s} s`;
  }
  const minutes = Math.round(s / 60);
  if (minutes < 60) {
    return `${minutes} min`;
  }
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return rest === 0 ? `${hours} h` : `${hours} h ${rest} min`;
}

/**
 * The progress of a job in words: `2 of 3 files · 1.5 MiB of 3.0 MiB`, and while it runs its
 * rate and the time left (`· 12 MiB/s · 45 s left`).
 */
export function progressText(job: Download, trans: TranslationBundle): string {
  if (job.state === 'listing') {
    return trans.__('Listing the files and their replicas…');
  }
  const parts = [
    trans.__('%1 of %2 files', formatCount(job.filesDone), formatCount(job.filesTotal)),
    trans.__('%1 of %2', formatBytes(job.bytesDone), formatBytes(job.bytesTotal))
  ];
  if (job.filesFailed > 0) {
    parts.push(trans._n('%2 failed', '%2 failed', job.filesFailed, formatCount(job.filesFailed)));
  }
  if (job.state === 'running') {
    if (job.bytesPerSecond > 0) {
      parts.push(formatRate(job.bytesPerSecond));
    }
    if (job.secondsLeft !== null) {
      parts.push(trans.__('%1 left', formatDuration(job.secondsLeft)));
    }
  }
  return parts.join(' · ');
}

/**
 * The status bar's words for the jobs under way: `Downloading 3 of 10 files · 12 MiB/s` (files
 * and rates summed over the jobs), or null when none runs.
 */
export function statusText(jobs: readonly Download[], trans: TranslationBundle): string | null {
  const running = jobs.filter(isActive);
  if (running.length === 0) {
    return null;
  }
  const done = running.reduce((sum, job) => sum + job.filesDone, 0);
  const total = running.reduce((sum, job) => sum + job.filesTotal, 0);
  const rate = running.reduce((sum, job) => sum + job.bytesPerSecond, 0);
  if (total === 0) {
    return trans.__('Downloading…');
  }
  const files = trans._n(
    'Downloading %2 of %3 file',
    'Downloading %2 of %3 files',
    total,
    formatCount(done),
    formatCount(total)
  );
  return rate > 0 ? `${files} · ${formatRate(rate)}` : files;
}

/**
 * The path to copy for a finished job: the file itself for a file DID (it lands in the folder
 * under its name), else the folder.
 */
export function downloadedPath(job: Download, isFile: boolean): string {
  if (!isFile) {
    return job.folder;
  }
  const colon = job.did.indexOf(':');
  const name = job.did.slice(colon + 1).replace(/^\/+/, '');
  return `${job.folder.replace(/\/+$/, '')}/${name}`;
}

/**
 * Follows the download jobs of every instance, for the status bar and the notifications: on
 * {@link start} it reads each instance's jobs once (so jobs started before a reload are
 * followed), then every second while one runs, and stops asking once none does; the panel's own
 * actions (Download, Retry) start it again through the shared react-query cache.
 *
 * A job is announced ({@link ended}) when it is seen under way and then seen ended, in this
 * JupyterLab session: jobs started here, and jobs that were running when JupyterLab was
 * (re)loaded. A job that ended while no JupyterLab looked is not announced again on the next
 * load (the Downloads list shows how it ended); one that ended in the moment of a reload is not
 * announced either.
 */
export class DownloadTracker implements IDisposable {
  /**
   * @param client - the companion's API
   * @param queryClient - the panel's cache, which the views of the jobs share
   */
  constructor(
    private readonly client: DataLakeClient,
    private readonly queryClient: QueryClient
  ) {}

  /** Emitted when the jobs followed change. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Emitted once for each job seen under way that has ended (done, failed, ...). */
  get ended(): ISignal<this, Download> {
    return this._ended;
  }

  /** The jobs under way, on every instance followed. */
  get active(): Download[] {
    return [...this._jobs.values()].flat().filter(isActive);
  }

  /** Whether this has been disposed. */
  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Reads the instances, then follows the jobs of each. Does nothing when started already. */
  start(): void {
    if (this._disposed || this._unsubscribe.has('')) {
      return;
    }
    const observer = new QueryObserver(this.queryClient, {
      queryKey: keys.instances(),
      queryFn: () => this.client.instances(),
      // The companion may not answer at JupyterLab's start: ask again now and then.
      refetchInterval: query => (query.state.status === 'error' ? DOWNLOAD_RETRY_MS : false)
    });
    const onResult = (): void =>
      observer.getCurrentResult().data?.instances.forEach(i => this.follow(i.name));
    this._unsubscribe.set('', observer.subscribe(onResult));
    onResult();
  }

  /** Follows the jobs of `instance` (once). */
  follow(instance: string): void {
    if (this._disposed || this._unsubscribe.has(instance)) {
      return;
    }
    const observer = new QueryObserver<DownloadsResponse, DataLakeError>(this.queryClient, {
      queryKey: downloadKeys.list(instance),
      queryFn: () => this.client.downloads(instance),
      refetchInterval: downloadsRefetchInterval
    });
    const onResult = (): void => this.onJobs(instance, observer.getCurrentResult().data);
    this._unsubscribe.set(instance, observer.subscribe(onResult));
    onResult();
  }

  /** Stops following. Safe to call twice. */
  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._unsubscribe.forEach(unsubscribe => unsubscribe());
    this._unsubscribe.clear();
    Signal.clearData(this);
  }

  private onJobs(instance: string, answer: DownloadsResponse | undefined): void {
    if (!answer) {
      return;
    }
    const jobs = answer.downloads;
    this._jobs.set(instance, jobs);
    const ended: Download[] = [];
    const present = new Set<string>();
    for (const job of jobs) {
      const key = `${instance}\n${job.id}`;
      present.add(key);
      if (isActive(job)) {
        this._underWay.add(key);
      } else if (this._underWay.delete(key)) {
        ended.push(job);
      }
    }
    // A job removed meanwhile is not followed any more.
    for (const key of this._underWay) {
      if (key.startsWith(`${instance}\n`) && !present.has(key)) {
        this._underWay.delete(key);
      }
    }
    this._changed.emit();
    ended.forEach(job => this._ended.emit(job));
  }

  private _disposed = false;
  /** Unsubscribers of the observers, by instance ('' for the instances). */
  private readonly _unsubscribe = new Map<string, () => void>();
  /** The last jobs read, by instance. */
  private readonly _jobs = new Map<string, Download[]>();
  /** `instance\nid` of the jobs seen under way in this session and not ended since. */
  private readonly _underWay = new Set<string>();
  private readonly _changed = new Signal<this, void>(this);
  private readonly _ended = new Signal<this, Download>(this);
}

/**
 * Tells the user how a job ended, with JupyterLab's notifications: done (with an action that
 * opens the folder), failed or interrupted (the companion's sentence, kept until dismissed). A
 * job the user cancelled is not announced.
 */
export function announceDownload(
  job: Download,
  trans: TranslationBundle,
  openFolder: (folder: string) => void
): void {
  switch (job.state) {
    case 'done':
      Notification.success(trans.__('%1 downloaded to %2', job.did, job.folder), {
        autoClose: 8000,
        actions: [
          {
            label: trans.__('Open folder'),
            caption: trans.__('Show the folder in the file browser'),
            callback: () => openFolder(job.folder)
          }
        ]
      });
      return;
    case 'failed':
    case 'interrupted':
      Notification.error(
        trans.__(
          'The download of %1 did not finish: %2',
          job.did,
          job.error ?? trans.__('Open the Downloads list to see which files failed, then retry.')
        ),
        { autoClose: false }
      );
      return;
    default:
      return;
  }
}

/** The download jobs of `instance`, newest first, read every second while one runs. */
export function useDownloads(instance: string) {
  const { client } = useDataLake();
  return useQuery<DownloadsResponse, DataLakeError>({
    queryKey: downloadKeys.list(instance),
    queryFn: () => client.downloads(instance),
    refetchInterval: downloadsRefetchInterval
  });
}

/** The newest job of `instance` for `did`, if any. */
export function useDownloadOf(instance: string, did: string) {
  const downloads = useDownloads(instance);
  return { downloads, job: downloads.data?.downloads.find(job => job.did === did) };
}

/**
 * The first {@link FAILED_FILES_SHOWN} failed files of a job, each with its sentence, read window
 * after window when `enabled` (the user asked which files failed); `more` says whether the job
 * has failed files beyond them.
 */
export function useFailedFiles(job: Download, enabled: boolean) {
  const { client } = useDataLake();
  return useQuery<{ files: DownloadFile[]; more: boolean }, DataLakeError>({
    // A new try of the job (its failures counted anew) reads them again.
    queryKey: [...downloadKeys.failedFiles(job.instance, job.id), job.finishedAt],
    queryFn: async () => {
      const files: DownloadFile[] = [];
      for (let offset = 0; ; offset += FAILED_FILES_WINDOW) {
        const { files: window } = await client.download(
          job.instance,
          job.id,
          offset,
          FAILED_FILES_WINDOW
        );
        files.push(...window.items.filter(file => file.state === 'failed'));
        const end = offset + window.items.length;
        if (files.length > FAILED_FILES_SHOWN || window.items.length === 0 || end >= window.total) {
          return {
            files: files.slice(0, FAILED_FILES_SHOWN),
            more: files.length > FAILED_FILES_SHOWN || job.filesFailed > FAILED_FILES_SHOWN
          };
        }
      }
    },
    enabled
  });
}

/** Puts `job` first in the cached list of its instance (or in place of its older self). */
function putJob(queryClient: QueryClient, job: Download): void {
  queryClient.setQueryData<DownloadsResponse>(downloadKeys.list(job.instance), previous => {
    const list = previous?.downloads ?? [];
    return {
      downloads: list.some(j => j.id === job.id)
        ? list.map(j => (j.id === job.id ? job : j))
        : [job, ...list]
    };
  });
}

/** Starts a download of a DID into the instance's default folder. */
export function useStartDownload(instance: string) {
  const { client } = useDataLake();
  const queryClient = useQueryClient();
  return useMutation<Download, DataLakeError, string>({
    mutationFn: did => client.startDownload(instance, did),
    onSuccess: job => putJob(queryClient, job)
  });
}

/** Cancel, Retry and Remove of a job, each updating the list at once. */
export function useDownloadActions(instance: string) {
  const { client } = useDataLake();
  const queryClient = useQueryClient();
  const cancel = useMutation<Download, DataLakeError, string>({
    mutationFn: id => client.cancelDownload(instance, id),
    onSuccess: job => putJob(queryClient, job)
  });
  const retry = useMutation<Download, DataLakeError, string>({
    mutationFn: id => client.retryDownload(instance, id),
    onSuccess: job => putJob(queryClient, job)
  });
  const remove = useMutation<undefined, DataLakeError, string>({
    mutationFn: async id => {
      await client.removeDownload(instance, id);
      return undefined;
    },
    onSuccess: (_, id) =>
      queryClient.setQueryData<DownloadsResponse>(downloadKeys.list(instance), previous => ({
        downloads: (previous?.downloads ?? []).filter(j => j.id !== id)
      }))
  });
  return { cancel, retry, remove };
}
