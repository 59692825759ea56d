import type { DidDetails } from '@dlaas/api';
import { Button } from '@jupyterlab/ui-components';
import React, { useEffect, useState } from 'react';
import { useDataLake } from '../context';
import { formatBytes, formatCount } from '../format';
import { failureOf, useDetails, useElapsed } from '../hooks';
import { AvailabilityBlock } from './Availability';
import { DownloadBlock } from './Downloads';
import { ErrorMessage, QueryFailure } from './ErrorMessage';

/** Props of {@link Details}. */
export interface IDetailsProps {
  instance: string;
  did: string;
  scratchRse: string;
  /** `download`: the instance has no scratch RSE; Download is the main action. */
  mode?: 'replica' | 'download';
  /** Shows the panel's Downloads list. */
  onShowDownloads?(): void;
}

/**
 * How long a DID stays selected before its details are asked for: Rucio counts a collection's
 * files to answer, which is wasted on the rows arrow keys pass over and on the first click of a
 * double-click that opens the collection.
 */
const DETAILS_DELAY_MS = 200;

/**
 * One DID in detail: type, size, files, metadata, replicas per RSE, rules, and its availability
 * with what the user can do. Keyed by DID: each selection mounts it anew.
 */
export function Details(props: IDetailsProps): JSX.Element {
  const { trans, actions } = useDataLake();
  const settled = useElapsed(DETAILS_DELAY_MS);
  const details = useDetails(props.instance, settled ? props.did : null);
  const data = details.data;
  return (
    <section className="jp-DataLake-details" aria-label={trans.__('Details')}>
      <h3 className="jp-DataLake-detailsTitle" title={props.did}>
        {props.did}
      </h3>
      {(!settled || (details.isLoading && !failureOf(details))) && (
        <p>{trans.__('Loading details…')}</p>
      )}
      <QueryFailure failure={failureOf(details)} onRetry={() => void details.refetch()} />
      {data && (
        <>
          <Summary details={data} />
          {props.mode !== 'download' && (
            <AvailabilityBlock
              instance={props.instance}
              did={props.did}
              type={data.did.type}
              scratchRse={props.scratchRse}
            />
          )}
          <DownloadBlock
            instance={props.instance}
            did={props.did}
            type={data.did.type}
            primary={props.mode === 'download'}
            onShowAll={props.onShowDownloads}
          />
          <div className="jp-DataLake-actions">
            {actions.addToNotebook && (
              <Button
                className="jp-mod-styled"
                onClick={() =>
                  void actions.addToNotebook?.(props.instance, props.did, data.did.type)
                }
              >
                {trans.__('Add to notebook')}
              </Button>
            )}
          </div>
          {data.did.type === 'FILE' && <Preview instance={props.instance} did={props.did} />}
          <Metadata metadata={data.metadata} />
          <Replicas details={data} />
          <Rules details={data} />
        </>
      )}
    </section>
  );
}

function Summary(props: { details: DidDetails }): JSX.Element {
  const { trans } = useDataLake();
  const { did } = props.details;
  const types = {
    CONTAINER: trans.__('Container'),
    DATASET: trans.__('Dataset'),
    FILE: trans.__('File')
  };
  return (
    <dl className="jp-DataLake-summary">
      <dt>{trans.__('Type')}</dt>
      <dd>{types[did.type]}</dd>
      <dt>{trans.__('Size')}</dt>
      <dd>{formatBytes(did.bytes)}</dd>
      {did.type !== 'FILE' && (
        <>
          <dt>{trans.__('Files')}</dt>
          <dd>{did.length === null ? '–' : formatCount(did.length)}</dd>
        </>
      )}
    </dl>
  );
}

