import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchDataset } from './catalogue.js';
import { DEFAULT_CLIENTS as IDP_CLIENTS, DEFAULT_USERS as IDP_USERS } from './idp/accounts.js';
import { ensurePrograms, serviceUser, userCanEnter } from './dependencies.js';
import { DevlakeError } from './errors.js';
import { startPostgres } from './postgres.js';
import {
  ensurePortFree,
  isListening,
  recordedServices,
  serviceState,
  startService,
  stopService,
  type ServiceState
} from './processes.js';
import {
  rucioDaemonServices,
  startRucioDaemons,
  startRucioServer,
  startRucioX509Auth
} from './rucio.js';
import { linkUserConfig } from './userconfig.js';
import { x509Files } from './x509.js';
import {
  giveStorageTo,
  rootClient,
  seedAccounts,
  seedAll,
  seedDataset,
  seedLargeFiles,
  seedRses
} from './seed.js';
import { stageOnScratch, type DidRef, type StagedOnScratch } from './stage.js';
import {
  ACCOUNTS,
  RSE_PREFIX,
  RSES,
  SCRATCH_RSE,
  resolveLayout,
  rucioUrl,
  saveLayout,
  storageRoot,
  idpIssuer,
  storageUrl,
  x509AuthUrl,
  transfersUrl,
  withDataDir,
  type Layout,
  type LayoutOptions,
  PROFILES,
  type Profile
} from './settings.js';
import { startStorage, storageServiceName } from './storage.js';

/** Prints a progress line. */
export type Logger = (line: string) => void;

/** Options of {@link up}. */
export interface UpOptions extends LayoutOptions {
  /** Seed the demo data (default true); `false` brings up an empty lake with RSEs and accounts only. */
  readonly seed?: boolean;
}

/**
 * Starts one of devlake's own Node services (`<dir>/main.js` next to this file) on `port`,
 * recognised by its script path.
 */
function startNodeService(
  layout: Layout,
  name: string,
  title: string,
  dir: string,
  port: number,
  args: string[]
): Promise<unknown> {
  const script = join(dirname(fileURLToPath(import.meta.url)), dir, 'main.js');
  return startService(layout, {
    name,
    title,
    command: process.execPath,
    args: [script, '--port', String(port), ...args],
    match: script,
    port
  });
}

/**
 * Services the full profile runs and the small one leaves out: memcached (only the rule injector
 * uses it, to make the locks of rules of 100,000 files fast), the OpenID provider and the X.509
 * sign-in server (the small profile's companion signs in with userpass).
 */
const NOT_IN_SMALL_PROFILE = ['memcached', 'idp', 'rucio-auth-x509'];

/** True when the layout's profile runs the service called `name`. */
function runs(layout: Layout, name: string): boolean {
  return layout.profile === 'full' || !NOT_IN_SMALL_PROFILE.includes(name);
}

/** Every service of the layout's profile in start order. */
function serviceNames(layout: Layout): string[] {
  return [
    'postgres',
    'memcached',
    'idp',
    'rucio-server',
    'rucio-auth-x509',
    ...RSES.map(r => storageServiceName(r.name)),
    'transfers',
    ...rucioDaemonServices(layout, '').map(d => d.name)
  ].filter(name => runs(layout, name));
}

function seededMarker(layout: Layout): string {
  return join(layout.stateDir, 'seeded');
}

/**
 * The data directory service users can enter: `<stateDir>/data`, or, when devlake runs as root
 * and the state directory sits where `postgres` or `xrootd` cannot enter (under /root, say), a
 * directory under /var/tmp named after the state directory.
 */
function chooseDataDir(layout: Layout): Layout {
  mkdirSync(layout.dataDir, { recursive: true, mode: 0o755 });
  const users = [serviceUser('postgres'), serviceUser('xrootd')];
  if (users.every(user => userCanEnter(user, layout.dataDir))) {
    return layout;
  }
  const hash = createHash('sha256').update(layout.stateDir).digest('hex').slice(0, 10);
  const fallback = join('/var/tmp', `devlake-${hash}`);
  mkdirSync(fallback, { recursive: true, mode: 0o755 });
  rmSync(layout.dataDir, { recursive: true, force: true });
  return withDataDir(layout, fallback);
}

