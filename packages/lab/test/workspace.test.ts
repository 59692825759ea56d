import { checkConfig, mountObstacle, type Config } from '@dlaas/companion';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LabError } from '../src/errors.js';
import {
  fuseObstacle,
  prepareWorkspace,
  withDownloadDirectory,
  withFuseMount,
  withLocalDirectory,
  withTokenDirectory,
  writeLabCompanionConfig
} from '../src/workspace.js';

const SCRATCH = '/lake/data/storage/LAKE_SCRATCHDISK/rucio';
const NO_FUSE = '/dev/fuse does not exist in this container.';

function instance(name: string, localPrefix: string): Config['instances'][number] {
  return {
    name,
    rucioUrl: 'http://127.0.0.1:18402',
    auth: { method: 'userpass', username: 'alice', password: 'secret' },
    scratchRse: 'LAKE_SCRATCHDISK',
    paths: {
      mode: 'prefix',
      mappings: [{ pfnPrefix: 'http://127.0.0.1:18413/rucio/', localPrefix }]
    }
  };
}

describe('the lab’s companion configuration', () => {
  it('when a local prefix lies in the scratch directory, then it is moved below the workspace link, keeping its trailing slash or not', () => {
    const config: Config = {
      instances: [
        instance('a', `${SCRATCH}/`),
        instance('b', SCRATCH),
        instance('c', `${SCRATCH}/user/alice/`),
        instance('d', '/elsewhere/rucio/'),
        instance('e', `${SCRATCH}-other/`),
        { ...instance('f', '/x'), paths: { mode: 'none' } }
      ]
    };
    const moved = withLocalDirectory(config, SCRATCH, '/ws/datalake/');
    const prefixes = moved.instances.map(i =>
      i.paths?.mode === 'prefix' ? i.paths.mappings[0]?.localPrefix : i.paths?.mode
    );
    expect(prefixes).toEqual([
      '/ws/datalake/',
      '/ws/datalake',
      '/ws/datalake/user/alice/',
      '/elsewhere/rucio/',
      `${SCRATCH}-other/`,
      'none'
    ]);
    expect(config.instances[0]?.paths).toMatchObject({
      mappings: [{ localPrefix: `${SCRATCH}/` }]
    });
  });

  it('when the workspace’s folder is a FUSE mount, then only the default instance mounts it, with devlake’s mappings as its fallback, and the companion accepts the result', () => {
    const config: Config = {
      instances: [
        instance('devlake-bob', `${SCRATCH}/`),
        instance('devlake', `${SCRATCH}/`),
        instance('devlake-x509', `${SCRATCH}/`)
      ],
      defaultInstance: 'devlake'
    };
    const result = withFuseMount(config, SCRATCH, '/ws/datalake');
    expect(result.instances.map(i => i.paths)).toEqual([
      config.instances[0]?.paths,
      {
        mode: 'fuse',
        mountPoint: '/ws/datalake',
        mappings: [{ pfnPrefix: 'http://127.0.0.1:18413/rucio/', localPrefix: `${SCRATCH}/` }]
      },
      config.instances[2]?.paths
    ]);
    expect(() => checkConfig(result, 'companion-lab.json')).not.toThrow();
    // devlake's own configuration is left as it was.
    expect(config.instances[1]?.paths?.mode).toBe('prefix');
  });

  it('when no default instance is named, then the first one mounts the folder; when it reads no scratch storage of devlake’s, then none does', () => {
    const first = withFuseMount(
      { instances: [instance('a', SCRATCH), instance('b', SCRATCH)] },
      SCRATCH,
      '/ws/datalake'
    );
    expect(first.instances.map(i => i.paths?.mode)).toEqual(['fuse', 'prefix']);

    const elsewhere = withFuseMount(
      { instances: [instance('a', `${SCRATCH}-other/`), instance('b', SCRATCH)] },
      SCRATCH,
      '/ws/datalake'
    );
    expect(elsewhere.instances.map(i => i.paths?.mode)).toEqual(['prefix', 'prefix']);
  });

  it('when an instance signs in with the device flow, then its tokens go to the lab’s token directory, and other instances are left alone', () => {
    const device = {
      ...instance('devlake-oidc', SCRATCH),
      auth: {
        method: 'device' as const,
        issuer: 'http://127.0.0.1:18404',
        clientId: 'dlaas',
        tokenFile: '/lake/companion-tokens/devlake-oidc.json'
      }
    };
    const config: Config = { instances: [instance('devlake', SCRATCH), device] };
    const result = withTokenDirectory(config, '/lake/jupyter-lab/tokens');
    expect(result.instances[0]).toEqual(config.instances[0]);
    expect(result.instances[1]?.auth).toEqual({
      ...device.auth,
      tokenFile: '/lake/jupyter-lab/tokens/devlake-oidc.json'
    });
  });
});

