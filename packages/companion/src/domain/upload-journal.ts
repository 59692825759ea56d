import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  chmodSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync
} from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { log } from '../log.js';

/**
 * How far one file has come, as journaled: `waiting` (nothing of it anywhere), `uploading` (its
 * PUT may have begun: the storage may hold part of it), `uploaded` (the storage holds all of it,
 * checked; Rucio may or may not have its replica: a registration whose answer was lost), then
 * `registered` (Rucio has the replica) and `done` (attached to the dataset).
 */
export type FilePhase = 'waiting' | 'uploading' | 'uploaded' | 'registered' | 'done';

/** One file of a journaled job. */
export interface JournalFile {
  readonly path: string;
  readonly name: string;
  readonly bytes: number;
  phase: FilePhase;
  /** Where its bytes go, once known (so that cleaning up needs only the storage). */
  pfn: string | null;
  adler32: string | null;
  md5: string | null;
  /** Why its last attempt failed; null while it has not failed. */
  error: string | null;
  /** Cancelled by the user before it was done. */
  cancelled: boolean;
}

/** A job as journaled on disk (what a restarted companion needs to resume it). */
export interface JournalJob {
  readonly version: 1;
  readonly id: string;
  readonly instance: string;
  readonly account: string;
  readonly scope: string;
  readonly dataset: string;
  readonly rse: string;
  readonly lifetimeSeconds: number | null;
  readonly metadata: Record<string, string | number | boolean>;
  readonly createdAt: string;
  state: 'running' | 'done' | 'failed' | 'cancelled' | 'interrupted';
  finishedAt: string | null;
  error: string | null;
  /** Whether this job makes the dataset, and whether the dataset, its metadata and its rule are done. */
  readonly newDataset: boolean;
  datasetReady: boolean;
  readonly skipped: { path: string; reason: string }[];
  readonly files: JournalFile[];
}

/**
 * Where an instance's upload journal is kept: `$XDG_DATA_HOME/dlaas/uploads/<instance>/`
 * (`~/.local/share` by default), beside the device sign-in's tokens: private to the user, kept
 * across restarts.
 */
export function defaultUploadsFolder(
  instance: string,
  env: NodeJS.ProcessEnv = process.env
): string {
  const xdg = env['XDG_DATA_HOME'];
  const base = xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.local', 'share');
  return join(base, 'dlaas', 'uploads', instance);
}

/** One line of a job's file log: file `i` of the job as it stands after change `seq`. */
interface FileLine {
  readonly seq: number;
  readonly i: number;
  readonly file: JournalFile;
}

/** What the journal knows of a job's log. */
interface LogState {
  /** File changes logged so far (the snapshot holds those up to its own `seq`). */
  seq: number;
  /** Lines in the log file now. */
  lines: number;
  /** Whether the job has a snapshot on disk (the log means nothing without one). */
  saved: boolean;
  /** Each file's place in the job's list, made when first needed. */
  readonly index: Map<JournalFile, number>;
}

/** A job as saved whole, with the number of file changes logged before it. */
type Snapshot = JournalJob & { readonly seq?: number };

/**
 * The upload jobs of one instance on disk, per job: `<id>.json`, the job saved whole (mode 0600,
 * in a folder made 0700; written under a fresh name, then renamed, so that a companion killed at
 * any moment leaves the last saved state, never half a file), and `<id>.log`, the changes of
 * single files since then, one JSON line each. A file's step (its PUT begun, its bytes checked,
 * its replica registered) appends a line instead of writing the whole job again, which at a
 * thousand files would write the job thousands of times (quadratic); the log is folded into a new
 * snapshot once it holds more lines than the job has files, and whenever the job itself changes.
 * A line cut short by a kill is the last one, and is left out on reading.
 */
export class UploadJournal {
  /** Per job id: changes logged so far, lines in the log now, and each file's index. */
  private readonly logs = new Map<string, LogState>();

  constructor(readonly folder: string) {}

