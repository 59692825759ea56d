import type { Download, DownloadDetail, DownloadFile, LocalPath, Window } from '@dlaas/api';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { retryDropped } from '../dropped.js';
import { downloadRootOf } from '../config.js';
import { didString, pathAmbiguity, type DidRef } from '../did.js';
import { AppError, badRequest } from '../errors.js';
import { StorageReader, storageHeaders, storageTls } from '../fuse/storage.js';
import { log } from '../log.js';
import { inParallel } from '../parallel.js';
import { DEFAULT_REQUEST_TIMEOUT_SECONDS, didPath, type RucioClient } from '../rucio/client.js';
import { rucioNumber } from '../rucio/json.js';
import {
  diskProblem,
  FetchError,
  fetchFile,
  type ReplicaSource,
  type StorageAccess
} from './download-file.js';

/** Files fetched at once per job, unless configured. */
const DEFAULT_PARALLEL = 4;
/** How long changes wait before the journal is written (many files end within a second). */
const JOURNAL_DELAY_MS = 500;
/** The window the transfer rate is measured over. */
const RATE_WINDOW_MS = 10_000;

/** One file of a job, as journaled. */
type FileRecord = DownloadFile;

/** A job, as journaled. */
interface JobRecord {
  id: string;
  did: string;
  scope: string;
  name: string;
  /** The folder the files go to. */
  folder: string;
  state: Download['state'];
  createdAt: string;
  finishedAt: string | null;
  error?: string;
  files: FileRecord[];
}

/** A job that runs now. */
interface Running {
  readonly controller: AbortController;
  readonly done: Promise<void>;
  /** [time, bytes done] pairs over the last {@link RATE_WINDOW_MS}. */
  readonly samples: [number, number][];
}

/** What the journal file holds. */
interface Journal {
  version: 1;
  jobs: JobRecord[];
}

/** What Rucio lists for a file below a DID. */
interface FileLine {
  scope: string;
  name: string;
  bytes?: unknown;
  adler32?: unknown;
}

/** What `/replicas/list` says of one file. */
interface ReplicaLine {
  scope: string;
  name: string;
  pfns?: Record<string, { rse?: string; priority?: number }>;
  states?: Record<string, string>;
}

/** How a download engine is set up. */
export interface DownloadOptions {
  /** The folder downloads go to by default (`<root>/<scope>/<name>/`). */
  readonly root: string;
  /** The journal file (0600). */
  readonly journal: string;
  /** Files fetched at once per job. */
  readonly parallel?: number;
}

/**
 * The default journal of an instance's downloads: `$XDG_STATE_HOME/dlaas/downloads/<instance>.json`
 * (`~/.local/state` by default), private to the user, kept across restarts.
 */
export function defaultJournalFile(instance: string, env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env['XDG_STATE_HOME'];
  const base = xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.local', 'state');
  return join(base, 'dlaas', 'downloads', `${instance}.json`);
}

/** The engine options of an instance: its download folder and the default journal. */
export function downloadOptionsOf(rucio: RucioClient): DownloadOptions {
  return {
    root: downloadRootOf(rucio.instance),
    journal: defaultJournalFile(rucio.instance.name)
  };
}

/**
 * Download mode: copies a DID's files from the lake into a folder of the user's home. Each file
 * comes from the best replica Rucio lists (the next one when a replica fails), into
 * `<file>.part`, resumed with a Range request after an interruption; its Adler-32 is computed as
 * it is written and compared with Rucio's before the part gets its final name. Jobs are journaled
 * (0600) so that they outlive the companion: a job that ran when it stopped shows as interrupted,
 * and a retry resumes it.
 */
export class DownloadJobs {
  private readonly jobs = new Map<string, JobRecord>();
  private readonly running = new Map<string, Running>();
  private saveTimer: NodeJS.Timeout | undefined;
  /** Whether the jobs changed since the journal was last written. */
  private dirty = false;
  private stopping = false;
  private readonly access: StorageAccess;
  private readonly warned = new Set<string>();

