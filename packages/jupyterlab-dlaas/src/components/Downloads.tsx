import type { Download } from '@dlaas/api';
import { Button } from '@jupyterlab/ui-components';
import React, { useState } from 'react';
import { useDataLake } from '../context';
import {
  downloadedPath,
  progressText,
  useDownloadActions,
  useDownloadOf,
  useDownloads,
  useFailedFiles,
  useStartDownload
} from '../downloads';
import { failureOf } from '../hooks';
import { isActive, stateLabel } from '../transfers';
import { ErrorMessage, QueryFailure } from './ErrorMessage';
import { FailedFiles, TransferJobList, TransferJobView, TransferProgress } from './Transfers';

/** Props of {@link DownloadBlock}. */
export interface IDownloadBlockProps {
  instance: string;
  did: string;
  type: 'CONTAINER' | 'DATASET' | 'FILE';
  /** Whether Download is the main action (an instance in download mode, with no scratch RSE). */
  primary: boolean;
  /** Shows the panel's Downloads list. */
  onShowAll?(): void;
}

/**
 * Download in the details of a DID: the button that copies its files into a folder of the user's
 * server, then the newest job of that DID with its progress and what the user can do with it.
 */
export function DownloadBlock(props: IDownloadBlockProps): JSX.Element {
  const { trans } = useDataLake();
  const { downloads, job } = useDownloadOf(props.instance, props.did);
  const start = useStartDownload(props.instance);
  const failure = failureOf(downloads);
  const running = job !== undefined && isActive(job);
  return (
    <section className="jp-DataLake-download" aria-label={trans.__('Download')}>
      <QueryFailure failure={failure} onRetry={() => void downloads.refetch()} />
      {start.error && <ErrorMessage error={start.error} />}
      {!job && props.primary && (
        <p>
          {trans.__(
            'Download copies the files into a folder of this server (by default ~/datalake-downloads/<scope>/<name>), where notebooks can read them.'
          )}
        </p>
      )}
      {job && (
        <DownloadJob
          job={job}
          instance={props.instance}
          isFile={props.type === 'FILE'}
          onShowAll={props.onShowAll}
        />
      )}
      {!running && !downloads.isLoading && (
        <div className="jp-DataLake-actions">
          <Button
            className={props.primary ? 'jp-mod-styled jp-mod-accept' : 'jp-mod-styled'}
            disabled={start.isPending}
            title={trans.__(
              'Copy the files into a folder of this server (~/datalake-downloads/<scope>/<name> unless configured otherwise)'
            )}
            onClick={() => start.mutate(props.did)}
          >
            {job?.state === 'done' ? trans.__('Download again') : trans.__('Download')}
          </Button>
        </div>
      )}
    </section>
  );
}

/** A job's progress: a bar of the bytes, and the files, bytes, rate and time left in words. */
export function DownloadProgress(props: { job: Download }): JSX.Element {
  const { trans } = useDataLake();
  const { job } = props;
  return (
    <TransferProgress
      job={job}
      label={trans.__('Download progress of %1', job.did)}
      text={progressText(job, trans)}
      // An indeterminate bar while the files are listed.
      preparing={job.state === 'listing'}
    />
  );
}

/** One job: its state, progress, error and the buttons its state allows. */
export function DownloadJob(props: {
  job: Download;
  instance: string;
  isFile: boolean;
  /** Offers Remove (the Downloads list). */
  removable?: boolean;
  /** Shows the Downloads list (from the details). */
  onShowAll?(): void;
}): JSX.Element {
  const { trans, actions } = useDataLake();
  const { job } = props;
  const mutations = useDownloadActions(props.instance);
  const path = downloadedPath(job, props.isFile);
  return (
    <TransferJobView
      job={job}
      stateText={
        job.state === 'done'
          ? trans.__('Downloaded to %1', job.folder)
          : trans.__(
              '%1 · %2',
              stateLabel(
                job,
                { running: trans.__('Downloading'), done: trans.__('Downloaded') },
                trans
              ),
              job.folder
            )
      }
      progress={<DownloadProgress job={job} />}
      mutations={mutations}
      retryTitle={trans.__('Go on where the download stopped: the files already there are kept')}
      removable={props.removable}
      removeTitle={trans.__('Remove this download from the list; its files stay in %1', job.folder)}
      extra={
        <>
          {job.state === 'done' && (
            <>
              <Button
                className="jp-mod-styled"
                small
                onClick={() => void actions.openInFileBrowser(path)}
              >
                {trans.__('Open in file browser')}
              </Button>
              <Button
                className="jp-mod-styled"
                small
                onClick={() => actions.copyPath(path, trans.__('path'))}
              >
                {trans.__('Copy path')}
              </Button>
            </>
          )}
          {props.onShowAll && (
            <Button minimal small onClick={() => props.onShowAll?.()}>
              {trans.__('All downloads')}
            </Button>
          )}
        </>
      }
    >
      {job.filesFailed > 0 && !isActive(job) && <FailedDownloadFiles job={job} />}
    </TransferJobView>
  );
}

/** Which files of a download failed and why, read when the user opens it. */
function FailedDownloadFiles(props: { job: Download }): JSX.Element {
  const [open, setOpen] = useState(false);
  const failed = useFailedFiles(props.job, open);
  return (
    <FailedFiles
      failed={failed}
      filesFailed={props.job.filesFailed}
      onToggle={setOpen}
      keyOf={file => `${file.scope}:${file.name}`}
      renderFile={file => (
        <>
          <strong>
            {file.scope}:{file.name}
          </strong>
          {file.error ? ` ${file.error}` : ''}
        </>
      )}
    />
  );
}

/** The Downloads list of an instance: every job, newest first, each with its progress. */
export function DownloadsView(props: { instance: string; onClose(): void }): JSX.Element {
  const { trans } = useDataLake();
  const downloads = useDownloads(props.instance);
  return (
    <TransferJobList
      title={trans.__('Downloads')}
      listLabel={trans.__('Download jobs')}
      query={downloads}
      jobs={downloads.data?.downloads ?? []}
      loadingText={trans.__('Loading downloads…')}
      emptyText={trans.__(
        'No downloads yet. Select data in the data lake and choose Download in its details.'
      )}
      headingOf={job => job.did}
      renderJob={job => (
        <DownloadJob
          job={job}
          instance={props.instance}
          isFile={Private.isFileJob(job)}
          removable
        />
      )}
      onClose={props.onClose}
    />
  );
}

namespace Private {
  /**
   * Whether a job downloaded a single file: its folder is then the scope's folder, and the file
   * lies in it under its name (the companion's layout for file DIDs).
   */
  export function isFileJob(job: Download): boolean {
    const colon = job.did.indexOf(':');
    const scope = job.did.slice(0, colon);
    const name = job.did.slice(colon + 1).replace(/^\/+/, '');
    const folder = job.folder.replace(/\/+$/, '');
    return (
      job.filesTotal === 1 && folder.endsWith(`/${scope}`) && !folder.endsWith(`/${scope}/${name}`)
    );
  }
}
