import { spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Availability, LocalPath, Window } from '@dlaas/api';
import { adler32 } from '../../packages/devlake/src/adler32.js';
import type { DevlakeStatus } from '../../packages/devlake/src/lake.js';
import { isListening, waitFor } from '../../packages/devlake/src/processes.js';
import { RucioRest } from '../../packages/devlake/src/rest.js';
import { memoryReport, treeMemory } from '../support/memory.js';
import { ensureUser, runAsUser, spawnAsUser, type UserRun } from '../support/normal-user.js';
import { freePort, REPO } from '../support/processes.js';

/**
 * devlake as Binder runs it: as a normal user (no root, no sudo, no apt-get at run time), in the
 * small profile, with the companion beside it. The test creates the user `dlaas-binder` once (it
 * needs root for that, as the whole integration suite does). That user cannot write the
 * repository, nor run the root-only Python the project venv was made with, so it gets, in its
 * home: its own Rucio venv made with the system's python3 (kept between runs, as Binder makes it
 * at build time; the first run installs Rucio from PyPI, about a minute) and a fresh state
 * directory for each run (deleted afterwards). It reads the repository's built code in place.
 */
const USER = 'dlaas-binder';
/** Clear of the main devlake (18400) and of a fresh clone's full test run (18700). */
const BASE_PORT = '19100';
/**
 * Binder's goal for devlake and the companion together: 1 GB as JupyterHub counts a `mem_limit`
 * (its "G" is 1024³ bytes). Summed RSS counts shared pages once per process (PostgreSQL's shared
 * buffers in every backend, node's binary in two processes), so it overstates what the container
 * is charged; PSS, printed beside it, splits them.
 */
const MEMORY_GOAL_BYTES = 1024 ** 3;
const CLI = join(REPO, 'packages', 'devlake', 'lib', 'cli.js');
const COMPANION = join(REPO, 'packages', 'companion', 'lib', 'main.js');
/** A closed demo dataset of 6 files on CERN_DATADISK. */
const DATASET = { scope: 'cta', name: 'prod5.gamma_onSource' };

const account = ensureUser(USER);
const stateDir = join(account.home, `devlake-small-${randomBytes(4).toString('hex')}`);
const companionToken = randomBytes(16).toString('hex');

/** devlake's settings for this test's user; the user's own venv, made with the system's python3. */
const DEVLAKE_ENV = {
  DEVLAKE_STATE_DIR: stateDir,
  DEVLAKE_BASE_PORT: BASE_PORT,
  DEVLAKE_VENV: join(account.home, 'venv'),
  DEVLAKE_PYTHON: '/usr/bin/python3'
};

/** Starts `command` as the test's user with devlake's settings. */
function spawnWithLake(
  command: string,
  args: string[],
  env: Record<string, string> = {}
): ChildProcess {
  return spawnAsUser(account, command, args, { env: { ...DEVLAKE_ENV, ...env } });
}

/** Runs the devlake CLI as the test's user to its end. */
function devlakeAsUser(args: string[], env: Record<string, string> = {}): Promise<UserRun> {
  return runAsUser(account, process.execPath, [CLI, ...args], {
    env: { ...DEVLAKE_ENV, ...env }
  });
}

async function statusOf(): Promise<DevlakeStatus> {
  const result = await devlakeAsUser(['status', '--json']);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as DevlakeStatus;
}

/** The uid a process runs as, from /proc. */
function uidOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find(l => l.startsWith('Uid:'));
  return Number(line?.split(/\s+/)[1]);
}

/** Marks the start of the run: files of the user newer than this were written by it. */
const marker = join('/tmp', `dlaas-binder-start-${randomBytes(4).toString('hex')}`);
let companion: ChildProcess | undefined;
let companionUrl = '';

beforeAll(() => {
  writeFileSync(marker, '');
  mkdirSync(stateDir, { recursive: true });
  spawnSync('chown', [`${USER}:${USER}`, stateDir]);
});

afterAll(async () => {
  companion?.kill('SIGTERM');
  const down = await devlakeAsUser(['down']);
  rmSync(stateDir, { recursive: true, force: true });
  rmSync(marker, { force: true });
  expect(down.code, down.stderr).toBe(0);
});

