/**
 * Baselines and measuring functions for `npm run bench:fuse` (the companion's FUSE mount of the
 * scratch RSE against what a user could use instead, measured in the same run). Nothing runs on
 * import except an exit hook that unmounts what this module mounted; the bench calls:
 *
 * - {@link ensureBaselineTools}: Debian's `curl`, `rclone` (1.60 in Debian 12) and `xrootd-fuse`
 *   (`xrootdfs`), via `scripts/ensure-debian.sh`, keeping Debian's `fuse` 2.x. `fuse-native` needs
 *   its `fusermount`; Debian's `fuse3` breaks `fuse` and would remove it. Nothing here pulls `fuse3`
 *   in: rclone only Suggests it (`fuse | fuse3`), `xrootd-fuse` Depends on `fuse | fuse3` and
 *   `libfuse2`, so with `fuse` named in the same install apt takes `fuse`. The function simulates
 *   the install first (`apt-get -s`) and refuses when it would install `fuse3` or remove `fuse`.
 *   rclone 1.60's `mount` is its pure-Go FUSE client (no `cmount` in Debian's build); it mounts
 *   through fuse 2's `fusermount`, as root, where `/dev/fuse` exists.
 * - {@link mountRclone}: `rclone mount` of the storage's WebDAV (an on-the-fly `:webdav:` remote,
 *   URL from `RCLONE_WEBDAV_URL`, `--config /dev/null`: no configuration file in `$HOME`),
 *   read-only, `--vfs-cache-mode off` by default. `off` is rclone's default and the comparable
 *   setting: no local disk cache, every read goes to the storage (chunked closed `Range` GETs of
 *   128 MiB clamped to the file size, which XRootD answers right, with rclone's 16 MiB in-memory
 *   read-ahead per open file). `full` (what users pick for heavy random access) would measure the
 *   local disk after the first read, not the lake; pass `cacheMode` to see it anyway. The kernel
 *   drops a FUSE file's cached pages at every open unless the server keeps them, which rclone
 *   1.60 does not: a re-read goes to the storage again.
 * - {@link mountXrootdfs}: `xrootdfs` (libfuse 2) on the same XRootD's `root://` protocol (the
 *   same port serves `http://` and `root://`; {@link rootUrlOf} converts), `-o ro`, default
 *   workers (4). Both mounts wait for the mount to appear in `/proc/self/mountinfo` and answer a
 *   `stat`, and return a {@link MountHandle} whose `unmount` runs `fusermount -uz` and ends the
 *   process.
 * - HTTP baselines on the storage itself: {@link curlSequential} (one GET to /dev/null, curl's
 *   own `time_total`), {@link curlRanges} (random 4 KiB `Range: bytes=a-b` GETs, closed ranges
 *   only since XRootD mishandles others, one curl process reading its URL list from a config on
 *   stdin, one request at a time over one keep-alive connection: the best a single-threaded HTTP
 *   client does, per-request `time_total`; a curl per request would measure process start-up),
 *   {@link curlParallel} (n GETs at once: n curl processes, or one `curl --parallel`; wall
 *   time), and the same in Node with a keep-alive agent ({@link httpSequential},
 *   {@link httpRanges}): what the companion's own reads against the storage cost before FUSE
 *   adds anything.
 * - Measures on any mounted path (or a local one): {@link sequentialRead} (open `O_RDONLY`, 1 MiB
 *   reads to the end, close), {@link rereadFromCache} (the same after one untimed read),
 *   {@link randomReads} (`pread` of 4 KiB at aligned offsets from a seeded generator: p50/p99),
 *   {@link listLong} (`readdir` + `lstat` of every entry, or `ls -l` itself), and
 *   {@link parallelReaders} (n readers started together, total rate). Reads run in a worker
 *   thread with synchronous calls, so the timings hold no event-loop or thread-pool delay and the
 *   main thread stays free to serve a FUSE mount made in this process by fuse-native.
 *
 * "Cold" (the default) drops the page cache first (`sync`, then `3` into
 * `/proc/sys/vm/drop_caches`, which needs root): the kernel's cache of the mounted files and that
 * of XRootD's own disk, so the storage reads its disk too. Results say whether it worked
 * (`cold: false` when not permitted). Directory listings are not made cold by it where the FUSE
 * server caches them itself (rclone keeps listings for `--dir-cache-time`, 5 min): the first
 * listing after mounting is the cold one. HTTP and FUSE random reads use the same offsets
 * ({@link randomOffsets}); the kernel may turn a 4 KiB `pread` on a FUSE file into a larger read.
 *
 * Also here for the bench: {@link putRandomFile} (PUT with `Content-Length` spelled so, as XRootD
 * wants), {@link deleteUrl}, {@link median}, {@link percentile}, {@link formatTable}.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, realpathSync } from 'node:fs';
import { stat, writeFile } from 'node:fs/promises';
import { request, Agent, type IncomingMessage } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';

const root = join(import.meta.dirname, '..');

// ---------------------------------------------------------------------------------------------
// Tools from Debian

/** What the baselines need from Debian; `fuse` and `libfuse2` are named so apt keeps fuse 2. */
export const BASELINE_PACKAGES = ['fuse', 'libfuse2', 'curl', 'rclone', 'xrootd-fuse'] as const;

