import { describe, expect, it } from 'vitest';
import { EMPTY_SEARCH, searchFilters, searchPattern } from '../src/components/SearchBar';

function draft(values: string[], operator: '=' | '>=' = '=') {
  return {
    ...EMPTY_SEARCH,
    groups: [values.map(value => ({ key: ' run_number ', operator, value }))]
  };
}

describe('search drafts', () => {
  it('when a metadata value is a plain decimal number, then it is sent as a number, and anything else as the text typed', () => {
    const [group] = searchFilters(draft(['7', '-1.5', '2e6', '0', '007', '0x10', '1_000', ' L7 ']));
    expect(group?.map(c => c.value)).toEqual([7, -1.5, 2e6, 0, '007', '0x10', '1_000', 'L7']);
    expect(group?.every(c => c.key === 'run_number')).toBe(true);
  });

  it('when a condition lacks its key or value, then it is left out, and an empty group with it', () => {
    expect(
      searchFilters({
        ...EMPTY_SEARCH,
        groups: [
          [{ key: '', operator: '=', value: '3' }],
          [
            { key: 'a', operator: '>=', value: ' ' },
            { key: 'b', operator: '>=', value: '4' }
          ]
        ]
      })
    ).toEqual([[{ key: 'b', operator: '>=', value: 4 }]]);
  });

  it('when the text names a scope, then the pattern is split on its first colon only', () => {
    expect(searchPattern({ ...EMPTY_SEARCH, text: 'user.alice:a:b*' })).toBe('user.alice:a:b*');
    expect(searchPattern({ ...EMPTY_SEARCH, text: 'lofar:' })).toBe('lofar:*');
    expect(searchPattern({ ...EMPTY_SEARCH, text: ':x' })).toBeNull();
  });
});
