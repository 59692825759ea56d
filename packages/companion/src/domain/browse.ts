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
import { rucioDate, rucioNumber } from '../rucio/json.js';
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

/** Datasets of a container whose replicas its details sum up, and how many are asked at once. */
const MAX_CONTAINER_DATASETS = 1000;
const CONTAINER_LOOKUPS = 4;

function didType(value: string | undefined): DidType {
  const upper = (value ?? '').toUpperCase();
  return upper === 'CONTAINER' || upper === 'DATASET' ? upper : 'FILE';
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
   * sorted).
   */
  search(request: SearchRequest): Promise<Window<Did>> {
    const { scope, name } = parseDid(request.did, { wildcards: true, naming: this.naming });
    const query = searchQuery(name, request);
    const key = JSON.stringify(['search', scope, query]);
    return listWindow(
      this.didWindows,
      key,
      () =>
        mapStream(
          this.rucio.lines<RucioDidLine | string>('GET', `/dids/${segment(scope)}/dids/search`, {
            query,
            context: { did: request.did }
          }),
          line =>
            typeof line === 'string'
              ? { scope, name: line, type: 'FILE' as const, bytes: null, length: null }
              : toDid(line)
        ),
      request.offset ?? 0,
      request.limit ?? DEFAULT_LIMIT,
      request.sort
    );
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
    this.fileWindows.clear();
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
 * the list's length as Rucio counted it, if known.
 */
function listWindow<T extends SortableRow>(
  windows: StreamWindows<T>,
  key: string,
  open: () => AsyncIterator<T>,
  offset: number,
  limit: number,
  sort: ListOrder | undefined,
  knownTotal: number | null = null
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
    MAX_SORTED_ROWS,
    tooLongToSort,
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
