import type {
  Did,
  DidDetails,
  DidType,
  FileEntry,
  ListOrder,
  MetadataCondition,
  ReplicaSummary,
  RuleSummary,
  SearchRequest,
  Window
} from '@dlaas/api';
import { MAX_SORTED_ROWS } from '@dlaas/api';
import { didString, Naming, parseDid, type DidRef } from '../did.js';
import { AppError, badRequest } from '../errors.js';
import { inParallel } from '../parallel.js';
import { didPath, segment, type Query, type RucioClient } from '../rucio/client.js';
import type { ErrorContext } from '../rucio/errors.js';
import { rucioDate, rucioNumber } from '../rucio/json.js';
import { searchesCustomMetadata } from '../rucio/metadata.js';
import { listSort, rowBytes, type SortableRow } from './orders.js';
import { mapStream, StreamWindows } from './windows.js';

/** Rucio's line for a DID in search results (`long=true`) and children listings. */
interface RucioDidLine {
  scope: string;
  name: string;
  did_type?: string;
  type?: string;
  bytes?: unknown;
  length?: unknown;
  adler32?: string | null;
}

/** Rucio's rule, as `GET /rules/{id}` and the rule listings send it. */
export interface RucioRule {
  id: string;
  account: string;
  rse_expression: string;
  copies: number;
  state: string;
  locks_ok_cnt: number;
  locks_replicating_cnt: number;
  locks_stuck_cnt: number;
  expires_at: string | null;
  error: string | null;
  scope: string;
  name: string;
}

const DEFAULT_LIMIT = 200;

/**
 * Search results Rucio sent without their type (searches on custom metadata) are looked up this
 * many at a time, in one `POST /dids/bulkmeta` (Rucio takes at most 1000 DIDs a call): as many as
 * the windows read from a list at once, so that a window costs one look-up.
 */
const LOOKUP_BATCH = 500;

/** DIDs whose looked-up type and size are kept, and for how long (an open dataset grows). */
const MAX_LOOKED_UP = 10_000;
const LOOKED_UP_MS = 60_000;

/**
 * The longest search on custom metadata the companion sorts: every result must be looked up
 * first (about a second per 2,000 on a small Rucio).
 */
export const MAX_LOOKED_UP_SORTED_ROWS = 5_000;

/** Datasets of a container whose replicas its details sum up, and how many are asked at once. */
const MAX_CONTAINER_DATASETS = 1000;
const CONTAINER_LOOKUPS = 4;

function didType(value: string | undefined): DidType {
  const upper = (value ?? '').toUpperCase();
  return upper === 'CONTAINER' || upper === 'DATASET' ? upper : 'FILE';
}

/** A search result whose type Rucio did not send (custom-metadata searches), so neither its size. */
interface UntypedRow {
  scope: string;
  name: string;
  type: null;
}

/** A search result as Rucio sent it. */
type SearchRow = Did | UntypedRow;

/** Rucio's search line as a row: without a type when Rucio sent none (a bare name, or null). */
function searchRow(line: RucioDidLine | string, scope: string): SearchRow {
  if (typeof line === 'string') {
    return { scope, name: line, type: null };
  }
  return line.did_type || line.type
    ? toDid(line)
    : { scope: line.scope, name: line.name, type: null };
}

/** The DID types a search's `type` asks for. */
function typesOf(type: SearchRequest['type']): ReadonlySet<DidType> {
  switch (type) {
    case 'collection':
      return new Set(['CONTAINER', 'DATASET']);
    case 'container':
      return new Set(['CONTAINER']);
    case 'dataset':
      return new Set(['DATASET']);
    case 'file':
      return new Set(['FILE']);
    default:
      return new Set(['CONTAINER', 'DATASET', 'FILE']);
  }
}

/**
 * Search rows with their real type and size, in Rucio's order: rows Rucio typed pass as they
 * are; untyped ones are held, {@link LOOKUP_BATCH} at a time (with the typed rows after them, to
 * keep the order), looked up together with `lookUp`, and kept when of a `wanted` type (Rucio's
 * custom-metadata search ignores the type asked for) and still known to Rucio.
 */
