import type { MetadataCondition, SearchRequest } from '@dlaas/api';
import { filterKeyKinds } from '../rucio/metadata.js';

/*
 * Rucio's metadata search hands each filter to SQL with the type Rucio reads from its text: a
 * value that does not fit the column (a word for a number, a number for a text column, a date in
 * another form) is a database error, which Rucio answers 500. So that such a search gets a
 * sentence saying what to change, and not "the data lake failed", filters are checked here against
 * the columns of Rucio's DID table and the rules of its filter engine
 * (rucio.core.did_meta_plugins.filter_engine); keys Rucio keeps in its JSON metadata are free-form
 * and left to Rucio, which answers a mismatch there with a 4xx.
 */

/** Arguments of Rucio's search itself, which the companion sets from the request (`did`, `type`). */
const SEARCH_ARGUMENTS = new Set([
  'name',
  'type',
  'did_type',
  'long',
  'recursive',
  'filters',
  'limit',
  'offset'
]);

/** DID columns no search can filter on: Rucio fails with a database error whatever the value. */
const UNFILTERABLE = new Set(['account']);

const INTEGER_MAX = 2_147_483_647;

/** Columns of whole numbers and the largest value each holds (SQL INTEGER or BIGINT). */
const NUMBER_COLUMNS: ReadonlyMap<string, number> = new Map([
  ['bytes', Number.MAX_SAFE_INTEGER],
  ['length', Number.MAX_SAFE_INTEGER],
  ['events', Number.MAX_SAFE_INTEGER],
  ['run_number', INTEGER_MAX],
  ['task_id', INTEGER_MAX],
  ['panda_id', INTEGER_MAX],
  ['lumiblocknr', INTEGER_MAX],
  ['access_cnt', INTEGER_MAX]
]);

const DATE_COLUMNS = new Set([
  'created_at',
  'updated_at',
  'accessed_at',
  'closed_at',
  'eol_at',
  'expired_at',
  'deleted_at',
  'created_before',
  'created_after'
]);

const BOOLEAN_COLUMNS = new Set([
  'hidden',
  'monotonic',
  'obsolete',
  'complete',
  'is_new',
  'suppressed',
  'purge_replicas',
  'transient',
  'is_archive',
  'constituent'
]);

const TEXT_COLUMNS = new Set([
  'md5',
  'adler32',
  'project',
  'datatype',
  'stream_name',
  'prod_step',
  'version',
  'campaign',
  'provenance',
  'phys_group'
]);

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * Whether Rucio reads `text` as a date: one of its formats (`2024-01-31T12:00:00`, with a space
 * instead of the T, either with `.123456Z`, or `Wed, 31 Jan 2024 12:00:00 UTC`) naming a real time.
 */
export function isRucioDate(text: string): boolean {
  const iso = /^(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{1,2}):(\d{1,2})(\.\d{1,6}Z)?$/.exec(
    text
  );
  const web =
    /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{1,2}) ([A-Z][a-z]{2}) (\d{4}) (\d{1,2}):(\d{1,2}):(\d{1,2}) UTC$/.exec(
      text
    );
  const parts = iso
    ? [iso[1], iso[2], iso[3], iso[4], iso[5], iso[6]]
    : web
      ? [web[3], String(MONTHS.indexOf(web[2] ?? '') + 1), web[1], web[4], web[5], web[6]]
      : undefined;
  if (!parts) {
    return false;
  }
  const [year, month, day, hour, minute, second] = parts.map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number
  ];
  const time = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  return (
    time.getUTCFullYear() === year &&
    time.getUTCMonth() === month - 1 &&
    time.getUTCDate() === day &&
    time.getUTCHours() === hour &&
    time.getUTCMinutes() === minute &&
    time.getUTCSeconds() === second
  );
}

/** Text Rucio reads as True or False. */
function readsAsBoolean(text: string): boolean {
  return ['true', 'True', 'TRUE', 'false', 'False', 'FALSE'].includes(text);
}

/**
 * Text Rucio reads as a number: a Python number literal, which Rucio tries only on text without
 * `+`, `-`, `*` or `/`.
 */
