import type { FilterOperator, MetadataCondition } from '@dlaas/api';
import { Button, HTMLSelect } from '@jupyterlab/ui-components';
import React, { useState } from 'react';
import { useDataLake } from '../context';

/** Which DID types a search looks for. */
export type TypeFilter = 'all' | 'container' | 'dataset' | 'file';

/** A metadata condition being edited: the value is text until the search is sent. */
export interface IConditionDraft {
  key: string;
  operator: FilterOperator;
  value: string;
}

/** What the user has typed and picked. */
export interface ISearchDraft {
  text: string;
  scope: string;
  type: TypeFilter;
  /** OR of AND groups. */
  groups: IConditionDraft[][];
}

/** An empty search. */
export const EMPTY_SEARCH: ISearchDraft = { text: '', scope: '', type: 'all', groups: [] };

/** The DID pattern a draft searches for, or null when there is not enough to search. */
export function searchPattern(draft: ISearchDraft): string | null {
  const text = draft.text.trim();
  if (text.includes(':')) {
    const [scope = '', ...rest] = text.split(':');
    const name = rest.join(':');
    return scope.length > 0 ? `${scope}:${name || '*'}` : null;
  }
  if (draft.scope) {
    return `${draft.scope}:${text ? (text.includes('*') ? text : `*${text}*`) : '*'}`;
  }
  return null;
}

/**
 * A plain decimal number as people write one (`7`, `-1.5`, `2e6`): run numbers compare as
 * numbers, while `007`, `0x10` or `1_000` stay the text they are (an ID, a hex code).
 */
export const DECIMAL = /^-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?$/;

/** The complete conditions of a draft, values as numbers where they read as plain numbers. */
export function searchFilters(draft: ISearchDraft): MetadataCondition[][] {
  return draft.groups
    .map(group =>
      group
        .filter(c => c.key.trim() && c.value.trim())
        .map(c => {
          const value = c.value.trim();
          return {
            key: c.key.trim(),
            operator: c.operator,
            value: DECIMAL.test(value) ? Number(value) : value
          };
        })
    )
    .filter(group => group.length > 0);
}

const OPERATORS: FilterOperator[] = ['=', '!=', '>', '>=', '<', '<='];

/** Props of {@link SearchBar}. */
export interface ISearchBarProps {
  draft: ISearchDraft;
  onChange(draft: ISearchDraft): void;
  scopes: string[];
  /** Called with the input element, so commands can focus it. */
  inputRef?: React.Ref<HTMLInputElement>;
}

/** Search as you type: `scope:name` with wildcards, a scope, a type and metadata filters. */
export function SearchBar(props: ISearchBarProps): JSX.Element {
  const { trans } = useDataLake();
  const { draft, onChange } = props;
  const [filtersOpen, setFiltersOpen] = useState(draft.groups.length > 0);
  const setGroups = (groups: IConditionDraft[][]): void => onChange({ ...draft, groups });
  const emptyCondition: IConditionDraft = { key: '', operator: '=', value: '' };
  return (
    <div className="jp-DataLake-search" role="search">
      <input
        ref={props.inputRef}
        className="jp-DataLake-searchInput"
        type="search"
        aria-label={trans.__('Search the data lake')}
        placeholder={trans.__('scope:name, e.g. lofar:*')}
        value={draft.text}
        spellCheck={false}
        onChange={event => onChange({ ...draft, text: event.target.value })}
      />
      <div className="jp-DataLake-searchOptions">
        <HTMLSelect
          aria-label={trans.__('Scope')}
          value={draft.scope}
          onChange={event => onChange({ ...draft, scope: event.target.value })}
          options={[
            { label: trans.__('All scopes'), value: '' },
            ...props.scopes.map(scope => ({ label: scope, value: scope }))
          ]}
        />
        <HTMLSelect
          aria-label={trans.__('Type')}
          value={draft.type}
          onChange={event => onChange({ ...draft, type: event.target.value as TypeFilter })}
          options={[
            { label: trans.__('All'), value: 'all' },
            { label: trans.__('Containers'), value: 'container' },
            { label: trans.__('Datasets'), value: 'dataset' },
            { label: trans.__('Files'), value: 'file' }
          ]}
        />
        <Button
          minimal
          small
          aria-expanded={filtersOpen}
          onClick={() => setFiltersOpen(!filtersOpen)}
        >
          {draft.groups.length > 0
            ? trans.__('Metadata filters (%1)', searchFilters(draft).flat().length)
            : trans.__('Metadata filters')}
        </Button>
      </div>
      {filtersOpen && (
        <div className="jp-DataLake-filters" aria-label={trans.__('Metadata filters')} role="group">
          {draft.groups.map((group, g) => (
            <fieldset key={g} className="jp-DataLake-filterGroup">
              <legend>{g === 0 ? trans.__('Match all of') : trans.__('or all of')}</legend>
              {group.map((condition, c) => {
                const update = (changed: Partial<IConditionDraft>): void =>
                  setGroups(
                    draft.groups.map((gr, i) =>
                      i !== g ? gr : gr.map((co, j) => (j !== c ? co : { ...co, ...changed }))
                    )
                  );
                return (
                  <div key={c} className="jp-DataLake-condition">
                    <input
                      aria-label={trans.__('Key')}
                      placeholder={trans.__('key')}
                      value={condition.key}
                      onChange={event => update({ key: event.target.value })}
                    />
                    <HTMLSelect
                      aria-label={trans.__('Operator')}
                      value={condition.operator}
                      onChange={event => update({ operator: event.target.value as FilterOperator })}
                      options={OPERATORS}
                    />
                    <input
                      aria-label={trans.__('Value')}
                      placeholder={trans.__('value')}
                      value={condition.value}
                      onChange={event => update({ value: event.target.value })}
                    />
                    <Button
                      minimal
                      small
                      title={trans.__('Remove this condition')}
                      aria-label={trans.__('Remove condition')}
                      onClick={() =>
                        setGroups(
                          draft.groups
                            .map((gr, i) => (i !== g ? gr : gr.filter((_, j) => j !== c)))
                            .filter(gr => gr.length > 0)
                        )
                      }
                    >
                      ×
                    </Button>
                  </div>
                );
              })}
              <Button
                minimal
                small
                onClick={() =>
                  setGroups(draft.groups.map((gr, i) => (i !== g ? gr : [...gr, emptyCondition])))
                }
              >
                {trans.__('Add condition')}
              </Button>
            </fieldset>
          ))}
          <Button minimal small onClick={() => setGroups([...draft.groups, [emptyCondition]])}>
            {draft.groups.length === 0 ? trans.__('Add condition') : trans.__('Add OR group')}
          </Button>
        </div>
      )}
    </div>
  );
}
