import { randomUUID } from 'node:crypto';

/** FTS3 file states that Rucio's fts3 transfer tool reads. */
export type FileState = 'SUBMITTED' | 'ACTIVE' | 'FINISHED' | 'FAILED' | 'CANCELED';

/** FTS3 job states. */
export type JobState =
  'SUBMITTED' | 'ACTIVE' | 'FINISHED' | 'FAILED' | 'FINISHEDDIRTY' | 'CANCELED';

/** One file of a submitted job, as FTS3 reports it. */
export interface TransferFile {
  file_state: FileState;
  reason: string;
  source_surl: string;
  dest_surl: string;
  start_time: string | null;
  finish_time: string | null;
  staging_start: string | null;
  staging_finished: string | null;
  file_metadata: Record<string, unknown>;
  /** What was submitted, kept for the copy. */
  filesize: number | null;
  checksum: string | null;
}

/** A submitted job. */
export interface TransferJob {
  job_id: string;
  job_state: JobState;
  job_metadata: Record<string, unknown>;
  submit_time: string;
  files: TransferFile[];
}

/** The part of a submission (`POST /jobs`) the service uses. */
export interface JobSubmission {
  files: {
    sources: string[];
    destinations: string[];
    metadata?: Record<string, unknown>;
    filesize?: number | null;
    checksum?: string | null;
  }[];
  params?: { job_metadata?: Record<string, unknown> };
}

/** FTS3's time format: `%Y-%m-%dT%H:%M:%S` in UTC. */
export function ftsTime(date = new Date()): string {
  return date.toISOString().slice(0, 19);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Checks a submission body; returns a sentence saying what is wrong, or the submission.
 */
export function parseSubmission(body: unknown): JobSubmission | string {
  if (!isRecord(body) || !Array.isArray(body['files']) || body['files'].length === 0) {
    return 'A job needs a non-empty "files" list.';
  }
  for (const [index, file] of body['files'].entries()) {
    if (!isRecord(file)) {
      return `files[${index}] is not an object.`;
    }
    for (const key of ['sources', 'destinations'] as const) {
      const list = file[key];
      if (
        !Array.isArray(list) ||
        list.length === 0 ||
        !list.every(u => typeof u === 'string' && /^https?:\/\//.test(u))
      ) {
        return `files[${index}].${key} must be a non-empty list of http:// or https:// URLs.`;
      }
    }
  }
  return body as unknown as JobSubmission;
}

/** Creates a job from a checked submission; each file starts SUBMITTED with the first source. */
export function createJob(submission: JobSubmission): TransferJob {
  return {
    job_id: randomUUID(),
    job_state: 'SUBMITTED',
    job_metadata: submission.params?.job_metadata ?? {},
    submit_time: ftsTime(),
    files: submission.files.map(file => ({
      file_state: 'SUBMITTED',
      reason: '',
      source_surl: file.sources[0] as string,
      dest_surl: file.destinations[0] as string,
      start_time: null,
      finish_time: null,
      staging_start: null,
      staging_finished: null,
      file_metadata: file.metadata ?? {},
      filesize: file.filesize ?? null,
      checksum: file.checksum ?? null
    }))
  };
}

/** A job's state from its files' states, as FTS3 derives it. */
export function jobState(files: readonly TransferFile[]): JobState {
  const states = new Set(files.map(f => f.file_state));
  if (states.has('ACTIVE') || (states.has('SUBMITTED') && states.size > 1)) {
    return 'ACTIVE';
  }
  if (states.size === 1) {
    return files[0]?.file_state ?? 'FINISHED';
  }
  return states.has('FINISHED') ? 'FINISHEDDIRTY' : states.has('FAILED') ? 'FAILED' : 'CANCELED';
}

/** The job as `GET /jobs/{id}` answers it (without the service's own bookkeeping). */
export function jobView(job: TransferJob): Record<string, unknown> {
  return {
    job_id: job.job_id,
    http_status: '200 Ok',
    job_state: job.job_state,
    job_metadata: job.job_metadata,
    submit_time: job.submit_time,
    files: job.files.map(({ filesize: _size, checksum: _checksum, ...file }) => file)
  };
}

/**
 * Returns the first failure pattern that matches the file's DID (`scope:name` from its metadata),
 * its source or its destination.
 */
export function matchingFailure(
  file: TransferFile,
  patterns: readonly RegExp[]
): RegExp | undefined {
  const meta = file.file_metadata;
  const did =
    typeof meta['scope'] === 'string' && typeof meta['name'] === 'string'
      ? `${meta['scope']}:${meta['name']}`
      : '';
  return patterns.find(p => p.test(did) || p.test(file.source_surl) || p.test(file.dest_surl));
}
