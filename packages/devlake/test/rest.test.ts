import { describe, expect, it } from 'vitest';
import { parseRucioJson, segment } from '../src/rest.js';

describe('parseRucioJson', () => {
  it('when Rucio writes an unlimited value as Infinity, then it parses as Infinity', () => {
    expect(parseRucioJson('{"CERN_DATADISK": Infinity, "X": 5}')).toEqual({
      CERN_DATADISK: Infinity,
      X: 5
    });
    expect(parseRucioJson('[Infinity, -Infinity]')).toEqual([Infinity, -Infinity]);
  });

  it('when a string merely contains the word Infinity, then the string is left alone', () => {
    expect(parseRucioJson('{"comment": "to Infinity, and beyond", "n": Infinity}')).toEqual({
      comment: 'to Infinity, and beyond',
      n: Infinity
    });
  });

  it('when the body is empty, then it parses as null', () => {
    expect(parseRucioJson('')).toBeNull();
  });
});

describe('segment', () => {
  it('when a name holds slashes, then they are encoded so the DID stays one path segment', () => {
    expect(segment('/store/a b.root')).toBe('%2Fstore%2Fa%20b.root');
  });
});
