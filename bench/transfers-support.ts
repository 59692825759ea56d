/**
 * What `npm run bench:transfers` runs on each side, kept apart from the bench's plan and table:
 *
 * - {@link startCompanionProcess}: the companion as its own process (`lib/main.js --port 0`, as
 *   jupyter-server-proxy runs it, with its own event loop), a home of its own so that its
 *   journals stay in the bench's temporary folder; {@link CompanionApi} talks to it with its
 *   token and Jupyter's XSRF double-submit cookie.
 * - {@link companionUpload} / {@link companionDownload}: one job, timed from the moment before
 *   the `POST` to the job's own `finishedAt` (so the polling interval adds nothing).
 * - {@link curlTransfers}: one `curl` process for a list of PUTs (`upload-file`) or GETs
 *   (`output`), `--parallel --parallel-max N --parallel-immediate` when N > 1, wall time of the
 *   process (its start-up, a few ms, included); every answer's status is checked.
 * - {@link deleteUrls}: removes what curl PUT (XRootD's `DELETE`), untimed.
 * - {@link writeLargeFile}, {@link writeSmallFiles}: the local files both sides send.
 */
import type {
  Download,
  DownloadDetail,
  DownloadFile,
  UploadDetail,
  UploadJob,
  UploadRequest
} from '@dlaas/api';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { largeFileChunks } from '../packages/devlake/src/catalogue.js';

/**
 * How often a running job is asked for its state. Its `finishedAt` gives the end, so the interval
 * adds nothing to the time measured; a long one keeps the polls' own load off the companion.
 */
const POLL_MS = 250;

/** How long one transfer case may take before the bench gives up on it. */
const CASE_TIMEOUT_MS = 30 * 60_000;

/** A companion process the bench started. */
export interface CompanionProcess {
  readonly api: CompanionApi;
  /** Ends the process (SIGTERM) and waits for it. */
  stop(): Promise<void>;
}

/**
 * Starts `node <main> --port 0` with the configuration file `config` and `home` as its HOME and
 * XDG folders; resolves when it logs where it listens, fails with its last log lines when it
 * ends before that or after 30 s.
 */
export async function startCompanionProcess(
  main: string,
  config: string,
  home: string
): Promise<CompanionProcess> {
  const token = randomBytes(32).toString('base64url');
  // Extra node options for the companion alone, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` (node
  // refuses those in NODE_OPTIONS, which would reach the bench's own process too).
  const nodeArgs = (process.env['BENCH_COMPANION_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, main, '--port', '0'], {
    env: {
      ...process.env,
      DLAAS_CONFIG: config,
      DLAAS_TOKEN: token,
      DLAAS_LOG_LEVEL: 'info',
      HOME: home,
      XDG_DATA_HOME: join(home, '.local', 'share'),
      XDG_STATE_HOME: join(home, '.local', 'state'),
      XDG_CONFIG_HOME: join(home, '.config'),
      XDG_RUNTIME_DIR: join(home, 'run')
    },
    stdio: ['ignore', 'ignore', 'pipe']
  });
  const recent: string[] = [];
  const exited = once(child, 'exit');
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`the companion did not start within 30 s:\n${recent.join('\n')}`));
    }, 30_000);
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', line => {
      recent.push(line);
      if (recent.length > 40) {
        recent.shift();
      }
      const entry = parsedLine(line);
      if (entry?.message === 'companion started' && typeof entry.address === 'string') {
        clearTimeout(timer);
        resolve(entry.address);
      }
    });
    child.once('exit', code => {
      clearTimeout(timer);
      reject(new Error(`the companion ended (${code}) before it listened:\n${recent.join('\n')}`));
    });
  });
  return {
    api: new CompanionApi(address, token),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    }
  };
}

/** A JSON log line of the companion, or undefined for anything else. */
function parsedLine(line: string): { message?: unknown; address?: unknown } | undefined {
  try {
    return JSON.parse(line) as { message?: unknown; address?: unknown };
  } catch {
    return undefined;
  }
}

/** The companion's HTTP API, with its token and the XSRF cookie and header Jupyter would send. */
export class CompanionApi {
  constructor(
    readonly address: string,
    private readonly token: string
  ) {}