function installed(pkg: string): boolean {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() === 'install ok installed';
}

function commandPath(command: string): string | null {
  const r = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', command], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** `apt-get -s install` of `pkgs`: what it would install and remove, or the failure's text. */
function simulateInstall(
  pkgs: readonly string[]
): { install: string[]; remove: string[] } | { error: string } {
  const r = spawnSync('apt-get', ['-s', 'install', '-y', '--no-install-recommends', ...pkgs], {
    encoding: 'utf8'
  });
  if (r.status !== 0) {
    return { error: `${r.stdout}${r.stderr}`.trim().split('\n').slice(-5).join('\n') };
  }
  const names = (verb: string): string[] =>
    [...r.stdout.matchAll(new RegExp(`^${verb} (\\S+)`, 'gm'))].map(m =>
      (m[1] as string).replace(/:.*$/, '')
    );
  return { install: names('Inst'), remove: names('Remv') };
}

/**
 * Installs {@link BASELINE_PACKAGES} that are missing (through `scripts/ensure-debian.sh`) after
 * checking with `apt-get -s` that this neither installs `fuse3` nor removes `fuse`/`libfuse2`;
 * then checks that `fuse` and `libfuse2` are installed, `fuse3` is not, `fusermount`, `curl`,
 * `rclone`, `xrootdfs` are on PATH and `/dev/fuse` exists. Returns the tools' versions.
 */
export function ensureBaselineTools(): { rclone: string; xrootdfs: string; curl: string } {
  const missing = BASELINE_PACKAGES.filter(pkg => !installed(pkg));
  if (missing.length > 0) {
    let plan = simulateInstall(missing);
    if ('error' in plan && process.getuid?.() === 0) {
      spawnSync('apt-get', ['update', '-q'], { stdio: 'ignore' });
      plan = simulateInstall(missing);
    }
    if ('error' in plan) {
      throw new Error(`apt-get cannot install ${missing.join(' ')}:\n${plan.error}`);
    }
    const breaking = [
      ...plan.install.filter(p => p === 'fuse3').map(p => `install ${p}`),
      ...plan.remove.filter(p => p === 'fuse' || p === 'libfuse2').map(p => `remove ${p}`)
    ];
    if (breaking.length > 0) {
      throw new Error(
        `installing ${missing.join(' ')} would ${breaking.join(' and ')}; fuse-native needs ` +
          `Debian's fuse 2.x (fusermount): install the packages by hand without fuse3.`
      );
    }
    const r = spawnSync('sh', [join(root, 'scripts/ensure-debian.sh'), ...BASELINE_PACKAGES], {
      stdio: ['ignore', 'inherit', 'inherit']
    });
    if (r.status !== 0) {
      throw new Error(`scripts/ensure-debian.sh ${BASELINE_PACKAGES.join(' ')} failed`);
    }
  }
  const problems = [
    ...['fuse', 'libfuse2'].filter(p => !installed(p)).map(p => `${p} is not installed`),
    ...(installed('fuse3') ? ['fuse3 is installed (it removes fuse 2)'] : []),
    ...['fusermount', 'curl', 'rclone', 'xrootdfs']
      .filter(c => commandPath(c) === null)
      .map(c => `${c} is not on PATH`),
    ...(existsSync('/dev/fuse') ? [] : ['/dev/fuse does not exist'])
  ];
  if (problems.length > 0) {
    throw new Error(`the FUSE baselines cannot run: ${problems.join('; ')}`);
  }
  const firstLine = (command: string, args: string[]): string =>
    spawnSync(command, args, { encoding: 'utf8' }).stdout.split('\n')[0] ?? '';
  return {
    rclone: firstLine('rclone', ['version']),
    xrootdfs: `xrootdfs ${firstLine('dpkg-query', ['-W', '-f=${Version}\n', 'xrootd-fuse'])}`,
    curl: firstLine('curl', ['--version'])
  };
}

// ---------------------------------------------------------------------------------------------
// Mounts

/** A FUSE mount made by a process this module started. */
export interface MountHandle {
  readonly tool: 'rclone' | 'xrootdfs' | 'fuse-native (memory)';
  /** The mount point (absolute). */
  readonly dir: string;
  readonly pid: number;
  /** The last 64 KiB of the process's stdout and stderr. */
  output(): string;
  /** `fusermount -uz`, then waits for the process to end (SIGTERM, then SIGKILL, if it stays). */
  unmount(): Promise<void>;
}

/** Splits /proc/self/mountinfo: mount point → file system type. */
function mounts(): Map<string, string> {
  const unescape = (s: string): string =>
    s.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
  const result = new Map<string, string>();
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    const point = left?.split(' ')[4];
    const type = right?.split(' ')[0];
    if (point !== undefined && type !== undefined) {
      result.set(unescape(point), type);
    }
  }
  return result;
}

