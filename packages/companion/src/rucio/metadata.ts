import type { MetadataCondition } from '@dlaas/api';

/*
 * Rucio answers a DID search with one of its metadata plugins (rucio.core.did_meta_plugins,
 * Rucio 41): the DID-column plugin searches the columns of its table of DIDs; the custom plugin
 * (JSON metadata by default) searches the free-form metadata users set. Rucio picks the plugin
 * from the filter keys of the whole search, all OR groups together, and refuses a search whose
 * keys need both ("Filter keys used do not all belong to the same metadata plugin."). The custom
 * plugin answers neither the results' type nor their size, and does not filter by type.
 */

/**
 * Keys the DID-column plugin answers (Rucio 41.5.1, `DidColumnMeta.manages_key`): the DID table's
 * columns except account, availability, complete, did_type, is_open, monotonic, obsolete, scope,
 * suppressed and updated_at (which go to the custom plugin), plus lifetime, created_before,
 * created_after and type; and created_at, which Rucio sends to this plugin itself.
 */
const DID_COLUMN_KEYS: ReadonlySet<string> = new Set([
  'access_cnt',
  'accessed_at',
  'adler32',
  'bytes',
  'campaign',
  'closed_at',
  'constituent',
  'created_after',
  'created_at',
  'created_before',
  'datatype',
  'deleted_at',
  'eol_at',
  'events',
  'expired_at',
  'guid',
  'hidden',
  'is_archive',
  'is_new',
  'length',
  'lifetime',
  'lumiblocknr',
  'md5',
  'name',
  'panda_id',
  'phys_group',
  'prod_step',
  'project',
  'provenance',
  'purge_replicas',
  'run_number',
  'stream_name',
  'task_id',
  'transient',
  'type',
  'version'
]);

/** Whether Rucio searches `key` among its DID columns (else among custom metadata). */
export function isDidColumnKey(key: string): boolean {
  // Rucio picks the plugin by the key without an operator suffix (`run_number.gt`).
  return DID_COLUMN_KEYS.has(key.split('.')[0] ?? key);
}

/**
 * The first DID-column key and the first custom-metadata key of a search's filters, each
 * undefined when the filters have none of that kind.
 */
export function filterKeyKinds(filters: readonly (readonly MetadataCondition[])[] | undefined): {
  column: string | undefined;
  custom: string | undefined;
} {
  const keys = (filters ?? []).flat().map(condition => condition.key);
  return { column: keys.find(isDidColumnKey), custom: keys.find(key => !isDidColumnKey(key)) };
}

/**
 * Whether Rucio answers a search with these filters from custom metadata: then its results come
 * without type and size, and with DIDs of every type whatever type was asked for.
 */
export function searchesCustomMetadata(
  filters: readonly (readonly MetadataCondition[])[] | undefined
): boolean {
  return filterKeyKinds(filters).custom !== undefined;
}