async function* typedRows(
  rows: AsyncIterable<SearchRow>,
  lookUp: (dids: readonly DidRef[]) => Promise<ReadonlyMap<string, Did>>,
  wanted: ReadonlySet<DidType>
): AsyncGenerator<Did, void, undefined> {
  async function* resolved(held: readonly SearchRow[]): AsyncGenerator<Did, void, undefined> {
    const found = await lookUp(held.filter(row => row.type === null));
    for (const row of held) {
      if (row.type !== null) {
        yield row;
        continue;
      }
      const did = found.get(didString(row));
      if (did && wanted.has(did.type)) {
        yield did;
      }
    }
  }
  let held: SearchRow[] = [];
  for await (const row of rows) {
    if (row.type !== null && held.length === 0) {
      yield row;
      continue;
    }
    held.push(row);
    if (held.length >= LOOKUP_BATCH) {
      const batch = held;
      held = [];
      yield* resolved(batch);
    }
  }
  if (held.length > 0) {
    yield* resolved(held);
  }
}

function toDid(line: RucioDidLine): Did {
  const type = didType(line.did_type ?? line.type);
  return {
    scope: line.scope,
    name: line.name,
    type,
    bytes: rucioNumber(line.bytes),
    length: type === 'FILE' ? 1 : rucioNumber(line.length)
  };
}

/** A rule in the API's words. */
export function toRuleSummary(rule: RucioRule): RuleSummary {
  return {
    id: rule.id,
    account: rule.account,
    rseExpression: rule.rse_expression,
    state: rule.state,
    locksOk: rule.locks_ok_cnt,
    locksReplicating: rule.locks_replicating_cnt,
    locksStuck: rule.locks_stuck_cnt,
    expiresAt: rucioDate(rule.expires_at),
    error: rule.error
  };
}

const OPERATOR_SUFFIX: Record<MetadataCondition['operator'], string> = {
  '=': '',
  '!=': '.ne',
  '>': '.gt',
  '>=': '.gte',
  '<': '.lt',
  '<=': '.lte'
};

