import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

/**
 * A normal (non-root) user of this machine that tests run programs as, the way Binder runs
 * everything as `jovyan`: created once (only root can), then every program started with
 * `setpriv` and a clean environment.
 */
export interface NormalUser {
  readonly name: string;
  readonly uid: number;
  readonly home: string;
}

/** What a program run as a normal user printed, and how it ended. */
export interface UserRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Creates the user `name` unless it exists; returns its uid and home. */
export function ensureUser(name: string): NormalUser {
  if (spawnSync('id', ['-u', name]).status !== 0) {
    if (process.getuid?.() !== 0) {
      throw new Error(
        `This test runs programs as the normal user "${name}", which does not exist, and only root can create it. ` +
          `Run the tests as root, or create it once with "sudo useradd -m ${name}".`
      );
    }
    const made = spawnSync('useradd', ['-m', '-s', '/bin/sh', name], { encoding: 'utf8' });
    if (made.status !== 0) {
      throw new Error(`useradd ${name} failed: ${made.stderr}`);
    }
  }
  const [, , uid, , , home] = spawnSync('getent', ['passwd', name], { encoding: 'utf8' })
    .stdout.trim()
    .split(':');
  return { name, uid: Number(uid), home: home as string };
}

/**
 * The clean environment of a program run as `user`: its home and name, the system PATH (unless
 * `env` gives another), a UTF-8 locale, and `env`; pip's and proxy settings pass through, so that
 * installs from PyPI work as they do for root here.
 */
export function userEnvironment(user: NormalUser, env: Record<string, string> = {}): string[] {
  const passed = Object.entries(process.env).filter(
    ([key]) => key.startsWith('PIP_') || /^(https?|no)_proxy$/i.test(key)
  );
  const all: Record<string, string> = {
    ...Object.fromEntries(passed as [string, string][]),
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: user.home,
    USER: user.name,
    LANG: 'C.UTF-8',
    ...env
  };
  return Object.entries(all).map(([key, value]) => `${key}=${value}`);
}

/**
 * Starts `command` as `user` with a clean environment (setpriv execs it, so the child's pid is
 * the command's own), in `cwd` (default: the user's home).
 */
export function spawnAsUser(
  user: NormalUser,
  command: string,
  args: readonly string[],
  options: { env?: Record<string, string>; cwd?: string; detached?: boolean } = {}
): ChildProcess {
  return spawn(
    'setpriv',
    [
      `--reuid=${user.name}`,
      `--regid=${user.name}`,
      '--init-groups',
      'env',
      '-i',
      ...userEnvironment(user, options.env),
      command,
      ...args
    ],
    { cwd: options.cwd ?? user.home, detached: options.detached ?? false }
  );
}

/** Runs `command` as `user` to its end; `onLine` sees each line it prints as it comes. */
export function runAsUser(
  user: NormalUser,
  command: string,
  args: readonly string[],
  options: { env?: Record<string, string>; cwd?: string; onLine?: (line: string) => void } = {}
): Promise<UserRun> {
  return new Promise((resolvePromise, reject) => {
    const child = spawnAsUser(user, command, args, options);
    let stdout = '';
    let stderr = '';
    const lines = (chunk: Buffer): void => {
      for (const line of chunk.toString().split('\n')) {
        if (line.trim() !== '') {
          options.onLine?.(line);
        }
      }
    };
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      lines(chunk);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      lines(chunk);
    });
    child.once('error', reject);
    child.once('close', code => resolvePromise({ code, stdout, stderr }));
  });
}
