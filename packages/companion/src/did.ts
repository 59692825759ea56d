import { NAME_PATTERN, SCOPE_PATTERN } from '@dlaas/api';
import { badRequest } from './errors.js';

/** A data identifier, split. */
export interface DidRef {
  readonly scope: string;
  readonly name: string;
}

const scopeRe = new RegExp(SCOPE_PATTERN);
const nameRe = new RegExp(NAME_PATTERN);

/**
 * Parses `scope:name`, splitting on the first colon only (names may hold colons in other schemas
 * and `/` here), and checks both parts against Rucio's rules. Refuses `..` path segments, which no
 * DID needs and which would escape a mount when mapped to a path.
 */
export function parseDid(text: unknown, { wildcards = false } = {}): DidRef {
  if (typeof text !== 'string' || text.length === 0) {
    throw badRequest('Give a data identifier as scope:name, for example lofar:L600000_SAP000_uv.');
  }
  const colon = text.indexOf(':');
  if (colon <= 0 || colon === text.length - 1) {
    throw badRequest(
      `"${clip(text)}" is not a data identifier: write it as scope:name, for example lofar:L600000_SAP000_uv.`
    );
  }
  const scope = text.slice(0, colon);
  const name = text.slice(colon + 1);
  if (!scopeRe.test(scope)) {
    throw badRequest(
      `"${clip(scope)}" is not a valid scope: scopes have up to 25 letters, digits, dots, dashes or underscores.`
    );
  }
  const checked = wildcards ? name.replaceAll('*', 'x').replaceAll('%', 'x') : name;
  if (!nameRe.test(checked) || name.split('/').includes('..')) {
    throw badRequest(
      `"${clip(name)}" is not a valid name: names have up to 250 letters, digits, dots, dashes, underscores or slashes, and no ".." segment${wildcards ? ' (use * as a wildcard)' : ''}.`
    );
  }
  return { scope, name };
}

/** `scope:name`. */
export function didString(did: DidRef): string {
  return `${did.scope}:${did.name}`;
}

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