/** Brings devlake up: everything that is not running is started; demo data is seeded once. */
export async function up(options: UpOptions, log: Logger): Promise<Layout> {
  let layout = resolveLayout(options);
  checkSameBasePort(layout, options);
  checkSameProfile(layout);
  mkdirSync(layout.stateDir, { recursive: true });
  const programs = ensurePrograms(layout, log);
  await checkPorts(layout);
  layout = chooseDataDir(layout);
  saveLayout(layout);
  const started = (what: string): void => log(`  ${what}`);
  log(
    `Bringing devlake up in ${layout.stateDir}${layout.profile === 'small' ? ' (small profile)' : ''} ...`
  );
  await startPostgres(layout, programs.postgresBinDir, serviceUser('postgres'));
  started(`PostgreSQL on 127.0.0.1:${layout.ports.postgres}`);
  if (runs(layout, 'memcached')) {
    await startMemcached(layout, programs.memcached);
    started(`memcached (Rucio's cache) on 127.0.0.1:${layout.ports.memcached}`);
  }
  if (runs(layout, 'idp')) {
    await startNodeService(layout, 'idp', 'the OpenID provider', 'idp', layout.ports.idp, [
      '--key-file',
      join(layout.stateDir, 'idp-signing-key.json')
    ]);
    started(`OpenID provider on ${idpIssuer(layout)}`);
  }
  await startRucioServer(layout, programs.venvBin);
  started(`Rucio server on ${rucioUrl(layout)}`);
  if (runs(layout, 'rucio-auth-x509')) {
    await startRucioX509Auth(layout, programs.venvBin);
    started(`Rucio X.509 sign-in on ${x509AuthUrl(layout)}`);
  }
  await startStorage(layout, programs.xrootd, serviceUser('xrootd'));
  started(`XRootD storage for ${RSES.map(r => r.name).join(', ')}`);
  await startNodeService(
    layout,
    'transfers',
    'the transfer service',
    'transfers',
    layout.ports.transfers,
    ['--failures-file', join(layout.stateDir, 'transfer-failures.json')]
  );
  started(`Transfer service on ${transfersUrl(layout)}`);
  await startRucioDaemons(layout, programs.venvBin);
  started(
    `Rucio's daemons (conveyor submitter, poller, finisher; judge evaluator, injector, cleaner, repairer; abacus)${layout.profile === 'small' ? ', as threads of one process' : ''}`
  );
  writeCompanionConfig(layout);
  const userConfig = linkUserConfig(companionConfigPath(layout));
  log(
    userConfig.linked
      ? `  Companion configuration: ${userConfig.path} → ${companionConfigPath(layout)} (JupyterLab with the dlaas wheel and no DLAAS_CONFIG uses devlake)`
      : `  Companion configuration: ${userConfig.path} is there already, left as it is (set DLAAS_CONFIG=${companionConfigPath(layout)} to use devlake)`
  );
  if (options.seed !== false && !existsSync(seededMarker(layout))) {
    await seedAll(layout, serviceUser('xrootd'), log);
    writeFileSync(seededMarker(layout), new Date().toISOString() + '\n');
  } else if (options.seed === false) {
    const rucio = rootClient(layout);
    await seedRses(layout, rucio);
    await seedAccounts(layout, rucio);
  }
  return layout;
}

/**
 * Starts memcached, Rucio's cache, on loopback (as `memcache` when devlake runs as root: memcached
 * refuses to run as root).
 */
function startMemcached(layout: Layout, memcached: string): Promise<unknown> {
  return startService(layout, {
    name: 'memcached',
    title: "Rucio's cache (memcached)",
    command: memcached,
    args: ['-l', '127.0.0.1', '-p', String(layout.ports.memcached), '-U', '0', '-m', '64'],
    user: serviceUser('memcache'),
    port: layout.ports.memcached
  });
}