  constructor(
    private readonly rucio: RucioClient,
    private readonly options: DownloadOptions = downloadOptionsOf(rucio)
  ) {
    const instance = rucio.instance;
    let tls: { ca?: string; cert?: string; key?: string } = {};
    try {
      tls = storageTls(instance);
    } catch (error) {
      log('warn', 'the certificate files for https storage could not be read', {
        instance: instance.name,
        reason: (error as Error).message
      });
    }
    const sockets = (options.parallel ?? DEFAULT_PARALLEL) * 2;
    this.access = {
      http: new HttpAgent({ keepAlive: true, maxSockets: sockets }),
      https: new HttpsAgent({ keepAlive: true, maxSockets: sockets, ...tls }),
      headers: url => storageHeaders(instance, rucio.credentials, url, this.warned),
      timeoutMs: (instance.requestTimeoutSeconds ?? DEFAULT_REQUEST_TIMEOUT_SECONDS) * 1000
    };
    this.load();
  }

  /** Every job, newest first. */
  list(): Download[] {
    return [...this.jobs.values()].reverse().map(job => this.summary(job));
  }

  /** One job and a window of its files. */
  detail(id: string, offset: number, limit: number): DownloadDetail {
    const job = this.job(id);
    return {
      download: this.summary(job),
      files: {
        items: job.files.slice(offset, offset + limit).map(publicFile),
        offset,
        limit,
        total: job.files.length,
        complete: true
      }
    };
  }

  /**
   * Starts downloading `did` into `folder` (absolute or `~/...`; default
   * `<root>/<scope>/<name>/`, or `<root>/<scope>/` for a file, which lands at
   * `<root>/<scope>/<name>`). Resolves once Rucio has said the DID exists; the files come after.
   */
  async start(did: DidRef, folder?: string): Promise<Download> {
    const meta = await this.rucio.json<{ type?: unknown } | null>(
      'GET',
      didPath(did.scope, did.name),
      { context: { did: didString(did) } }
    );
    const isFile = typeof meta?.type === 'string' && meta.type.toUpperCase() === 'FILE';
    const target = folder === undefined ? this.defaultFolder(did, isFile) : checkedFolder(folder);
    const busy = [...this.jobs.values()].find(j => this.running.has(j.id) && j.folder === target);
    if (busy) {
      throw new AppError(
        409,
        'conflict',
        `${busy.did} is being downloaded into ${target} now. Wait for it to end, or cancel it, then start this download again.`
      );
    }
    const job: JobRecord = {
      id: randomUUID(),
      did: didString(did),
      scope: did.scope,
      name: did.name,
      folder: target,
      state: 'listing',
      createdAt: new Date().toISOString(),
      finishedAt: null,
      files: []
    };
    this.jobs.set(job.id, job);
    this.launch(job);
    return this.summary(job);
  }

  /** Stops a running job; what is on disk stays (a retry resumes). */
  async cancel(id: string): Promise<Download> {
    const job = this.job(id);
    const running = this.running.get(id);
    if (!running) {
      throw new AppError(
        409,
        'conflict',
        `The download of ${job.did} is not running (it is ${job.state}); there is nothing to cancel.`
      );
    }
    running.controller.abort();
    await running.done;
    return this.summary(job);
  }

  /** Resolves when the job is not running (at once when it is not). */
  async settled(id: string): Promise<void> {
    await this.running.get(id)?.done;
  }

  /** Runs a job again: files already there and checked are kept, partial ones continue. */
  retry(id: string): Download {
    const job = this.job(id);
    if (this.running.has(id)) {
      throw new AppError(
        409,
        'conflict',
        `The download of ${job.did} is running; wait for it to end before retrying it.`
      );
    }
    const busy = [...this.jobs.values()].find(
      j => this.running.has(j.id) && j.folder === job.folder
    );
    if (busy) {
      throw new AppError(
        409,
        'conflict',
        `${busy.did} is being downloaded into ${job.folder} now. Wait for it to end, or cancel it, then retry.`
      );
    }
    this.launch(job);
    return this.summary(job);
  }

  /** Forgets a job (cancelling it first when it runs). The files on disk stay where they are. */
  async remove(id: string): Promise<void> {
    this.job(id);
    const running = this.running.get(id);
    if (running) {
      running.controller.abort();
      await running.done;
    }
    this.jobs.delete(id);
    this.dirty = true;
    this.saveNow();
  }

