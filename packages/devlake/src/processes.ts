import { spawn, spawnSync } from 'node:child_process';
import {
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync
} from 'node:fs';
import { connect, createServer } from 'node:net';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DevlakeError } from './errors.js';
import type { Layout } from './settings.js';

/** A Unix user a service runs as (only when devlake runs as root). */
export interface ServiceUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

/** How to start one long-running process of devlake. */
export interface ServiceSpec {
  /** Short name: also the name of its pid file and log file. */
  readonly name: string;
  /** What the user reads in messages, e.g. "the Rucio server". */
  readonly title: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  readonly user?: ServiceUser | undefined;
  /** Port it listens on, checked free before start and waited for after. */
  readonly port?: number;
  /** Signal that stops it cleanly (PostgreSQL wants SIGINT for a fast shutdown). */
  readonly stopSignal?: NodeJS.Signals;
  /** Text its command line contains, to tell it from a recycled pid (default: the command's name). */
  readonly match?: string;
}

/** What a pid file records. */
interface PidRecord {
  pid: number;
  /** Text its command line contains. */
  match: string;
  title: string;
  stopSignal: NodeJS.Signals;
  port?: number;
}

/** A started service as `status` reports it. */
export interface ServiceState {
  readonly name: string;
  readonly title: string;
  readonly pid: number | null;
  readonly running: boolean;
  readonly port: number | null;
  readonly log: string;
}

function pidFile(layout: Layout, name: string): string {
  return join(layout.runDir, `${name}.pid`);
}

/** Creates `path` (and its parents) and gives it to the service user, if there is one. */
export function ownedDir(path: string, user: ServiceUser | undefined, mode = 0o755): void {
  mkdirSync(path, { recursive: true, mode });
  if (user) {
    chownSync(path, user.uid, user.gid);
  }
}

/** The log file of a service. */
export function logFile(layout: Layout, name: string): string {
  return join(layout.logDir, `${name}.log`);
}

function readPidRecord(layout: Layout, name: string): PidRecord | undefined {
  const file = pidFile(layout, name);
  if (!existsSync(file)) {
    return undefined;
  }
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as PidRecord;
  } catch {
    return undefined;
  }
}

/** True when `pid` is alive and still runs `command` (so a recycled pid is not mistaken for ours). */
function isOurProcess(pid: number, match: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') {
      return false;
    }
  }
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // A zombie has exited; only its parent's bookkeeping remains.
    if (/\) Z /.test(stat)) {
      return false;
    }
    return cmdline.includes(match);
  } catch {
    return false;
  }
}

/** The state of the service called `name`. */
export function serviceState(layout: Layout, name: string, title = name): ServiceState {
  const record = readPidRecord(layout, name);
  const running = record !== undefined && isOurProcess(record.pid, record.match);
  return {
    name,
    title: record?.title ?? title,
    pid: running ? record.pid : null,
    running,
    port: record?.port ?? null,
    log: logFile(layout, name)
  };
}

/** Names of every service that has a pid file. */
export function recordedServices(layout: Layout): string[] {
  if (!existsSync(layout.runDir)) {
    return [];
  }
  return readdirSync(layout.runDir)
    .filter(f => f.endsWith('.pid'))
    .map(f => f.slice(0, -4));
}

/** Resolves true when nothing accepts connections on `port` and it can be bound. */
export function isPortFree(port: number): Promise<boolean> {
  return new Promise(resolvePromise => {
    const server = createServer();
    server.once('error', () => resolvePromise(false));
    server.listen({ port, host: '0.0.0.0', exclusive: true }, () => {
      server.close(() => resolvePromise(true));
    });
  });
}

/** Resolves true when something accepts TCP connections on 127.0.0.1:`port`. */
export function isListening(port: number): Promise<boolean> {
  return new Promise(resolvePromise => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolvePromise(true);
    });
    socket.once('error', () => resolvePromise(false));
  });
}