/** The file system type mounted at `dir` (`fuse`, `fuse.rclone`, ...), or null. */
export function mountedType(dir: string): string | null {
  return mounts().get(resolve(dir)) ?? null;
}

const liveMounts = new Set<{ dir: string; child: ChildProcess }>();
process.on('exit', () => {
  for (const { dir, child } of liveMounts) {
    spawnSync('fusermount', ['-uz', dir], { stdio: 'ignore' });
    child.kill('SIGTERM');
  }
});

async function startMount(
  tool: MountHandle['tool'],
  dir: string,
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number
): Promise<MountHandle> {
  dir = resolve(dir);
  if (mountedType(dir) !== null) {
    // Left by an earlier run (or stale: "Transport endpoint is not connected").
    spawnSync('fusermount', ['-uz', dir], { stdio: 'ignore' });
  }
  mkdirSync(dir, { recursive: true });
  dir = realpathSync(dir);
  let output = '';
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-65536);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>(done => child.once('exit', () => done()));
  const failed = new Promise<void>(done => child.once('error', () => done()));
  const entry = { dir, child };
  liveMounts.add(entry);
  const deadline = performance.now() + timeoutMs;
  let ended = false;
  void Promise.race([exited, failed]).then(() => (ended = true));
  while (mountedType(dir) === null) {
    if (ended || performance.now() > deadline) {
      child.kill('SIGKILL');
      liveMounts.delete(entry);
      throw new Error(
        `${tool} did not mount ${dir} ${ended ? `(it exited, code ${child.exitCode})` : `within ${timeoutMs} ms`}:\n${output}`
      );
    }
    await sleep(5);
  }
  await stat(dir); // The kernel has the mount; this waits for the server to answer.
  let unmounted: Promise<void> | null = null;
  return {
    tool,
    dir,
    pid: child.pid as number,
    output: () => output,
    unmount: () =>
      (unmounted ??= (async () => {
        spawnSync('fusermount', ['-uz', dir], { stdio: 'ignore' });
        for (const [signal, waitMs] of [
          [null, 3000],
          ['SIGTERM', 3000],
          ['SIGKILL', 3000]
        ] as const) {
          if (ended) {
            break;
          }
          if (signal) {
            child.kill(signal);
          }
          await Promise.race([exited, sleep(waitMs)]);
        }
        liveMounts.delete(entry);
        if (mountedType(dir) !== null) {
          throw new Error(`${dir} is still mounted after fusermount -uz`);
        }
      })())
  };
}

/**
 * Mounts bench/fuse-memory.ts on `dir`: one file of `bytes` served from memory by fuse-native with
 * the companion's options, the ceiling of any fuse-native file system here.
 */
export function mountInMemory(dir: string, bytes: number): Promise<MountHandle> {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'fuse-memory.ts');
  return startMount(
    'fuse-native (memory)',
    dir,
    process.execPath,
    ['--import', 'tsx', script, resolve(dir), String(bytes)],
    process.env,
    30_000
  );
}

