import { randomBytes } from 'node:crypto';
import {
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

/**
 * The upload jobs of one instance on disk: one JSON file per job (mode 0600, in a folder made
 * 0700), replaced whole at each save (written under a fresh name, then renamed), so that a
 * companion killed at any moment leaves the last saved state, never half a file.
 */
export class UploadJournal {
  constructor(readonly folder: string) {}

  /** The jobs saved earlier; unreadable files are logged and left alone. */
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
        const job = JSON.parse(readFileSync(join(this.folder, name), 'utf8')) as JournalJob;
        if (job.version === 1 && Array.isArray(job.files)) {
          jobs.push(job);
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

  /** Saves a job, replacing its earlier state. */
  save(job: JournalJob): void {
    mkdirSync(this.folder, { recursive: true, mode: 0o700 });
    const target = join(this.folder, `${job.id}.json`);
    const fresh = join(this.folder, `.${job.id}.${randomBytes(4).toString('hex')}.new`);
    writeFileSync(fresh, JSON.stringify(job), { flag: 'wx', mode: 0o600 });
    chmodSync(fresh, 0o600);
    renameSync(fresh, target);
  }

  /** Forgets a job. */
  remove(id: string): void {
    rmSync(join(this.folder, `${id}.json`), { force: true });
  }

  /** A new job id (16 hex digits). */
  static newId(): string {
    return randomBytes(8).toString('hex');
  }
}
