import type { Did, FileEntry, Instance, ListOrder } from '@dlaas/api';
import { HTMLSelect } from '@jupyterlab/ui-components';
import { useQueryClient } from '@tanstack/react-query';
import React, { useEffect, useMemo, useState } from 'react';
import { didString } from '../client';
import { useDataLake } from '../context';
import { formatCount } from '../format';
import {
  failureOf,
  keys,
  useDebounced,
  useInstances,
  useScopes,
  useAuthStatus,
  useWindowedList,
  type IWindowedList
} from '../hooks';
import { Details } from './Details';
import { DidList, type IDidRow } from './DidList';
import { DownloadsView } from './Downloads';
import { ErrorMessage, QueryFailure } from './ErrorMessage';
import { InstanceBar } from './InstanceBar';
import { UploadsView } from './Uploads';
import {
  EMPTY_SEARCH,
  SearchBar,
  searchFilters,
  searchPattern,
  type ISearchDraft
} from './SearchBar';

/** The DID the user has selected, for commands outside the panel. */
export interface ISelection {
  instance: string;
  did: string;
  type: IDidRow['type'];
}

/** Props of {@link DataLakeView}. */
export interface IDataLakeViewProps {
  /** The instance to show first, when configured (the settings' `defaultInstance`). */
  preferredInstance?: string;
  /** Milliseconds of quiet typing before a search is sent. */
  searchDelay?: number;
  /** The search box, for commands that focus it. */
  inputRef?: React.Ref<HTMLInputElement>;
  /** Told whenever the selection changes. */
  onSelection?(selection: ISelection | null): void;
  /**
   * A request to show the Downloads list (of `instance`, else of the instance shown); each new
   * request object shows it again.
   */
  showDownloads?: { instance?: string } | null;
  /**
   * A request to show the Uploads list (of `instance`, else of the instance shown), with the
   * upload form for `paths` when given; each new request object shows it again.
   */
  showUploads?: { instance?: string; paths?: string[] } | null;
}

/** The whole Data Lake panel: instance, sign-in, search, browse and details. */
export function DataLakeView(props: IDataLakeViewProps): JSX.Element {
  const { trans, mountProblems } = useDataLake();
  const instances = useInstances();
  const [chosen, setChosen] = useState<string | null>(null);
  const [shown, setShown] = useState<'downloads' | 'uploads' | null>(null);
  const [uploadPaths, setUploadPaths] = useState<string[] | null>(null);
  const { showDownloads, showUploads } = props;
  useEffect(() => {
    if (showDownloads) {
      setShown('downloads');
      if (showDownloads.instance) {
        setChosen(showDownloads.instance);
      }
    }
  }, [showDownloads]);
  useEffect(() => {
    if (showUploads) {
      setShown('uploads');
      setUploadPaths(showUploads.paths ?? null);
      if (showUploads.instance) {
        setChosen(showUploads.instance);
      }
    }
  }, [showUploads]);
  useEffect(() => {
    if (instances.data) {
      mountProblems.check(instances.data.instances);
    }
  }, [instances.data, mountProblems]);
  const list = instances.data?.instances ?? [];
  const instance =
    list.find(i => i.name === chosen) ??
    list.find(i => i.name === props.preferredInstance) ??
    list.find(i => i.isDefault) ??
    list[0];
  const failure = failureOf(instances);
  if (failure) {
    return (
      <div className="jp-DataLake-body">
        <QueryFailure failure={failure} onRetry={() => void instances.refetch()} />
      </div>
    );
  }
  if (instances.isLoading) {
    return (
      <div className="jp-DataLake-body">
        <p>{trans.__('Connecting to the data lake service…')}</p>
      </div>
    );
  }
  if (!instance) {
    return (
      <div className="jp-DataLake-body">
        <p role="status">
          {instances.data?.message ?? trans.__('No data lake is configured in this server.')}
        </p>
      </div>
    );
  }
  return (
    <div className="jp-DataLake-body">
      <InstanceBar instances={list} instance={instance.name} onInstance={setChosen} />
      {shown === 'downloads' && (
        <DownloadsView instance={instance.name} onClose={() => setShown(null)} />
      )}
      {shown === 'uploads' && (
        <UploadsView
          instance={instance.name}
          paths={uploadPaths}
          onFormClosed={() => setUploadPaths(null)}
          onClose={() => {
            setShown(null);
            setUploadPaths(null);
          }}
        />
      )}
      {/* Kept while the Downloads or Uploads list shows, so that the search and location stay. */}
      <div className="jp-DataLake-browse" hidden={shown !== null}>
        <Browser
          key={instance.name}
          instance={instance}
          {...props}
          onShowDownloads={() => setShown('downloads')}
        />
      </div>
    </div>
  );
}

