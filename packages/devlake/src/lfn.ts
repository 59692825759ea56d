import { createHash } from 'node:crypto';

/** Rucio's DID scope rule (generic schema). */
export const SCOPE_PATTERN = /^[a-zA-Z_\-.0-9]{1,25}$/;
/** Rucio's DID name rule (generic schema). */
export const NAME_PATTERN = /^[/A-Za-z0-9][/A-Za-z0-9.\-_]{0,249}$/;

/**
 * The path of a file below a deterministic RSE's prefix, as Rucio's default `hash` lfn2pfn
 * algorithm computes it: `<scope>/<md5[0:2]>/<md5[2:4]>/<name>`, md5 of `scope:name`, with the
 * dots of `user.*` and `group.*` scopes turned into directories.
 */
export function hashedPath(scope: string, name: string): string {
  const md5 = createHash('md5').update(`${scope}:${name}`, 'utf8').digest('hex');
  const dir =
    scope.startsWith('user') || scope.startsWith('group') ? scope.replaceAll('.', '/') : scope;
  return `${dir}/${md5.slice(0, 2)}/${md5.slice(2, 4)}/${name}`;
}
