import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { copyFile } from './copy.js';
import {
  createJob,
  ftsTime,
  jobState,
  jobView,
  matchingFailure,
  parseSubmission,
  type TransferFile,
  type TransferJob
} from './jobs.js';

/** Options of the transfer service. */
export interface TransferServiceOptions {
  /** Where the failure patterns are kept across restarts. */
  readonly failuresFile?: string | undefined;
  /** Failure patterns to start with when the failures file does not exist yet. */
  readonly defaultFailures?: readonly string[];
  /** Copies running at once. */
  readonly concurrency?: number;
  /** How long finished jobs are remembered, in ms. */
  readonly retentionMs?: number;
}

/** Largest request body accepted. */
const MAX_BODY = 32 * 1024 * 1024;

/**
 * devlake's transfer service: the subset of FTS3's REST API that Rucio's fts3 transfer tool uses
 * (`POST /jobs`, `GET /jobs/{ids}`, `DELETE /jobs/{id}`, `/whoami`), copying the bytes for real
 * with GET then PUT, plus `GET|PUT /devlake/failures` to make chosen transfers fail.
 */
export class TransferService {
  readonly server: Server;
  private readonly jobs = new Map<string, TransferJob>();
  private readonly queue: { job: TransferJob; file: TransferFile }[] = [];
  private running = 0;
  private patterns: RegExp[] = [];
  private readonly concurrency: number;
  private readonly retentionMs: number;
  private readonly stats = { submitted: 0, finished: 0, failed: 0, canceled: 0, bytes: 0 };