function readsAsNumber(text: string): boolean {
  return /^(?:(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:e\d+)?j?|0[xob][\da-f_]+)$/i.test(text);
}

/** A condition's value as the text Rucio receives. */
function asText(value: MetadataCondition['value']): string {
  return String(value);
}

function shown(value: MetadataCondition['value']): string {
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/** What is wrong with one condition, as the end of a sentence, or null. */
function conditionProblem({ key, operator, value }: MetadataCondition): string | null {
  const equality = operator === '=' || operator === '!=';
  if (SEARCH_ARGUMENTS.has(key)) {
    return `"${key}" is not metadata but part of the search itself: write the name pattern in the search field and choose the type there`;
  }
  if (UNFILTERABLE.has(key)) {
    return `Rucio cannot filter a search by "${key}"`;
  }
  const text = asText(value);
  if (!equality && (typeof value === 'boolean' || readsAsBoolean(text))) {
    return `"${key}" is compared with true or false, which only = and != can do`;
  }
  if (!equality && typeof value === 'string' && /[*%]/.test(value)) {
    return `the value of "${key}" has a wildcard (* or %), which only = and != can match`;
  }
  const max = NUMBER_COLUMNS.get(key);
  if (max !== undefined) {
    const whole = key === 'length';
    const number = whole ? /^\d+$/.test(text) : /^\d+(\.\d+)?$/.test(text);
    if (typeof value === 'boolean' || !number || Number(text) > max) {
      return `"${key}" holds ${whole ? 'whole numbers' : 'numbers'} from 0 to ${max.toLocaleString('en')}, so ${shown(value)} cannot be compared with it`;
    }
  }
  if (DATE_COLUMNS.has(key) && !(typeof value === 'string' && isRucioDate(value))) {
    return `"${key}" holds dates: write one as 2024-01-31T12:00:00, not ${shown(value)}`;
  }
  if (BOOLEAN_COLUMNS.has(key) && !(typeof value === 'boolean' || readsAsBoolean(text))) {
    return `"${key}" is true or false, so ${shown(value)} cannot be compared with it`;
  }
  if (
    TEXT_COLUMNS.has(key) &&
    (typeof value !== 'string' ||
      readsAsNumber(value) ||
      readsAsBoolean(value) ||
      isRucioDate(value))
  ) {
    const kind =
      typeof value === 'boolean' || readsAsBoolean(text)
        ? 'a true/false value'
        : isRucioDate(text)
          ? 'a date'
          : 'a number';
    return `"${key}" holds text, and Rucio takes ${shown(value)} for ${kind}, so it cannot search for it`;
  }
  if (key === 'guid' && !(typeof value === 'string' && GUID.test(value))) {
    return `"guid" holds identifiers such as 123e4567-e89b-12d3-a456-426614174000, so ${shown(value)} cannot be compared with it`;
  }
  return null;
}

/**
 * Why Rucio cannot run the metadata filters of a search, as a sentence for the user, or null when
 * they can be sent: keys that are the search's own arguments, values of the wrong type for Rucio's
 * DID columns, wildcards or true/false with an ordering operator, a key compared twice the same way
 * in one group, DID-column keys and custom-metadata keys in one search (Rucio refuses every such
 * mix, in one group or across OR groups).
 */
export function filterProblem(request: SearchRequest): string | null {
  for (const group of request.filters ?? []) {
    const seen = new Set<string>();
    for (const condition of group) {
      const problem = conditionProblem(condition);
      if (problem !== null) {
        return `This search cannot run: ${problem}. Change the filter and search again.`;
      }
      const pair = `${condition.key} ${condition.operator}`;
      if (seen.has(pair)) {
        return `This search cannot run: "${condition.key}" is compared with ${condition.operator} twice in one group of filters. Keep one of them, or put the other in a group of its own.`;
      }
      seen.add(pair);
    }
  }
  const { column, custom } = filterKeyKinds(request.filters);
  if (column !== undefined && custom !== undefined) {
    return `This search cannot run: "${column}" is one of Rucio's own DID columns and "${custom}" is custom metadata, and Rucio cannot filter on both kinds in one search (not even in separate OR groups). Filter on one kind of key only, or split it into two searches, one for each kind.`;
  }
  return null;
}
