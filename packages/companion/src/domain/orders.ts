import type { ListOrder } from '@dlaas/api';
import type { ListSort, SortKey } from './windows.js';

/** Text in natural order (`f2` before `f10`), as people read numbered file names. */
const collator = new Intl.Collator('en', { numeric: true });

/** Compares two texts in natural order: negative when `a` comes first. */
export const compareNatural = collator.compare;

/**
 * Digit runs longer than this have no {@link naturalKey} (ICU splits very long numbers in
 * pieces); the collator orders them.
 */
const MAX_DIGITS = 127;

/** Longer texts have no {@link naturalKey}: no name is this long, and the collator orders them. */
const MAX_KEYED_LENGTH = 4096;

/**
 * Where a key is built: at most three bytes a character of text (a one-digit number takes
 * three), each below 0x80, so that the key reads back as the same code units.
 */
const KEY = Buffer.alloc(3 * MAX_KEYED_LENGTH);

/**
 * For each printable ASCII character, the code unit that stands for it in a {@link naturalKey}:
 * characters the collator holds equal at its first level (`a` and `A`) share one, and the code
 * units follow the collator's order. Digits are not in the table: a run of them stands as a
 * number, in the place of `'0'`. 0: a character without a key.
 */
const RANKS = new Uint8Array(128);
const NUMBER_RANK = (() => {
  const firstLevel = new Intl.Collator('en', { numeric: true, sensitivity: 'base' }).compare;
  const characters: string[] = [];
  for (let code = 0x20; code < 0x7f; code++) {
    if (code < 0x31 || code > 0x39) {
      characters.push(String.fromCharCode(code));
    }
  }
  characters.sort(firstLevel);
  let rank = 0;
  let previous: string | undefined;
  for (const character of characters) {
    if (previous === undefined || firstLevel(previous, character) !== 0) {
      rank++;
    }
    RANKS[character.charCodeAt(0)] = rank;
    previous = character;
  }
  return RANKS[0x30] as number;
})();

/**
 * A key of `text` whose plain code-unit order is the first level of {@link compareNatural}:
 * when the keys of two texts differ, `a < b` on the keys gives the collator's answer, and only
 * texts with equal keys (differing in letter case or leading zeros) need the collator. Each
 * character stands as its rank; each run of digits as the rank of numbers, its length without
 * leading zeros, and its digits, so that numbers compare by value. `null` for text with
 * characters other than printable ASCII, which the collator orders.
 */
export function naturalKey(text: string): string | null {
  if (text.length > MAX_KEYED_LENGTH) {
    return null;
  }
  let length = 0;
  for (let i = 0; i < text.length;) {
    const code = text.charCodeAt(i);
    if (isDigit(code)) {
      let end = i + 1;
      while (end < text.length && isDigit(text.charCodeAt(end))) {
        end++;
      }
      let start = i;
      while (start < end - 1 && text.charCodeAt(start) === 0x30) {
        start++;
      }
      if (end - start > MAX_DIGITS) {
        return null;
      }
      KEY[length++] = NUMBER_RANK;
      KEY[length++] = end - start;
      for (let digit = start; digit < end; digit++) {
        KEY[length++] = text.charCodeAt(digit);
      }
      i = end;
    } else {
      const rank = code < 0x80 ? (RANKS[code] as number) : 0;
      if (rank === 0) {
        return null;
      }
      KEY[length++] = rank;
      i++;
    }
  }
  return KEY.toString('latin1', 0, length);
}

function isDigit(code: number): boolean {
  return code >= 0x30 && code <= 0x39;
}

/** A row of a list that can be sorted: search results, children, files. */
export interface SortableRow {
  scope: string;
  name: string;
  bytes: number | null;
}

/** What a row of a list is sorted on, made once per row before sorting. */
export interface RowKey<T> extends SortKey<T> {
  /** The size in bytes; -1 when unknown (so unknown sizes come last). Unused by name. */
  readonly bytes: number;
  /** The name the order compares. */
  readonly text: string;
  /**
   * The {@link naturalKey} of `text`, computed at its first comparison (by size, most rows are
   * never compared by name); `undefined` before.
   */
  natural: string | null | undefined;
}

function natural<T>(key: RowKey<T>): string | null {
  if (key.natural === undefined) {
    key.natural = naturalKey(key.text);
  }
  return key.natural;
}

/** Two names in natural order, by their keys where both have one. */
function compareNames<T>(a: RowKey<T>, b: RowKey<T>): number {
  const keyA = natural(a);
  const keyB = natural(b);
  if (keyA !== null && keyB !== null && keyA !== keyB) {
    return keyA < keyB ? -1 : 1;
  }
  return compareNatural(a.text, b.text);
}

/**
 * A list order the companion sorts in: by name, scope first (`scope:name`), naturally; or by
 * size, the largest first, unknown sizes last, equal sizes by name (without scope).
 */
export function listSort<T extends SortableRow>(order: ListOrder): ListSort<T, RowKey<T>> {
  if (order === 'name') {
    return {
      name: 'name',
      key: row => ({ row, bytes: -1, text: `${row.scope}:${row.name}`, natural: undefined }),
      compare: compareNames
    };
  }
  return {
    name: 'size',
    key: row => ({ row, bytes: row.bytes ?? -1, text: row.name, natural: undefined }),
    compare: (a, b) => b.bytes - a.bytes || compareNames(a, b)
  };
}

/** See {@link rowBytes}. */
const ROW_OVERHEAD = 80;

/**
 * Bytes a row of a list is estimated to hold in memory: its scope and name (two bytes a
 * character, as JavaScript strings may take), and {@link ROW_OVERHEAD} for the object, its
 * other fields and its place in the list. Measured in Node 20 for a file row (scope, name, bytes,
 * checksum) with 22-character names: 129 bytes, estimated 142.
 */
export function rowBytes(row: SortableRow): number {
  return (row.scope.length + row.name.length) * 2 + ROW_OVERHEAD;
}