  constructor(private readonly options: TransferServiceOptions = {}) {
    this.concurrency = options.concurrency ?? 4;
    this.retentionMs = options.retentionMs ?? 6 * 3600_000;
    if (options.failuresFile && existsSync(options.failuresFile)) {
      const saved = JSON.parse(readFileSync(options.failuresFile, 'utf8')) as {
        patterns?: string[];
      };
      this.patterns = (saved.patterns ?? []).map(p => new RegExp(p));
    } else {
      this.patterns = (options.defaultFailures ?? []).map(p => new RegExp(p));
    }
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: Error) => reply(res, 500, { message: error.message }));
    });
  }

  /** Starts listening on loopback. */
  listen(port: number): Promise<void> {
    return new Promise((resolvePromise, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => resolvePromise());
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const parts = url.pathname.split('/').filter(Boolean);
    const method = req.method ?? 'GET';
    if (parts.length === 0 && method === 'GET') {
      return reply(res, 200, {
        api: { major: 3, minor: 12, patch: 0 },
        delegation: { major: 1, minor: 0, patch: 0 }
      });
    }
    if (parts[0] === 'whoami' && method === 'GET') {
      return reply(res, 200, {
        dn: ['/CN=devlake'],
        user_dn: '/CN=devlake',
        delegation_id: 'devlake',
        vos: ['devlake'],
        roles: []
      });
    }
    if (parts[0] === 'devlake' && parts[1] === 'failures') {
      return this.handleFailures(req, res, method);
    }
    if (parts[0] === 'devlake' && parts[1] === 'stats' && method === 'GET') {
      return reply(res, 200, { ...this.stats, queued: this.queue.length, active: this.running });
    }
    if (parts[0] !== 'jobs') {
      return reply(res, 404, { message: `No such route: ${method} ${url.pathname}` });
    }
    if (parts.length === 1 && method === 'POST') {
      const body = await readJson(req);
      const submission = 'error' in body ? body.error : parseSubmission(body.value);
      if (typeof submission === 'string') {
        return reply(res, 400, { message: submission });
      }
      const job = createJob(submission);
      this.jobs.set(job.job_id, job);
      this.stats.submitted += job.files.length;
      for (const file of job.files) {
        this.queue.push({ job, file });
      }
      this.pump();
      return reply(res, 200, { job_id: job.job_id });
    }
    const ids = (parts[1] ?? '').split(',').filter(Boolean);
    if (ids.length === 0) {
      return reply(res, 400, { message: 'Name at least one job id.' });
    }
    if (method === 'GET') {
      if (parts[2] === 'files') {
        const job = this.jobs.get(ids[0] as string);
        return job
          ? reply(res, 200, jobView(job)['files'])
          : reply(res, 404, { message: `No job ${ids[0]}` });
      }
      const views = ids.map(id => {
        const job = this.jobs.get(id);
        return job
          ? jobView(job)
          : { job_id: id, http_status: '404 Not Found', http_message: `No job with id ${id}` };
      });
      const allFound = views.every(v => v['http_status'] === '200 Ok');
      if (ids.length === 1) {
        return reply(res, allFound ? 200 : 404, views[0]);
      }
      return reply(res, allFound ? 200 : 207, views);
    }
    if (method === 'DELETE') {
      const job = this.jobs.get(ids[0] as string);
      if (!job) {
        return reply(res, 404, { message: `No job ${ids[0]}` });
      }
      for (const file of job.files) {
        if (file.file_state === 'SUBMITTED') {
          file.file_state = 'CANCELED';
          file.reason = 'Job canceled by the user';
          file.finish_time = ftsTime();
          this.stats.canceled++;
        }
      }
      job.job_state = jobState(job.files);
      return reply(res, 200, jobView(job));
    }
    if (method === 'POST') {
      // Priority changes are accepted and ignored: copies run in submission order.
      return reply(res, 200, { job_id: ids[0] });
    }
    return reply(res, 405, { message: `${method} is not supported on ${url.pathname}` });
  }

  private async handleFailures(
    req: IncomingMessage,
    res: ServerResponse,
    method: string
  ): Promise<void> {
    if (method === 'PUT') {
      const body = await readJson(req);
      const value = 'error' in body ? undefined : body.value;
      const list =
        typeof value === 'object' && value !== null
          ? (value as { patterns?: unknown }).patterns
          : undefined;
      if (!Array.isArray(list) || !list.every(p => typeof p === 'string')) {
        return reply(res, 400, { message: 'Send {"patterns": ["regular expression", ...]}.' });
      }
      try {
        this.patterns = list.map(p => new RegExp(p));
      } catch (error) {
        return reply(res, 400, {
          message: `Not a regular expression: ${(error as Error).message}`
        });
      }
      if (this.options.failuresFile) {
        writeFileSync(
          this.options.failuresFile,
          JSON.stringify({ patterns: list }, null, 2) + '\n'
        );
      }
    } else if (method !== 'GET') {
      return reply(res, 405, { message: 'Use GET or PUT.' });
    }
    return reply(res, 200, { patterns: this.patterns.map(p => p.source) });
  }

  private pump(): void {
    while (this.running < this.concurrency && this.queue.length > 0) {
      const next = this.queue.shift();
      if (!next || next.file.file_state !== 'SUBMITTED') {
        continue;
      }
      this.running++;
      void this.transfer(next.job, next.file).finally(() => {
        this.running--;
        this.pump();
      });
    }
    this.forgetOldJobs();
  }

  private async transfer(job: TransferJob, file: TransferFile): Promise<void> {
    file.file_state = 'ACTIVE';
    file.start_time = ftsTime();
    job.job_state = jobState(job.files);
    const failure = matchingFailure(file, this.patterns);
    try {
      if (failure) {
        throw new Error(
          `TRANSFER [5] devlake was told to fail transfers matching /${failure.source}/`
        );
      }
      const result = await copyFile(file.source_surl, file.dest_surl);
      const expected = file.checksum?.match(/^adler32:([0-9a-f]{1,8})$/i)?.[1];
      if (expected !== undefined && expected.toLowerCase().padStart(8, '0') !== result.adler32) {
        throw new Error(
          `TRANSFER [5] checksum mismatch: source says ${expected}, destination got ${result.adler32}`
        );
      }
      file.file_state = 'FINISHED';
      this.stats.finished++;
      this.stats.bytes += result.bytes;
    } catch (error) {
      file.file_state = 'FAILED';
      file.reason = (error as Error).message;
      this.stats.failed++;
    }
    file.finish_time = ftsTime();
    job.job_state = jobState(job.files);
  }

  private forgetOldJobs(): void {
    const cutoff = ftsTime(new Date(Date.now() - this.retentionMs));
    for (const [id, job] of this.jobs) {
      if (
        job.submit_time < cutoff &&
        ['FINISHED', 'FAILED', 'FINISHEDDIRTY', 'CANCELED'].includes(job.job_state)
      ) {
        this.jobs.delete(id);
      }
    }
  }

  /** Stops listening. */
  close(): Promise<void> {
    return new Promise(resolvePromise => this.server.close(() => resolvePromise()));
  }
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text)
  });
  res.end(text);
}

/** Reads a JSON body; gives a sentence instead when it is too large or not JSON. */
async function readJson(req: IncomingMessage): Promise<{ value: unknown } | { error: string }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) {
      return { error: 'The request body is larger than 32 MB.' };
    }
    chunks.push(chunk);
  }
  try {
    return { value: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown };
  } catch {
    return { error: 'The request body is not JSON.' };
  }
}