/**
 * Mounts the WebDAV tree at `url` (e.g. `http://127.0.0.1:18413/rucio/`) read-only on `dir` with
 * `rclone mount` and its WebDAV backend; no configuration file is read or written.
 * `cacheMode` is rclone's `--vfs-cache-mode` (default `off`, see the header); `extraArgs` go last.
 */
export function mountRclone(
  url: string,
  dir: string,
  options: {
    cacheMode?: 'off' | 'minimal' | 'writes' | 'full';
    extraArgs?: readonly string[];
    timeoutMs?: number;
  } = {}
): Promise<MountHandle> {
  const args = [
    'mount',
    ':webdav:',
    resolve(dir),
    '--config',
    '/dev/null',
    '--read-only',
    '--vfs-cache-mode',
    options.cacheMode ?? 'off',
    '--log-level',
    'NOTICE',
    ...(options.extraArgs ?? [])
  ];
  return startMount(
    'rclone',
    dir,
    'rclone',
    args,
    { ...process.env, RCLONE_WEBDAV_URL: url },
    options.timeoutMs ?? 15000
  );
}

/** `root://host:port//path` for the XRootD whose HTTP URL is `http://host:port/path`. */
export function rootUrlOf(httpUrl: string): string {
  const u = new URL(httpUrl);
  return `root://${u.host}//${u.pathname.replace(/^\/+/, '')}`;
}

/**
 * Mounts the XRootD tree at `rootUrl` (`root://host:port//path`, see {@link rootUrlOf}) read-only
 * on `dir` with `xrootdfs` in the foreground (`-f`, so the process is the mount's).
 * `extraOptions` are added to `-o` (e.g. `nworkers=8`).
 */
export function mountXrootdfs(
  rootUrl: string,
  dir: string,
  options: { extraOptions?: readonly string[]; timeoutMs?: number } = {}
): Promise<MountHandle> {
  const o = ['ro', `rdr=${rootUrl}`, ...(options.extraOptions ?? [])].join(',');
  return startMount(
    'xrootdfs',
    dir,
    'xrootdfs',
    [resolve(dir), '-f', '-o', o],
    process.env,
    options.timeoutMs ?? 15000
  );
}

// ---------------------------------------------------------------------------------------------
// Statistics and offsets

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Nearest-rank percentile, `p` in 0–100. */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
}