  /**
   * The local paths of the downloaded (complete and checked) files of `did`, as the paths API
   * answers them: from the newest job of the DID that has any (with `wholeOnly`, that is done
   * with every file), else, for a file, from any job that downloaded it. Null when nothing of
   * the DID was downloaded.
   */
  localPaths(
    did: DidRef,
    offset: number,
    limit: number,
    wholeOnly = false
  ): Window<LocalPath> | null {
    const key = didString(did);
    const jobs = [...this.jobs.values()].reverse();
    const job = jobs.find(
      j => j.did === key && (wholeOnly ? j.state === 'done' : j.files.some(f => f.state === 'done'))
    );
    let files: FileRecord[];
    if (job) {
      files = job.files.filter(f => f.state === 'done' || (f.path === null && f.error));
    } else {
      const file = jobs
        .flatMap(j => j.files)
        .find(f => f.scope === did.scope && f.name === did.name && f.state === 'done');
      if (!file) {
        return null;
      }
      files = [file];
    }
    const items = files.slice(offset, offset + limit).map(f => {
      const entry: LocalPath = {
        scope: f.scope,
        name: f.name,
        path: f.state === 'done' ? f.path : null,
        bytes: f.bytesTotal
      };
      if (entry.path === null && f.error) {
        entry.problem = f.error;
      }
      return entry;
    });
    return { items, offset, limit, total: files.length, complete: true };
  }

  /**
   * Stops every running job (they show as interrupted, and a retry resumes them) and writes the
   * journal. For the companion's shutdown.
   */
  async dispose(): Promise<void> {
    this.stopping = true;
    const running = [...this.running.values()];
    running.forEach(r => r.controller.abort());
    await Promise.all(running.map(r => r.done));
    this.saveNow();
    this.access.http.destroy();
    this.access.https.destroy();
  }

  private job(id: string): JobRecord {
    const job = this.jobs.get(id);
    if (!job) {
      throw new AppError(
        404,
        'not_found',
        `There is no download with the id "${id.slice(0, 64)}". Reload the list of downloads.`
      );
    }
    return job;
  }

  /** `<root>/<scope>/<name>` for a collection, `<root>/<scope>` for a file. */
  private defaultFolder(did: DidRef, isFile: boolean): string {
    const root = resolve(this.options.root);
    if (isFile) {
      return join(root, did.scope);
    }
    const problem = pathAmbiguity(did.name);
    if (problem !== null || hasControlCharacters(did.name)) {
      throw badRequest(
        `${didString(did)} cannot be a folder name: ${problem ?? 'its name holds control characters'}. Name a folder for it with "folder".`
      );
    }
    return join(root, did.scope, did.name.replace(/^\/+/, ''));
  }

  private launch(job: JobRecord): void {
    const controller = new AbortController();
    const samples: [number, number][] = [];
    const done = this.run(job, controller.signal)
      .catch((error: unknown) => {
        if (controller.signal.aborted) {
          this.stopped(job);
          return;
        }
        job.state = 'failed';
        job.error =
          error instanceof AppError
            ? error.message
            : 'The download stopped on an unexpected error. Retry it; if it fails again, tell the dlaas developers (the companion log says more).';
        if (!(error instanceof AppError)) {
          log('error', 'download failed', { job: job.id, reason: (error as Error).message });
        }
      })
      .finally(() => {
        job.finishedAt = new Date().toISOString();
        this.running.delete(job.id);
        this.dirty = true;
        this.saveNow();
      });
    this.running.set(job.id, { controller, done, samples });
  }