/** Rucio's own bookkeeping columns, shown apart from the science metadata. */
const SYSTEM_KEYS = new Set([
  'scope',
  'name',
  'account',
  'did_type',
  'is_open',
  'monotonic',
  'hidden',
  'obsolete',
  'complete',
  'is_new',
  'availability',
  'suppressed',
  'bytes',
  'length',
  'md5',
  'adler32',
  'guid',
  'expired_at',
  'purge_replicas',
  'deleted_at',
  'created_at',
  'updated_at',
  'accessed_at',
  'closed_at',
  'eol_at',
  'transient',
  'is_archive',
  'constituent',
  'access_cnt'
]);

/** The metadata Rucio keeps on the DID: the science keys, then Rucio's own, folded. */
function Metadata(props: { metadata: Record<string, unknown> }): JSX.Element | null {
  const { trans } = useDataLake();
  const entries = Object.entries(props.metadata).filter(
    ([, value]) => value !== null && value !== undefined && value !== ''
  );
  const science = entries.filter(([key]) => !SYSTEM_KEYS.has(key));
  const system = entries.filter(([key]) => SYSTEM_KEYS.has(key));
  return (
    <>
      <details className="jp-DataLake-section" open>
        <summary>{trans.__('Metadata')}</summary>
        {science.length === 0 ? (
          <p>{trans.__('No metadata beyond Rucio’s own.')}</p>
        ) : (
          <MetadataTable entries={science} />
        )}
      </details>
      {system.length > 0 && (
        <details className="jp-DataLake-section">
          <summary>{trans.__('Rucio bookkeeping')}</summary>
          <MetadataTable entries={system} />
        </details>
      )}
    </>
  );
}