/** A seeded generator of floats in [0, 1) (mulberry32). */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` offsets aligned to `size`, each with `size` bytes of the file after it; the same for a seed. */
export function randomOffsets(
  fileSize: number,
  count: number,
  size: number,
  seed: number
): number[] {
  const slots = Math.floor(fileSize / size);
  if (slots < 1) {
    throw new Error(`a file of ${fileSize} bytes has no ${size}-byte block`);
  }
  const next = generator(seed);
  return Array.from({ length: count }, () => Math.floor(next() * slots) * size);
}

/** Sequential results: bytes, seconds and their ratio; `cold` says whether caches were dropped. */
export interface Throughput {
  bytes: number;
  seconds: number;
  bytesPerSecond: number;
  cold: boolean;
}

/** Latencies of single reads, ms. */
export interface Latencies {
  count: number;
  size: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
  cold: boolean;
}

function latencies(ms: readonly number[], size: number, cold: boolean): Latencies {
  return {
    count: ms.length,
    size,
    p50Ms: percentile(ms, 50),
    p99Ms: percentile(ms, 99),
    meanMs: ms.reduce((a, b) => a + b, 0) / ms.length,
    maxMs: Math.max(...ms),
    cold
  };
}

const throughput = (bytes: number, seconds: number, cold: boolean): Throughput => ({
  bytes,
  seconds,
  bytesPerSecond: bytes / seconds,
  cold
});

/**
 * Drops the page cache, dentries and inodes (`sync`, then `3` into /proc/sys/vm/drop_caches);
 * false when not permitted (not root, or /proc/sys read-only in a container). Asynchronous on
 * purpose: `sync` may wait for a FUSE server running in this very process.
 */
export async function dropCaches(): Promise<boolean> {
  await new Promise<void>(done => spawn('sync', { stdio: 'ignore' }).once('close', () => done()));
  try {
    await writeFile('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Measures on a mounted path, in a worker thread

type Job =
  | { op: 'seq'; path: string; blockSize: number; gate?: SharedArrayBuffer }
  | { op: 'pread'; path: string; offsets: number[]; size: number }
  | { op: 'list'; dir: string };

/** What a worker answers: times are absolute ms (performance.timeOrigin + now()). */
interface JobResult {
  bytes: number;
  start: number;
  end: number;
  latencies: number[];
  entries: number;
}

// Plain JavaScript (CommonJS, evaluated): no TypeScript loader in the worker.
const WORKER = `
const { parentPort, workerData: job } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');
const now = () => performance.timeOrigin + performance.now();
const result = { bytes: 0, start: 0, end: 0, latencies: [], entries: 0 };
if (job.op === 'seq') {
  const buffer = Buffer.allocUnsafe(job.blockSize);
  if (job.gate) {
    const gate = new Int32Array(job.gate);
    parentPort.postMessage('ready');
    Atomics.wait(gate, 0, 0);
  }
  result.start = now();
  const fd = fs.openSync(job.path, 'r');
  try {
    for (;;) {
      const n = fs.readSync(fd, buffer, 0, job.blockSize, result.bytes);
      if (n === 0) break;
      result.bytes += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  result.end = now();
} else if (job.op === 'pread') {
  const buffer = Buffer.allocUnsafe(job.size);
  const fd = fs.openSync(job.path, 'r');
  result.start = now();
  try {
    for (const offset of job.offsets) {
      const t = performance.now();
      const n = fs.readSync(fd, buffer, 0, job.size, offset);
      result.latencies.push(performance.now() - t);
      if (n !== job.size) throw new Error('short read at ' + offset + ': ' + n + ' bytes');
      result.bytes += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  result.end = now();
} else if (job.op === 'list') {
  result.start = now();
  for (const name of fs.readdirSync(job.dir)) {
    fs.lstatSync(path.join(job.dir, name));
    result.entries++;
  }
  result.end = now();
}
parentPort.postMessage(result);
`;

/** Runs a job in a fresh worker; `onReady` is called when a gated job waits at its gate. */
function inWorker(job: Job, onReady?: () => void): Promise<JobResult> {
  return new Promise((done, fail) => {
    const worker = new Worker(WORKER, { eval: true, workerData: job });
    worker.on('message', (message: JobResult | 'ready') => {
      if (message === 'ready') {
        onReady?.();
      } else {
        done(message);
      }
    });
    worker.once('error', fail);
    worker.once('exit', code => fail(new Error(`the reader ended (${code}) without a result`)));
  });
}

const MiB = 1024 * 1024;

/** Reads the whole file: open O_RDONLY, `blockSize` reads (1 MiB) to EOF, close; all timed. */
export async function sequentialRead(
  path: string,
  options: { cold?: boolean; blockSize?: number } = {}
): Promise<Throughput> {
  const cold = (options.cold ?? true) && (await dropCaches());
  const r = await inWorker({ op: 'seq', path, blockSize: options.blockSize ?? MiB });
  return throughput(r.bytes, (r.end - r.start) / 1000, cold);
}

/** Reads the file once untimed, then again timed: what a second reader gets from caches. */
export async function rereadFromCache(
  path: string,
  options: { blockSize?: number } = {}
): Promise<Throughput> {
  await sequentialRead(path, { ...options, cold: false });
  return sequentialRead(path, { ...options, cold: false });
}

/**
 * Reads the file once with `dd bs=1M` untimed, then again timed: the page cache's rate as `dd`
 * gives it (the baseline the same for every file), and the CPU time `dd` spent (user and system,
 * from the shell's `times`): what the copy out of the page cache costs, which unlike the rate
 * does not drop when other programs share the cores.
 */
export async function ddReread(path: string): Promise<Throughput & { cpuSeconds: number }> {
  const script =
    'dd if="$1" of=/dev/null bs=1M 2>/dev/null; times; dd if="$1" of=/dev/null bs=1M; times';
  const output = await new Promise<string>((done, fail) => {
    const child = spawn('sh', ['-c', script, 'sh', path], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.once('error', fail);
    child.once('close', code =>
      code === 0 ? done(text) : fail(new Error(`dd of ${path} failed (${code}): ${text}`))
    );
  });
  const copied = /^(\d+) bytes .* copied, ([\d.]+) s/m.exec(output);
  // Each `times` prints the shell's user and system time, then its children's (so far): the
  // timed dd's is the difference of the second and fourth lines.
  const lines = [...output.matchAll(/(\d+)m([\d.]+)s (\d+)m([\d.]+)s/g)];
  const [afterFirst, afterSecond] = [lines[1], lines[3]];
  if (!copied || !afterFirst || !afterSecond) {
    throw new Error(`unexpected output of dd for ${path}: ${output}`);
  }
  const cpu = (line: RegExpMatchArray): number =>
    Number(line[1]) * 60 + Number(line[2]) + Number(line[3]) * 60 + Number(line[4]);
  return {
    ...throughput(Number(copied[1]), Number(copied[2]), false),
    cpuSeconds: cpu(afterSecond) - cpu(afterFirst)
  };
}

/**
 * `count` timed `pread`s of `size` bytes (4 KiB) at {@link randomOffsets} of the file, one at a
 * time on one open descriptor (the open is not timed).
 */
export async function randomReads(
  path: string,
  count: number,
  size = 4096,
  seed = 1,
  options: { cold?: boolean } = {}
): Promise<Latencies> {
  const offsets = randomOffsets((await stat(path)).size, count, size, seed);
  const cold = (options.cold ?? true) && (await dropCaches());
  const r = await inWorker({ op: 'pread', path, offsets, size });
  return latencies(r.latencies, size, cold);
}

/**
 * Times an `ls -l` of `dir`: by default `readdir` and `lstat` of every entry (what `ls -l` asks
 * the file system, less its xattr probes); `via: 'ls'` spawns `ls -l` itself (adds its start-up,
 * ~1–2 ms).
 */
export async function listLong(
  dir: string,
  options: { via?: 'syscalls' | 'ls' } = {}
): Promise<{ entries: number; seconds: number }> {
  if (options.via === 'ls') {
    const started = performance.now();
    let lines = 0;
    const child = spawn('ls', ['-l', '--color=never', dir], {
      stdio: ['ignore', 'pipe', 'ignore']
    });
    child.stdout.on('data', (chunk: Buffer) => {
      for (const byte of chunk) {
        lines += byte === 10 ? 1 : 0;
      }
    });
    const code = await new Promise<number | null>(done => child.once('close', done));
    if (code !== 0) {
      throw new Error(`ls -l ${dir} failed (${code})`);
    }
    return { entries: lines - 1, seconds: (performance.now() - started) / 1000 };
  }
  const r = await inWorker({ op: 'list', dir });
  return { entries: r.entries, seconds: (r.end - r.start) / 1000 };
}

/**
 * `n` (8) readers, reader i reading `paths[i % paths.length]` whole as {@link sequentialRead}
 * does, released together once all are ready; the total rate is all bytes over the time from the
 * first start to the last end. Give distinct files: readers of one file share its cached pages.
 */
export async function parallelReaders(
  paths: readonly string[],
  n = 8,
  options: { cold?: boolean; blockSize?: number } = {}
): Promise<Throughput & { readers: number; perReaderBytesPerSecond: number[] }> {
  if (paths.length === 0) {
    throw new Error('parallelReaders needs at least one path');
  }
  const cold = (options.cold ?? true) && (await dropCaches());
  const gate = new SharedArrayBuffer(4);
  let ready = 0;
  const release = (): void => {
    if (++ready === n) {
      Atomics.store(new Int32Array(gate), 0, 1);
      Atomics.notify(new Int32Array(gate), 0);
    }
  };
  const results = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      inWorker(
        {
          op: 'seq',
          path: paths[i % paths.length] as string,
          blockSize: options.blockSize ?? MiB,
          gate
        },
        release
      )
    )
  );
  const bytes = results.reduce((sum, r) => sum + r.bytes, 0);
  const seconds =
    (Math.max(...results.map(r => r.end)) - Math.min(...results.map(r => r.start))) / 1000;
  return {
    ...throughput(bytes, seconds, cold),
    readers: n,
    perReaderBytesPerSecond: results.map(r => r.bytes / ((r.end - r.start) / 1000))
  };
}

// ---------------------------------------------------------------------------------------------
// HTTP baselines: curl the program, and Node with a keep-alive agent

/** Runs curl with `config` (curl's config-file syntax) on stdin; its stdout, or throws. */
function curl(args: readonly string[], config: string): Promise<string> {
  return new Promise((done, fail) => {
    const child = spawn('curl', ['-sS', ...args, '--config', '-'], {
      stdio: ['pipe', 'pipe', 'pipe']
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    child.once('error', fail);
    child.once('close', code =>
      code === 0 ? done(out) : fail(new Error(`curl failed (${code}): ${err.trim()}`))
    );
    child.stdin.end(config);
  });
}

const quoted = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** One GET of `url` to /dev/null; seconds are curl's `time_total` (no process start-up). */
export async function curlSequential(
  url: string,
  options: { cold?: boolean } = {}
): Promise<Throughput> {
  const cold = (options.cold ?? true) && (await dropCaches());
  const out = await curl(
    [],
    `url = ${quoted(url)}\noutput = "/dev/null"\nfail\n` +
      `write-out = "%{http_code} %{size_download} %{time_total}\\n"\n`
  );
  const [code, size, seconds] = out.trim().split(' ').map(Number) as [number, number, number];
  if (code !== 200) {
    throw new Error(`GET ${url}: ${code}`);
  }
  return throughput(size, seconds, cold);
}

/**
 * `count` GETs of `Range: bytes=a-b` (closed ranges within the file) at {@link randomOffsets},
 * one after another in one curl process over one keep-alive connection; latencies are curl's
 * per-request `time_total` (the first includes the connection). `connections` counts the
 * connections curl opened.
 */
export async function curlRanges(
  url: string,
  count: number,
  size = 4096,
  seed = 1,
  options: { cold?: boolean } = {}
): Promise<Latencies & { connections: number }> {
  const offsets = randomOffsets(await headSize(url), count, size, seed);
  const cold = (options.cold ?? true) && (await dropCaches());
  const config = offsets
    .map(
      o =>
        `url = ${quoted(url)}\nrange = "${o}-${o + size - 1}"\noutput = "/dev/null"\n` +
        `write-out = "%{http_code} %{size_download} %{time_total} %{num_connects}\\n"\n`
    )
    .join('next\n');
  const lines = (await curl([], config)).trim().split('\n');
  const ms: number[] = [];
  let connections = 0;
  for (const line of lines) {
    const [code, got, seconds, connects] = line.split(' ').map(Number) as number[];
    if (code !== 206 || got !== size) {
      throw new Error(`a range GET of ${url} answered ${code} with ${got} bytes`);
    }
    ms.push((seconds as number) * 1000);
    connections += connects as number;
  }
  if (ms.length !== count) {
    throw new Error(`curl made ${ms.length} of ${count} range requests`);
  }
  return { ...latencies(ms, size, cold), connections };
}

/**
 * `n` GETs to /dev/null at once, GET i of `urls[i % urls.length]`; the total rate over the wall
 * time (curl's start-up, a few ms, included). `via: 'processes'` (default) runs one curl per
 * reader, each its own thread as the {@link parallelReaders} are; `via: 'multi'` runs one
 * `curl --parallel --parallel-max n`, one thread multiplexing all (as an event loop does).
 */
export async function curlParallel(
  urls: readonly string[],
  n = 8,
  options: { cold?: boolean; via?: 'processes' | 'multi' } = {}
): Promise<Throughput & { readers: number }> {
  if (urls.length === 0) {
    throw new Error('curlParallel needs at least one URL');
  }
  const cold = (options.cold ?? true) && (await dropCaches());
  const configs = Array.from(
    { length: n },
    (_, i) =>
      `url = ${quoted(urls[i % urls.length] as string)}\noutput = "/dev/null"\n` +
      `write-out = "%{http_code} %{size_download}\\n"\n`
  );
  const started = performance.now();
  const outs =
    options.via === 'multi'
      ? [await curl(['--parallel', '--parallel-max', String(n)], configs.join(''))]
      : await Promise.all(configs.map(config => curl([], config)));
  const seconds = (performance.now() - started) / 1000;
  let bytes = 0;
  for (const line of outs.join('').trim().split('\n')) {
    const [code, got] = line.split(' ').map(Number) as [number, number];
    if (code !== 200) {
      throw new Error(`a parallel GET answered ${code}`);
    }
    bytes += got;
  }
  return { ...throughput(bytes, seconds, cold), readers: n };
}

/** Sends a request with exactly these headers (case kept); resolves with the response. */
function send(
  method: string,
  url: string,
  headers: Record<string, string>,
  agent: Agent | false = false
): { req: ReturnType<typeof request>; response: Promise<IncomingMessage> } {
  let req!: ReturnType<typeof request>;
  const response = new Promise<IncomingMessage>((done, fail) => {
    req = request(url, { method, headers, agent }, done);
    req.once('error', fail);
  });
  return { req, response };
}

/** Reads a response to its end; its byte count. */
async function drain(response: IncomingMessage): Promise<number> {
  let bytes = 0;
  for await (const chunk of response) {
    bytes += (chunk as Buffer).length;
  }
  return bytes;
}

/** The size of the file at `url` (HEAD, `Content-Length`). */
export async function headSize(url: string): Promise<number> {
  const { req, response } = send('HEAD', url, {});
  req.end();
  const res = await response;
  res.resume();
  const length = Number(res.headers['content-length']);
  if (res.statusCode !== 200 || !Number.isFinite(length)) {
    throw new Error(`HEAD ${url}: ${res.statusCode}`);
  }
  return length;
}

/** One GET of `url` with Node's http, body counted and dropped; the time of request to last byte. */
export async function httpSequential(
  url: string,
  options: { cold?: boolean } = {}
): Promise<Throughput> {
  const cold = (options.cold ?? true) && (await dropCaches());
  const started = performance.now();
  const { req, response } = send('GET', url, {});
  req.end();
  const res = await response;
  const bytes = await drain(res);
  if (res.statusCode !== 200) {
    throw new Error(`GET ${url}: ${res.statusCode}`);
  }
  return throughput(bytes, (performance.now() - started) / 1000, cold);
}

/**
 * As {@link curlRanges}, with Node's http and one keep-alive socket (an `Agent` with
 * `maxSockets: 1`): request to last byte of each, one at a time.
 */
export async function httpRanges(
  url: string,
  count: number,
  size = 4096,
  seed = 1,
  options: { cold?: boolean } = {}
): Promise<Latencies> {
  const offsets = randomOffsets(await headSize(url), count, size, seed);
  const cold = (options.cold ?? true) && (await dropCaches());
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const ms: number[] = [];
  try {
    for (const o of offsets) {
      const started = performance.now();
      const { req, response } = send('GET', url, { Range: `bytes=${o}-${o + size - 1}` }, agent);
      req.end();
      const res = await response;
      const got = await drain(res);
      ms.push(performance.now() - started);
      if (res.statusCode !== 206 || got !== size) {
        throw new Error(`a range GET of ${url} answered ${res.statusCode} with ${got} bytes`);
      }
    }
  } finally {
    agent.destroy();
  }
  return latencies(ms, size, cold);
}

// ---------------------------------------------------------------------------------------------
// Test files on the storage

/**
 * PUTs `bytes` pseudo-random bytes (a seeded 1 MiB block, each MiB stamped with its index) to
 * `url`, with the header spelled `Content-Length` (XRootD ignores `content-length` and stores an
 * empty file); checks the size with a HEAD. XRootD creates the parent directories.
 */
export async function putRandomFile(url: string, bytes: number, seed = 1): Promise<void> {
  const next = generator(seed);
  const block = Buffer.alloc(MiB);
  for (let i = 0; i < MiB; i += 4) {
    block.writeUInt32LE(Math.floor(next() * 4294967296), i);
  }
  const { req, response } = send('PUT', url, { 'Content-Length': String(bytes) });
  response.catch(() => undefined); // Awaited below; a failure while writing throws first.
  for (let offset = 0, index = 0; offset < bytes; offset += MiB, index++) {
    const chunk = Buffer.from(block.subarray(0, Math.min(MiB, bytes - offset)));
    chunk.writeUInt32LE(index, 0);
    if (!req.write(chunk)) {
      await once(req, 'drain'); // Rejects on an 'error' meanwhile.
    }
  }
  req.end();
  const res = await response;
  await drain(res);
  if (res.statusCode !== 200 && res.statusCode !== 201) {
    throw new Error(`PUT ${url}: ${res.statusCode}`);
  }
  const size = await headSize(url);
  if (size !== bytes) {
    throw new Error(`PUT ${url}: the storage holds ${size} bytes, not ${bytes}`);
  }
}

/** DELETE of a file or an empty directory (XRootD deletes no others); the status code. */
export async function deleteUrl(url: string): Promise<number> {
  const { req, response } = send('DELETE', url, {});
  req.end();
  const res = await response;
  await drain(res);
  return res.statusCode ?? 0;
}

/** Rows as a `|`-separated table under a header row, columns padded. */
export function formatTable(
  header: readonly string[],
  rows: readonly (readonly string[])[]
): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map(row => (row[i] ?? '').length)));
  const line = (row: readonly string[]): string =>
    row.map((cell, i) => cell.padEnd(widths[i] as number)).join(' | ');
  return [line(header), widths.map(w => '-'.repeat(w)).join('-|-'), ...rows.map(line)].join('\n');
}
