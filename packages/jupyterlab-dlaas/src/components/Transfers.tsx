import { Button } from '@jupyterlab/ui-components';
import type { UseQueryResult } from '@tanstack/react-query';
import React from 'react';
import type { DataLakeError } from '../client';
import { useDataLake } from '../context';
import { formatCount } from '../format';
import { failureOf } from '../hooks';
import {
  canRetry,
  isActive,
  type IFailedTransferFiles,
  type IJobMutations,
  type ITransferJob
} from '../transfers';
import { ErrorMessage, QueryFailure } from './ErrorMessage';

/** A job's progress: a bar of the bytes (indeterminate while `preparing`), and `text`. */
export function TransferProgress(props: {
  job: ITransferJob;
  /** The bar's accessible name: `Download progress of scope:name`. */
  label: string;
  text: string;
  preparing?: boolean;
}): JSX.Element {
  const { job } = props;
  return (
    <div className="jp-DataLake-progress">
      <progress
        aria-label={props.label}
        max={Math.max(job.bytesTotal, 1)}
        value={props.preparing ? undefined : job.bytesDone}
      />
      <span>{props.text}</span>
    </div>
  );
}

/**
 * One job, as download and upload jobs show alike: a state line, the progress while it is not
 * done, the companion's sentence, what `children` add (failed files, say), and the buttons its
 * state allows: Cancel while it runs, Retry once stopped, Remove when `removable`, then `extra`.
 */
export function TransferJobView<J extends ITransferJob>(props: {
  job: J;
  /** What shows on the state line. */
  stateText: string;
  progress: JSX.Element;
  mutations: IJobMutations<J>;
  retryTitle: string;
  removable?: boolean;
  removeTitle: string;
  /** Buttons after Cancel and Retry (Open in file browser, All downloads...). */
  extra?: React.ReactNode;
  children?: React.ReactNode;
}): JSX.Element {
  const { trans } = useDataLake();
  const { job, mutations } = props;
  const { cancel, retry, remove } = mutations;
  const error = cancel.error ?? retry.error ?? remove.error;
  return (
    <div className={`jp-DataLake-downloadJob jp-DataLake-transferJob jp-mod-${job.state}`}>
      <p className="jp-DataLake-downloadState" role="status">
        {props.stateText}
      </p>
      {job.state !== 'done' && props.progress}
      {job.error && job.state !== 'done' && (
        <p className="jp-DataLake-stuck" role="alert">
          {job.error}
        </p>
      )}
      {props.children}
      {error && <ErrorMessage error={error} />}
      <div className="jp-DataLake-actions">
        {isActive(job) && (
          <Button
            className="jp-mod-styled"
            small
            disabled={cancel.isPending}
            onClick={() => cancel.mutate(job.id)}
          >
            {trans.__('Cancel')}
          </Button>
        )}
        {canRetry(job) && (
          <Button
            className="jp-mod-styled"
            small
            disabled={retry.isPending}
            title={props.retryTitle}
            onClick={() => retry.mutate(job.id)}
          >
            {trans.__('Retry')}
          </Button>
        )}
        {props.extra}
        {props.removable && !isActive(job) && (
          <Button
            className="jp-mod-styled"
            small
            disabled={remove.isPending}
            title={props.removeTitle}
            onClick={() => remove.mutate(job.id)}
          >
            {trans.__('Remove')}
          </Button>
        )}
      </div>
    </div>
  );
}

/**
 * A list of jobs of one instance (the Downloads list, the Uploads list): a title with the way back
 * to the data lake, what went wrong reading it, and each job under its heading.
 */
export function TransferJobList<J extends ITransferJob>(props: {
  title: string;
  /** The accessible name of the list itself. */
  listLabel: string;
  query: UseQueryResult<unknown, DataLakeError>;
  jobs: J[];
  loadingText: string;
  emptyText: string;
  /** The heading of a job (its DID). */
  headingOf(job: J): string;
  renderJob(job: J): JSX.Element;
  onClose(): void;
  /** Shown between the title and the list (a form, say). */
  children?: React.ReactNode;
}): JSX.Element {
  const { trans } = useDataLake();
  const { query } = props;
  const failure = failureOf(query);
  return (
    <section className="jp-DataLake-downloads jp-DataLake-transfers" aria-label={props.title}>
      <div className="jp-DataLake-listHeader">
        <h3 className="jp-DataLake-detailsTitle">{props.title}</h3>
        <Button minimal small onClick={() => props.onClose()}>
          {trans.__('Back to the data lake')}
        </Button>
      </div>
      {props.children}
      <QueryFailure failure={failure} onRetry={() => void query.refetch()} />
      {query.isLoading && !failure && <p>{props.loadingText}</p>}
      {query.data !== undefined && props.jobs.length === 0 && <p>{props.emptyText}</p>}
      <ul className="jp-DataLake-downloadList" aria-label={props.listLabel}>
        {props.jobs.map(job => (
          <li key={job.id} aria-label={props.headingOf(job)}>
            <h4 className="jp-DataLake-downloadDid" title={props.headingOf(job)}>
              {props.headingOf(job)}
            </h4>
            {props.renderJob(job)}
          </li>
        ))}
      </ul>
    </section>
  );
}

/**
 * Which files of a job failed and why: a "Which files failed" section that tells `onToggle` when
 * the user opens it (so that `failed`, from {@link useFailedTransferFiles}, is read then), and
 * lists each failed file as `renderFile` shows it, then how many failed in all when they are more.
 */
export function FailedFiles<F>(props: {
  failed: UseQueryResult<IFailedTransferFiles<F>, DataLakeError>;
  /** How many files of the job failed. */
  filesFailed: number;
  onToggle(open: boolean): void;
  /** A key of one file, unique in the job. */
  keyOf(file: F): string;
  /** One file's line: what it is, then why it failed. */
  renderFile(file: F): React.ReactNode;
}): JSX.Element {
  const { trans } = useDataLake();
  const { failed } = props;
  const failure = failureOf(failed);
  return (
    <details
      className="jp-DataLake-section jp-DataLake-failedFiles"
      onToggle={event => props.onToggle((event.target as HTMLDetailsElement).open)}
    >
      <summary>{trans.__('Which files failed')}</summary>
      <QueryFailure failure={failure} onRetry={() => void failed.refetch()} />
      {failed.isLoading && !failure && <p>{trans.__('Reading the files…')}</p>}
      {failed.data && (
        <ul>
          {failed.data.files.map(file => (
            <li key={props.keyOf(file)}>{props.renderFile(file)}</li>
          ))}
        </ul>
      )}
      {failed.data?.more && (
        <p>{trans.__('And more: %1 files failed in all.', formatCount(props.filesFailed))}</p>
      )}
    </details>
  );
}