/** A value as a Python literal, for Rucio's `filters` parameter. */
function pythonLiteral(value: string | number | boolean): string {
  if (typeof value === 'boolean') {
    return value ? 'True' : 'False';
  }
  if (typeof value === 'number') {
    return String(value);
  }
  return `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

/**
 * Rucio's search query for a request: one AND group becomes plain query arguments
 * (`key.gt=5`); several groups (an OR) become Rucio's `filters` argument, a Python-literal list of
 * dicts, with the name pattern in each.
 */
export function searchQuery(name: string, request: SearchRequest): Query {
  const groups = request.filters ?? [];
  const query: Query = { type: request.type ?? 'all', long: true };
  if (groups.length <= 1) {
    query['name'] = name;
    for (const condition of groups[0] ?? []) {
      query[`${condition.key}${OPERATOR_SUFFIX[condition.operator]}`] = String(condition.value);
    }
    return query;
  }
  query['filters'] =
    '[' +
    groups
      .map(
        group =>
          `{${[`'name': ${pythonLiteral(name)}`, ...group.map(c => `'${c.key}${OPERATOR_SUFFIX[c.operator]}': ${pythonLiteral(c.value)}`)].join(', ')}}`
      )
      .join(', ') +
    ']';
  return query;
}

/**
 * How many search results or children the companion reads on its own, after the first window, to
 * tell their number; longer lists say "so far" until the user scrolls further.
 */
const COUNTED_ROWS = 10_000;

/** Browsing of one user's view of one instance: scopes, search, children, files, details. */
export class Browser {
  /** Search results and children are counted up to this many, in the background. */
  private readonly didWindows = new StreamWindows<Did>({ countUpTo: COUNTED_ROWS, rowBytes });
  /**
   * Searches on custom metadata, whose rows are looked up as they are read: read only as far as
   * the windows reach, so that no one looks up thousands of rows to count them.
   */
  private readonly lookedUpWindows = new StreamWindows<Did>({ rowBytes });
  /** Types and sizes of search results looked up, by `scope:name`, oldest first. */
  private readonly lookedUp = new Map<string, { did: Did; expiresAt: number }>();
  private readonly fileWindows = new StreamWindows<FileEntry>({ rowBytes });
  /** File counts of DIDs being listed, filled in when Rucio has counted. */
  private readonly fileCounts = new Map<string, { value: number | null }>();

  private readonly naming: Naming;

  constructor(private readonly rucio: RucioClient) {
    this.naming = new Naming(rucio.instance.naming);
  }

  /** Every scope. */
  async scopes(): Promise<string[]> {
    const scopes = await this.rucio.json<unknown>('GET', '/scopes/');
    return Array.isArray(scopes)
      ? scopes.filter((s): s is string => typeof s === 'string').sort()
      : [];
  }

  /**
   * A window of the DIDs matching a search, read incrementally from Rucio's stream (whole, when
   * sorted). Rucio answers a search on custom metadata without the results' types and sizes, and
   * with every type whatever `type` asks for: such results are looked up in bulk as the windows
   * read them, and those of other types left out. Such a list is read only as far as its windows
   * reach (its length is known once it is read to its end), and sorted only up to
   * {@link MAX_LOOKED_UP_SORTED_ROWS} results.
   */
  search(request: SearchRequest): Promise<Window<Did>> {
    const { scope, name } = parseDid(request.did, { wildcards: true, naming: this.naming });
    const query = searchQuery(name, request);
    const key = JSON.stringify(['search', scope, query]);
    const context = { did: request.did };
    const custom = searchesCustomMetadata(request.filters);
    return listWindow(
      custom ? this.lookedUpWindows : this.didWindows,
      key,
      () =>
        typedRows(
          mapStream(
            this.rucio.lines<RucioDidLine | string>('GET', `/dids/${segment(scope)}/dids/search`, {
              query,
              context
            }),
            line => searchRow(line, scope)
          ),
          dids => this.lookUp(dids, context),
          typesOf(request.type)
        ),
      request.offset ?? 0,
      request.limit ?? DEFAULT_LIMIT,
      request.sort,
      null,
      custom ? tooLongToLookUp : tooLongToSort,
      custom ? MAX_LOOKED_UP_SORTED_ROWS : MAX_SORTED_ROWS
    );
  }

  /**
   * The type and size of DIDs (at most 1000), by `scope:name`: from those looked up in the last
   * minute, the others in one `POST /dids/bulkmeta`. DIDs Rucio does not know are left out.
   */
  private async lookUp(
    dids: readonly DidRef[],
    context: Omit<ErrorContext, 'instance'>
  ): Promise<ReadonlyMap<string, Did>> {
    const found = new Map<string, Did>();
    const missing = new Map<string, DidRef>();
    const now = Date.now();
    for (const did of dids) {
      const key = didString(did);
      const known = this.lookedUp.get(key);
      if (known && now < known.expiresAt) {
        found.set(key, known.did);
      } else {
        missing.set(key, { scope: did.scope, name: did.name });
      }
    }
    if (missing.size === 0) {
      return found;
    }
    for await (const line of this.rucio.lines<RucioDidLine>('POST', '/dids/bulkmeta', {
      body: { dids: [...missing.values()], plugin: 'DID_COLUMN' },
      context
    })) {
      const did = toDid(line);
      const key = didString(did);
      if (!missing.has(key)) {
        continue;
      }
      found.set(key, did);
      this.lookedUp.delete(key);
      this.lookedUp.set(key, { did, expiresAt: Date.now() + LOOKED_UP_MS });
    }
    for (const key of this.lookedUp.keys()) {
      if (this.lookedUp.size <= MAX_LOOKED_UP) {
        break;
      }
      this.lookedUp.delete(key);
    }
    return found;
  }

  /** A window of a collection's direct children, in Rucio's order or `sort`. */
  children(did: DidRef, offset = 0, limit = DEFAULT_LIMIT, sort?: ListOrder): Promise<Window<Did>> {
    return listWindow(
      this.didWindows,
      JSON.stringify(['children', did.scope, did.name]),
      () =>
        mapStream(
          this.rucio.lines<RucioDidLine>('GET', `${didPath(did.scope, did.name)}/dids`, {
            context: { did: didString(did) }
          }),
          toDid
        ),
      offset,
      limit,
      sort
    );
  }

  /**
   * A window of all files below a DID. Rucio counts a DID's files by listing them all (in Python),
   * which on a small server slows the stream the first window waits for; so the count is started
   * only once the first window is served, and later windows carry it once it is known. Sorted,
   * the whole list is read first, and its length is known.
   */
  async files(
    did: DidRef,
    offset = 0,
    limit = DEFAULT_LIMIT,
    sort?: ListOrder
  ): Promise<Window<FileEntry>> {
    const key = JSON.stringify(['files', did.scope, did.name]);
    if (sort && (this.fileCounts.get(key)?.value ?? 0) > MAX_SORTED_ROWS) {
      // Counted already: no need to read half a million rows to find out.
      throw tooLongToSort();
    }
    const window = await listWindow(
      this.fileWindows,
      key,
      () =>
        mapStream(
          this.rucio.lines<RucioDidLine>('GET', `${didPath(did.scope, did.name)}/files`, {
            context: { did: didString(did) }
          }),
          line => ({
            scope: line.scope,
            name: line.name,
            bytes: rucioNumber(line.bytes),
            adler32: line.adler32 ?? null
          })
        ),
      offset,
      limit,
      sort,
      this.fileCounts.get(key)?.value ?? null
    );
    if (window.complete) {
      return window;
    }
    let count = this.fileCounts.get(key);
    if (!count) {
      count = { value: null };
      const entry = count;
      this.fileCounts.set(key, entry);
      this.did(did).then(
        d => (entry.value = d.length),
        () => this.fileCounts.delete(key)
      );
    }
    return { ...window, total: count.value };
  }

  /** One DID with its size and file count (Rucio counts them when asked with dynamic_depth). */
  async did(did: DidRef): Promise<Did> {
    const line = await this.rucio.json<RucioDidLine>('GET', didPath(did.scope, did.name), {
      query: { dynamic_depth: 'FILE' },
      context: { did: didString(did) }
    });
    return toDid(line);
  }

  /** One DID in detail: metadata, where its replicas are, and its rules. */
  async details(ref: DidRef): Promise<DidDetails> {
    const did = await this.did(ref);
    const context = { did: didString(ref) };
    const [metadata, replicas, rules] = await Promise.all([
      this.rucio.json<Record<string, unknown>>('GET', `${didPath(ref.scope, ref.name)}/meta`, {
        query: { plugin: 'ALL' },
        context
      }),
      this.replicaSummary(did),
      collect(
        this.rucio.lines<RucioRule>('GET', `${didPath(ref.scope, ref.name)}/rules`, { context })
      )
    ]);
    // Rucio lists every metadata column, most of them empty: keep what has a value.
    const known = Object.fromEntries(
      Object.entries(metadata ?? {}).filter(([, value]) => value !== null && value !== '')
    );
    return { did, metadata: known, replicas, rules: rules.map(toRuleSummary) };
  }

  private async replicaSummary(did: Did): Promise<ReplicaSummary[]> {
    const context = { did: didString(did) };
    if (did.type === 'FILE') {
      const lines = await collect(
        this.rucio.lines<{ bytes?: unknown; states?: Record<string, string> }>(
          'POST',
          '/replicas/list',
          {
            body: {
              dids: [{ scope: did.scope, name: did.name }],
              all_states: true,
              sort: 'random'
            },
            context
          }
        )
      );
      const bytes = rucioNumber(lines[0]?.bytes) ?? 0;
      return Object.entries(lines[0]?.states ?? {}).map(([rse, state]) => ({
        rse,
        files: 1,
        bytes,
        availableFiles: state === 'AVAILABLE' ? 1 : 0
      }));
    }
    const byRse = new Map<string, ReplicaSummary>();
    // Rucio lists dataset replicas only for datasets: a container's are the sum of its datasets'.
    const datasets = did.type === 'CONTAINER' ? await this.datasetsOf(did) : [did];
    await inParallel(datasets, CONTAINER_LOOKUPS, async dataset => {
      const replicas = this.rucio.lines<{
        rse: string;
        length?: unknown;
        bytes?: unknown;
        available_length?: unknown;
      }>('GET', `/replicas/${segment(dataset.scope)}/${segment(dataset.name)}/datasets`, {
        query: { deep: true },
        context
      });
      for await (const replica of replicas) {
        const summary = byRse.get(replica.rse) ?? {
          rse: replica.rse,
          files: 0,
          bytes: 0,
          availableFiles: 0
        };
        summary.files += rucioNumber(replica.length) ?? 0;
        summary.bytes += rucioNumber(replica.bytes) ?? 0;
        summary.availableFiles += rucioNumber(replica.available_length) ?? 0;
        byRse.set(replica.rse, summary);
      }
    });
    return [...byRse.values()].sort((a, b) => a.rse.localeCompare(b.rse));
  }

  /**
   * The datasets in a container and the containers it holds, each once, at most
   * {@link MAX_CONTAINER_DATASETS} (the summary of a larger container is of its first ones).
   */
  private async datasetsOf(container: DidRef): Promise<DidRef[]> {
    const datasets: DidRef[] = [];
    const seen = new Set([didString(container)]);
    const queue: DidRef[] = [container];
    for (let next = queue.shift(); next; next = queue.shift()) {
      for await (const child of this.rucio.lines<RucioDidLine>(
        'GET',
        `${didPath(next.scope, next.name)}/dids`,
        { context: { did: didString(container) } }
      )) {
        const type = didType(child.type ?? child.did_type);
        const key = didString(child);
        if (type === 'FILE' || seen.has(key)) {
          continue;
        }
        seen.add(key);
        if (type === 'CONTAINER') {
          queue.push({ scope: child.scope, name: child.name });
        } else if (
          datasets.push({ scope: child.scope, name: child.name }) >= MAX_CONTAINER_DATASETS
        ) {
          return datasets;
        }
      }
    }
    return datasets;
  }

  /** Closes the streams held for windows. */
  dispose(): void {
    this.didWindows.clear();
    this.lookedUpWindows.clear();
    this.fileWindows.clear();
    this.lookedUp.clear();
  }
}

/** Reads a whole (short) stream. */
export async function collect<T>(lines: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const line of lines) {
    out.push(line);
  }
  return out;
}

/**
 * A window of the list `key` of `windows`, in Rucio's order or, whole, in `sort`; `knownTotal`:
 * the list's length as Rucio counted it, if known; `tooLong` is thrown to sort a list of more
 * than `maxSorted` rows.
 */
function listWindow<T extends SortableRow>(
  windows: StreamWindows<T>,
  key: string,
  open: () => AsyncIterator<T>,
  offset: number,
  limit: number,
  sort: ListOrder | undefined,
  knownTotal: number | null = null,
  tooLong: () => AppError = tooLongToSort,
  maxSorted = MAX_SORTED_ROWS
): Promise<Window<T>> {
  if (sort === undefined) {
    return windows.window(key, open, offset, limit, knownTotal);
  }
  return windows.sortedWindow(
    key,
    open,
    offset,
    limit,
    listSort<T>(sort),
    maxSorted,
    tooLong,
    knownTotal
  );
}

/** 422: the list is longer than the companion sorts. */
function tooLongToSort(): AppError {
  return new AppError(
    422,
    'too_large',
    `This list has more than ${MAX_SORTED_ROWS.toLocaleString('en')} items, too many to sort: show it in Rucio's order, or narrow the search.`
  );
}

