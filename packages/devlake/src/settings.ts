import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DevlakeError } from './errors.js';

/** The repository this devlake belongs to (packages/devlake/lib/settings.js is three levels down). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Port used when neither `--base-port` nor `DEVLAKE_BASE_PORT` nor an earlier `up` chose one. */
export const DEFAULT_BASE_PORT = 18400;

/**
 * Which services devlake runs: `full` (everything, several workers and one process per Rucio
 * daemon) or `small` (for Binder's 1–2 GB: one Rucio server worker, Rucio's daemons as threads of
 * one process, no memcached, no OpenID provider, no X.509 sign-in server, a smaller PostgreSQL).
 */
export type Profile = 'full' | 'small';

/** The profiles `--profile` accepts. */
export const PROFILES: readonly Profile[] = ['full', 'small'];

/** What an RSE is for: "site" disks hold the data, the "scratch" RSE is where users make it available. */
export type RseRole = 'site' | 'scratch';

/** One storage element of devlake, served by its own XRootD instance. */
export interface RseDefinition {
  readonly name: string;
  readonly role: RseRole;
  /** Offset of its port from the base port. */
  readonly portOffset: number;
}

/** devlake's RSEs: two site disks and the scratch RSE. */
export const RSES: readonly RseDefinition[] = [
  { name: 'CERN_DATADISK', role: 'site', portOffset: 11 },
  { name: 'DESY_DATADISK', role: 'site', portOffset: 12 },
  { name: 'LAKE_SCRATCHDISK', role: 'scratch', portOffset: 13 }
];

/** The RSE users make data available on. */
export const SCRATCH_RSE = 'LAKE_SCRATCHDISK';

/** Path below each storage root where Rucio's deterministic layout starts. */
export const RSE_PREFIX = '/rucio/';

/** A demo account and the userpass identity that signs in as it. */
export interface DemoAccount {
  readonly account: string;
  readonly username: string;
  readonly password: string;
  readonly email: string;
  /** Quota on the scratch RSE, in bytes (root has no limit). */
  readonly scratchQuotaBytes: number | null;
}

/** Demo credentials; they protect nothing but a data lake on loopback. */
export const ACCOUNTS: readonly DemoAccount[] = [
  {
    account: 'root',
    username: 'ddmlab',
    password: 'secret',
    email: 'root@devlake.local',
    scratchQuotaBytes: null
  },
  {
    account: 'alice',
    username: 'alice',
    password: 'alice-devlake',
    email: 'alice@devlake.local',
    scratchQuotaBytes: 10 * 1024 ** 3
  },
  {
    account: 'bob',
    username: 'bob',
    password: 'bob-devlake',
    email: 'bob@devlake.local',
    scratchQuotaBytes: 1024 ** 2
  }
];

/** Looks up a demo account by name. */
export function demoAccount(account: string): DemoAccount {
  const found = ACCOUNTS.find(a => a.account === account);
  if (!found) {
    throw new DevlakeError(`devlake has no account named "${account}".`);
  }
  return found;
}

/** Where everything of one devlake lives, and on which ports it listens. */
export interface Layout {
  readonly stateDir: string;
  readonly basePort: number;
  /** Which services run (see {@link Profile}). */
  readonly profile: Profile;
  /** The Python virtual environment with Rucio (shared by the project, kept across `reset`). */
  readonly venvDir: string;
  readonly logDir: string;
  readonly runDir: string;
  /**
   * Directory for data owned by the service users (PostgreSQL's cluster, XRootD's storage). It is
   * `<stateDir>/data` unless those users cannot enter the state directory (see `up`).
   */
  readonly dataDir: string;
  readonly ports: {
    readonly postgres: number;
    readonly rucio: number;
    readonly transfers: number;
    readonly idp: number;
    readonly x509Auth: number;
    /** memcached, Rucio's cache. */
    readonly memcached: number;
    readonly rses: Readonly<Record<string, number>>;
  };
}

/** What `up` records in `<stateDir>/devlake.json` so that later commands find the same lake. */
interface SavedState {
  basePort: number;
  dataDir: string;
  /** Absent in the state of a devlake older than profiles: `full`. */
  profile?: Profile;
}

/** Options a command line or the environment may set. */
export interface LayoutOptions {
  stateDir?: string | undefined;
  basePort?: number | undefined;
  profile?: Profile | undefined;
}

function parsePort(raw: string, source: string): number {
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1024 || port > 65000) {
    throw new DevlakeError(
      `${source} must be a whole number between 1024 and 65000 (devlake uses it and the next 20 ports); got "${raw}".`
    );
  }
  return port;
}

