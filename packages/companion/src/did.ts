import { badRequest } from './errors.js';

/** A data identifier, split. */
export interface DidRef {
  readonly scope: string;
  readonly name: string;
}

/**
 * An instance's rules for scopes and names (`naming` in its configuration). Rucio lets each
 * community set its own in its schema (CMS block names hold `#`, for example); without any, those
 * of Rucio's generic schema apply.
 */
export interface NamingConfig {
  /** Regular expression a scope must match (whole). */
  readonly scope?: string;
  /** Regular expression a name must match (whole). */
  readonly name?: string;
  readonly scopeMaxLength?: number;
  readonly nameMaxLength?: number;
}

/** Rucio's generic schema (`rucio.common.schema.generic`: SCOPE, NAME and their lengths). */
export const GENERIC_NAMING = {
  scope: '^[a-zA-Z_\\-.0-9]+$',
  name: '^[/A-Za-z0-9][/A-Za-z0-9.\\-_]*$',
  scopeMaxLength: 25,
  nameMaxLength: 250
} as const satisfies Required<NamingConfig>;

/** Naming rules, compiled. */
export class Naming {
  private readonly scopeRe: RegExp;
  private readonly nameRe: RegExp;
  private readonly scopeMax: number;
  private readonly nameMax: number;
  private readonly generic: boolean;

  /** Throws a SyntaxError naming the bad expression. */
  constructor(config: NamingConfig = {}) {
    this.scopeRe = new RegExp(config.scope ?? GENERIC_NAMING.scope, 'u');
    this.nameRe = new RegExp(config.name ?? GENERIC_NAMING.name, 'u');
    this.scopeMax = config.scopeMaxLength ?? GENERIC_NAMING.scopeMaxLength;
    this.nameMax = config.nameMaxLength ?? GENERIC_NAMING.nameMaxLength;
    this.generic = config.scope === undefined && config.name === undefined;
  }

  /** The rules of Rucio's generic schema. */
  static readonly GENERIC = new Naming();

  scopeProblem(scope: string): string | null {
    if (scope.length <= this.scopeMax && this.scopeRe.test(scope)) {
      return null;
    }
    return this.generic
      ? `"${clip(scope)}" is not a valid scope: scopes have up to ${this.scopeMax} letters, digits, dots, dashes or underscores.`
      : `"${clip(scope)}" is not a valid scope here: this data lake's scopes have up to ${this.scopeMax} characters and match ${this.scopeRe.source}.`;
  }

  nameProblem(name: string, wildcards: boolean): string | null {
    const checked = wildcards ? name.replaceAll('*', 'x').replaceAll('%', 'x') : name;
    if (checked.length > 0 && checked.length <= this.nameMax && this.nameRe.test(checked)) {
      return null;
    }
    const hint = wildcards ? ' (use * as a wildcard)' : '';
    return this.generic
      ? `"${clip(name)}" is not a valid name: names have up to ${this.nameMax} letters, digits, dots, dashes, underscores or slashes, and start with a letter, a digit or a slash${hint}.`
      : `"${clip(name)}" is not a valid name here: this data lake's names have up to ${this.nameMax} characters and match ${this.nameRe.source}${hint}.`;
  }
}

/**
 * Parses `scope:name`, splitting on the first colon only (names may hold colons in other schemas
 * and `/` here), and checks both parts against the instance's naming rules (Rucio's generic ones
 * by default). Names are taken as Rucio takes them: never normalized, `.` and `..` segments and
 * doubled slashes included (see {@link pathAmbiguity} for what that means for local paths).
 */
export function parseDid(
  text: unknown,
  { wildcards = false, naming = Naming.GENERIC }: { wildcards?: boolean; naming?: Naming } = {}
): DidRef {
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
  if (scope === '.' || scope === '..') {
    // Whatever the naming rules: in Rucio's URLs they are path steps (/dids/../x is /x).
    throw badRequest(
      `"${scope}" is not a valid scope: a scope cannot be "." or "..". Check the data identifier.`
    );
  }
  if (name === '.' || name === '..') {
    // The same for a whole name (a `/` inside a name is escaped in URLs, so only these two).
    throw badRequest(
      `"${name}" is not a valid name: a name cannot be "." or "..". Check the data identifier.`
    );
  }
  const problem = naming.scopeProblem(scope) ?? naming.nameProblem(name, wildcards);
  if (problem !== null) {
    throw badRequest(problem);
  }
  return { scope, name };
}

/**
 * Why a DID name cannot be a path on a file system or in a URL without turning into another name,
 * or null: a `.` or `..` segment (file systems and URL parsers resolve them, so `a/../b` would be
 * `b`), or an empty segment other than one leading slash (`a//b` is `a/b` there). Such files get no
 * local path and are not read from storage: two DIDs must never share a path or bytes.
 */
export function pathAmbiguity(name: string): string | null {
  const segments = (name.startsWith('/') ? name.slice(1) : name).split('/');
  if (segments.some(s => s === '.' || s === '..')) {
    return 'its name has a "." or ".." segment, which file systems and web addresses resolve to another name';
  }
  if (segments.some(s => s === '')) {
    return 'its name has an empty segment (two slashes in a row, or a slash at the end), which file systems and web addresses merge into another name';
  }
  return null;
}

/** `scope:name`. */
export function didString(did: DidRef): string {
  return `${did.scope}:${did.name}`;
}

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