/** Search and browse in one instance. */
function Browser(
  props: IDataLakeViewProps & { instance: Instance; onShowDownloads(): void }
): JSX.Element {
  const { trans, client } = useDataLake();
  const queryClient = useQueryClient();
  const name = props.instance.name;
  const auth = useAuthStatus(name);
  const signedIn = auth.data?.signedIn ?? false;
  const scopes = useScopes(name, signedIn);
  const [draft, setDraft] = useState<ISearchDraft>(EMPTY_SEARCH);
  const settled = useDebounced(draft, props.searchDelay ?? 300);
  const [location, setLocation] = useState<IDidRow[]>([]);
  const [selected, setSelected] = useState<{ index: number; row: IDidRow } | null>(null);

  const pattern = searchPattern(settled);
  const filters = searchFilters(settled);
  const query = useMemo(
    () => ({ did: pattern ?? '', type: settled.type, filters }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [pattern, settled.type, JSON.stringify(filters)]
  );
  const here = location[location.length - 1];
  const hereDid = here ? didString(here) : '';

  // Sorted lists are sorted by the companion, which reads the whole list first.
  const [order, setOrder] = useState<SortOrder>('rucio');
  const sort = order === 'rucio' ? undefined : order;
  const search = useWindowedList<Did>(
    [...keys.search(name, query), order],
    (offset, limit) => client.search(name, query, offset, limit, sort),
    signedIn && !here && pattern !== null
  );
  const children = useWindowedList<Did>(
    [...keys.children(name, hereDid), order],
    (offset, limit) => client.children(name, hereDid, offset, limit, sort),
    signedIn && here?.type === 'CONTAINER'
  );
  const files = useWindowedList<FileEntry>(
    [...keys.files(name, hereDid), order],
    (offset, limit) => client.files(name, hereDid, offset, limit, sort),
    signedIn && here?.type === 'DATASET'
  );
  const shown: IWindowedList<IDidRow> | null = here
    ? here.type === 'DATASET'
      ? asFileRows(files)
      : children
    : pattern !== null
      ? search
      : null;
  // How long the list was in the order before, to say how much is being sorted.
  const [sortingTotal, setSortingTotal] = useState<number | null>(null);

  const error = shown?.error;
  useEffect(() => {
    if (error?.needsSignIn) {
      void queryClient.invalidateQueries({ queryKey: keys.auth(name) });
    }
  }, [error, queryClient, name]);

  const { onSelection } = props;
  useEffect(() => {
    onSelection?.(
      selected ? { instance: name, did: didString(selected.row), type: selected.row.type } : null
    );
  }, [selected, name, onSelection]);

  const open = (row: IDidRow): void => {
    setLocation([...location, row]);
    setSelected(null);
  };
  const goTo = (depth: number): void => {
    setLocation(location.slice(0, depth));
    setSelected(null);
  };
  const listLabel = here ? trans.__('Contents of %1', hereDid) : trans.__('Search results');

  if (!signedIn) {
    return <></>;
  }
  return (
    <>
      <SearchBar
        draft={draft}
        onChange={changed => {
          setDraft(changed);
          setLocation([]);
          setSelected(null);
        }}
        scopes={scopes.data ?? []}
        inputRef={props.inputRef}
      />
      <QueryFailure failure={failureOf(scopes)} onRetry={() => void scopes.refetch()} />
      {location.length > 0 && (
        <nav className="jp-DataLake-breadcrumbs" aria-label={trans.__('Location')}>
          <button type="button" onClick={() => goTo(0)}>
            {pattern ? trans.__('Search results') : trans.__('Data lake')}
          </button>
          {location.map((row, depth) => (
            <React.Fragment key={depth}>
              <span aria-hidden="true"> / </span>
              <button
                type="button"
                aria-current={depth === location.length - 1 ? 'location' : undefined}
                onClick={() => goTo(depth + 1)}
              >
                {depth === 0 ? didString(row) : row.name}
              </button>
            </React.Fragment>
          ))}
        </nav>
      )}
      {shown === null ? (
        <Scopes scopes={scopes.data ?? []} onScope={scope => setDraft({ ...draft, scope })} />
      ) : (
        <>
          <div className="jp-DataLake-listHeader">
            <p className="jp-DataLake-count" role="status">
              {sort && shown.isLoading
                ? sortingTotal !== null
                  ? trans._n(
                      'Sorting %2 item…',
                      'Sorting %2 items…',
                      sortingTotal,
                      formatCount(sortingTotal)
                    )
                  : trans.__('Sorting…')
                : countText(shown, trans.__.bind(trans), trans._n.bind(trans))}
            </p>
            <HTMLSelect
              aria-label={trans.__('Sort')}
              value={order}
              title={trans.__(
                'Order of the list; to sort, the whole list is read from Rucio first'
              )}
              onChange={event => {
                setSortingTotal(shown.total);
                setSelected(null);
                setOrder(event.target.value as SortOrder);
              }}
              options={[
                { label: trans.__('Rucio’s order'), value: 'rucio' },
                { label: trans.__('By name'), value: 'name' },
                { label: trans.__('By size'), value: 'size' }
              ]}
            />
          </div>
          {shown.error && (
            <ErrorMessage error={shown.error} retrying={shown.retrying} onRetry={shown.retry} />
          )}
          <DidList
            label={listLabel}
            list={shown}
            selected={selected?.index ?? null}
            onSelect={(index, row) => setSelected({ index, row })}
            onOpen={open}
            showScope={!here}
          />
        </>
      )}
      {selected && (
        <Details
          key={didString(selected.row)}
          instance={name}
          did={didString(selected.row)}
          scratchRse={props.instance.scratchRse}
          mode={props.instance.mode}
          onShowDownloads={props.onShowDownloads}
        />
      )}
    </>
  );
}

/** How a list is ordered: as Rucio streams it, or by name or size. */
type SortOrder = 'rucio' | ListOrder;

/** "12 items", or for a list longer than the companion counts, "10,200 items so far, …". */
function countText(
  list: IWindowedList<IDidRow>,
  __: (text: string, ...args: unknown[]) => string,
  _n: (one: string, many: string, n: number, ...args: unknown[]) => string
): string {
  if (list.isLoading) {
    return __('Searching…');
  }
  if (list.error) {
    return '';
  }
  if (list.total !== null) {
    return _n('%2 item', '%2 items', list.total, formatCount(list.total));
  }
  const known = Math.max(0, list.count - 1);
  return __('%1 items so far, more as you scroll…', formatCount(known));
}

/** The scopes to start from, when nothing is searched yet. */
function Scopes(props: { scopes: string[]; onScope(scope: string): void }): JSX.Element {
  const { trans } = useDataLake();
  return (
    <div className="jp-DataLake-scopes">
      <p>{trans.__('Type scope:name to search (* matches anything), or pick a scope:')}</p>
      <ul aria-label={trans.__('Scopes')}>
        {props.scopes.map(scope => (
          <li key={scope}>
            <button type="button" onClick={() => props.onScope(scope)}>
              {scope}
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}

/** A file list shown as DID rows. */
function asFileRows(list: IWindowedList<FileEntry>): IWindowedList<IDidRow> {
  return {
    ...list,
    item: index => {
      const file = list.item(index);
      return file && { scope: file.scope, name: file.name, type: 'FILE', bytes: file.bytes };
    }
  };
}