  /** Sends a request; the parsed answer, or an error with the companion's sentence. */
  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(this.address + path, {
      method,
      headers: {
        Authorization: `token ${this.token}`,
        Cookie: '_xsrf=bench-transfers',
        'X-XSRFToken': 'bench-transfers',
        'Content-Type': 'application/json'
      },
      body: body === undefined ? undefined : JSON.stringify(body)
    });
    const text = await response.text();
    if (!response.ok) {
      throw new Error(`${method} ${path} answered ${response.status}: ${sentenceOf(text)}`);
    }
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }
}

/** The companion's sentence in an error answer, else the answer itself (shortened). */
function sentenceOf(text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } };
    if (typeof parsed.error?.message === 'string') {
      return parsed.error.message;
    }
  } catch {
    // Not JSON: shown as it is.
  }
  return text.slice(0, 300);
}

/** A timed transfer: how long it took and what it moved. */
export interface Timed {
  readonly seconds: number;
  readonly bytes: number;
  readonly files: number;
}

/** The end of a finished job in ms since the epoch: its `finishedAt`, else now. */
function endOf(finishedAt: string | null): number {
  const parsed = finishedAt === null ? Number.NaN : Date.parse(finishedAt);
  return Number.isNaN(parsed) ? Date.now() : parsed;
}

/**
 * One upload job of the companion: `POST .../uploads`, then its state until it is no longer
 * running; the time from before the POST to the job's `finishedAt`. Forgets the job afterwards
 * (the data stays in the lake). Throws with the job's sentence unless it ends `done`.
 */
export async function companionUpload(
  api: CompanionApi,
  instance: string,
  body: UploadRequest
): Promise<Timed & { job: UploadJob }> {
  const base = `/api/instances/${encodeURIComponent(instance)}/uploads`;
  const started = Date.now();
  let job = (await api.call<UploadDetail>('POST', base, body)).upload;
  const path = `${base}/${encodeURIComponent(job.id)}`;
  const deadline = started + CASE_TIMEOUT_MS;
  while (job.state === 'running' && Date.now() < deadline) {
    await sleep(POLL_MS);
    job = (await api.call<UploadDetail>('GET', `${path}?limit=1`)).upload;
  }
  if (job.state !== 'done') {
    const detail = await api.call<UploadDetail>('GET', `${path}?limit=5000`);
    const failed = detail.files.items.find(f => f.error !== null);
    throw new Error(
      `the companion's upload into ${job.did} ended "${job.state}" after ` +
        `${((Date.now() - started) / 1000).toFixed(0)} s: ${job.error ?? 'no sentence'}` +
        (failed ? ` (first failed file: ${failed.name}: ${failed.error})` : '')
    );
  }
  await api.call('DELETE', path);
  return {
    seconds: (endOf(job.finishedAt) - started) / 1000,
    bytes: job.bytesTotal,
    files: job.filesTotal,
    job
  };
}

/**
 * One download job of the companion (`POST .../downloads` of `did` into `folder`), timed like
 * {@link companionUpload}; also the RSEs its files came from (of the first 5,000 files). Forgets
 * the job afterwards (the files stay in `folder`).
 */
export async function companionDownload(
  api: CompanionApi,
  instance: string,
  did: string,
  folder: string
): Promise<Timed & { job: Download; items: DownloadFile[] }> {
  const base = `/api/instances/${encodeURIComponent(instance)}/downloads`;
  const started = Date.now();
  let job = await api.call<Download>('POST', base, { did, folder });
  const path = `${base}/${encodeURIComponent(job.id)}`;
  const deadline = started + CASE_TIMEOUT_MS;
  while ((job.state === 'listing' || job.state === 'running') && Date.now() < deadline) {
    await sleep(POLL_MS);
    job = (await api.call<DownloadDetail>('GET', `${path}?limit=1`)).download;
  }
  const detail = await api.call<DownloadDetail>('GET', `${path}?limit=5000`);
  if (job.state !== 'done') {
    const failed = detail.files.items.find(f => f.error !== undefined);
    throw new Error(
      `the companion's download of ${did} ended "${job.state}" after ` +
        `${((Date.now() - started) / 1000).toFixed(0)} s: ${job.error ?? 'no sentence'}` +
        (failed ? ` (first failed file: ${failed.name}: ${failed.error})` : '')
    );
  }
  await api.call('DELETE', path);
  return {
    seconds: (endOf(job.finishedAt) - started) / 1000,
    bytes: job.bytesTotal,
    files: job.filesTotal,
    job,
    items: detail.files.items
  };
}