function parseProfile(raw: string, source: string): Profile {
  const profile = PROFILES.find(p => p === raw);
  if (profile === undefined) {
    throw new DevlakeError(
      `${source} must be one of ${PROFILES.join(', ')} ("small" fits Binder's memory); got "${raw}".`
    );
  }
  return profile;
}

/** Checks a `--profile` value. */
export function profileOption(raw: string): Profile {
  return parseProfile(raw, '--profile');
}

/** Resolves the layout from options, then the environment, then what an earlier `up` saved. */
export function resolveLayout(options: LayoutOptions = {}): Layout {
  const stateDir = resolve(
    options.stateDir ?? process.env['DEVLAKE_STATE_DIR'] ?? join(REPO_ROOT, '.devlake')
  );
  const saved = readSavedState(stateDir);
  const envPort = process.env['DEVLAKE_BASE_PORT'];
  const basePort =
    options.basePort ??
    (envPort !== undefined && envPort !== ''
      ? parsePort(envPort, 'DEVLAKE_BASE_PORT')
      : (saved?.basePort ?? DEFAULT_BASE_PORT));
  const envProfile = process.env['DEVLAKE_PROFILE'];
  const profile =
    options.profile ??
    (envProfile !== undefined && envProfile !== ''
      ? parseProfile(envProfile, 'DEVLAKE_PROFILE')
      : (saved?.profile ?? 'full'));
  const rses: Record<string, number> = {};
  for (const rse of RSES) {
    rses[rse.name] = basePort + rse.portOffset;
  }
  return {
    stateDir,
    basePort,
    profile,
    venvDir: resolve(process.env['DEVLAKE_VENV'] ?? join(REPO_ROOT, '.venv')),
    logDir: join(stateDir, 'logs'),
    runDir: join(stateDir, 'run'),
    dataDir: saved?.dataDir ?? join(stateDir, 'data'),
    ports: {
      postgres: basePort + 1,
      rucio: basePort + 2,
      transfers: basePort + 3,
      idp: basePort + 4,
      x509Auth: basePort + 5,
      memcached: basePort + 6,
      rses
    }
  };
}

/** Checks a `--base-port` value. */
export function basePortOption(raw: string): number {
  return parsePort(raw, '--base-port');
}

function readSavedState(stateDir: string): SavedState | undefined {
  const file = join(stateDir, 'devlake.json');
  if (!existsSync(file)) {
    return undefined;
  }
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as SavedState;
  } catch {
    throw new DevlakeError(
      `${file} is not valid JSON. Delete it (or run "devlake reset") and run "devlake up" again.`
    );
  }
}

/** Records the layout so that `status`, `down` and later `up`s use the same ports and data. */
export function saveLayout(layout: Layout): void {
  mkdirSync(layout.stateDir, { recursive: true });
  const saved: SavedState = {
    basePort: layout.basePort,
    dataDir: layout.dataDir,
    profile: layout.profile
  };
  writeFileSync(join(layout.stateDir, 'devlake.json'), JSON.stringify(saved, null, 2) + '\n');
}

/** Returns a copy of the layout with another data directory. */
export function withDataDir(layout: Layout, dataDir: string): Layout {
  return { ...layout, dataDir };
}

/** Base URL of the Rucio server. */
export function rucioUrl(layout: Layout): string {
  return `http://127.0.0.1:${layout.ports.rucio}`;
}

/** Base URL of the transfer service. */
export function transfersUrl(layout: Layout): string {
  return `http://127.0.0.1:${layout.ports.transfers}`;
}

/** Issuer URL of devlake's OpenID provider (no trailing slash: Rucio compares it exactly). */
export function idpIssuer(layout: Layout): string {
  return `http://127.0.0.1:${layout.ports.idp}`;
}

/** Base URL of Rucio's X.509 authentication endpoint (HTTPS with client certificates). */
export function x509AuthUrl(layout: Layout): string {
  return `https://127.0.0.1:${layout.ports.x509Auth}`;
}

/** Base URL of an RSE's storage endpoint. */
export function storageUrl(layout: Layout, rse: string): string {
  const port = layout.ports.rses[rse];
  if (port === undefined) {
    throw new DevlakeError(`devlake has no RSE named "${rse}".`);
  }
  return `http://127.0.0.1:${port}`;
}

/** Local directory an RSE's XRootD serves. */
export function storageRoot(layout: Layout, rse: string): string {
  return join(layout.dataDir, 'storage', rse);
}