  /** The jobs saved earlier, with their logged file changes; unreadable files are logged and left alone. */
  load(): JournalJob[] {
    let names: string[];
    try {
      names = readdirSync(this.folder);
    } catch {
      return [];
    }
    const jobs: JournalJob[] = [];
    for (const name of names.filter(n => /^[0-9a-f]{16}\.json$/.test(n))) {
      try {
        const job = JSON.parse(readFileSync(join(this.folder, name), 'utf8')) as Snapshot;
        if (job.version === 1 && Array.isArray(job.files)) {
          jobs.push(this.replay(job));
        }
      } catch (error) {
        log('warn', 'an upload journal file could not be read; it is left as it is', {
          file: join(this.folder, name),
          reason: (error as Error).message
        });
      }
    }
    return jobs;
  }

  /** A snapshot with the file changes logged after it applied. */
  private replay(snapshot: Snapshot): JournalJob {
    const { seq: savedSeq, ...job } = snapshot;
    let seq = savedSeq ?? 0;
    let text = '';
    try {
      text = readFileSync(this.logOf(job.id), 'utf8');
    } catch {
      // No log: nothing changed since the snapshot.
    }
    for (const line of text.split('\n')) {
      let entry: FileLine;
      try {
        entry = JSON.parse(line) as FileLine;
      } catch {
        continue; // an empty line, or the last one cut short by a kill
      }
      if (entry.seq > seq && Number.isInteger(entry.i) && job.files[entry.i] !== undefined) {
        job.files[entry.i] = entry.file;
        seq = entry.seq;
      }
    }
    this.logs.set(job.id, { seq, lines: 0, saved: true, index: new Map() });
    return job;
  }

  /** Saves a job whole, replacing its earlier state and log. */
  save(job: JournalJob): void {
    const state = this.stateOf(job);
    mkdirSync(this.folder, { recursive: true, mode: 0o700 });
    const target = join(this.folder, `${job.id}.json`);
    const fresh = join(this.folder, `.${job.id}.${randomBytes(4).toString('hex')}.new`);
    const snapshot: Snapshot = { ...job, seq: state.seq };
    writeFileSync(fresh, JSON.stringify(snapshot), { flag: 'wx', mode: 0o600 });
    chmodSync(fresh, 0o600);
    renameSync(fresh, target);
    // Lines up to seq are in the snapshot (and would be skipped if the log outlived it).
    rmSync(this.logOf(job.id), { force: true });
    state.lines = 0;
    state.saved = true;
  }

  /**
   * Saves the state of some files of a job: appends a line per file to the job's log, or saves
   * the job whole when there is none yet or the log has grown longer than the job.
   */
  saveFiles(job: JournalJob, files: readonly JournalFile[]): void {
    const state = this.stateOf(job);
    if (state.lines + files.length > Math.max(job.files.length, 64) || !state.saved) {
      state.seq += files.length;
      this.save(job);
      return;
    }
    if (state.index.size === 0) {
      job.files.forEach((file, i) => state.index.set(file, i));
    }
    let text = '';
    for (const file of files) {
      const i = state.index.get(file);
      if (i === undefined) {
        throw new Error('saveFiles was given a file of another job');
      }
      state.seq += 1;
      text += `${JSON.stringify({ seq: state.seq, i, file } satisfies FileLine)}\n`;
    }
    appendFileSync(this.logOf(job.id), text, { mode: 0o600 });
    state.lines += files.length;
  }

  private stateOf(job: JournalJob): LogState {
    let state = this.logs.get(job.id);
    if (!state) {
      state = { seq: 0, lines: 0, saved: false, index: new Map() };
      this.logs.set(job.id, state);
    }
    return state;
  }

  private logOf(id: string): string {
    return join(this.folder, `${id}.log`);
  }

  /** Forgets a job. */
  remove(id: string): void {
    rmSync(join(this.folder, `${id}.json`), { force: true });
    rmSync(this.logOf(id), { force: true });
    this.logs.delete(id);
  }

  /** A new job id (16 hex digits). */
  static newId(): string {
    return randomBytes(8).toString('hex');
  }
}
