import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareNatural, listSort, naturalKey, rowBytes } from '../src/domain/orders.js';
import { sortRows } from '../src/domain/windows.js';

const firstLevel = new Intl.Collator('en', { numeric: true, sensitivity: 'base' }).compare;

const printable = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i));
/** Printable ASCII, digits and a few letters more often, so that numbers and shared prefixes occur. */
const unit = fc.oneof(
  fc.constantFrom(...printable),
  fc.constantFrom(...'0000123456789'),
  fc.constantFrom(...'aAbB._-/')
);
const text = fc.string({ unit, maxLength: 12 });
/** Two texts that often share a beginning. */
const pair = fc
  .tuple(text, text, text)
  .map(([common, a, b]): [string, string] => [common + a, common + b]);

describe('naturalKey', () => {
  it('when two printable ASCII texts are compared, then their keys differ exactly where the collator first level does, in the same direction', () => {
    fc.assert(
      fc.property(pair, ([a, b]) => {
        const keyA = naturalKey(a);
        const keyB = naturalKey(b);
        expect(keyA).not.toBeNull();
        expect(keyB).not.toBeNull();
        const byKeys = keyA === keyB ? 0 : (keyA as string) < (keyB as string) ? -1 : 1;
        expect(byKeys).toBe(Math.sign(firstLevel(a, b)));
        if (byKeys !== 0) {
          expect(Math.sign(compareNatural(a, b))).toBe(byKeys);
        }
      }),
      { numRuns: 5000 }
    );
  });

  it('when numbers are in names, then they count by value, leading zeros aside', () => {
    const key = (s: string): string => naturalKey(s) as string;
    expect(key('f2') < key('f10')).toBe(true);
    expect(key('f007')).toBe(key('f7'));
    expect(key('run9.root') < key('run10.root')).toBe(true);
  });

  it('when a text has characters other than printable ASCII, or a very long number, then it has no key', () => {
    expect(naturalKey('café')).toBeNull();
    expect(naturalKey('tab\there')).toBeNull();
    expect(naturalKey(`f${'9'.repeat(200)}`)).toBeNull();
  });
});

/** Rows of a list: scopes and names with numbers, case, accents and duplicates; sizes or none. */
const row = fc.record({
  scope: fc.constantFrom('lofar', 'cta', 'user.ann', 'Lofar'),
  name: fc.oneof(
    fc.string({ unit, maxLength: 8 }),
    fc.constantFrom('f1', 'F1', 'f01', 'f10', 'f2', 'é1', 'e1', 'ß')
  ),
  bytes: fc.oneof(fc.constant(null), fc.constantFrom(0, 5, 500), fc.nat())
});

describe('list orders', () => {
  it('when rows are sorted by name or size, then the order is the collator on the whole names, stable, as a sort comparing names would give', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(row, { maxLength: 60 }), async rows => {
        const byName = [...rows].sort((a, b) =>
          compareNatural(`${a.scope}:${a.name}`, `${b.scope}:${b.name}`)
        );
        const bySize = [...rows].sort(
          (a, b) => (b.bytes ?? -1) - (a.bytes ?? -1) || compareNatural(a.name, b.name)
        );
        expect(await sortRows(rows, listSort('name'))).toEqual(byName);
        expect(await sortRows(rows, listSort('size'))).toEqual(bySize);
      }),
      { numRuns: 500 }
    );
  });

  it('when a list is longer than one sorted piece, then the merged pieces give the same order', async () => {
    const rows = fc.sample(row, { numRuns: 20_000, seed: 11 });
    const byName = [...rows].sort((a, b) =>
      compareNatural(`${a.scope}:${a.name}`, `${b.scope}:${b.name}`)
    );
    expect(await sortRows(rows, listSort('name'))).toEqual(byName);
  });

  it('when a row is estimated, then its scope and name count two bytes a character over a fixed overhead', () => {
    const short = rowBytes({ scope: 'a', name: 'b', bytes: null });
    expect(rowBytes({ scope: 'a', name: 'b'.repeat(11), bytes: 5 })).toBe(short + 20);
  });
});
