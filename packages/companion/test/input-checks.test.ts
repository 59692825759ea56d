import type { MetadataCondition, SearchRequest } from '@dlaas/api';
import { describe, expect, it } from 'vitest';
import { filterProblem, isRucioDate } from '../src/api/filters.js';
import { parseDid } from '../src/did.js';
import { AppError } from '../src/errors.js';

/** A search of lofar with one group of conditions. */
function search(...conditions: MetadataCondition[]): SearchRequest {
  return { did: 'lofar:*', filters: [conditions] };
}

describe('parseDid, against paths in Rucio’s URLs', () => {
  it('when the scope is . or .., then 400 says so before any URL is built (/dids/../x would be /x)', () => {
    for (const did of ['..:accounts', '.:lofar', '..:..']) {
      expect(() => parseDid(did), did).toThrow(AppError);
      expect(() => parseDid(did), did).toThrow(/cannot be "\." or "\.\."/);
    }
    expect(parseDid('...:x')).toEqual({ scope: '...', name: 'x' });
  });
});

describe('filterProblem: metadata filters Rucio would answer with a database error', () => {
  it('when filters fit Rucio’s columns and JSON metadata, then the search may run', () => {
    expect(filterProblem({ did: 'lofar:*' })).toBeNull();
    // Rucio searches DID columns and custom (JSON) metadata apart: one search has keys of one kind.
    expect(
      filterProblem(
        search(
          { key: 'run_number', operator: '>', value: 600000 },
          { key: 'run_number', operator: '<', value: '700000' },
          { key: 'datatype', operator: '=', value: 'uv*' },
          { key: 'created_at', operator: '>', value: '2020-01-01 00:00:00' },
          { key: 'hidden', operator: '=', value: false },
          { key: 'guid', operator: '=', value: '123e4567-e89b-12d3-a456-426614174000' }
        )
      )
    ).toBeNull();
    expect(
      filterProblem(
        search(
          { key: 'telescope', operator: '=', value: 'LOFAR' },
          { key: 'telescope', operator: '!=', value: 5 }
        )
      )
    ).toBeNull();
  });

  it('when a key is part of the search itself or one Rucio cannot filter by, then the sentence says so', () => {
    for (const key of ['name', 'type', 'did_type', 'long', 'filters', 'limit']) {
      expect(filterProblem(search({ key, operator: '=', value: 'x' })), key).toMatch(
        /part of the search itself.*search field.*Change the filter and search again\.$/
      );
    }
    expect(filterProblem(search({ key: 'account', operator: '=', value: 'alice' }))).toMatch(
      /cannot filter a search by "account"/
    );
  });

  it('when a value does not fit its Rucio column, then the sentence names the column and what it holds', () => {
    const cases: [MetadataCondition, RegExp][] = [
      [{ key: 'run_number', operator: '=', value: 'x' }, /"run_number" holds numbers from 0/],
      [{ key: 'events', operator: '>', value: -5 }, /"events" holds numbers from 0/],
      [{ key: 'run_number', operator: '=', value: 1e21 }, /"run_number" holds numbers/],
      [{ key: 'run_number', operator: '=', value: 3_000_000_000 }, /to 2,147,483,647/],
      [{ key: 'length', operator: '=', value: 5.5 }, /"length" holds whole numbers/],
      [{ key: 'bytes', operator: '=', value: true }, /"bytes" holds numbers/],
      [{ key: 'created_at', operator: '=', value: '2020-01-01' }, /holds dates: write one as/],
      [{ key: 'eol_at', operator: '>', value: '2020-02-30T00:00:00' }, /holds dates/],
      [{ key: 'hidden', operator: '=', value: 'x' }, /"hidden" is true or false/],
      [{ key: 'datatype', operator: '=', value: '5' }, /takes "5" for a number/],
      [{ key: 'datatype', operator: '=', value: 5 }, /takes 5 for a number/],
      [{ key: 'datatype', operator: '=', value: 'TRUE' }, /for a true\/false value/],
      [{ key: 'project', operator: '=', value: '2020-01-01T00:00:00' }, /for a date/],
      [{ key: 'guid', operator: '=', value: 'x' }, /"guid" holds identifiers/]
    ];
    for (const [condition, sentence] of cases) {
      expect(filterProblem(search(condition)), JSON.stringify(condition)).toMatch(sentence);
    }
  });

  it('when a wildcard or true/false goes with an ordering operator, or a comparison is doubled, then the sentence says what Rucio allows', () => {
    expect(filterProblem(search({ key: 'telescope', operator: '>', value: 'LO*' }))).toMatch(
      /wildcard \(\* or %\), which only = and != can match/
    );
    expect(filterProblem(search({ key: 'telescope', operator: '<', value: true }))).toMatch(
      /true or false, which only = and != can do/
    );
    expect(filterProblem(search({ key: 'x', operator: '>=', value: 'false' }))).toMatch(
      /only = and != can do/
    );
    expect(
      filterProblem(
        search(
          { key: 'run_number', operator: '>', value: 1 },
          { key: 'run_number', operator: '>', value: 2 }
        )
      )
    ).toMatch(/compared with > twice in one group/);
  });

  it('when Rucio’s date forms are written, then only real times in them are dates', () => {
    for (const date of [
      '2024-01-31T12:00:00',
      '2024-01-31 12:00:00',
      '2024-01-31T12:00:00.123456Z',
      '2024-01-31 12:00:00.5Z',
      'Wed, 31 Jan 2024 12:00:00 UTC'
    ]) {
      expect(isRucioDate(date), date).toBe(true);
    }
    for (const text of [
      '2024-01-31',
      '2024-02-30T00:00:00',
      '2024-01-31T24:00:00',
      '2024-01-31T12:00:00Z',
      'Wed, 31 Foo 2024 12:00:00 UTC',
      'x'
    ]) {
      expect(isRucioDate(text), text).toBe(false);
    }
  });
});