describe('the lab’s download folder', () => {
  it('when an instance names no download folder, then it downloads into the workspace’s; one that names its own keeps it, and the companion accepts the result', () => {
    const config: Config = {
      instances: [instance('a', SCRATCH), { ...instance('b', SCRATCH), downloadDir: '~/mine' }]
    };
    const result = withDownloadDirectory(config, '/ws/datalake-downloads');
    expect(result.instances.map(i => i.downloadDir)).toEqual(['/ws/datalake-downloads', '~/mine']);
    expect(() => checkConfig(result, 'companion-lab.json')).not.toThrow();
  });
});

describe('the workspace', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'dlaas-lab-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('when the machine cannot mount, then the workspace links datalake to the scratch directory, creating that directory if the lake has none yet', () => {
    const scratch = join(dir, 'storage', 'LAKE_SCRATCHDISK', 'rucio');
    mkdirSync(join(dir, 'storage', 'LAKE_SCRATCHDISK'), { recursive: true });
    const link = join(dir, 'ws', 'datalake');
    expect(prepareWorkspace(join(dir, 'ws'), scratch, NO_FUSE)).toEqual({
      mode: 'link',
      path: link,
      reason: NO_FUSE
    });
    expect(readlinkSync(link)).toBe(scratch);
    expect(statSync(scratch).isDirectory()).toBe(true);
    // A second start keeps the link as it is.
    expect(prepareWorkspace(join(dir, 'ws'), scratch, NO_FUSE).path).toBe(link);
    expect(readlinkSync(link)).toBe(scratch);
  });

  it('when the machine cannot mount and datalake links elsewhere or is the empty folder of a start that could, then it is linked; when it is a folder with files, then the launcher refuses with a sentence', () => {
    const scratch = join(dir, 'scratch');
    mkdirSync(scratch);
    mkdirSync(join(dir, 'ws'));
    symlinkSync(join(dir, 'old'), join(dir, 'ws', 'datalake'));
    prepareWorkspace(join(dir, 'ws'), scratch, NO_FUSE);
    expect(readlinkSync(join(dir, 'ws', 'datalake'))).toBe(scratch);

    mkdirSync(join(dir, 'ws-fuse', 'datalake'), { recursive: true });
    prepareWorkspace(join(dir, 'ws-fuse'), scratch, NO_FUSE);
    expect(readlinkSync(join(dir, 'ws-fuse', 'datalake'))).toBe(scratch);

    mkdirSync(join(dir, 'ws2', 'datalake'), { recursive: true });
    writeFileSync(join(dir, 'ws2', 'datalake', 'notes.txt'), 'mine');
    expect(() => prepareWorkspace(join(dir, 'ws2'), scratch, NO_FUSE)).toThrow(LabError);
    expect(() => prepareWorkspace(join(dir, 'ws2'), scratch, NO_FUSE)).toThrow(
      /is not a link; move it away/
    );
    expect(lstatSync(join(dir, 'ws2', 'datalake')).isDirectory()).toBe(true);
  });

  it('when the machine can mount, then datalake is an empty real folder, also where an earlier start left a link, and the scratch storage is left alone', () => {
    const scratch = join(dir, 'scratch');
    mkdirSync(scratch);
    writeFileSync(join(scratch, 'made-available.dat'), 'data');
    const folder = join(dir, 'ws', 'datalake');
    expect(prepareWorkspace(join(dir, 'ws'), scratch, null)).toEqual({
      mode: 'fuse',
      path: folder
    });
    expect(lstatSync(folder).isDirectory()).toBe(true);
    expect(readdirSync(folder)).toEqual([]);
    // A second start keeps it.
    expect(prepareWorkspace(join(dir, 'ws'), scratch, null).mode).toBe('fuse');

    mkdirSync(join(dir, 'ws-link'));
    symlinkSync(scratch, join(dir, 'ws-link', 'datalake'));
    prepareWorkspace(join(dir, 'ws-link'), scratch, null);
    const replaced = lstatSync(join(dir, 'ws-link', 'datalake'));
    expect(replaced.isSymbolicLink()).toBe(false);
    expect(replaced.isDirectory()).toBe(true);
    expect(readdirSync(join(dir, 'ws-link', 'datalake'))).toEqual([]);
    expect(readdirSync(scratch)).toEqual(['made-available.dat']);
  });

  it('when the machine can mount but datalake holds files or is a file, then the launcher refuses with a sentence and leaves it as it is', () => {
    mkdirSync(join(dir, 'ws', 'datalake'), { recursive: true });
    writeFileSync(join(dir, 'ws', 'datalake', 'notes.txt'), 'mine');
    expect(() => prepareWorkspace(join(dir, 'ws'), join(dir, 'scratch'), null)).toThrow(
      /is a folder with files of its own; move them away/
    );
    expect(readdirSync(join(dir, 'ws', 'datalake'))).toEqual(['notes.txt']);

    mkdirSync(join(dir, 'ws2'));
    writeFileSync(join(dir, 'ws2', 'datalake'), 'a file');
    expect(() => prepareWorkspace(join(dir, 'ws2'), join(dir, 'scratch'), null)).toThrow(
      /exists and is not a folder; move it away/
    );
    expect(readFileSync(join(dir, 'ws2', 'datalake'), 'utf8')).toBe('a file');
  });

  it('when the machine’s check runs, then it sees a fresh empty folder, which is gone afterwards, and its sentence is passed on', () => {
    const seen: { path: string; entries: string[] }[] = [];
    const reason = fuseObstacle(join(dir, 'jupyter'), path => {
      seen.push({ path, entries: readdirSync(path) });
      return NO_FUSE;
    });
    expect(reason).toBe(NO_FUSE);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.entries).toEqual([]);
    expect(seen[0]?.path.startsWith(join(dir, 'jupyter') + '/')).toBe(true);
    expect(existsSync(seen[0]?.path as string)).toBe(false);
    expect(fuseObstacle(join(dir, 'jupyter'), () => null)).toBeNull();
    expect(readdirSync(join(dir, 'jupyter'))).toEqual([]);
  });

  it('when the configuration is written for a mount, then the default instance mounts the workspace’s folder and the file is its owner’s only', () => {
    const source = join(dir, 'companion.json');
    writeFileSync(
      source,
      JSON.stringify({ instances: [instance('devlake', `${SCRATCH}/`)] } satisfies Config)
    );
    const target = join(dir, 'companion-lab.json');
    writeLabCompanionConfig({
      source,
      target,
      scratchDir: SCRATCH,
      datalake: { mode: 'fuse', path: '/ws/datalake' },
      tokenDir: join(dir, 'tokens')
    });
    const written = JSON.parse(readFileSync(target, 'utf8')) as Config;
    expect(written.instances[0]?.paths).toMatchObject({ mode: 'fuse', mountPoint: '/ws/datalake' });
    expect(statSync(target).mode & 0o777).toBe(0o600);

    writeLabCompanionConfig({
      source,
      target,
      scratchDir: SCRATCH,
      datalake: { mode: 'link', path: '/ws/datalake', reason: NO_FUSE },
      tokenDir: join(dir, 'tokens')
    });
    const linked = JSON.parse(readFileSync(target, 'utf8')) as Config;
    expect(linked.instances[0]?.paths).toMatchObject({
      mode: 'prefix',
      mappings: [{ localPrefix: '/ws/datalake/' }]
    });
  });
});