/** Fails before anything starts when a port of a service that is not running is taken. */
async function checkPorts(layout: Layout): Promise<void> {
  const listeners: [string, string, number][] = [
    ['postgres', 'PostgreSQL', layout.ports.postgres],
    ['memcached', 'memcached', layout.ports.memcached],
    ['idp', 'the OpenID provider', layout.ports.idp],
    ['rucio-server', 'the Rucio server', layout.ports.rucio],
    ['rucio-auth-x509', "Rucio's X.509 sign-in server", layout.ports.x509Auth],
    ...RSES.map(
      r =>
        [
          storageServiceName(r.name),
          `the storage of ${r.name}`,
          layout.ports.rses[r.name] as number
        ] as [string, string, number]
    ),
    ['transfers', 'the transfer service', layout.ports.transfers]
  ];
  for (const [name, title, port] of listeners) {
    if (runs(layout, name) && !serviceState(layout, name).running) {
      await ensurePortFree(port, title);
    }
  }
}

/** Fails when services of another profile run: they would stay up beside this profile's. */
function checkSameProfile(layout: Layout): void {
  const ours = serviceNames(layout);
  const theirs = PROFILES.flatMap(profile => serviceNames({ ...layout, profile })).filter(
    name => !ours.includes(name)
  );
  const other = theirs.filter(name => serviceState(layout, name).running);
  if (other.length > 0) {
    throw new DevlakeError(
      `This devlake (${layout.stateDir}) runs services that the ${layout.profile} profile does not (${other.join(', ')}). ` +
        `Run "devlake down" first, then "devlake up --profile ${layout.profile}".`
    );
  }
}

function checkSameBasePort(layout: Layout, options: LayoutOptions): void {
  const saved = resolveLayout({ stateDir: layout.stateDir });
  if (
    options.basePort !== undefined &&
    existsSync(join(layout.stateDir, 'devlake.json')) &&
    saved.basePort !== options.basePort
  ) {
    throw new DevlakeError(
      `This devlake (${layout.stateDir}) was created on base port ${saved.basePort}, and its RSEs are registered with those ports. ` +
        `Run without --base-port, or run "devlake reset --base-port ${options.basePort}" to start a clean lake on the new ports.`
    );
  }
}

/** Files and size of each of `seed --large`'s dataset `bench:large_files`. */
export const LARGE_FILES = { files: 4, bytes: 1024 ** 3 } as const;

/**
 * Seeds the demo data again (idempotent), or a benchmark dataset: `bench:files_<files>` of small
 * files, or with `large`, `bench:large_files` of {@link LARGE_FILES}.
 */
export async function seed(
  options: LayoutOptions & { files?: number | undefined; large?: boolean | undefined },
  log: Logger
): Promise<void> {
  const layout = resolveLayout(options);
  await requireRunning(layout);
  if (options.large) {
    const { did, written } = await seedLargeFiles(layout, rootClient(layout), LARGE_FILES, log);
    log(
      written > 0
        ? `Dataset ${did} holds ${LARGE_FILES.files} files of ${LARGE_FILES.bytes} bytes.`
        : `Dataset ${did} was there already (${LARGE_FILES.files} files); nothing written.`
    );
  }
  if (options.files !== undefined) {
    const dataset = benchDataset(options.files);
    await seedDataset(layout, rootClient(layout), dataset, log);
    giveStorageTo(layout, serviceUser('xrootd'));
    log(`Dataset ${dataset.scope}:${dataset.name} holds ${options.files} files.`);
  }
  if (!options.large && options.files === undefined) {
    await seedAll(layout, serviceUser('xrootd'), log);
    writeFileSync(seededMarker(layout), new Date().toISOString() + '\n');
  }
}

/**
 * Makes a DID available on the scratch RSE for an account without transfers (see
 * {@link stageOnScratch}), for benchmarks.
 */
export async function stage(
  options: LayoutOptions & { did: DidRef; account: string },
  log: Logger
): Promise<StagedOnScratch> {
  const layout = resolveLayout(options);
  await requireRunning(layout);
  return stageOnScratch(layout, options.did, options.account, log);
}