describe('devlake for Binder: a normal user, the small profile', () => {
  it('when a program is missing, then up as a normal user names its Debian package and binder/apt.txt, and installs nothing', async () => {
    const result = await devlakeAsUser(['up', '--profile', 'small'], {
      DEVLAKE_XROOTD: '/nonexistent/xrootd'
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/XRootD \(Debian package xrootd-server\) is not installed/);
    expect(result.stderr).toMatch(/binder\/apt\.txt/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('when a normal user runs "devlake up --profile small", then every service of the small profile runs as that user and the demo data is seeded', async () => {
    const started = Date.now();
    const result = await devlakeAsUser(['up', '--profile', 'small']);
    console.log(
      `devlake up --profile small as ${USER}: ${((Date.now() - started) / 1000).toFixed(1)} s`
    );
    expect(result.code, `${result.stderr}\n${result.stdout}`).toBe(0);
    const status = await statusOf();
    expect(status).toMatchObject({ running: true, seeded: true, profile: 'small' });
    expect(status.dataDir.startsWith(stateDir)).toBe(true);
    expect(status.services.map(s => s.name).sort()).toEqual(
      [
        'postgres',
        'rucio-daemons',
        'rucio-server',
        'transfers',
        'xrootd-cern_datadisk',
        'xrootd-desy_datadisk',
        'xrootd-lake_scratchdisk'
      ].sort()
    );
    for (const service of status.services) {
      expect(uidOf(service.pid as number), service.name).toBe(account.uid);
    }
    // Only userpass instances: the small profile runs no OpenID provider and no X.509 sign-in.
    const config = JSON.parse(readFileSync(status.companionConfig, 'utf8')) as {
      instances: { name: string }[];
    };
    expect(config.instances.map(i => i.name)).toEqual(['devlake', 'devlake-bob']);
  });

  it('when the companion of that user makes a dataset available, then it reaches AVAILABLE and its local paths (by prefix) hold Rucio’s bytes', async () => {
    const status = await statusOf();
    const port = await freePort();
    // No DLAAS_CONFIG: the companion finds devlake through the user's ~/.config/dlaas link.
    companion = spawnWithLake(process.execPath, [COMPANION, '--port', String(port)], {
      DLAAS_TOKEN: companionToken
    });
    companionUrl = `http://127.0.0.1:${port}`;
    expect(await waitFor(() => isListening(port), 30_000)).toBe(true);
    const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
      const response = await fetch(`${companionUrl}/api/instances/devlake${path}`, {
        method,
        headers: {
          Authorization: `token ${companionToken}`,
          'Content-Type': 'application/json',
          Cookie: '_xsrf=x',
          'X-XSRFToken': 'x'
        },
        body: body === undefined ? undefined : JSON.stringify(body)
      });
      const text = await response.text();
      expect(response.ok, `${method} ${path}: ${response.status} ${text}`).toBe(true);
      return JSON.parse(text) as T;
    };
    const did = `${DATASET.scope}:${DATASET.name}`;
    const started = Date.now();
    await call('POST', '/make-available', { did });
    let availability: Availability | undefined;
    const settled = await waitFor(async () => {
      availability = await call<Availability>(
        'GET',
        `/availability?did=${encodeURIComponent(did)}`
      );
      return availability.state === 'AVAILABLE' || availability.state === 'STUCK';
    }, 180_000);
    console.log(
      `make-available of ${did} in the small profile: ${availability?.state} after ${((Date.now() - started) / 1000).toFixed(1)} s`
    );
    expect(settled).toBe(true);
    expect(availability?.state).toBe('AVAILABLE');

    const paths = await call<Window<LocalPath>>('GET', `/paths?did=${encodeURIComponent(did)}`);
    const scratch = status.rses.find(r => r.name === status.scratchRse);
    const alice = status.accounts.find(a => a.account === 'alice');
    const files = await new RucioRest(status.rucio.url, alice as NonNullable<typeof alice>).lines<{
      name: string;
      adler32: string;
    }>('GET', `/dids/${DATASET.scope}/${encodeURIComponent(DATASET.name)}/files`);
    expect(paths.items.map(p => p.name).sort()).toEqual(files.map(f => f.name).sort());
    for (const entry of paths.items) {
      expect(entry.path?.startsWith(scratch?.directory as string), entry.path ?? 'no path').toBe(
        true
      );
      expect(adler32(readFileSync(entry.path as string))).toBe(
        files.find(f => f.name === entry.name)?.adler32
      );
    }
  });

  it('when devlake and the companion run, then together they hold under 1 GB (summed RSS)', async () => {
    const status = await statusOf();
    expect(status.running).toBe(true);
    const roots = new Map(status.services.map(s => [s.name, s.pid as number]));
    roots.set('companion', companion?.pid as number);
    const memory = treeMemory(roots);
    console.log(`Memory of devlake (small profile) and the companion:\n${memoryReport(memory)}`);
    const total = [...memory.values()].reduce((sum, m) => sum + m.rss, 0);
    for (const [name, m] of memory) {
      expect(m.processes, name).toBeGreaterThan(0);
    }
    expect(total).toBeLessThan(MEMORY_GOAL_BYTES);
  });

  it('when up asks for the full profile while the small one runs, then it refuses with what to do and starts nothing', async () => {
    const before = (await statusOf()).services.map(s => s.pid);
    const result = await devlakeAsUser(['up', '--profile', 'full']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /runs services that the full profile does not \(rucio-daemons\)\. Run "devlake down" first/
    );
    const after = await statusOf();
    expect(after.profile).toBe('small');
    expect(after.services.map(s => s.pid)).toEqual(before);
  });

  it('when the run is over, then nothing under /var, /usr, /etc or /opt was written by that user', () => {
    const written = (dirs: string[]): string =>
      spawnSync('find', [...dirs, '-xdev', '-user', USER, '-newer', marker], {
        encoding: 'utf8'
      }).stdout.trim();
    // The same search finds what the run wrote where it should: its state directory.
    expect(written([stateDir])).toContain(join(stateDir, 'data', 'postgres'));
    expect(written(['/var', '/usr', '/etc', '/opt'])).toBe('');
  });
});