  private async run(job: JobRecord, signal: AbortSignal): Promise<void> {
    job.state = 'listing';
    job.finishedAt = null;
    delete job.error;
    this.saveSoon();
    const did = { scope: job.scope, name: job.name };
    const context = { did: job.did };
    const known = new Map(job.files.map(f => [`${f.scope}:${f.name}`, f]));
    // The replicas are listed while the files are: the two listings do not depend on each other.
    const listingSources = this.sources(did, signal);
    listingSources.catch(() => undefined);
    const files: FileRecord[] = [];
    for await (const line of this.rucio.lines<FileLine>(
      'GET',
      `${didPath(did.scope, did.name)}/files`,
      {
        context,
        signal
      }
    )) {
      const key = `${line.scope}:${line.name}`;
      const adler = typeof line.adler32 === 'string' && line.adler32 !== '' ? line.adler32 : null;
      const record: FileRecord = known.get(key) ?? {
        scope: line.scope,
        name: line.name,
        path: null,
        state: 'waiting',
        bytesTotal: rucioNumber(line.bytes) ?? 0,
        bytesDone: 0,
        adler32: adler
      };
      record.bytesTotal = rucioNumber(line.bytes) ?? record.bytesTotal;
      record.adler32 = adler;
      files.push(record);
    }
    job.files = files;
    this.assignPaths(job);
    const sources = await listingSources;
    if (signal.aborted) {
      return this.stopped(job);
    }
    job.state = 'running';
    this.saveSoon();
    const parallel = this.options.parallel ?? DEFAULT_PARALLEL;
    await inParallel(job.files, parallel, async file => {
      if (signal.aborted || file.path === null) {
        return;
      }
      await this.fetchOne(job, file, sources.get(`${file.scope}:${file.name}`) ?? [], signal);
      this.sample(job);
      this.saveSoon();
    });
    if (signal.aborted) {
      return this.stopped(job);
    }
    const failed = job.files.filter(f => f.state === 'failed').length;
    if (failed > 0) {
      job.state = 'failed';
      job.error = `${failed} of the ${job.files.length} files of ${job.did} could not be downloaded; each says why. Retry to try them again: the files already there are kept.`;
    } else {
      job.state = 'done';
    }
  }

  /** The state a job stopped by the user (cancelled) or by the companion (interrupted) is left in. */
  private stopped(job: JobRecord): void {
    for (const file of job.files) {
      if (file.state === 'running') {
        file.state = 'waiting';
      }
    }
    if (this.stopping) {
      job.state = 'interrupted';
      job.error = INTERRUPTED;
    } else {
      job.state = 'cancelled';
      job.error = `The download of ${job.did} was cancelled. Retry it to go on where it stopped: the files already there are kept.`;
    }
  }

  /**
   * Gives each file its path: `<folder>/<name>` for the DID's own scope, `<folder>/<scope>/<name>`
   * for another. A name that a file system would turn into another (a `.` or `..` segment, an
   * empty one), or two files that would share a path (or one's path be the other's folder or
   * `.part`), get no path and fail with a sentence: never a file in the wrong place.
   */
  private assignPaths(job: JobRecord): void {
    const owners = new Map<string, FileRecord>();
    const folders = new Set<string>();
    const planned: [FileRecord, string][] = [];
    for (const file of job.files) {
      if (file.state === 'failed' && file.path === null) {
        delete file.error;
        file.state = 'waiting';
      }
      const relative = `${file.scope === job.scope ? '' : `${file.scope}/`}${file.name.replace(/^\/+/, '')}`;
      const problem =
        pathAmbiguity(file.name) ??
        (hasControlCharacters(relative) || ['.', '..'].includes(file.scope)
          ? 'its scope or name holds characters a path cannot'
          : null);
      const path = join(job.folder, relative);
      if (problem !== null || !path.startsWith(job.folder + sep)) {
        this.noPath(
          file,
          `${file.scope}:${file.name} is not downloaded: ${problem ?? 'its name leads out of the folder'}, so it would land on another file's path. Ask its owner for a copy under a plain name.`
        );
        continue;
      }
      planned.push([file, path]);
    }
    for (const [, path] of planned) {
      for (
        let parent = dirname(path);
        parent.startsWith(job.folder + sep);
        parent = dirname(parent)
      ) {
        folders.add(parent);
      }
    }
    for (const [file, path] of planned) {
      const other = owners.get(path) ?? owners.get(`${path}.part`);
      if (other || folders.has(path) || folders.has(`${path}.part`)) {
        this.noPath(
          file,
          `${file.scope}:${file.name} is not downloaded: its path ${path} is taken by another file of ${job.did}${other ? ` (${other.scope}:${other.name})` : ''}. Download it on its own into another folder.`
        );
        continue;
      }
      owners.set(path, file);
      owners.set(`${path}.part`, file);
      file.path = path;
    }
  }

  private noPath(file: FileRecord, sentence: string): void {
    file.path = null;
    file.state = 'failed';
    file.error = sentence;
  }

