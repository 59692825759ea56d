import type { UploadJob, UploadRequest } from '@dlaas/api';
import { Button, HTMLSelect } from '@jupyterlab/ui-components';
import React, { useEffect, useId, useState } from 'react';
import { useDataLake } from '../context';
import { failureOf } from '../hooks';
import {
  datasetNameProblem,
  metadataKeyProblem,
  metadataValue,
  proposedDatasetName,
  quotaText,
  uploadProgressText,
  useFailedUploadFiles,
  useScopeDatasets,
  useStartUpload,
  useUploadActions,
  useUploadTargets,
  useUploads
} from '../uploads';
import { isActive, stateLabel } from '../transfers';
import { ErrorMessage, QueryFailure } from './ErrorMessage';
import { FailedFiles, TransferJobList, TransferJobView, TransferProgress } from './Transfers';

/** Seconds in a day: the form asks for the lifetime in days. */
const DAY = 86400;

/** One metadata row of the form. */
interface IMetadataRow {
  key: string;
  value: string;
}

/** Props of {@link UploadForm}. */
export interface IUploadFormProps {
  instance: string;
  /** The local files and folders to upload (absolute or `~/...`). */
  paths: string[];
  /** The job started. */
  onStarted(job: UploadJob): void;
  onCancel(): void;
}

/**
 * The upload form ("Upload to data lake"): the scope (the user's own first), the dataset (a new
 * name, checked as the user types, or one of the scope's datasets to add to), the RSE with its
 * free quota, the lifetime and metadata. Upload is enabled once every field holds; whatever the
 * companion refuses (a name that exists, a quota too small) shows as its sentence.
 */
