import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LabError, tail } from './errors.js';
import { groupAlive, signalGroup } from './processes.js';

/** How to start JupyterLab. */
export interface JupyterLabOptions {
  /** The venv whose `jupyter` runs. */
  readonly venv: string;
  readonly port: number;
  /** Jupyter's root directory. */
  readonly workspace: string;
  readonly token: string;
  readonly env: NodeJS.ProcessEnv;
  /** Where Jupyter's (and the companion's) output goes. */
  readonly logFile: string;
  /** More command-line options for `jupyter lab`. */
  readonly extraArgs?: readonly string[];
  /** How long to wait for `/api/status` (default 120 s). */
  readonly startupTimeoutMs?: number;
}

/** A JupyterLab server that answers. */
export interface JupyterLabServer {
  /** `http://127.0.0.1:PORT/` */
  readonly url: string;
  /** Settles when the server has stopped, by itself or by {@link JupyterLabServer.stop}. */
  readonly exited: Promise<void>;
  /** Stops the server and everything in its process group; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts `jupyter lab` from the venv in its own process group (so that stopping it stops the
 * companion jupyter-server-proxy started) and waits until its `/api/status` answers. JupyterLab
 * neither fetches news nor checks for updates: the machines it runs on may have no network.
 */
export async function startJupyterLab(options: JupyterLabOptions): Promise<JupyterLabServer> {
  const url = `http://127.0.0.1:${options.port}/`;
  const log = openSync(options.logFile, 'w');
  let child: ChildProcess;
  try {
    child = spawn(
      join(options.venv, 'bin', 'jupyter'),
      [
        'lab',
        '--no-browser',
        '--ServerApp.ip=127.0.0.1',
        `--ServerApp.port=${options.port}`,
        '--ServerApp.port_retries=0',
        `--ServerApp.root_dir=${options.workspace}`,
        `--IdentityProvider.token=${options.token}`,
        '--LabApp.news_url=None',
        '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate',
        ...(process.getuid?.() === 0 ? ['--allow-root'] : []),
        ...(options.extraArgs ?? [])
      ],
      { env: options.env, cwd: options.workspace, detached: true, stdio: ['ignore', log, log] }
    );
  } finally {
    closeSync(log);
  }
  let spawnError: Error | undefined;
  const exited = new Promise<void>(resolve => {
    child.once('exit', () => resolve());
    child.once('error', error => {
      spawnError = error;
      resolve();
    });
  });
  const logTail = (): string =>
    existsSync(options.logFile) ? tail(readFileSync(options.logFile, 'utf8'), 15) : '';
  const stop = stopper(child, exited);

  const deadline = Date.now() + (options.startupTimeoutMs ?? 120_000);
  for (;;) {
    if (spawnError !== undefined || child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new LabError(
        `JupyterLab stopped while starting (${spawnError?.message ?? (child.exitCode !== null ? `exit code ${child.exitCode}` : child.signalCode)}); see its log ${options.logFile}.`,
        logTail()
      );
    }
    const answer = await fetch(`${url}api/status`, {
      headers: { Authorization: `token ${options.token}` },
      signal: AbortSignal.timeout(5_000)
    }).catch(() => undefined);
    if (answer?.ok) {
      return { url, exited, stop };
    }
    if (Date.now() > deadline) {
      await stop();
      throw new LabError(
        `JupyterLab did not answer on ${url} within ${Math.round((options.startupTimeoutMs ?? 120_000) / 1000)} s; see its log ${options.logFile}.`,
        logTail()
      );
    }
    await sleep(250);
  }
}

/**
 * Stops a process group led by `child`: SIGTERM first (Jupyter then shuts its kernels down,
 * which run in sessions of their own), SIGKILL for whatever is left after a grace period.
 */
function stopper(child: ChildProcess, exited: Promise<void>): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  return () => {
    const pgid = child.pid;
    if (pgid === undefined) {
      return Promise.resolve();
    }
    stopping ??= (async () => {
      signalGroup(pgid, 'SIGTERM');
      await Promise.race([exited, sleep(15_000)]);
      const deadline = Date.now() + 5_000;
      while (groupAlive(pgid) && Date.now() < deadline) {
        await sleep(100);
      }
      signalGroup(pgid, 'SIGKILL');
      await Promise.race([exited, sleep(5_000)]);
    })();
    return stopping;
  };
}