/** One transfer of {@link curlTransfers}: a PUT of a local file, or a GET into one. */
export type CurlTransfer =
  | { readonly url: string; readonly upload: string; readonly bytes: number }
  | { readonly url: string; readonly output: string; readonly bytes: number };

/** A value for curl's configuration file, quoted. */
const quoted = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/**
 * Runs the transfers (all PUTs, or all GETs) in one `curl` process, `parallel` at a time (one
 * after another on kept-alive connections when 1); the wall time of the process. A PUT's answer
 * body (XRootD says `:-)`) goes to /dev/null. Throws unless every transfer answered 200/201 and
 * the bytes sent or received add up to the expected size.
 */
export async function curlTransfers(
  transfers: readonly CurlTransfer[],
  parallel: number
): Promise<Timed> {
  const puts = transfers.every(t => 'upload' in t);
  if (!puts && transfers.some(t => 'upload' in t)) {
    throw new Error('curlTransfers runs either PUTs or GETs, not both at once');
  }
  const config = transfers
    .map(t =>
      'upload' in t
        ? `upload-file = ${quoted(t.upload)}\noutput = "/dev/null"\nurl = ${quoted(t.url)}\n`
        : `output = ${quoted(t.output)}\nurl = ${quoted(t.url)}\n`
    )
    .join('');
  const args = [
    '--silent',
    '--show-error',
    '--create-dirs',
    '--write-out',
    '%{http_code} %{size_upload} %{size_download}\\n',
    ...(parallel > 1
      ? ['--parallel', '--parallel-max', String(parallel), '--parallel-immediate']
      : []),
    '--config',
    '-'
  ];
  const started = performance.now();
  const child = spawn('curl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  child.stdin.end(config);
  const [code] = (await once(child, 'close')) as [number | null];
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) {
    throw new Error(`curl ended with ${code}: ${err.trim().slice(0, 500)}`);
  }
  const lines = out.trim().split('\n');
  const wrong = lines.filter(line => {
    const status = Number(line.split(' ')[0]);
    return status !== 200 && status !== 201;
  });
  if (lines.length !== transfers.length || wrong.length > 0) {
    throw new Error(
      `curl moved ${lines.length - wrong.length} of ${transfers.length} files; answers: ${wrong.slice(0, 3).join('; ')}`
    );
  }
  const moved = lines.reduce((sum, line) => {
    const [, up, down] = line.split(' ').map(Number) as [number, number, number];
    return sum + (puts ? up : down);
  }, 0);
  const expected = transfers.reduce((sum, t) => sum + t.bytes, 0);
  if (moved !== expected) {
    throw new Error(`curl moved ${moved} bytes where ${expected} were expected`);
  }
  return { seconds, bytes: expected, files: transfers.length };
}

/** DELETEs each URL (4 at a time); the URLs the storage did not delete. */
export async function deleteUrls(urls: readonly string[]): Promise<string[]> {
  const left: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < urls.length) {
      const url = urls[next++] as string;
      const status = await new Promise<number>(resolve => {
        const req = request(url, { method: 'DELETE' }, res => {
          res.resume();
          res.once('end', () => resolve(res.statusCode ?? 0));
        });
        req.once('error', () => resolve(0));
        req.end();
      });
      if (status < 200 || status >= 300) {
        left.push(url);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(4, urls.length) }, worker));
  return left;
}

/** Writes `bytes` random-looking bytes (an AES-CTR keystream, fast to make) to `path`. */
export function writeLargeFile(path: string, bytes: number): void {
  const fd = openSync(path, 'w', 0o600);
  try {
    for (const chunk of largeFileChunks('bench', `transfers-${process.pid}`, bytes)) {
      writeSync(fd, chunk);
    }
  } finally {
    closeSync(fd);
  }
}

/** Writes `count` files of `bytes` random bytes, `f00000.dat` …, into `dir`; their names. */
export function writeSmallFiles(dir: string, count: number, bytes: number): string[] {
  mkdirSync(dir, { recursive: true });
  const names = Array.from({ length: count }, (_, i) => `f${String(i).padStart(5, '0')}.dat`);
  for (const name of names) {
    writeFileSync(join(dir, name), randomBytes(bytes), { mode: 0o600 });
  }
  return names;
}