async function requireRunning(layout: Layout): Promise<void> {
  if (!(await isListening(layout.ports.rucio))) {
    throw new DevlakeError(
      `devlake is not running (nothing answers on ${rucioUrl(layout)}). Run "devlake up" first.`
    );
  }
}

/** Stops every process devlake started, by the pids it recorded, in reverse start order. */
export async function down(options: LayoutOptions, log: Logger): Promise<void> {
  const layout = resolveLayout(options);
  const known = serviceNames(layout);
  const others = recordedServices(layout).filter(name => !known.includes(name));
  for (const name of [...others, ...known.reverse()]) {
    if (await stopService(layout, name)) {
      log(`  stopped ${name}`);
    }
  }
  const ports = [
    layout.ports.postgres,
    layout.ports.rucio,
    layout.ports.transfers,
    layout.ports.idp,
    layout.ports.x509Auth,
    layout.ports.memcached,
    ...Object.values(layout.ports.rses)
  ];
  const busy = [];
  for (const port of ports) {
    if (await isListening(port)) {
      busy.push(port);
    }
  }
  if (busy.length > 0) {
    throw new DevlakeError(
      `devlake stopped its processes, but port${busy.length > 1 ? 's' : ''} ${busy.join(', ')} still answer${busy.length > 1 ? '' : 's'}: ` +
        'another program listens there. Find it with "ss -ltnp".'
    );
  }
}

/** Stops devlake, deletes its state and data (not the Python venv), and brings a clean lake up. */
export async function reset(options: UpOptions, log: Logger): Promise<Layout> {
  const current = resolveLayout({ stateDir: options.stateDir });
  await down({ stateDir: current.stateDir }, log);
  rmSync(current.dataDir, { recursive: true, force: true });
  rmSync(current.stateDir, { recursive: true, force: true });
  log(
    `Deleted ${current.stateDir}${current.dataDir.startsWith(current.stateDir) ? '' : ` and ${current.dataDir}`}.`
  );
  return up(options, log);
}

/** Where devlake writes a ready configuration for the dlaas companion. */
export function companionConfigPath(layout: Layout): string {
  return join(layout.stateDir, 'companion.json');
}

/**
 * A companion configuration for this lake: instance "devlake" signed in as alice (userpass), and
 * "devlake-bob" as bob; the scratch RSE's PFNs map to its storage directory, which is what a site
 * mount of the scratch storage looks like to the companion.
 */
export function writeCompanionConfig(layout: Layout): void {
  const scratchPfn = `${storageUrl(layout, SCRATCH_RSE)}${RSE_PREFIX}`;
  const scratchDir = join(storageRoot(layout, SCRATCH_RSE), RSE_PREFIX);
  const instance = (name: string, displayName: string, account: string) => {
    const credentials = ACCOUNTS.find(a => a.account === account) as (typeof ACCOUNTS)[number];
    return {
      name,
      displayName,
      rucioUrl: rucioUrl(layout),
      auth: {
        method: 'userpass',
        username: credentials.username,
        password: credentials.password,
        account
      },
      scratchRse: SCRATCH_RSE,
      ruleLifetimeSeconds: 7 * 86400,
      paths: { mode: 'prefix', mappings: [{ pfnPrefix: scratchPfn, localPrefix: scratchDir }] }
    };
  };
  const dlaasClient = IDP_CLIENTS.find(c => c.clientId === 'dlaas') as {
    clientId: string;
    clientSecret: string;
  };
  const x509 = x509Files(layout);
  const deviceInstance = {
    ...instance('devlake-oidc', 'devlake (sign in with OpenID)', 'alice'),
    auth: {
      method: 'device',
      issuer: idpIssuer(layout),
      clientId: dlaasClient.clientId,
      clientSecret: dlaasClient.clientSecret,
      audience: 'rucio',
      tokenFile: join(layout.stateDir, 'companion-tokens', 'devlake-oidc.json')
    }
  };
  const x509Instance = {
    ...instance('devlake-x509', 'devlake (X.509 certificate)', 'alice'),
    authUrl: x509AuthUrl(layout),
    caBundle: x509.caCert,
    auth: { method: 'x509', cert: x509.users['alice']?.cert, key: x509.users['alice']?.key }
  };
  const config = {
    instances: [
      instance('devlake', 'devlake (local data lake)', 'alice'),
      instance('devlake-bob', 'devlake as bob', 'bob'),
      // The small profile runs neither the OpenID provider nor the X.509 sign-in server.
      ...(layout.profile === 'full' ? [deviceInstance, x509Instance] : [])
    ],
    defaultInstance: 'devlake'
  };

  writeFileSync(companionConfigPath(layout), JSON.stringify(config, null, 2) + '\n', {
    mode: 0o600
  });
}

