import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { ensureX509, X509_GUNICORN_CONFIG, X509_WSGI } from './x509.js';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DevlakeError } from './errors.js';
import { databaseUrl } from './postgres.js';
import { run, startService, tail, logFile, type ServiceSpec } from './processes.js';
import { DEFAULT_CLIENTS as IDP_CLIENTS } from './idp/accounts.js';
import { POLICY_PACKAGE, policyPath, writePolicyPackage } from './policy.js';
import { demoAccount, idpIssuer, rucioUrl, transfersUrl, type Layout } from './settings.js';

/** Where devlake keeps Rucio's configuration. */
export function rucioConfigPath(layout: Layout): string {
  return join(layout.stateDir, 'rucio', 'rucio.cfg');
}

function sitePackages(venvBin: string): string {
  return run(
    join(venvBin, 'python'),
    ['-c', 'import rucio, os; print(os.path.dirname(os.path.dirname(rucio.__file__)))'],
    {
      what: 'finding Rucio in the venv'
    }
  ).trim();
}

/** The configuration of the rule injector: Rucio's, with memcached as its cache (see {@link rucioConfig}). */
export function injectorConfigPath(layout: Layout): string {
  return join(layout.stateDir, 'rucio', 'rucio-injector.cfg');
}

/**
 * Rucio's configuration: database, bootstrap root identity, client, the conveyor's FTS3; with
 * `cache`, memcached as Rucio's cache. Only the rule injector gets it: without a cache it reads
 * every RSE attribute from the database for each lock, and a rule of 100,000 files took over 25
 * minutes (about 2 with it); the server and the other daemons keep none, so that what the tests
 * change (an RSE blocked for writing) holds at once, where a cache would serve the old RSE for
 * up to ten minutes.
 */
export function rucioConfig(layout: Layout, alembicIni: string, cache = false): string {
  const root = demoAccount('root');
  const url = rucioUrl(layout);
  return `[common]
logdir = ${layout.logDir}
loglevel = INFO
mailtemplatedir = ${join(layout.stateDir, 'rucio', 'mail_templates')}

[database]
default = ${databaseUrl(layout)}
pool_size = ${layout.profile === 'small' ? 3 : 20}
max_overflow = ${layout.profile === 'small' ? 27 : 20}
pool_reset_on_return = rollback

[alembic]
cfg = ${alembicIni}

[bootstrap]
userpass_identity = ${root.username}
userpass_pwd = ${root.password}
userpass_email = ${root.email}

[client]
rucio_host = ${url}
auth_host = ${url}
auth_type = userpass
username = ${root.username}
password = ${root.password}
account = root
request_retries = 3

[conveyor]
scheme = http,https,davs,root
transfertool = fts3
ftshosts = ${transfersUrl(layout)}
use_deterministic_id = False

[oidc]
idpsecrets = ${join(layout.stateDir, 'rucio', 'idpsecrets.json')}
admin_issuer = devlake
expected_audience = rucio
expected_scope = openid profile

[monitor]
enable_metrics = False

${cache ? `\n[cache]\nurl = 127.0.0.1:${layout.ports.memcached}\n` : ''}`;
}

function writeConfig(layout: Layout, venvBin: string): string {
  const dir = join(layout.stateDir, 'rucio');
  mkdirSync(join(dir, 'mail_templates'), { recursive: true });
  const alembicIni = join(dir, 'alembic.ini');
  writeFileSync(
    alembicIni,
    [
      '[alembic]',
      `script_location = ${join(sitePackages(venvBin), 'rucio', 'db', 'sqla', 'migrate_repo')}`,
      `sqlalchemy.url = ${databaseUrl(layout)}`,
      // alembic's env.py configures logging from this file, so it needs these sections.
      '[loggers]\nkeys = root\n[handlers]\nkeys = console\n[formatters]\nkeys = generic',
      '[logger_root]\nlevel = WARN\nhandlers = console',
      '[handler_console]\nclass = StreamHandler\nargs = (sys.stderr,)\nformatter = generic',
      '[formatter_generic]\nformat = %(levelname)s [%(name)s] %(message)s',
      ''
    ].join('\n')
  );
  // Rucio trusts devlake's OpenID provider; without the SCIM entry no issuer loads, silently.
  const rucioClient = IDP_CLIENTS.find(c => c.clientId === 'rucio') as {
    clientId: string;
    clientSecret: string;
  };
  const idpSecrets = {
    devlake: {
      issuer: idpIssuer(layout),
      client_id: rucioClient.clientId,
      client_secret: rucioClient.clientSecret,
      redirect_uris: ['http://127.0.0.1/callback'],
      SCIM: { client_id: rucioClient.clientId, client_secret: rucioClient.clientSecret }
    }
  };
  writeFileSync(join(dir, 'idpsecrets.json'), JSON.stringify(idpSecrets, null, 2) + '\n', {
    mode: 0o600
  });
  writePolicyPackage(layout);
  const config = rucioConfigPath(layout);
  writeFileSync(config, rucioConfig(layout, alembicIni));
  writeFileSync(injectorConfigPath(layout), rucioConfig(layout, alembicIni, true));
  return config;
}