/** Last lines of a file, for error messages. */
export function tail(file: string, lines = 15): string {
  if (!existsSync(file)) {
    return '';
  }
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/** Fails with a sentence when `port` is taken by a program that is not the named service. */
export async function ensurePortFree(port: number, title: string): Promise<void> {
  if (!(await isPortFree(port))) {
    throw new DevlakeError(
      `Port ${port}, which devlake needs for ${title}, is already in use by another program. ` +
        'Stop that program, or give devlake other ports with --base-port N (or DEVLAKE_BASE_PORT=N); ' +
        'it uses N+1 to N+20.'
    );
  }
}

/**
 * Starts a service in the background in its own process group, with its output in its log file,
 * unless it already runs. Waits until its port accepts connections.
 */
export async function startService(
  layout: Layout,
  spec: ServiceSpec
): Promise<'started' | 'running'> {
  if (serviceState(layout, spec.name).running) {
    return 'running';
  }
  if (spec.port !== undefined) {
    await ensurePortFree(spec.port, spec.title);
  }
  mkdirSync(layout.logDir, { recursive: true });
  mkdirSync(layout.runDir, { recursive: true });
  const log = logFile(layout, spec.name);
  const fd = openSync(log, 'a');
  let child;
  try {
    child = spawn(spec.command, [...spec.args], {
      cwd: spec.cwd ?? layout.stateDir,
      env: { ...process.env, ...spec.env },
      detached: true,
      stdio: ['ignore', fd, fd],
      ...(spec.user ? { uid: spec.user.uid, gid: spec.user.gid } : {})
    });
  } finally {
    closeSync(fd);
  }
  const failedToSpawn = new Promise<Error>(resolvePromise => child.once('error', resolvePromise));
  const exited = new Promise<number | null>(resolvePromise => child.once('exit', resolvePromise));
  child.unref();
  const spawnError = await Promise.race([failedToSpawn, sleep(50).then(() => undefined)]);
  if (spawnError || child.pid === undefined) {
    throw new DevlakeError(
      `Could not start ${spec.title} (${spec.command}): ${spawnError?.message ?? 'no process'}. ` +
        'Check that it is installed; "devlake up" installs it when run as root.'
    );
  }
  const record: PidRecord = {
    pid: child.pid,
    match: spec.match ?? basename(spec.command),
    title: spec.title,
    stopSignal: spec.stopSignal ?? 'SIGTERM'
  };
  if (spec.port !== undefined) {
    record.port = spec.port;
  }
  writeFileSync(pidFile(layout, spec.name), JSON.stringify(record) + '\n');
  if (spec.port !== undefined) {
    const port = spec.port;
    const ready = await Promise.race([
      waitFor(() => isListening(port), 120_000).then(ok => (ok ? 'ready' : 'timeout')),
      exited.then(() => 'exited' as const)
    ]);
    if (ready !== 'ready') {
      await stopService(layout, spec.name);
      throw new DevlakeError(
        `${capitalise(spec.title)} ${ready === 'exited' ? 'stopped right after start' : `did not open port ${port} within 120 s`}. ` +
          `Its log (${log}) ends with:\n${tail(log)}`
      );
    }
  }
  return 'started';
}

/** Polls `check` every 200 ms until it resolves true or `timeoutMs` passes. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) {
      return true;
    }
    await sleep(200);
  }
  return false;
}

/**
 * Stops a service by the pid in its pid file: its stop signal to the whole process group, then
 * SIGKILL after `graceMs`. Removes the pid file.
 */
export async function stopService(
  layout: Layout,
  name: string,
  graceMs = 20_000
): Promise<boolean> {
  const record = readPidRecord(layout, name);
  if (!record) {
    return false;
  }
  const signal = record.stopSignal;
  let stopped = false;
  if (isOurProcess(record.pid, record.match)) {
    signalGroup(record.pid, signal);
    const gone = await waitFor(async () => !isOurProcess(record.pid, record.match), graceMs);
    if (!gone) {
      signalGroup(record.pid, 'SIGKILL');
      await waitFor(async () => !isOurProcess(record.pid, record.match), 5_000);
    }
    stopped = true;
  }
  if (record.port !== undefined) {
    const port = record.port;
    await waitFor(async () => !(await isListening(port)), 10_000);
  }
  rmSync(pidFile(layout, name), { force: true });
  return stopped;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}

/** Options of {@link run}. */
export interface RunOptions {
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  readonly user?: ServiceUser | undefined;
  /** What the user reads if it fails, e.g. "creating Rucio's database schema". */
  readonly what: string;
  /** Stream output to the terminal instead of capturing it. */
  readonly inherit?: boolean;
}

/** Runs a command to completion; on failure throws a sentence with the end of its output. */
export function run(command: string, args: readonly string[], options: RunOptions): string {
  const result = spawnSync(command, [...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    stdio: options.inherit ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'],
    ...(options.user ? { uid: options.user.uid, gid: options.user.gid } : {})
  });
  if (result.error) {
    throw new DevlakeError(
      `${capitalise(options.what)} failed: ${command} could not run (${result.error.message}).`
    );
  }
  if (result.status !== 0) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`
      .trimEnd()
      .split('\n')
      .slice(-15)
      .join('\n');
    throw new DevlakeError(
      `${capitalise(options.what)} failed (${command} exited with ${result.status}):\n${output}`
    );
  }
  return result.stdout ?? '';
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
