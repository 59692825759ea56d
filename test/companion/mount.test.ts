import type { Availability, Instance, LocalPath, Window } from '@dlaas/api';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../packages/companion/src/index.js';
import { adler32 } from '../../packages/devlake/src/adler32.js';
import { resolveLayout } from '../../packages/devlake/src/settings.js';
import { stageOnScratch } from '../../packages/devlake/src/stage.js';
import { putNewDataset } from '../support/lake.js';
import { startCompanionProcess, type CompanionProcess } from '../support/companion-process.js';
import { devlake, rucioAs } from '../devlake/helpers.js';

/**
 * The companion's FUSE mount of the scratch RSE, against devlake, with a real mount: the companion
 * runs as its own process (a mount served by the test's own process would deadlock on a
 * synchronous read), as alice, with its folder in a temporary directory.
 */

const scratchRse = devlake.rses.find(r => r.role === 'scratch');
const work = mkdtempSync(join(tmpdir(), 'dlaas-mount-'));
const mountPoint = join(work, 'datalake');
const configFile = join(work, 'companion.json');
type Companion = CompanionProcess;

let companion: Companion;

/** Starts the companion with the test configuration (or `config`); resolves when it listens. */
function startCompanion(
  options: { stopWithStdin?: boolean; config?: string } = {}
): Promise<Companion> {
  return startCompanionProcess({ ...options, config: options.config ?? configFile });
}

async function stopCompanion(c: Companion, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (c.process.exitCode === null && c.process.signalCode === null) {
    const exited = once(c.process, 'exit');
    c.process.kill(signal);
    await exited;
  }
}

async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(`gave up waiting for ${what}`);
    }
    await sleep(100);
  }
}

function isMounted(): boolean {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some(line => line.split(' ')[1] === mountPoint);
}

async function makeAvailable(did: string): Promise<Availability> {
  const made = await companion.client.post('/api/instances/devlake/make-available', { did });
  expect([200, 201]).toContain(made.status);
  let availability = (made.body as { availability: Availability }).availability;
  const deadline = Date.now() + 240_000;
  while (availability.state !== 'AVAILABLE') {
    expect(availability.state).not.toBe('STUCK');
    expect(Date.now()).toBeLessThan(deadline);
    await sleep(500);
    availability = (
      await companion.client.get(
        `/api/instances/devlake/availability?did=${encodeURIComponent(did)}`
      )
    ).body as Availability;
  }
  return availability;
}

async function pathsOf(did: string): Promise<LocalPath[]> {
  const answer = await companion.client.get(
    `/api/instances/devlake/paths?did=${encodeURIComponent(did)}&limit=5000`
  );
  expect(answer.status).toBe(200);
  return (answer.body as Window<LocalPath>).items;
}

/** The extended attribute of a file (Node has no API for them; Python has). */
function xattr(path: string, name: string): string {
  return execFileSync(
    'python3',
    ['-c', 'import os,sys; print(os.getxattr(sys.argv[1], sys.argv[2]).decode())', path, name],
    {
      encoding: 'utf8'
    }
  ).trim();
}

const datasetName = `mount.${Date.now().toString(36)}`;
const datasetDid = `user.alice:${datasetName}`;
let checksums: Map<string, string>;

beforeAll(async () => {
  const base = (JSON.parse(readFileSync(devlake.companionConfig, 'utf8')) as Config).instances[0];
  if (!base || !scratchRse) {
    throw new Error('devlake wrote no companion instance or has no scratch RSE');
  }
  const config: Config = {
    instances: [
      {
        ...base,
        paths: {
          mode: 'fuse',
          mountPoint,
          readTimeoutSeconds: 3,
          refreshSeconds: 2,
          mappings: base.paths?.mode === 'prefix' ? base.paths.mappings : []
        }
      }
    ]
  };
  writeFileSync(configFile, JSON.stringify(config));
  checksums = await putNewDataset(devlake, datasetName, 6);
  companion = await startCompanion();
  await makeAvailable(datasetDid);
});

afterAll(async () => {
  if (companion) {
    await stopCompanion(companion);
  }
  if (isMounted()) {
    execFileSync('fusermount', ['-uz', mountPoint]);
  }
  rmSync(work, { recursive: true, force: true });
});

