/**
 * What download and upload jobs share: how their progress reads, how often their lists are read,
 * and the {@link JobTracker} that follows the running ones of every instance for the status bar
 * and the notifications, also across a JupyterLab reload.
 */
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
  type QueryClient,
  type UseMutationResult
} from '@tanstack/react-query';
import type { DataLakeClient, DataLakeError } from './client';
import { useDataLake } from './context';
import { formatBytes, formatCount } from './format';
import { keys } from './hooks';

/** How often the jobs of an instance are read while one of them runs (ms). */
export const JOB_POLL_MS = 1000;

/**
 * How often a {@link JobTracker} asks again for what it could not read (the companion
 * restarting, say), in ms.
 */
export const JOB_RETRY_MS = 10_000;

/** How many failed files {@link useFailedTransferFiles} shows at most. */
export const FAILED_FILES_SHOWN = 10;

/** Files of a job read per request while looking for its failed ones. */
const FAILED_FILES_WINDOW = 1000;

/** The fields download and upload jobs share (the companion names them alike). */
export interface ITransferJob {
  id: string;
  instance: string;
  state: string;
  filesTotal: number;
  filesDone: number;
  filesFailed: number;
  bytesTotal: number;
  bytesDone: number;
  bytesPerSecond: number;
  secondsLeft: number | null;
  /** When the job last ended, ISO 8601; null while it runs. */
  finishedAt: string | null;
  error?: string;
}

/** Whether a job is under way: preparing (a download listing its files) or transferring. */
export function isActive(job: Pick<ITransferJob, 'state'>): boolean {
  return job.state === 'listing' || job.state === 'running';
}

