import type { Availability, LocalPath } from '@dlaas/api';
import { Button } from '@jupyterlab/ui-components';
import React, { useEffect } from 'react';
import { useDataLake } from '../context';
import { formatBytes, formatCount } from '../format';
import {
  failureOf,
  useAvailability,
  useLakeProblem,
  useLocalPaths,
  useMakeAvailable,
  useRetry
} from '../hooks';
import { ErrorMessage, QueryFailure } from './ErrorMessage';

/** Props of {@link AvailabilityBlock}. */
export interface IAvailabilityBlockProps {
  instance: string;
  did: string;
  type: 'CONTAINER' | 'DATASET' | 'FILE';
  /** The RSE copies go to, as the instance names it. */
  scratchRse: string;
}

/**
 * Where a DID stands toward the scratch RSE, and what the user can do: make it available, watch
 * it replicate, see why it is stuck and retry, or use it once it is there.
 */
export function AvailabilityBlock(props: IAvailabilityBlockProps): JSX.Element {
  const { trans } = useDataLake();
  const availability = useAvailability(props.instance, props.did);
  const makeAvailable = useMakeAvailable(props.instance);
  const retry = useRetry(props.instance);
  const problem = useLakeProblem(props.instance);
  const failure = failureOf(availability);
  const state = availability.data?.state;
  // A retry is over once the rule leaves STUCK: should it get stuck again, Retry is offered again.
  const { reset: resetRetry } = retry;
  useEffect(() => {
    if (state !== 'STUCK') {
      resetRetry();
    }
  }, [state, resetRetry]);
  useEffect(() => resetRetry, [props.did, resetRetry]);
  return (
    <section className="jp-DataLake-availability" aria-label={trans.__('Availability')}>
      <QueryFailure failure={failure} onRetry={() => void availability.refetch()} />
      {/* The companion's tracker cannot read Rucio: what is shown may be out of date. */}
      {problem && !failure && <ErrorMessage error={problem} retrying />}
      {makeAvailable.error && <ErrorMessage error={makeAvailable.error} />}
      {retry.error && <ErrorMessage error={retry.error} />}
      {availability.isLoading && !failure && <p>{trans.__('Checking where the data is…')}</p>}
      {state === 'NOT_AVAILABLE' && (
        <>
          <p>
            {trans.__(
              'Not available in this server yet. Making it available copies it to %1, where your notebooks can read it.',
              props.scratchRse
            )}
          </p>
          <Button
            className="jp-mod-styled jp-mod-accept"
            disabled={makeAvailable.isPending}
            onClick={() => makeAvailable.mutate(props.did)}
          >
            {trans.__('Make available')}
          </Button>
        </>
      )}
      {(state === 'REPLICATING' || state === 'STUCK') && availability.data && (
        <Progress availability={availability.data} />
      )}
      {state === 'STUCK' && (
        <>
          <p className="jp-DataLake-stuck" role="alert">
            {trans.__(
              'Some files cannot be copied: %1',
              availability.data?.error ?? trans.__('Rucio gave no reason.')
            )}
          </p>
          <p>
            {trans.__(
              'Rucio retries stuck transfers by itself after a while; Retry asks it to try again now. If it stays stuck, send the data lake’s admins the rule id %1 and the reason above.',
              availability.data?.ruleId ?? '–'
            )}
          </p>
          {retry.isSuccess && (
            <p role="status">{trans.__('Rucio will try these transfers again in a moment…')}</p>
          )}
          <Button
            className="jp-mod-styled"
            disabled={retry.isPending || retry.isSuccess}
            onClick={() => retry.mutate(props.did)}
          >
            {trans.__('Retry')}
          </Button>
        </>
      )}
      {state === 'AVAILABLE' && <Available {...props} files={availability.data?.files.ok ?? 0} />}
    </section>
  );
}

