/**
 * Download mode in the panel: the companion's download jobs as react-query data, how their
 * progress reads, and the {@link DownloadTracker} that follows running jobs for the status bar
 * and the notifications, also across a JupyterLab reload.
 */
import type { Download, DownloadFile, DownloadsResponse } from '@dlaas/api';
import type { TranslationBundle } from '@jupyterlab/translation';
import { useMutation, useQuery, useQueryClient, type QueryClient } from '@tanstack/react-query';
import type { DataLakeClient, DataLakeError } from './client';
import { useDataLake } from './context';
import {
  JOB_POLL_MS,
  JobTracker,
  announceJobEnd,
  jobsRefetchInterval,
  transferProgressText,
  putJob,
  transferStatusText,
  useFailedTransferFiles,
  useJobActions,
  type IJobKind,
  type IJobMutations
} from './transfers';

/** How often the jobs of an instance are read while one of them runs (ms). */
export const DOWNLOAD_POLL_MS = JOB_POLL_MS;

/** Query keys of download mode. */
export const downloadKeys = {
  list: (instance: string) => ['dlaas', instance, 'downloads'] as const,
  failedFiles: (instance: string, id: string) =>
    ['dlaas', instance, 'downloads', id, 'failed'] as const
};

/**
 * How often a list of download jobs is read again: every second while a job runs, else not at
 * all (the panel's own actions update it); every 10 s while it cannot be read.
 */
export const downloadsRefetchInterval = jobsRefetchInterval<DownloadsResponse>(
  answer => answer.downloads
);

/**
 * The progress of a job in words: `2 of 3 files · 1.5 MiB of 3.0 MiB`, and while it runs its
 * rate and the time left (`· 12 MiB/s · 45 s left`).
 */
export function progressText(job: Download, trans: TranslationBundle): string {
  return job.state === 'listing'
    ? trans.__('Listing the files and their replicas…')
    : transferProgressText(job, trans);
}

/**
 * The status bar's words for the jobs under way: `Downloading 3 of 10 files · 12 MiB/s` (files
 * and rates summed over the jobs), or null when none runs.
 */
export function statusText(jobs: readonly Download[], trans: TranslationBundle): string | null {
  return transferStatusText(
    jobs,
    {
      starting: trans.__('Downloading…'),
      singular: 'Downloading %2 of %3 file',
      plural: 'Downloading %2 of %3 files'
    },
    trans
  );
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

/** Download jobs, for a {@link JobTracker}. */
export const downloadJobs: IJobKind<DownloadsResponse, Download, DownloadFile> = {
  listKey: instance => downloadKeys.list(instance),
  read: (client, instance) => client.downloads(instance),
  jobs: answer => answer.downloads,
  answer: downloads => ({ downloads }),
  cancel: (client, instance, id) => client.cancelDownload(instance, id),
  retry: (client, instance, id) => client.retryDownload(instance, id),
  remove: (client, instance, id) => client.removeDownload(instance, id),
  failedFilesKey: (instance, id) => downloadKeys.failedFiles(instance, id),
  files: async (client, instance, id, offset, limit) =>
    (await client.download(instance, id, offset, limit)).files
};

/**
 * Follows the download jobs of every instance, for the status bar and the notifications (see
 * {@link JobTracker}).
 */
export class DownloadTracker extends JobTracker<DownloadsResponse, Download> {
  /**
   * @param client - the companion's API
   * @param queryClient - the panel's cache, which the views of the jobs share
   */
  constructor(client: DataLakeClient, queryClient: QueryClient) {
    super(client, queryClient, downloadJobs);
  }
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
  announceJobEnd(job, {
    done: trans.__('%1 downloaded to %2', job.did, job.folder),
    action: {
      label: trans.__('Open folder'),
      caption: trans.__('Show the folder in the file browser'),
      callback: () => openFolder(job.folder)
    },
    unfinished: trans.__(
      'The download of %1 did not finish: %2',
      job.did,
      job.error ?? trans.__('Open the Downloads list to see which files failed, then retry.')
    )
  });
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
 * The first few failed files of a download, each with its sentence, read when `enabled` (see
 * {@link useFailedTransferFiles}).
 */
export function useFailedFiles(job: Download, enabled: boolean) {
  return useFailedTransferFiles(downloadJobs, job, enabled);
}

/** Starts a download of a DID into the instance's default folder. */
export function useStartDownload(instance: string) {
  const { client } = useDataLake();
  const queryClient = useQueryClient();
  return useMutation<Download, DataLakeError, string>({
    mutationFn: did => client.startDownload(instance, did),
    onSuccess: job => putJob(queryClient, downloadJobs, job)
  });
}

/** Cancel, Retry and Remove of a download, each updating the list at once. */
export function useDownloadActions(instance: string): IJobMutations<Download> {
  return useJobActions(downloadJobs, instance);
}