/** Everything a client of devlake needs to know, as `status --json` prints it. */
export interface DevlakeStatus {
  readonly stateDir: string;
  readonly dataDir: string;
  /** Which services devlake runs: `full`, or `small` (for Binder's memory). */
  readonly profile: Profile;
  /** True when every service of the profile runs. */
  readonly running: boolean;
  readonly seeded: boolean;
  readonly services: readonly ServiceState[];
  readonly rucio: { readonly url: string; readonly authUrl: string };
  readonly transferService: { readonly url: string; readonly failuresUrl: string };
  /** Rucio's X.509 sign-in endpoint, the CA that signs its certificate, and the users' certificates. */
  readonly x509: {
    readonly authUrl: string;
    readonly caCert: string;
    readonly users: Readonly<
      Record<string, { cert: string; key: string; proxy: string; dn: string }>
    >;
  };
  /** devlake's OpenID provider, which Rucio trusts; alice, bob (and carol, who has no account) sign in there. */
  readonly idp: {
    readonly issuer: string;
    readonly clients: readonly {
      readonly clientId: string;
      readonly clientSecret?: string | undefined;
    }[];
    readonly users: readonly { readonly username: string; readonly sub: string }[];
  };
  readonly postgres: { readonly host: string; readonly port: number; readonly database: string };
  readonly rses: readonly {
    readonly name: string;
    readonly role: 'site' | 'scratch';
    readonly url: string;
    readonly prefix: string;
    readonly directory: string;
  }[];
  readonly scratchRse: string;
  readonly accounts: readonly {
    readonly account: string;
    readonly username: string;
    readonly password: string;
    readonly scratchQuotaBytes: number | null;
  }[];
  readonly logs: string;
  /** A ready configuration file for the dlaas companion (instances "devlake" and "devlake-bob"). */
  readonly companionConfig: string;
}

/** The status of devlake, read from its pid files and saved layout. */
export function status(options: LayoutOptions): DevlakeStatus {
  const layout = resolveLayout(options);
  const services = serviceNames(layout).map(name => serviceState(layout, name));
  const url = rucioUrl(layout);
  const x509 = x509Files(layout);
  return {
    stateDir: layout.stateDir,
    dataDir: layout.dataDir,
    profile: layout.profile,
    running: services.every(s => s.running),
    seeded: existsSync(seededMarker(layout)),
    services,
    rucio: { url, authUrl: url },
    transferService: {
      url: transfersUrl(layout),
      failuresUrl: `${transfersUrl(layout)}/devlake/failures`
    },
    x509: { authUrl: x509AuthUrl(layout), caCert: x509.caCert, users: x509.users },
    idp: {
      issuer: idpIssuer(layout),
      clients: IDP_CLIENTS.map(({ clientId, clientSecret }) => ({ clientId, clientSecret })),
      users: IDP_USERS.map(({ username, sub }) => ({ username, sub }))
    },
    postgres: { host: '127.0.0.1', port: layout.ports.postgres, database: 'rucio' },
    rses: RSES.map(rse => ({
      name: rse.name,
      role: rse.role,
      url: storageUrl(layout, rse.name),
      prefix: RSE_PREFIX,
      directory: storageRoot(layout, rse.name)
    })),
    scratchRse: SCRATCH_RSE,
    accounts: ACCOUNTS.map(({ account, username, password, scratchQuotaBytes }) => ({
      account,
      username,
      password,
      scratchQuotaBytes
    })),
    logs: layout.logDir,
    companionConfig: companionConfigPath(layout)
  };
}