/** The environment every Rucio process of devlake runs with (devlake's policy package among it). */
export function rucioEnv(layout: Layout): Record<string, string> {
  return {
    RUCIO_CONFIG: rucioConfigPath(layout),
    RUCIO_POLICY_PACKAGE: POLICY_PACKAGE,
    PYTHONPATH: policyPath(layout),
    PYTHONUNBUFFERED: '1',
    // glibc gives each thread its own malloc arena; the small profile's threaded server and
    // daemons would keep tens of MB in them.
    ...(layout.profile === 'small' ? { MALLOC_ARENA_MAX: '2' } : {})
  };
}

/**
 * Writes Rucio's configuration, creates its schema and root account on first use, and starts the
 * REST server (gunicorn, loopback only). Resolves once `/ping` answers.
 */
export async function startRucioServer(layout: Layout, venvBin: string): Promise<void> {
  writeConfig(layout, venvBin);
  const env = rucioEnv(layout);
  const marker = join(layout.stateDir, 'rucio', 'bootstrapped');
  if (!existsSync(marker)) {
    run(
      join(venvBin, 'python'),
      [
        '-c',
        'from rucio.db.sqla.util import build_database, create_base_vo, create_root_account\n' +
          'build_database()\ncreate_base_vo()\ncreate_root_account()\n'
      ],
      { env, what: "creating Rucio's database schema and root account" }
    );
    writeFileSync(marker, new Date().toISOString() + '\n');
  }
  await startService(layout, {
    name: 'rucio-server',
    title: 'the Rucio server',
    command: join(venvBin, 'gunicorn'),
    args: [
      '--bind',
      `127.0.0.1:${layout.ports.rucio}`,
      // The small profile's one worker with threads: each worker holds all of Rucio (~250 MB).
      // A threaded worker keeps idle connections for 2 s, and a client that reuses one as it
      // closes gets "other side closed"; with keep-alive off it closes each, as sync workers do.
      ...(layout.profile === 'small'
        ? ['--workers', '1', '--threads', '4', '--keep-alive', '0']
        : ['--workers', '4']),
      '--timeout',
      '600',
      '--graceful-timeout',
      '5',
      'rucio.web.rest.flaskapi.v1.main:application'
    ],
    env,
    port: layout.ports.rucio
  });
  await waitForPing(layout);
}