/** Where this machine can mount: the companion's own check, on a folder of its own. */
const CANNOT_MOUNT = (() => {
  const probe = mkdtempSync(join(tmpdir(), 'dlaas-lab-probe-'));
  try {
    return mountObstacle(probe);
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
})();

describe.skipIf(CANNOT_MOUNT !== null)('the workspace, with a real FUSE mount', () => {
  let dir: string;
  let mounter: ChildProcess | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'dlaas-lab-'));
  });
  afterEach(() => {
    mounter?.kill('SIGKILL');
    try {
      execFileSync('fusermount', ['-uz', join(dir, 'ws', 'datalake')], { stdio: 'ignore' });
    } catch {
      // Not mounted (any more).
    }
    rmSync(dir, { recursive: true, force: true });
  });

  /** Mounts an empty file system on `mountPoint` from a process of its own, as a companion does. */
  async function mountEmpty(mountPoint: string): Promise<ChildProcess> {
    const fuseNative = createRequire(import.meta.url).resolve('fuse-native');
    const script = `
      const Fuse = require(${JSON.stringify(fuseNative)});
      const now = new Date();
      const fuse = new Fuse(${JSON.stringify(mountPoint)}, {
        getattr: (path, cb) => path === '/'
          ? cb(0, { mode: 0o40555, size: 4096, nlink: 2, uid: 0, gid: 0, mtime: now, atime: now, ctime: now })
          : cb(-2),
        readdir: (path, cb) => cb(0, [])
      }, {});
      fuse.mount(error => { if (error) { console.error(error.message); process.exit(1); } console.log('mounted'); });`;
    const child = spawn(process.execPath, ['--input-type=commonjs', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit']
    });
    const [line] = (await once(child.stdout as NodeJS.ReadableStream, 'data')) as [Buffer];
    expect(line.toString().trim()).toBe('mounted');
    return child;
  }

  it('when a companion still mounts datalake, then the launcher refuses with a sentence; when it was killed, then the stale mount does not stop a start that mounts, but does one that links', async () => {
    const folder = join(dir, 'ws', 'datalake');
    const scratch = join(dir, 'scratch');
    mkdirSync(folder, { recursive: true });
    mkdirSync(scratch);
    mounter = await mountEmpty(folder);
    expect(() => prepareWorkspace(join(dir, 'ws'), scratch, null)).toThrow(
      /is mounted already, probably by the companion of a JupyterLab that still runs/
    );

    const exited = once(mounter, 'exit');
    mounter.kill('SIGKILL');
    await exited;
    // The kernel cuts the connection once the killed process's file handles are gone: on a busy
    // machine that takes longer than expect.poll's default second.
    await expect
      .poll(
        () => {
          try {
            lstatSync(folder);
            return 'answers';
          } catch (error) {
            return (error as NodeJS.ErrnoException).code;
          }
        },
        { timeout: 15_000 }
      )
      .toBe('ENOTCONN');
    expect(prepareWorkspace(join(dir, 'ws'), scratch, null)).toEqual({
      mode: 'fuse',
      path: folder
    });
    expect(() => prepareWorkspace(join(dir, 'ws'), scratch, NO_FUSE)).toThrow(/fusermount -u/);
  });
});