/** Whether a job stopped before it was done, so that Retry may finish it. */
export function canRetry(job: Pick<ITransferJob, 'state'>): boolean {
  return job.state === 'failed' || job.state === 'cancelled' || job.state === 'interrupted';
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
export function transferProgressText(job: ITransferJob, trans: TranslationBundle): string {
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

/** The words of a status bar item, by kind of job. */
export interface IStatusWords {
  /** While the totals are not known yet: `Downloading…`. */
  starting: string;
  /** `Downloading %2 of %3 file(s)`, singular and plural, for `trans._n`. */
  singular: string;
  plural: string;
}

/**
 * The status bar's words for the jobs under way: `Downloading 3 of 10 files · 12 MiB/s` (files
 * and rates summed over the jobs), or null when none runs.
 */
export function transferStatusText(
  jobs: readonly ITransferJob[],
  words: IStatusWords,
  trans: TranslationBundle
): string | null {
  const running = jobs.filter(isActive);
  if (running.length === 0) {
    return null;
  }
  const done = running.reduce((sum, job) => sum + job.filesDone, 0);
  const total = running.reduce((sum, job) => sum + job.filesTotal, 0);
  const rate = running.reduce((sum, job) => sum + job.bytesPerSecond, 0);
  if (total === 0) {
    return words.starting;
  }
  const files = trans._n(
    words.singular,
    words.plural,
    total,
    formatCount(done),
    formatCount(total)
  );
  return rate > 0 ? `${files} · ${formatRate(rate)}` : files;
}

/**
 * How often a list of jobs is read again: every second while a job runs, else not at all (the
 * panel's own actions update it); every {@link JOB_RETRY_MS} while it cannot be read.
 */
export function jobsRefetchInterval<R>(
  jobsOf: (answer: R) => readonly ITransferJob[]
): (query: Query<R, DataLakeError, R, readonly unknown[]>) => number | false {
  return query => {
    if (query.state.status === 'error') {
      return JOB_RETRY_MS;
    }
    const data = query.state.data;
    return data !== undefined && jobsOf(data).some(isActive) ? JOB_POLL_MS : false;
  };
}

/** One file of a job, as far as the jobs' shared views read it. */
export interface ITransferFile {
  /** `failed` for a file that failed (the companion names the other states by kind). */
  state: string;
}

/** One window of a job's files, as the companion serves them. */
export interface ITransferFileWindow<F extends ITransferFile> {
  items: F[];
  /** How many files the job has in all. */
  total: number;
}

/**
 * One kind of job (downloads, uploads): where its list is cached, how it is read, and how the
 * files of one of its jobs are read.
 */
export interface IJobKind<R, J extends ITransferJob, F extends ITransferFile = ITransferFile> {
  /** The react-query key of an instance's list, shared with the panel's views. */
  listKey(instance: string): readonly unknown[];
  /** Reads an instance's list from the companion. */
  read(client: DataLakeClient, instance: string): Promise<R>;
  /** The jobs of an answer. */
  jobs(answer: R): J[];
  /** An answer holding `jobs` (to update the cached list). */
  answer(jobs: J[]): R;
  /** Cancel, Retry and Remove of one job, on the companion. */
  cancel(client: DataLakeClient, instance: string, id: string): Promise<J>;
  retry(client: DataLakeClient, instance: string, id: string): Promise<J>;
  remove(client: DataLakeClient, instance: string, id: string): Promise<void>;
  /** The react-query key of a job's failed files (the job's `finishedAt` is added to it). */
  failedFilesKey(instance: string, id: string): readonly unknown[];
  /** Reads one window of a job's files: from `offset`, at most `limit` of them. */
  files(
    client: DataLakeClient,
    instance: string,
    id: string,
    offset: number,
    limit: number
  ): Promise<ITransferFileWindow<F>>;
}

/**
 * Follows the jobs of one kind on every instance, for the status bar and the notifications: on
 * {@link start} it reads each instance's jobs once (so jobs started before a reload are
 * followed), then every second while one runs, and stops asking once none does; the panel's own
 * actions (start, Retry) start it again through the shared react-query cache.
 *
 * A job is announced ({@link ended}) when it is seen under way and then seen ended, in this
 * JupyterLab session: jobs started here, and jobs that were running when JupyterLab was
 * (re)loaded. A job that ended while no JupyterLab looked is not announced again on the next
 * load (the panel's list shows how it ended); one that ended in the moment of a reload is not
 * announced either.
 */
export class JobTracker<R, J extends ITransferJob> implements IDisposable {
  /**
   * @param client - the companion's API
   * @param queryClient - the panel's cache, which the views of the jobs share
   * @param kind - which jobs to follow
   */
  constructor(
    private readonly client: DataLakeClient,
    private readonly queryClient: QueryClient,
    private readonly kind: IJobKind<R, J>
  ) {}

  /** Emitted when the jobs followed change. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Emitted once for each job seen under way that has ended (done, failed, ...). */
  get ended(): ISignal<this, J> {
    return this._ended;
  }

  /** The jobs under way, on every instance followed. */
  get active(): J[] {
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
      refetchInterval: query => (query.state.status === 'error' ? JOB_RETRY_MS : false)
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
    const observer = new QueryObserver<R, DataLakeError>(this.queryClient, {
      queryKey: this.kind.listKey(instance),
      queryFn: () => this.kind.read(this.client, instance),
      refetchInterval: jobsRefetchInterval(answer => this.kind.jobs(answer))
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

  private onJobs(instance: string, answer: R | undefined): void {
    if (answer === undefined) {
      return;
    }
    const jobs = this.kind.jobs(answer);
    this._jobs.set(instance, jobs);
    const ended: J[] = [];
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
  private readonly _jobs = new Map<string, J[]>();
  /** `instance\nid` of the jobs seen under way in this session and not ended since. */
  private readonly _underWay = new Set<string>();
  private readonly _changed = new Signal<this, void>(this);
  private readonly _ended = new Signal<this, J>(this);
}

/**
 * Puts `job` first in the cached list of its instance (or in place of its older self), for the
 * answers of start, Cancel and Retry.
 */
export function putJob<R, J extends ITransferJob>(
  queryClient: QueryClient,
  kind: IJobKind<R, J>,
  job: J
): void {
  queryClient.setQueryData<R>(kind.listKey(job.instance), previous => {
    const list = previous === undefined ? [] : kind.jobs(previous);
    return kind.answer(
      list.some(j => j.id === job.id) ? list.map(j => (j.id === job.id ? job : j)) : [job, ...list]
    );
  });
}

/** Cancel, Retry and Remove of the jobs of one kind on `instance`, each updating the list at once. */
export function useJobActions<R, J extends ITransferJob>(
  kind: IJobKind<R, J>,
  instance: string
): IJobMutations<J> {
  const { client } = useDataLake();
  const queryClient = useQueryClient();
  const cancel = useMutation<J, DataLakeError, string>({
    mutationFn: id => kind.cancel(client, instance, id),
    onSuccess: job => putJob(queryClient, kind, job)
  });
  const retry = useMutation<J, DataLakeError, string>({
    mutationFn: id => kind.retry(client, instance, id),
    onSuccess: job => putJob(queryClient, kind, job)
  });
  const remove = useMutation<undefined, DataLakeError, string>({
    mutationFn: async id => {
      await kind.remove(client, instance, id);
      return undefined;
    },
    onSuccess: (_, id) =>
      queryClient.setQueryData<R>(kind.listKey(instance), previous =>
        kind.answer((previous === undefined ? [] : kind.jobs(previous)).filter(j => j.id !== id))
      )
  });
  return { cancel, retry, remove };
}

/** Cancel, Retry and Remove of jobs, as mutations of a job id. */
export interface IJobMutations<J> {
  cancel: UseMutationResult<J, DataLakeError, string>;
  retry: UseMutationResult<J, DataLakeError, string>;
  remove: UseMutationResult<undefined, DataLakeError, string>;
}

/**
 * Tells the user how a job ended, with JupyterLab's notifications: done (`done`, with its action,
 * closing by itself), failed or interrupted (`unfinished`, kept until dismissed). A job the user
 * cancelled is not announced.
 */
export function announceJobEnd(
  job: Pick<ITransferJob, 'state'>,
  messages: {
    done: string;
    action: { label: string; caption: string; callback(): void };
    unfinished: string;
  }
): void {
  if (job.state === 'done') {
    Notification.success(messages.done, { autoClose: 8000, actions: [messages.action] });
  } else if (job.state === 'failed' || job.state === 'interrupted') {
    Notification.error(messages.unfinished, { autoClose: false });
  }
}

/** What a job's state is called, with the kind's words for running and done. */
export function stateLabel(
  job: Pick<ITransferJob, 'state'>,
  words: { running: string; done: string },
  trans: TranslationBundle
): string {
  switch (job.state) {
    case 'listing':
    case 'running':
      return words.running;
    case 'done':
      return words.done;
    case 'failed':
      return trans.__('Failed');
    case 'cancelled':
      return trans.__('Cancelled');
    case 'interrupted':
      return trans.__('Interrupted');
    default:
      return job.state;
  }
}

/** The first failed files of a job, and whether it has more. */
export interface IFailedTransferFiles<F> {
  files: F[];
  more: boolean;
}

/**
 * The first {@link FAILED_FILES_SHOWN} failed files of a job of `kind`, each with its sentence,
 * read window after window when `enabled` (the user asked which files failed); `more` says
 * whether the job has failed files beyond them.
 */
export function useFailedTransferFiles<R, J extends ITransferJob, F extends ITransferFile>(
  kind: IJobKind<R, J, F>,
  job: J,
  enabled: boolean
) {
  const { client } = useDataLake();
  return useQuery<IFailedTransferFiles<F>, DataLakeError>({
    // A new try of the job (its failures counted anew) reads them again.
    queryKey: [...kind.failedFilesKey(job.instance, job.id), job.finishedAt],
    queryFn: async () => {
      const files: F[] = [];
      for (let offset = 0; ; offset += FAILED_FILES_WINDOW) {
        const window = await kind.files(client, job.instance, job.id, offset, FAILED_FILES_WINDOW);
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