/** The replication's progress: files done of the total, and the bytes at stake. */
function Progress(props: { availability: Availability }): JSX.Element {
  const { trans } = useDataLake();
  const { files, totalBytes } = props.availability;
  const total = files.total ?? files.ok + files.replicating + files.stuck;
  return (
    <div className="jp-DataLake-progress">
      <progress
        aria-label={trans.__('Replication progress')}
        max={Math.max(total, 1)}
        value={files.ok}
      />
      <span>
        {trans.__(
          '%1 of %2 files ready (%3)',
          formatCount(files.ok),
          formatCount(total),
          formatBytes(totalBytes)
        )}
        {files.stuck > 0 ? ' · ' + trans.__('%1 stuck', formatCount(files.stuck)) : ''}
      </span>
    </div>
  );
}

/** The folder deepest below which all `paths` lie. */
export function commonFolder(paths: string[]): string {
  return deepestShared(paths.map(path => path.split('/').slice(0, -1)));
}

/**
 * The folder to show for a collection's available files: the deepest one below which all lie
 * once each file's own name (its `/` included) is taken off its path. In the companion's
 * mount (`<mount>/<scope>/<dataset>/<file name, / as folders>`) that is the dataset's folder,
 * also when all its file names start with one folder; in Rucio's hashed layout
 * (`<scope as folders>/ab/cd/<name>`) it is the scope's folder, as {@link commonFolder} finds.
 * Undefined when no file has a path.
 */
export function collectionFolder(files: readonly LocalPath[]): string | undefined {
  const folders = files.flatMap(file => {
    if (file.path === null) {
      return [];
    }
    const folder = file.path.endsWith(`/${file.name}`)
      ? file.path.slice(0, -file.name.length - 1)
      : file.path.slice(0, file.path.lastIndexOf('/'));
    return [folder.split('/')];
  });
  return folders.length === 0 ? undefined : deepestShared(folders);
}

/** The longest run of leading parts that all `folders` share, joined with `/`. */
function deepestShared(folders: string[][]): string {
  const first = folders[0] ?? [];
  let length = first.length;
  for (const parts of folders) {
    let i = 0;
    while (i < length && parts[i] === first[i]) {
      i++;
    }
    length = i;
  }
  return first.slice(0, length).join('/') || '/';
}

/** What the user can do with available data. */
function Available(props: IAvailabilityBlockProps & { files: number }): JSX.Element {
  const { trans, actions } = useDataLake();
  const paths = useLocalPaths(props.instance, props.did, true);
  const local = (paths.data ?? []).flatMap(p => (p.path ? [p.path] : []));
  // Files whose own name keeps them from having a path (a ".." segment, say): the reason.
  const problems = (paths.data ?? []).flatMap(p => (p.problem ? [p.problem] : []));
  const isFile = props.type === 'FILE';
  const target = isFile ? local[0] : collectionFolder(paths.data ?? []);
  // Rucio's count until the paths are read (a large dataset's take a while), then the paths'.
  const count = paths.data ? local.length : props.files;
  return (
    <>
      <p>
        {isFile
          ? trans.__('Available at %1', local[0] ?? '…')
          : trans._n('%2 file available', '%2 files available', count, formatCount(count))}
      </p>
      {!isFile && paths.isLoading && !failureOf(paths) && (
        <p role="status">{trans.__('Finding where their copies are…')}</p>
      )}
      <QueryFailure failure={failureOf(paths)} onRetry={() => void paths.refetch()} />
      {paths.data && local.length === 0 && !problems.length && (
        <p>
          {trans.__(
            'This server has no local path for the copies. Ask your hub admin to mount the scratch disk.'
          )}
        </p>
      )}
      {problems.length > 0 && (
        <p className="jp-DataLake-problem">
          {problems.length === 1
            ? problems[0]
            : trans.__('%1 (and %2 more files like it)', problems[0] ?? '', problems.length - 1)}
        </p>
      )}
      <div className="jp-DataLake-actions">
        <Button
          className="jp-mod-styled"
          disabled={target === undefined}
          onClick={() => target && void actions.openInFileBrowser(target)}
        >
          {trans.__('Open in file browser')}
        </Button>
        <Button
          className="jp-mod-styled"
          disabled={local.length === 0}
          onClick={() =>
            actions.copyPath(
              isFile ? (local[0] ?? '') : local.join('\n'),
              isFile ? trans.__('path') : trans._n('%1 path', '%1 paths', local.length)
            )
          }
        >
          {trans.__('Copy path')}
        </Button>
      </div>
    </>
  );
}
