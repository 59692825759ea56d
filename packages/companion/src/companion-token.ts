import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError } from './config.js';

/** The fewest characters a companion token may have (`DLAAS_TOKEN`, or one given to `start`). */
export const MIN_TOKEN_LENGTH = 32;

/** Printable ASCII without spaces: what an `Authorization` header carries unchanged. */
const TOKEN_CHARACTERS = /^[\x21-\x7e]+$/;

/**
 * The token a companion on TCP requires of every request, and where its clients find it.
 */
export interface CompanionToken {
  /** The secret: at least {@link MIN_TOKEN_LENGTH} printable characters, no spaces. */
  readonly secret: string;
  /**
   * Where the secret is written (mode 0600) once the port is known, from the port; without it
   * nothing is written, and the 401 sentence names `hint`.
   */
  readonly file?: (port: number) => string;
  /** How a client finds the secret when there is no file (e.g. the variable it came from). */
  readonly hint?: string;
}

/** Why `secret` cannot be a companion token (named `what` in the sentence), or undefined. */
export function tokenProblem(secret: string, what: string): string | undefined {
  if (secret.length < MIN_TOKEN_LENGTH) {
    return `${what} is ${secret.length} characters long; the companion needs at least ${MIN_TOKEN_LENGTH}, so that it cannot be guessed. Make one with "openssl rand -base64 32", or leave ${what} unset and the companion makes its own.`;
  }
  if (!TOKEN_CHARACTERS.test(secret)) {
    return `${what} holds spaces or characters that are not printable ASCII, which an Authorization header cannot carry. Make one with "openssl rand -base64 32", or leave ${what} unset and the companion makes its own.`;
  }
  return undefined;
}

/**
 * The default token file for a port: `$XDG_RUNTIME_DIR/dlaas/companion-<port>.token` (a folder
 * only the user can enter, emptied at log-out), else under `$XDG_STATE_HOME`
 * (`~/.local/state` by default). Only `env` is read, so that tests decide.
 */
export function defaultTokenFile(port: number, env: NodeJS.ProcessEnv): string {
  const base =
    env['XDG_RUNTIME_DIR'] ||
    env['XDG_STATE_HOME'] ||
    (env['HOME'] ? join(env['HOME'], '.local', 'state') : undefined);
  if (!base) {
    throw new ConfigError(
      'The companion has nowhere to put its token: neither XDG_RUNTIME_DIR nor HOME is set. Name a file with --token-file PATH.'
    );
  }
  return join(base, 'dlaas', `companion-${port}.token`);
}

/**
 * The token of a companion started with `--port`: `DLAAS_TOKEN` when it is set (refused with a
 * sentence when shorter than {@link MIN_TOKEN_LENGTH}), written to `tokenFile` only when one is
 * named; else 32 random bytes (base64url), written to `tokenFile` or the default file of the port.
 */
export function companionToken(
  env: NodeJS.ProcessEnv,
  tokenFile: string | undefined
): CompanionToken {
  const file = tokenFile === undefined ? undefined : resolve(tokenFile);
  const given = env['DLAAS_TOKEN'];
  if (given) {
    const problem = tokenProblem(given, 'DLAAS_TOKEN');
    if (problem !== undefined) {
      throw new ConfigError(problem);
    }
    return file === undefined
      ? { secret: given, hint: 'DLAAS_TOKEN, the token the companion was started with' }
      : { secret: given, file: () => file };
  }
  return {
    secret: randomBytes(32).toString('base64url'),
    file: file === undefined ? port => defaultTokenFile(port, env) : () => file
  };
}

/**
 * Writes the token to `path`, readable by the user alone: its folder is made (0700) when
 * missing, the file is written next to it under a fresh name (never through a link someone put
 * there) with mode 0600 and then renamed over `path`.
 */
export function writeTokenFile(path: string, secret: string): void {
  const folder = dirname(path);
  const fresh = join(folder, `.${randomBytes(8).toString('hex')}.token-new`);
  try {
    mkdirSync(folder, { recursive: true, mode: 0o700 });
    writeFileSync(fresh, secret, { flag: 'wx', mode: 0o600 });
    chmodSync(fresh, 0o600);
    renameSync(fresh, path);
  } catch (error) {
    try {
      rmSync(fresh, { force: true });
    } catch {
      // Its folder is missing or not a folder: there is nothing to remove.
    }
    throw new ConfigError(
      `The companion could not write its token to ${path} (${(error as Error).message}). Name a file it may write with --token-file PATH.`
    );
  }
}