function MetadataTable(props: { entries: [string, unknown][] }): JSX.Element {
  return (
    <table className="jp-DataLake-table">
      <tbody>
        {props.entries.map(([key, value]) => (
          <tr key={key}>
            <th scope="row">{key}</th>
            <td>{typeof value === 'object' ? JSON.stringify(value) : String(value)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Replicas(props: { details: DidDetails }): JSX.Element {
  const { trans } = useDataLake();
  const { replicas } = props.details;
  return (
    <details className="jp-DataLake-section" open>
      <summary>{trans.__('Replicas')}</summary>
      {replicas.length === 0 ? (
        <p>{trans.__('No replicas.')}</p>
      ) : (
        <table className="jp-DataLake-table">
          <thead>
            <tr>
              <th scope="col">{trans.__('RSE')}</th>
              <th scope="col">{trans.__('Files')}</th>
              <th scope="col">{trans.__('Size')}</th>
            </tr>
          </thead>
          <tbody>
            {replicas.map(replica => (
              <tr key={replica.rse}>
                <td>{replica.rse}</td>
                <td>
                  {replica.availableFiles === replica.files
                    ? formatCount(replica.files)
                    : trans.__(
                        '%1 of %2',
                        formatCount(replica.availableFiles),
                        formatCount(replica.files)
                      )}
                </td>
                <td>{formatBytes(replica.bytes)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </details>
  );
}

function Rules(props: { details: DidDetails }): JSX.Element {
  const { trans } = useDataLake();
  const { rules } = props.details;
  return (
    <details className="jp-DataLake-section">
      <summary>{trans._n('%1 rule', '%1 rules', rules.length)}</summary>
      {rules.length === 0 ? (
        <p>{trans.__('No replication rules.')}</p>
      ) : (
        <ul className="jp-DataLake-rules">
          {rules.map(rule => (
            <li key={rule.id}>
              <strong>{rule.rseExpression}</strong> · {rule.state} · {rule.account}
              {rule.expiresAt
                ? ' · ' + trans.__('expires %1', new Date(rule.expiresAt).toLocaleString())
                : ''}
              {rule.error ? <div className="jp-DataLake-stuck">{rule.error}</div> : null}
            </li>
          ))}
        </ul>
      )}
    </details>
  );
}

/** Bytes read for a preview. */
const PREVIEW_BYTES = 64 * 1024;

/** Largest image shown whole in a preview (an image cut short does not draw). */
const IMAGE_PREVIEW_BYTES = 16 * 1024 * 1024;

/** The start of a file's content, read through the companion: text, CSV as a table, or an image. */
function Preview(props: { instance: string; did: string }): JSX.Element {
  const { trans, client } = useDataLake();
  const [shown, setShown] = useState(false);
  const [content, setContent] = useState<
    | { kind: 'text' | 'csv'; text: string; partial: boolean }
    | { kind: 'image'; url: string }
    | { kind: 'too-large'; size: number }
    | null
  >(null);
  const [error, setError] = useState<Error | null>(null);
  useEffect(() => {
    setShown(false);
    setContent(null);
    setError(null);
  }, [props.did]);
  useEffect(() => {
    if (content?.kind !== 'image') {
      return;
    }
    return () => URL.revokeObjectURL(content.url);
  }, [content]);
  const load = async (): Promise<void> => {
    setShown(true);
    try {
      let answer = await client.content(props.instance, props.did, PREVIEW_BYTES);
      if (answer.type.startsWith('image/')) {
        const size = answer.size ?? 0;
        if (size > IMAGE_PREVIEW_BYTES) {
          setContent({ kind: 'too-large', size });
          return;
        }
        if (size > PREVIEW_BYTES) {
          answer = await client.content(props.instance, props.did, size);
        }
        setContent({ kind: 'image', url: URL.createObjectURL(answer.body) });
        return;
      }
      const text = await answer.body.text();
      const partial = answer.size !== null && answer.size > PREVIEW_BYTES;
      const csv = answer.type.includes('csv') || props.did.endsWith('.csv');
      setContent({ kind: csv ? 'csv' : 'text', text, partial });
    } catch (e) {
      setError(e as Error);
    }
  };
  if (!shown) {
    return (
      <div className="jp-DataLake-actions">
        <Button className="jp-mod-styled" onClick={() => void load()}>
          {trans.__('Preview')}
        </Button>
      </div>
    );
  }
  return (
    <div className="jp-DataLake-preview" aria-label={trans.__('Preview')} role="region">
      {error && <ErrorMessage error={error} />}
      {!error && !content && <p>{trans.__('Loading preview…')}</p>}
      {content?.kind === 'image' && <img src={content.url} alt={props.did} />}
      {content?.kind === 'too-large' && (
        <p>
          {trans.__(
            'This image is %1, too large to preview here (up to %2). Make it available and open it from the file browser.',
            formatBytes(content.size),
            formatBytes(IMAGE_PREVIEW_BYTES)
          )}
        </p>
      )}
      {content?.kind === 'text' && <pre>{content.text}</pre>}
      {content?.kind === 'csv' && <CsvTable text={content.text} partial={content.partial} />}
      {(content?.kind === 'text' || content?.kind === 'csv') && content.partial && (
        <p>{trans.__('Showing the first %1.', formatBytes(PREVIEW_BYTES))}</p>
      )}
    </div>
  );
}

/** The first rows of a CSV text as a table (quoted fields with commas are kept whole). */
function CsvTable(props: { text: string; partial: boolean }): JSX.Element {
  const lines = props.text.split(/\r?\n/).filter(line => line.length > 0);
  const rows = (props.partial ? lines.slice(0, -1) : lines).slice(0, 50).map(splitCsvLine);
  const [head, ...body] = rows;
  return (
    <table className="jp-DataLake-table jp-DataLake-csv">
      {head && (
        <thead>
          <tr>
            {head.map((cell, i) => (
              <th key={i} scope="col">
                {cell}
              </th>
            ))}
          </tr>
        </thead>
      )}
      <tbody>
        {body.map((row, r) => (
          <tr key={r}>
            {row.map((cell, i) => (
              <td key={i}>{cell}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The fields of one CSV line. */
export function splitCsvLine(line: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted && c === '"' && line[i + 1] === '"') {
      cell += '"';
      i++;
    } else if (c === '"') {
      quoted = !quoted;
    } else if (c === ',' && !quoted) {
      cells.push(cell);
      cell = '';
    } else {
      cell += c;
    }
  }
  cells.push(cell);
  return cells;
}