/** 422: a search on custom metadata with more results than the companion looks up to sort. */
function tooLongToLookUp(): AppError {
  const max = MAX_LOOKED_UP_SORTED_ROWS.toLocaleString('en');
  return new AppError(
    422,
    'too_large',
    `This search on custom metadata has more than ${max} results, too many to sort: Rucio does not send the types and sizes of such results, and dlaas looks them up to sort at most ${max}. Show them in Rucio's order, or narrow the search.`
  );
}

/** The `sort` query parameter of a list: absent, `name` or `size`. */
export function sortParam(value: unknown): ListOrder | undefined {
  if (value === undefined || value === '' || value === 'rucio') {
    return undefined;
  }
  if (value === 'name' || value === 'size') {
    return value;
  }
  throw badRequest('"sort" must be "name" or "size" (or left out for Rucio\'s order).');
}

/** Checks window parameters from a query string. */
export function windowParams(offset: unknown, limit: unknown): { offset: number; limit: number } {
  const o = offset === undefined ? 0 : Number(offset);
  const l = limit === undefined ? DEFAULT_LIMIT : Number(limit);
  if (!Number.isInteger(o) || o < 0 || o > 100_000_000) {
    throw badRequest('"offset" must be a whole number from 0.');
  }
  if (!Number.isInteger(l) || l < 1 || l > 5000) {
    throw badRequest('"limit" must be a whole number from 1 to 5000.');
  }
  return { offset: o, limit: l };
}
