import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { DevlakeError } from './errors.js';
import { logFile, ownedDir, run, startService, waitFor, type ServiceUser } from './processes.js';
import type { Layout } from './settings.js';

/** Name of the database (and of its owner role) that holds Rucio's catalogue. */
export const RUCIO_DATABASE = 'rucio';

/** SQLAlchemy URL of Rucio's database. */
export function databaseUrl(layout: Layout): string {
  return `postgresql+psycopg://${RUCIO_DATABASE}@127.0.0.1:${layout.ports.postgres}/${RUCIO_DATABASE}`;
}

function clusterDir(layout: Layout): string {
  return join(layout.dataDir, 'postgres');
}

/**
 * Connections and shared memory: the full profile's Rucio processes hold up to 300 connections;
 * the small one's two (server and daemons) far fewer, and every backend touches less shared memory.
 */
function memorySettings(layout: Layout): string[] {
  return layout.profile === 'small'
    ? ['max_connections=80', 'shared_buffers=16MB', 'max_logical_replication_workers=0']
    : ['max_connections=300', 'shared_buffers=256MB'];
}

/**
 * Starts devlake's own PostgreSQL cluster (not the system one): creates it on first use, serves
 * it on loopback only, and creates Rucio's role and database.
 */
export async function startPostgres(
  layout: Layout,
  binDir: string,
  user: ServiceUser | undefined
): Promise<void> {
  const data = clusterDir(layout);
  const sockets = join(layout.dataDir, 'postgres-sockets');
  ownedDir(sockets, user, 0o700);
  if (!existsSync(join(data, 'PG_VERSION'))) {
    ownedDir(data, user, 0o700);
    run(
      join(binDir, 'initdb'),
      ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--no-locale'],
      {
        user,
        cwd: data,
        what: "creating devlake's PostgreSQL cluster"
      }
    );
  }
  await startService(layout, {
    name: 'postgres',
    title: 'PostgreSQL',
    command: join(binDir, 'postgres'),
    args: [
      '-D',
      data,
      '-p',
      String(layout.ports.postgres),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      `unix_socket_directories=${sockets}`,
      '-c',
      'synchronous_commit=off',
      ...memorySettings(layout).flatMap(setting => ['-c', setting])
    ],
    cwd: data,
    user,
    port: layout.ports.postgres,
    stopSignal: 'SIGINT'
  });
  // The port opens before the cluster accepts connections ("the database system is starting up").
  const ready = await waitFor(
    async () =>
      spawnSync(join(binDir, 'pg_isready'), [
        '-q',
        '-h',
        '127.0.0.1',
        '-p',
        String(layout.ports.postgres)
      ]).status === 0,
    60_000
  );
  if (!ready) {
    throw new DevlakeError(
      `PostgreSQL opened port ${layout.ports.postgres} but does not accept connections after 60 s. See ${logFile(layout, 'postgres')}.`
    );
  }
  const psql = (sql: string): string =>
    run(
      join(binDir, 'psql'),
      [
        '-h',
        '127.0.0.1',
        '-p',
        String(layout.ports.postgres),
        '-U',
        'postgres',
        '-d',
        'postgres',
        '-tAc',
        sql
      ],
      {
        what: "preparing Rucio's PostgreSQL database"
      }
    ).trim();
  if (psql(`SELECT 1 FROM pg_roles WHERE rolname = '${RUCIO_DATABASE}'`) !== '1') {
    psql(`CREATE ROLE ${RUCIO_DATABASE} LOGIN`);
  }
  if (psql(`SELECT 1 FROM pg_database WHERE datname = '${RUCIO_DATABASE}'`) !== '1') {
    psql(`CREATE DATABASE ${RUCIO_DATABASE} OWNER ${RUCIO_DATABASE}`);
  }
}