export function UploadForm(props: IUploadFormProps): JSX.Element {
  const { trans } = useDataLake();
  const id = useId();
  const targets = useUploadTargets(props.instance);
  const start = useStartUpload(props.instance);
  const [scope, setScope] = useState('');
  const [dataset, setDataset] = useState(() => proposedDatasetName(props.paths));
  const [rse, setRse] = useState('');
  const [days, setDays] = useState('');
  const [metadata, setMetadata] = useState<IMetadataRow[]>([]);
  const data = targets.data;
  // The defaults, once, when the targets are first read (a later read keeps the user's choices,
  // an emptied lifetime included).
  const [defaulted, setDefaulted] = useState(false);
  useEffect(() => {
    if (!data || defaulted) {
      return;
    }
    setDefaulted(true);
    setScope((data.scopes.find(s => s.own) ?? data.scopes[0])?.scope ?? '');
    setRse(data.rses.find(r => r.writable)?.rse ?? '');
    setDays(String(Math.max(1, Math.round(data.defaultLifetimeSeconds / DAY))));
  }, [data, defaulted]);
  const datasets = useScopeDatasets(props.instance, scope);
  const existing = datasets.data?.includes(dataset) ?? false;
  const chosenRse = data?.rses.find(r => r.rse === rse);

  const problems = {
    scope: scope ? null : trans.__('Choose a scope.'),
    dataset: existing ? null : datasetNameProblem(dataset, trans),
    rse: !chosenRse
      ? trans.__('Choose where the files go.')
      : chosenRse.writable
        ? null
        : trans.__('%1 is blocked for writing now: choose another RSE.', chosenRse.rse),
    lifetime:
      days.trim() === '' || (Number.isInteger(Number(days)) && Number(days) >= 1)
        ? null
        : trans.__(
            'The lifetime is a whole number of days, 1 or more; leave it empty to keep the data until it is deleted.'
          ),
    metadata:
      metadata
        .filter(row => row.key.trim() !== '' || row.value.trim() !== '')
        .map(row =>
          row.key.trim() === ''
            ? trans.__('Give the value "%1" a key, or remove its row.', row.value)
            : row.value.trim() === ''
              ? trans.__('Give the key "%1" a value, or remove its row.', row.key)
              : metadataKeyProblem(row.key.trim(), trans)
        )
        .find(problem => problem !== null) ?? null
  };
  const ready = Object.values(problems).every(problem => problem === null);

  const submit = (): void => {
    const entries = metadata
      .filter(row => row.key.trim() !== '')
      .map(row => [row.key.trim(), metadataValue(row.value)] as const);
    const request: UploadRequest = {
      paths: props.paths,
      scope,
      dataset,
      rse,
      ...(days.trim() === '' ? {} : { lifetimeSeconds: Number(days) * DAY }),
      ...(entries.length > 0 ? { metadata: Object.fromEntries(entries) } : {})
    };
    start.mutate(request, { onSuccess: job => props.onStarted(job) });
  };

  // What is wrong with a field, tied to it by aria-describedby.
  const problemOf = (name: keyof typeof problems): JSX.Element | null => {
    const problem = problems[name];
    return problem ? (
      <p id={`${id}-${name}-problem`} className="jp-DataLake-fieldProblem">
        {problem}
      </p>
    ) : null;
  };
  const describedBy = (name: keyof typeof problems): string | undefined =>
    problems[name] ? `${id}-${name}-problem` : undefined;

  return (
    <form
      className="jp-DataLake-uploadForm"
      aria-label={trans.__('Upload to data lake')}
      onSubmit={event => {
        event.preventDefault();
        if (ready && !start.isPending) {
          submit();
        }
      }}
    >
      <p className="jp-DataLake-uploadPaths">
        {trans._n('Upload %2', 'Upload %1 items: %2', props.paths.length, props.paths.join(', '))}
      </p>
      <QueryFailure failure={failureOf(targets)} onRetry={() => void targets.refetch()} />
      {targets.isLoading && !failureOf(targets) && (
        <p>{trans.__('Reading where you may upload…')}</p>
      )}
      {data && (
        <>
          <label htmlFor={`${id}-scope`}>{trans.__('Scope')}</label>
          <HTMLSelect
            id={`${id}-scope`}
            value={scope}
            aria-describedby={describedBy('scope')}
            onChange={event => setScope(event.target.value)}
            options={data.scopes.map(s => ({
              value: s.scope,
              label: s.own ? trans.__('%1 (yours)', s.scope) : s.scope
            }))}
          />
          {problemOf('scope')}

          <label htmlFor={`${id}-dataset`}>{trans.__('Dataset')}</label>
          <input
            id={`${id}-dataset`}
            className="jp-mod-styled"
            value={dataset}
            list={`${id}-datasets`}
            placeholder={trans.__('a new name, or one of the scope’s datasets')}
            aria-invalid={problems.dataset !== null}
            aria-describedby={describedBy('dataset') ?? `${id}-dataset-hint`}
            onChange={event => setDataset(event.target.value)}
          />
          <datalist id={`${id}-datasets`}>
            {(datasets.data ?? []).map(name => (
              <option key={name} value={name} />
            ))}
          </datalist>
          {problemOf('dataset')}
          {problems.dataset === null && (
            <p id={`${id}-dataset-hint`} className="jp-DataLake-fieldHint">
              {existing
                ? trans.__('The files are added to the existing dataset %1:%2.', scope, dataset)
                : trans.__('A new dataset %1:%2 is created.', scope, dataset)}
            </p>
          )}

          <label htmlFor={`${id}-rse`}>{trans.__('Storage (RSE)')}</label>
          {data.rses.length === 0 ? (
            <p className="jp-DataLake-fieldProblem">
              {trans.__(
                'Your account may not write to any storage of this data lake. Ask its administrators for a quota.'
              )}
            </p>
          ) : (
            <HTMLSelect
              id={`${id}-rse`}
              value={rse}
              aria-describedby={describedBy('rse') ?? `${id}-rse-quota`}
              onChange={event => setRse(event.target.value)}
              options={data.rses.map(r => ({
                value: r.rse,
                label: `${r.rse} · ${quotaText(r, trans)}`,
                disabled: !r.writable
              }))}
            />
          )}
          {problemOf('rse')}
          {chosenRse && problems.rse === null && (
            <p id={`${id}-rse-quota`} className="jp-DataLake-fieldHint">
              {trans.__('Your quota on %1: %2.', chosenRse.rse, quotaText(chosenRse, trans))}
            </p>
          )}

          <label htmlFor={`${id}-lifetime`}>{trans.__('Lifetime (days)')}</label>
          <input
            id={`${id}-lifetime`}
            className="jp-mod-styled"
            inputMode="numeric"
            value={days}
            placeholder={trans.__('empty: until deleted')}
            aria-invalid={problems.lifetime !== null}
            aria-describedby={describedBy('lifetime')}
            onChange={event => setDays(event.target.value)}
          />
          {problemOf('lifetime')}

          <fieldset className="jp-DataLake-uploadMetadata">
            <legend>{trans.__('Metadata')}</legend>
            <datalist id={`${id}-keys`}>
              {data.metadataKeys.map(key => (
                <option key={key} value={key} />
              ))}
            </datalist>
            {metadata.map((row, i) => {
              const update = (changed: Partial<IMetadataRow>): void =>
                setMetadata(metadata.map((r, j) => (j === i ? { ...r, ...changed } : r)));
              return (
                <div key={i} className="jp-DataLake-condition">
                  <input
                    aria-label={trans.__('Metadata key')}
                    placeholder={trans.__('key')}
                    list={`${id}-keys`}
                    value={row.key}
                    onChange={event => update({ key: event.target.value })}
                  />
                  <span aria-hidden="true">=</span>
                  <input
                    aria-label={trans.__('Metadata value')}
                    placeholder={trans.__('value')}
                    value={row.value}
                    onChange={event => update({ value: event.target.value })}
                  />
                  <Button
                    type="button"
                    minimal
                    small
                    title={trans.__('Remove this metadata')}
                    aria-label={trans.__('Remove metadata')}
                    onClick={() => setMetadata(metadata.filter((_, j) => j !== i))}
                  >
                    ×
                  </Button>
                </div>
              );
            })}
            <Button
              type="button"
              minimal
              small
              onClick={() => setMetadata([...metadata, { key: '', value: '' }])}
            >
              {trans.__('Add metadata')}
            </Button>
            {problemOf('metadata')}
          </fieldset>
        </>
      )}
      {start.error && <ErrorMessage error={start.error} />}
      <div className="jp-DataLake-actions">
        <Button
          type="submit"
          className="jp-mod-styled jp-mod-accept"
          disabled={!data || !ready || start.isPending}
        >
          {start.isPending ? trans.__('Starting…') : trans.__('Upload')}
        </Button>
        <Button type="button" className="jp-mod-styled" onClick={() => props.onCancel()}>
          {trans.__('Cancel')}
        </Button>
      </div>
    </form>
  );
}