  /**
   * Where each file of the DID can be read: its AVAILABLE replicas with an http(s) or davs PFN,
   * one per RSE, in the order of Rucio's priorities.
   */
  private async sources(did: DidRef, signal: AbortSignal): Promise<Map<string, ReplicaSource[]>> {
    const sources = new Map<string, ReplicaSource[]>();
    for await (const line of this.rucio.lines<ReplicaLine>('POST', '/replicas/list', {
      body: {
        dids: [{ scope: did.scope, name: did.name }],
        schemes: ['https', 'http', 'davs'],
        all_states: false,
        sort: 'random'
      },
      context: { did: didString(did) },
      signal
    })) {
      const candidates = Object.entries(line.pfns ?? {})
        .filter(([pfn, about]) => {
          const rse = about.rse;
          return (
            rse !== undefined &&
            /^(https?|davs):\/\//i.test(pfn) &&
            (line.states?.[rse] ?? 'AVAILABLE') === 'AVAILABLE'
          );
        })
        .sort(([, a], [, b]) => (a.priority ?? 0) - (b.priority ?? 0));
      const chosen: ReplicaSource[] = [];
      for (const [pfn, about] of candidates) {
        if (chosen.some(c => c.rse === about.rse)) {
          continue;
        }
        try {
          chosen.push({ rse: about.rse as string, url: StorageReader.urlOf(pfn) });
        } catch {
          // A PFN with a "." or ".." segment names another file in a request: never read.
        }
      }
      sources.set(`${line.scope}:${line.name}`, chosen);
    }
    return sources;
  }

  /** Fetches one file from its replicas in turn, until one gives the right bytes. */
  private async fetchOne(
    job: JobRecord,
    file: FileRecord,
    sources: ReplicaSource[],
    signal: AbortSignal
  ): Promise<void> {
    const path = file.path as string;
    // The replica that failed for this file last time comes last.
    const failedBefore = file.state === 'failed' ? file.rse : undefined;
    file.state = 'running';
    delete file.error;
    if (sources.length === 0) {
      file.state = 'failed';
      file.error = `${file.scope}:${file.name} has no available replica that dlaas can read over HTTP(S). Retry later; if it persists, tell the data lake's admins.`;
      return;
    }
    const ordered = [
      ...sources.filter(s => s.rse !== failedBefore),
      ...sources.filter(s => s.rse === failedBefore)
    ];
    const problems: string[] = [];
    try {
      await mkdir(dirname(path), { recursive: true });
    } catch (error) {
      file.state = 'failed';
      file.error = diskProblem(dirname(path), error);
      return;
    }
    for (const source of ordered) {
      try {
        // A dropped connection is tried again on the same replica (it resumes from the part).
        const result = await retryDropped(
          () =>
            fetchFile(
              {
                did: `${file.scope}:${file.name}`,
                path,
                bytes: file.bytesTotal,
                adler32: file.adler32
              },
              source,
              this.access,
              bytes => {
                file.bytesDone = bytes;
              },
              signal
            ),
          error => error instanceof FetchError && error.dropped,
          signal
        );
        file.state = 'done';
        file.bytesDone = file.bytesTotal;
        file.rse = source.rse;
        file.reused = result.reused;
        if (result.resumedFrom !== undefined) {
          file.resumedFrom = result.resumedFrom;
        }
        return;
      } catch (error) {
        if (signal.aborted) {
          file.state = 'waiting';
          return;
        }
        file.rse = source.rse;
        const sentence =
          error instanceof FetchError
            ? error.message
            : `${file.scope}:${file.name} could not be downloaded from ${source.rse}. Retry the download.`;
        problems.push(sentence);
        log('warn', 'a file of a download failed', {
          job: job.id,
          did: `${file.scope}:${file.name}`,
          rse: source.rse,
          reason: sentence
        });
        if (!(error instanceof FetchError) || !error.replicaFault) {
          break;
        }
      }
    }
    file.state = 'failed';
    file.error =
      problems[problems.length - 1] ?? `${file.scope}:${file.name} could not be downloaded.`;
  }

  /** Records the job's bytes now, for its rate. */
  private sample(job: JobRecord): void {
    const running = this.running.get(job.id);
    if (!running) {
      return;
    }
    const now = Date.now();
    running.samples.push([now, bytesDone(job)]);
    while (running.samples.length > 2 && (running.samples[0]?.[0] ?? now) < now - RATE_WINDOW_MS) {
      running.samples.shift();
    }
  }

