/**
 * Store back (upload) in the panel: the companion's upload jobs as react-query data, the checks
 * the upload form makes as the user types, how a file browser path becomes a path the companion
 * takes, and the {@link UploadTracker} for the status bar and the notifications.
 */
import type {
  UploadFile,
  UploadJob,
  UploadRequest,
  UploadRse,
  UploadsResponse,
  UploadTargetsResponse
} from '@dlaas/api';
import type { TranslationBundle } from '@jupyterlab/translation';
import { useMutation, useQuery, useQueryClient, type QueryClient } from '@tanstack/react-query';
import type { DataLakeClient, DataLakeError } from './client';
import { DECIMAL } from './components/SearchBar';
import { useDataLake } from './context';
import { formatBytes } from './format';
import {
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

/** Query keys of uploads. */
export const uploadKeys = {
  list: (instance: string) => ['dlaas', instance, 'uploads'] as const,
  targets: (instance: string) => ['dlaas', instance, 'upload-targets'] as const,
  datasets: (instance: string, scope: string) =>
    ['dlaas', instance, 'upload-datasets', scope] as const,
  failedFiles: (instance: string, id: string) =>
    ['dlaas', instance, 'uploads', id, 'failed'] as const
};

/**
 * Rucio's generic naming rules (`rucio.common.schema.generic`), which the form checks as the user
 * types; a lake with rules of its own has the companion refuse other names with a sentence.
 */
const NAME_PATTERN = /^[/A-Za-z0-9][/A-Za-z0-9.\-_]*$/u;
const NAME_MAX_LENGTH = 250;

/** Metadata keys as the search filter takes them. */
const METADATA_KEY = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/u;

/** Why `name` cannot name a new dataset, as a sentence; null when it can. */
export function datasetNameProblem(name: string, trans: TranslationBundle): string | null {
  if (name.trim() === '') {
    return trans.__('Give the dataset a name.');
  }
  if (name.length > NAME_MAX_LENGTH || !NAME_PATTERN.test(name)) {
    return trans.__(
      'Names have up to %1 letters, digits, dots, dashes, underscores or slashes, and start with a letter, a digit or a slash.',
      String(NAME_MAX_LENGTH)
    );
  }
  if (name.split('/').some((part, i) => part === '.' || part === '..' || (i > 0 && part === ''))) {
    return trans.__('A name may not hold "." or ".." parts, nor two slashes in a row.');
  }
  return null;
}

/** Why a metadata key cannot be used, as a sentence; null when it can. */
export function metadataKeyProblem(key: string, trans: TranslationBundle): string | null {
  return METADATA_KEY.test(key)
    ? null
    : trans.__(
        'Metadata keys start with a letter or an underscore, then up to 63 letters, digits or underscores.'
      );
}

/**
 * A metadata value as the search filter sends it (trimmed; decimals as numbers), so that a
 * search by the same words finds the dataset.
 */
export function metadataValue(text: string): string | number {
  const value = text.trim();
  return DECIMAL.test(value) ? Number(value) : value;
}

/** An RSE's free quota in words: `12 GiB free of 20 GiB`, `no limit`, `blocked for writing`. */
export function quotaText(rse: UploadRse, trans: TranslationBundle): string {
  if (!rse.writable) {
    return trans.__('blocked for writing');
  }
  if (rse.freeBytes === null || rse.limitBytes === null) {
    return trans.__('no limit');
  }
  return trans.__(
    '%1 free of %2',
    formatBytes(Math.max(0, rse.freeBytes)),
    formatBytes(rse.limitBytes)
  );
}

/**
 * A path the companion takes (absolute, or `~/...`) for a path of JupyterLab's file browser,
 * which is relative to the Jupyter server's root folder. `serverRoot` is that folder as the
 * server tells the page (`PageConfig.getOption('serverRoot')`: absolute, or `~`-abbreviated
 * below the home). Null when the root is not known (an old server, or a file browser on another
 * drive), so that the caller can say so.
 */
export function localPathFor(browserPath: string, serverRoot: string): string | null {
  const root = serverRoot.replace(/\/+$/, '');
  // A path on another drive (`RTC:…`, say) is not a local file.
  if (!root || /^[A-Za-z0-9_-]+:/.test(browserPath)) {
    return null;
  }
  const relative = browserPath.replace(/^\/+/, '').replace(/\/+$/, '');
  return relative === '' ? root : `${root}/${relative}`;
}

/** What the form proposes as the new dataset's name for the chosen paths: the last one's name. */
export function proposedDatasetName(paths: readonly string[]): string {
  const last = (paths[0] ?? '').replace(/\/+$/, '').split('/').pop() ?? '';
  return last.replace(/[^A-Za-z0-9.\-_]/g, '_').replace(/^[^A-Za-z0-9]+/, '');
}

/** The progress of an upload in words (as a download's). */
export function uploadProgressText(job: UploadJob, trans: TranslationBundle): string {
  return transferProgressText(job, trans);
}

/** The status bar's words for the uploads under way, or null when none runs. */
export function uploadStatusText(
  jobs: readonly UploadJob[],
  trans: TranslationBundle
): string | null {
  return transferStatusText(
    jobs,
    {
      starting: trans.__('Uploading…'),
      singular: 'Uploading %2 of %3 file',
      plural: 'Uploading %2 of %3 files'
    },
    trans
  );
}

/** Upload jobs, for a {@link JobTracker}. */
export const uploadJobs: IJobKind<UploadsResponse, UploadJob, UploadFile> = {
  listKey: instance => uploadKeys.list(instance),
  read: (client, instance) => client.uploads(instance),
  jobs: answer => answer.uploads,
  answer: uploads => ({ uploads }),
  cancel: async (client, instance, id) => (await client.cancelUpload(instance, id)).upload,
  retry: async (client, instance, id) => (await client.retryUpload(instance, id)).upload,
  remove: (client, instance, id) => client.removeUpload(instance, id),
  failedFilesKey: (instance, id) => uploadKeys.failedFiles(instance, id),
  files: async (client, instance, id, offset, limit) =>
    (await client.upload(instance, id, offset, limit)).files
};

/** How often a list of upload jobs is read again (see {@link jobsRefetchInterval}). */
export const uploadsRefetchInterval = jobsRefetchInterval<UploadsResponse>(
  answer => answer.uploads
);

/**
 * Follows the upload jobs of every instance, for the status bar and the notifications (see
 * {@link JobTracker}).
 */
export class UploadTracker extends JobTracker<UploadsResponse, UploadJob> {
  /**
   * @param client - the companion's API
   * @param queryClient - the panel's cache, which the views of the jobs share
   */
  constructor(client: DataLakeClient, queryClient: QueryClient) {
    super(client, queryClient, uploadJobs);
  }
}

/**
 * Tells the user how an upload ended: done (with an action that shows the Uploads list),
 * failed or interrupted (the companion's sentence, kept until dismissed). A job the user
 * cancelled is not announced.
 */
export function announceUpload(
  job: UploadJob,
  trans: TranslationBundle,
  showUploads: (job: UploadJob) => void
): void {
  announceJobEnd(job, {
    done: trans.__('%1 is uploaded to %2', job.did, job.rse),
    action: {
      label: trans.__('Show'),
      caption: trans.__('Show the Uploads list in the Data Lake panel'),
      callback: () => showUploads(job)
    },
    unfinished: trans.__(
      'The upload to %1 did not finish: %2',
      job.did,
      job.error ?? trans.__('Open the Uploads list to see why, then retry.')
    )
  });
}

/** The upload jobs of `instance`, newest first, read every second while one runs. */
export function useUploads(instance: string) {
  const { client } = useDataLake();
  return useQuery<UploadsResponse, DataLakeError>({
    queryKey: uploadKeys.list(instance),
    queryFn: () => client.uploads(instance),
    refetchInterval: uploadsRefetchInterval
  });
}

/**
 * The first few failed files of an upload, each with its sentence, read when `enabled` (see
 * {@link useFailedTransferFiles}).
 */
export function useFailedUploadFiles(job: UploadJob, enabled: boolean) {
  return useFailedTransferFiles(uploadJobs, job, enabled);
}

/** What the user may upload to on `instance`. */
export function useUploadTargets(instance: string) {
  const { client } = useDataLake();
  return useQuery<UploadTargetsResponse, DataLakeError>({
    queryKey: uploadKeys.targets(instance),
    queryFn: () => client.uploadTargets(instance),
    // The quota changes with every upload: read afresh each time the form opens.
    staleTime: 0
  });
}

/** How many datasets of a scope the form offers to add files to. */
const DATASETS_OFFERED = 200;

/** The datasets of `scope` (newest Rucio order), which the form offers to add files to. */
export function useScopeDatasets(instance: string, scope: string) {
  const { client } = useDataLake();
  return useQuery<string[], DataLakeError>({
    queryKey: uploadKeys.datasets(instance, scope),
    queryFn: async () => {
      const window = await client.search(
        instance,
        { did: `${scope}:*`, type: 'dataset' },
        0,
        DATASETS_OFFERED
      );
      return window.items.map(did => did.name);
    },
    enabled: scope !== ''
  });
}

/** Starts an upload; the job shows in the Uploads list at once. */
export function useStartUpload(instance: string) {
  const { client } = useDataLake();
  const queryClient = useQueryClient();
  return useMutation<UploadJob, DataLakeError, UploadRequest>({
    mutationFn: async request => (await client.startUpload(instance, request)).upload,
    onSuccess: job => {
      putJob(queryClient, uploadJobs, job);
      // The quota shown next time counts this upload.
      void queryClient.invalidateQueries({ queryKey: uploadKeys.targets(instance) });
    }
  });
}

/** Cancel, Retry and Remove of an upload, each updating the list at once. */
export function useUploadActions(instance: string): IJobMutations<UploadJob> {
  return useJobActions(uploadJobs, instance);
}