/**
 * One upload: its state, progress, sentence, skipped entries, which files failed, and the buttons
 * its state allows.
 */
export function UploadJobView(props: { job: UploadJob; instance: string }): JSX.Element {
  const { trans } = useDataLake();
  const { job } = props;
  const mutations = useUploadActions(props.instance);
  return (
    <TransferJobView
      job={job}
      stateText={
        job.state === 'done'
          ? trans.__('Uploaded to %1', job.rse)
          : trans.__(
              '%1 · %2',
              stateLabel(
                job,
                { running: trans.__('Uploading'), done: trans.__('Uploaded') },
                trans
              ),
              job.rse
            )
      }
      progress={
        <TransferProgress
          job={job}
          label={trans.__('Upload progress of %1', job.did)}
          text={uploadProgressText(job, trans)}
        />
      }
      mutations={mutations}
      retryTitle={trans.__('Go on where the upload stopped: the files already registered are kept')}
      removable
      removeTitle={trans.__('Remove this upload from the list; %1 stays in the lake', job.did)}
    >
      {job.skipped.length > 0 && (
        <details className="jp-DataLake-section jp-DataLake-failedFiles">
          <summary>
            {trans._n('%1 entry left out', '%1 entries left out', job.skipped.length)}
          </summary>
          <ul>
            {job.skipped.map(entry => (
              <li key={entry.path}>
                <strong>{entry.path}</strong> {entry.reason}
              </li>
            ))}
          </ul>
        </details>
      )}
      {job.filesFailed > 0 && !isActive(job) && <FailedUploadFiles job={job} />}
    </TransferJobView>
  );
}

/**
 * Which files of an upload failed and why, read when the user opens it: each local file, the DID
 * it was to become, the sentence, and whether bytes of it may be left on the storage.
 */
function FailedUploadFiles(props: { job: UploadJob }): JSX.Element {
  const { trans } = useDataLake();
  const { job } = props;
  const [open, setOpen] = useState(false);
  const failed = useFailedUploadFiles(job, open);
  return (
    <FailedFiles
      failed={failed}
      filesFailed={job.filesFailed}
      onToggle={setOpen}
      keyOf={file => file.name}
      renderFile={file => (
        <>
          <strong>{file.path}</strong> {trans.__('(to become %1)', `${job.scope}:${file.name}`)}
          {file.error ? ` ${file.error}` : ''}
          {file.leftover
            ? ` ${trans.__(
                'Bytes of it may still be on the storage (it could not be reached to delete them); Retry removes them before anything else.'
              )}`
            : ''}
        </>
      )}
    />
  );
}

/**
 * The Uploads list of an instance, with the upload form above it while `paths` are to be
 * uploaded: every job, newest first, each with its progress.
 */
export function UploadsView(props: {
  instance: string;
  /** Files and folders chosen for a new upload (the form shows), or null. */
  paths: string[] | null;
  /** The form is done with (started or cancelled). */
  onFormClosed(): void;
  onClose(): void;
}): JSX.Element {
  const { trans } = useDataLake();
  const uploads = useUploads(props.instance);
  return (
    <TransferJobList
      title={props.paths ? trans.__('Upload to data lake') : trans.__('Uploads')}
      listLabel={trans.__('Upload jobs')}
      query={uploads}
      jobs={uploads.data?.uploads ?? []}
      loadingText={trans.__('Loading uploads…')}
      emptyText={trans.__(
        'No uploads yet. Right-click files or a folder in the file browser and choose Upload to data lake.'
      )}
      headingOf={job => job.did}
      renderJob={job => <UploadJobView job={job} instance={props.instance} />}
      onClose={props.onClose}
    >
      {props.paths && (
        <UploadForm
          // A new choice of files starts a fresh form.
          key={props.paths.join('\n')}
          instance={props.instance}
          paths={props.paths}
          onStarted={() => props.onFormClosed()}
          onCancel={() => props.onFormClosed()}
        />
      )}
    </TransferJobList>
  );
}