  private summary(job: JobRecord): Download {
    const total = job.files.reduce((sum, f) => sum + f.bytesTotal, 0);
    const done = bytesDone(job);
    let rate = 0;
    let left: number | null = null;
    const running = this.running.get(job.id);
    if (running && job.state === 'running') {
      this.sample(job);
      const first = running.samples[0];
      const last = running.samples[running.samples.length - 1];
      if (first && last && last[0] > first[0]) {
        rate = ((last[1] - first[1]) * 1000) / (last[0] - first[0]);
        left = rate > 0 ? Math.ceil((total - done) / rate) : null;
      }
    }
    const download: Download = {
      id: job.id,
      instance: this.rucio.instance.name,
      did: job.did,
      folder: job.folder,
      state: job.state,
      createdAt: job.createdAt,
      finishedAt: job.finishedAt,
      filesTotal: job.files.length,
      filesDone: job.files.filter(f => f.state === 'done').length,
      filesFailed: job.files.filter(f => f.state === 'failed').length,
      bytesTotal: total,
      bytesDone: done,
      bytesPerSecond: Math.round(rate),
      secondsLeft: left
    };
    if (job.error !== undefined) {
      download.error = job.error;
    }
    return download;
  }

  /** Reads the journal; jobs that ran when the companion stopped are interrupted. */
  private load(): void {
    let journal: Journal;
    try {
      journal = JSON.parse(readFileSync(this.options.journal, 'utf8')) as Journal;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        log('warn', 'the journal of downloads could not be read; it starts empty', {
          file: this.options.journal,
          reason: (error as Error).message
        });
      }
      return;
    }
    const jobs = Array.isArray(journal?.jobs) ? journal.jobs : [];
    // A journal edited by hand keeps only what can be shown.
    for (const job of jobs.filter(j => typeof j?.id === 'string' && Array.isArray(j.files))) {
      if (job.state === 'listing' || job.state === 'running') {
        job.state = 'interrupted';
        job.error = INTERRUPTED;
        job.finishedAt = job.finishedAt ?? new Date().toISOString();
        for (const file of job.files) {
          if (file.state === 'running') {
            file.state = 'waiting';
          }
        }
      }
      this.jobs.set(job.id, job);
    }
  }

  private saveSoon(): void {
    this.dirty = true;
    if (this.saveTimer === undefined) {
      this.saveTimer = setTimeout(() => this.saveNow(), JOURNAL_DELAY_MS);
      this.saveTimer.unref();
    }
  }

  /** Writes the journal (0600, in a 0700 folder), whole, by a rename. */
  private saveNow(): void {
    clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    if (!this.dirty) {
      return;
    }
    this.dirty = false;
    const journal: Journal = { version: 1, jobs: [...this.jobs.values()] };
    const file = this.options.journal;
    try {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      const next = `${file}.${process.pid}.next`;
      writeFileSync(next, JSON.stringify(journal), { mode: 0o600 });
      renameSync(next, file);
    } catch (error) {
      log('warn', 'the journal of downloads could not be written', {
        file,
        reason: (error as Error).message
      });
    }
  }
}

const INTERRUPTED =
  'The companion stopped while this download ran. Retry it to go on where it stopped: the files already there are kept, and partial ones continue.';

function bytesDone(job: JobRecord): number {
  return job.files.reduce((sum, f) => sum + (f.state === 'failed' ? 0 : f.bytesDone), 0);
}

function publicFile(file: FileRecord): DownloadFile {
  return { ...file };
}

/** A folder the user named: absolute, or `~/...` in the home. */
function checkedFolder(folder: string): string {
  if (hasControlCharacters(folder)) {
    throw badRequest('The folder name holds control characters. Name a plain folder.');
  }
  if (folder === '~' || folder.startsWith('~/')) {
    return resolve(join(homedir(), folder.slice(1)));
  }
  if (!isAbsolute(folder)) {
    throw badRequest(
      `"${folder.slice(0, 80)}" is not a folder dlaas can download into: give an absolute path, or one that starts with ~/.`
    );
  }
  const resolved = resolve(folder);
  if (resolved === sep) {
    throw badRequest('dlaas does not download into the root folder "/". Name a folder below it.');
  }
  return resolved;
}

/** Whether a text holds a NUL or another control character, which no path of ours may. */
function hasControlCharacters(text: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f]/.test(text);
}