async function waitForPing(layout: Layout): Promise<void> {
  const deadline = Date.now() + 60_000;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${rucioUrl(layout)}/ping`);
      if (response.ok) {
        return;
      }
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(300);
  }
  const log = logFile(layout, 'rucio-server');
  throw new DevlakeError(
    `The Rucio server does not answer /ping (${last}). Its log (${log}) ends with:\n${tail(log)}`
  );
}

/**
 * Starts a second Rucio server for X.509 sign-in: gunicorn with TLS that asks for a client
 * certificate (proxies allowed) and hands its DN to Rucio, as Apache's mod_ssl does in production.
 */
export async function startRucioX509Auth(layout: Layout, venvBin: string): Promise<void> {
  const files = ensureX509(layout);
  const dir = join(layout.stateDir, 'rucio', 'x509');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'devlake_x509.py'), X509_WSGI);
  writeFileSync(join(dir, 'gunicorn_x509.py'), X509_GUNICORN_CONFIG);
  await startService(layout, {
    name: 'rucio-auth-x509',
    title: "Rucio's X.509 sign-in server",
    command: join(venvBin, 'gunicorn'),
    args: [
      '--config',
      join(dir, 'gunicorn_x509.py'),
      '--bind',
      `127.0.0.1:${layout.ports.x509Auth}`,
      '--workers',
      '1',
      '--certfile',
      files.serverCert,
      '--keyfile',
      files.serverKey,
      '--ca-certs',
      files.caCert,
      '--cert-reqs',
      '1',
      '--chdir',
      dir,
      'devlake_x509:application'
    ],
    env: { ...rucioEnv(layout), PYTHONPATH: [dir, policyPath(layout)].join(delimiter) },
    port: layout.ports.x509Auth
  });
}

/**
 * Rucio's daemons that inject large rules, move rules to OK (or STUCK), clean expired rules and
 * count quota usage.
 */
export function rucioDaemons(layout: Layout, venvBin: string): ServiceSpec[] {
  const env = rucioEnv(layout);
  const daemon = (
    name: string,
    title: string,
    args: string[],
    extraEnv: Record<string, string> = {}
  ): ServiceSpec => ({
    name,
    title,
    command: join(venvBin, name),
    args,
    env: { ...env, ...extraEnv }
  });
  return [
    daemon('rucio-conveyor-submitter', "Rucio's transfer submitter", [
      '--sleep-time',
      '2',
      '--group-bulk',
      '200',
      '--bulk',
      '1000'
    ]),
    daemon('rucio-conveyor-poller', "Rucio's transfer poller", [
      '--sleep-time',
      '2',
      '--older-than',
      '0'
    ]),
    daemon('rucio-conveyor-finisher', "Rucio's transfer finisher", ['--sleep-time', '2']),
    daemon('rucio-judge-evaluator', "Rucio's rule evaluator", ['--sleep-time', '2']),
    // Creates the locks of rules Rucio makes asynchronously: those of DIDs of 10,000 files or more.
    daemon('rucio-judge-injector', "Rucio's rule injector", ['--sleep-time', '2'], {
      RUCIO_CONFIG: injectorConfigPath(layout)
    }),
    daemon('rucio-judge-cleaner', "Rucio's expired-rule cleaner", ['--sleep-time', '10']),
    // Retries stuck rules: on its own after 30 minutes, at once when their owner boosts them.
    daemon('rucio-judge-repairer', "Rucio's stuck-rule repairer", ['--sleep-time', '5']),
    daemon('rucio-abacus-account', "Rucio's quota counter", ['--sleep-time', '5'])
  ];
}

/**
 * The small profile's one process that runs Rucio's daemons as threads, each its own module's
 * `run()` with the arguments the full profile gives its command; SIGTERM stops them all through
 * their modules' `stop()`. A daemon whose thread ends takes the process down with it, so that
 * `devlake status` shows it down rather than a lake where rules stop moving.
 */
export const DAEMONS_IN_ONE_PROCESS = `import signal
import sys
import threading

from rucio.daemons.abacus import account
from rucio.daemons.conveyor import finisher, poller, submitter
from rucio.daemons.judge import cleaner, evaluator, injector, repairer

DAEMONS = [
    (submitter, {'sleep_time': 2, 'group_bulk': 200, 'bulk': 1000}),
    (poller, {'sleep_time': 2, 'older_than': 0}),
    (finisher, {'sleep_time': 2}),
    (evaluator, {'sleep_time': 2}),
    (injector, {'sleep_time': 2}),
    (cleaner, {'sleep_time': 10}),
    (repairer, {'sleep_time': 5}),
    (account, {'sleep_time': 5}),
]
stopping = threading.Event()


def stop(signum=None, frame=None):
    for module, _ in DAEMONS:
        module.stop()
    stopping.set()


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
threads = [
    threading.Thread(target=module.run, kwargs={'once': False, **kwargs}, name=module.__name__, daemon=True)
    for module, kwargs in DAEMONS
]
for thread in threads:
    thread.start()
while not stopping.wait(2):
    ended = [thread.name for thread in threads if not thread.is_alive()]
    if ended:
        print('devlake: Rucio daemon(s) ended: ' + ', '.join(ended) + '; stopping the others.', file=sys.stderr, flush=True)
        stop()
        for thread in threads:
            thread.join(timeout=10)
        sys.exit(1)
for thread in threads:
    thread.join(timeout=10)
`;

/** The service that runs every Rucio daemon in one process (the small profile). */
export function rucioDaemonsInOneProcess(layout: Layout, venvBin: string): ServiceSpec {
  const script = join(layout.stateDir, 'rucio', 'devlake_daemons.py');
  return {
    name: 'rucio-daemons',
    title: "Rucio's daemons (conveyor, judge, abacus; one process)",
    command: join(venvBin, 'python'),
    args: [script],
    env: rucioEnv(layout),
    match: script
  };
}

/** The services of Rucio's daemons in the layout's profile. */
export function rucioDaemonServices(layout: Layout, venvBin: string): ServiceSpec[] {
  return layout.profile === 'small'
    ? [rucioDaemonsInOneProcess(layout, venvBin)]
    : rucioDaemons(layout, venvBin);
}

/** Starts Rucio's daemons (in the background, with their logs). */
export async function startRucioDaemons(layout: Layout, venvBin: string): Promise<void> {
  if (layout.profile === 'small') {
    mkdirSync(join(layout.stateDir, 'rucio'), { recursive: true });
    writeFileSync(join(layout.stateDir, 'rucio', 'devlake_daemons.py'), DAEMONS_IN_ONE_PROCESS);
  }
  for (const spec of rucioDaemonServices(layout, venvBin)) {
    await startService(layout, spec);
  }
}