describe('the data lake folder (FUSE)', () => {
  it('when the companion starts, then its folder is mounted and the panel is told where', async () => {
    expect(isMounted()).toBe(true);
    const instances = (await companion.client.get('/api/instances')).body as {
      instances: Instance[];
    };
    expect(instances.instances[0]?.paths).toEqual({ mode: 'fuse', mountPoint });
  });

  it('when a dataset is made available, then its files are in the folder with Rucio names, sizes and checksums, and the paths API points there', async () => {
    const folder = join(mountPoint, 'user.alice', datasetName);
    await waitFor(() => existsSync(folder), 30_000, 'the dataset folder');
    // putNewDataset names its files <dataset>/part_<i>.dat: the / is a folder.
    const names = (await readdir(join(folder, datasetName))).sort();
    expect(names).toEqual([...checksums.keys()].map(n => n.split('/')[1]).sort());
    const paths = await pathsOf(datasetDid);
    expect(paths).toHaveLength(checksums.size);
    for (const entry of paths) {
      expect(entry.path).toBe(join(folder, entry.name));
      const path = entry.path as string;
      const info = await stat(path);
      expect(info.size).toBe(entry.bytes);
      expect(info.mode & 0o777).toBe(0o444);
      const bytes = await readFile(path);
      expect(bytes.length).toBe(entry.bytes);
      expect(adler32(bytes)).toBe(checksums.get(entry.name));
      expect(xattr(path, 'user.rucio.adler32')).toBe(checksums.get(entry.name));
      expect(xattr(path, 'user.rucio.did')).toBe(`user.alice:${entry.name}`);
    }
  });

  it('when 8 readers read different files and the same file at once, then every byte is right', async () => {
    const paths = (await pathsOf(datasetDid)).map(p => p.path as string);
    const same = paths[paths.length - 1] as string;
    const jobs = [...paths.slice(0, 4), same, same, same, same].map(async path => {
      const bytes = await readFile(path);
      return (
        adler32(bytes) ===
        checksums.get(path.slice(path.indexOf(datasetName) + datasetName.length + 1))
      );
    });
    expect(await Promise.all(jobs)).toEqual(Array.from({ length: 8 }, () => true));
  });

  it('when the 10,000-file dataset is made available, then ls -l lists its 10,000 files with Rucio’s sizes', async () => {
    // Put on the scratch RSE for alice as Rucio would after 10,000 transfers (devlake's stage).
    const staged = await stageOnScratch(
      resolveLayout({ stateDir: devlake.stateDir }),
      {
        scope: 'lofar',
        name: 'L700000_subbands'
      },
      'alice'
    );
    try {
      expect(staged.ruleState).toBe('OK');
      // Its files are named L700000/subbands/SB<n>.h5.
      const folder = join(mountPoint, 'lofar', 'L700000_subbands', 'L700000', 'subbands');
      await waitFor(() => existsSync(folder), 180_000, 'the 10,000-file folder');
      const listing = execFileSync('ls', ['-l', folder], {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024
      })
        .split('\n')
        .filter(line => line.endsWith('.h5'));
      expect(listing).toHaveLength(10_000);
      const sizes = new Map(
        listing.map(line => {
          const parts = line.trim().split(/\s+/);
          return [parts[parts.length - 1] as string, Number(parts[4])];
        })
      );
      const rucio = await rucioAs('alice').request('GET', '/dids/lofar/L700000_subbands/files');
      const files = (await rucio.text())
        .split('\n')
        .filter(Boolean)
        .map(line => JSON.parse(line) as { name: string; bytes: number });
      expect(files).toHaveLength(10_000);
      for (const file of files) {
        expect(sizes.get(file.name.split('/').pop() as string)).toBe(file.bytes);
      }
    } finally {
      // Ends at once (a deleted rule would stay an hour), so that alice's folder stays small.
      await rucioAs('root').request('PUT', `/rules/${staged.ruleId}`, {
        body: { options: { lifetime: 1 } }
      });
    }
  });

  it('when a program writes, creates or deletes, then the answer is EROFS', async () => {
    const [first] = await pathsOf(datasetDid);
    const path = first?.path as string;
    await expect(writeFile(path, 'x')).rejects.toMatchObject({ code: 'EROFS' });
    await expect(writeFile(join(mountPoint, 'user.alice', 'new.txt'), 'x')).rejects.toMatchObject({
      code: 'EROFS'
    });
    expect(() => execFileSync('rm', ['-f', path], { stdio: 'pipe' })).toThrow(/Read-only/);
    expect(() => mkdirSync(join(mountPoint, 'user.alice', 'dir'))).toThrow(/EROFS/);
  });

  it('when the storage stops answering mid-read, then reads fail with EIO within the timeout, and work again when it is back, without a remount', async () => {
    const xrootd = devlake.services.find(s => s.name === 'xrootd-lake_scratchdisk');
    expect(xrootd?.pid).toBeGreaterThan(0);
    const pid = xrootd?.pid as number;
    // A file no one has read, so that the kernel has none of its pages.
    const fresh = `${datasetName}.storage`;
    const sums = await putNewDataset(devlake, fresh, 1);
    await makeAvailable(`user.alice:${fresh}`);
    const [entry] = await pathsOf(`user.alice:${fresh}`);
    const path = entry?.path as string;
    expect(path).toContain(mountPoint);
    process.kill(-pid, 'SIGSTOP');
    try {
      const started = Date.now();
      await expect(readFile(path)).rejects.toMatchObject({ code: 'EIO' });
      const took = Date.now() - started;
      // The configured 3 s, and not much more.
      expect(took).toBeGreaterThanOrEqual(2500);
      expect(took).toBeLessThan(15_000);
    } finally {
      process.kill(-pid, 'SIGCONT');
    }
    const bytes = await readFile(path);
    expect(adler32(bytes)).toBe([...sums.values()][0]);
  });

  it.each([
    ['removed', { method: 'DELETE', body: { purge_replicas: false } }],
    ['cut short to expire now', { method: 'PUT', body: { options: { lifetime: 2 } } }]
  ])('when the rule is %s, then its files vanish from the folder', async (_how, change) => {
    const gone = `${datasetName}.${change.method.toLowerCase()}`;
    await putNewDataset(devlake, gone, 2);
    const availability = await makeAvailable(`user.alice:${gone}`);
    const folder = join(mountPoint, 'user.alice', gone);
    await waitFor(() => existsSync(folder), 30_000, 'the folder');
    await rucioAs('root').request(change.method, `/rules/${availability.ruleId as string}`, {
      body: change.body
    });
    // The companion reads the user's rules again every 2 s here (a minute by default).
    await waitFor(
      async () => !(await readdir(join(mountPoint, 'user.alice'))).includes(gone),
      30_000,
      'the folder to vanish'
    );
    expect(existsSync(folder)).toBe(false);
  });

  it('when the companion is killed with SIGKILL, then the next start mounts again with no stale mount', async () => {
    await stopCompanion(companion, 'SIGKILL');
    // fuse-native's auto-unmount helper lets go of the folder; a stale one would say ENOTCONN.
    companion = await startCompanion();
    expect(isMounted()).toBe(true);
    const [entry] = await pathsOf(datasetDid);
    const bytes = await readFile(entry?.path as string);
    expect(adler32(bytes)).toBe(checksums.get(entry?.name as string));
  });

  it('when the companion stops, then the folder is unmounted', async () => {
    await stopCompanion(companion);
    expect(isMounted()).toBe(false);
  });

  it('when the process that started it goes away (its stdin closes), then the companion stops and unmounts', async () => {
    companion = await startCompanion({ stopWithStdin: true });
    expect(isMounted()).toBe(true);
    const exited = once(companion.process, 'exit');
    companion.process.stdin?.end();
    await exited;
    expect(companion.process.exitCode).toBe(0);
    expect(isMounted()).toBe(false);
  });

  it('when the folder cannot be mounted, then the instance says why and what to do, and paths come from the fallback mappings', async () => {
    const blocked = join(work, 'not-empty');
    mkdirSync(blocked);
    writeFileSync(join(blocked, 'notes.txt'), 'mine');
    const config = JSON.parse(readFileSync(configFile, 'utf8')) as Config;
    const instance = config.instances[0];
    if (instance?.paths?.mode !== 'fuse') {
      throw new Error('the test configuration has no fuse instance');
    }
    const other = join(work, 'blocked.json');
    writeFileSync(
      other,
      JSON.stringify({
        instances: [{ ...instance, paths: { ...instance.paths, mountPoint: blocked } }]
      })
    );
    const fallback = await startCompanion({ config: other });
    try {
      const instances = (await fallback.client.get('/api/instances')).body as {
        instances: Instance[];
      };
      expect(instances.instances[0]?.paths?.problem).toBe(
        `The data lake folder ${blocked} could not be mounted: ${blocked} is not empty; move its files away, or choose another "paths.mountPoint".`
      );
      const answer = await fallback.client.get(
        `/api/instances/devlake/paths?did=${encodeURIComponent(datasetDid)}&limit=100`
      );
      const paths = (answer.body as Window<LocalPath>).items;
      expect(paths).toHaveLength(checksums.size);
      const storage = instance.paths.mappings?.[0]?.localPrefix as string;
      for (const entry of paths) {
        expect(entry.path?.startsWith(storage)).toBe(true);
        expect(adler32(readFileSync(entry.path as string))).toBe(checksums.get(entry.name));
      }
      expect(readFileSync(join(blocked, 'notes.txt'), 'utf8')).toBe('mine');
    } finally {
      await stopCompanion(fallback);
    }
  });
});
