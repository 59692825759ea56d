/**
 * Download mode: the companion copies a DID's files from the lake into a folder of the user's
 * home, checks each against Rucio's Adler-32, and keeps a journal of its jobs on disk.
 */
import { Type, type Static } from '@sinclair/typebox';

/** `POST .../downloads` body. */
export const DownloadRequest = Type.Object(
  {
    did: Type.String({ minLength: 3, maxLength: 300 }),
    /**
     * Folder the files go to (absolute, or starting with `~/`); default
     * `<downloadDir>/<scope>/<name>/` of the instance (`~/datalake-downloads/...`).
     */
    folder: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 }))
  },
  { additionalProperties: false }
);
/** `POST .../downloads` body. */
export type DownloadRequest = Static<typeof DownloadRequest>;

/**
 * Where a download job is: `listing` (reading the DID's files and replicas from Rucio),
 * `running`, `done` (every file there and checked), `failed` (finished, some files failed:
 * `error` and the files say why), `cancelled` (by the user), `interrupted` (the companion stopped
 * while it ran). A retry of the last three resumes where the job stopped.
 */
export const DownloadState = Type.Union([
  Type.Literal('listing'),
  Type.Literal('running'),
  Type.Literal('done'),
  Type.Literal('failed'),
  Type.Literal('cancelled'),
  Type.Literal('interrupted')
]);
/** Where a download job is. */
export type DownloadState = Static<typeof DownloadState>;

/**
 * Where one file is: `waiting`, `running`, `done` (on disk under its final name, its Adler-32
 * equal to Rucio's), `failed` (`error` says why; a retry tries again).
 */
export const DownloadFileState = Type.Union([
  Type.Literal('waiting'),
  Type.Literal('running'),
  Type.Literal('done'),
  Type.Literal('failed')
]);
/** Where one file is. */
export type DownloadFileState = Static<typeof DownloadFileState>;

/** Counts of a job, or of one of its files. */
const Progress = {
  /** Bytes of the files, as Rucio counts them. */
  bytesTotal: Type.Number(),
  /** Bytes on disk and checked, or being written (a resumed file counts what it had). */
  bytesDone: Type.Number()
};

/** One file of a download job. */
export const DownloadFile = Type.Object({
  scope: Type.String(),
  name: Type.String(),
  /** Its path on this machine; null when its name cannot be a path (`error` says why). */
  path: Type.Union([Type.String(), Type.Null()]),
  state: DownloadFileState,
  ...Progress,
  /** Rucio's Adler-32 of the file. */
  adler32: Type.Union([Type.String(), Type.Null()]),
  /** The RSE the bytes came (or come) from. */
  rse: Type.Optional(Type.String()),
  /** True when the file was already there, whole and checked, and was not fetched again. */
  reused: Type.Optional(Type.Boolean()),
  /** Where its last transfer started: 0 for the whole file, more when a `.part` was resumed. */
  resumedFrom: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Why the file failed: a sentence that says what to do. */
  error: Type.Optional(Type.String())
});
/** One file of a download job. */
export type DownloadFile = Static<typeof DownloadFile>;

/** A download job, as the panel and the status bar show it. */
export const Download = Type.Object({
  id: Type.String(),
  instance: Type.String(),
  /** The DID downloaded, `scope:name`. */
  did: Type.String(),
  /** The folder the files go to. */
  folder: Type.String(),
  state: DownloadState,
  /** ISO 8601. */
  createdAt: Type.String(),
  /** When the job last ended (done, failed, cancelled), ISO 8601; null while it runs. */
  finishedAt: Type.Union([Type.String(), Type.Null()]),
  filesTotal: Type.Integer({ minimum: 0 }),
  filesDone: Type.Integer({ minimum: 0 }),
  filesFailed: Type.Integer({ minimum: 0 }),
  ...Progress,
  /** Bytes per second over the last seconds while running; 0 otherwise. */
  bytesPerSecond: Type.Number(),
  /** Estimated seconds to the end at that rate; null when not running or not known yet. */
  secondsLeft: Type.Union([Type.Number(), Type.Null()]),
  /** Why the job failed, was cancelled or interrupted, and what to do: a sentence. */
  error: Type.Optional(Type.String())
});
/** A download job. */
export type Download = Static<typeof Download>;

/** `GET .../downloads`: every job of the instance, newest first. */
export const DownloadsResponse = Type.Object({ downloads: Type.Array(Download) });
/** `GET .../downloads`. */
export type DownloadsResponse = Static<typeof DownloadsResponse>;

/**
 * `GET .../downloads/{id}?offset=&limit=`: the job and a window of its files (the files in the
 * order Rucio listed them; `total` is the job's file count).
 */
export const DownloadDetail = Type.Object({
  download: Download,
  files: Type.Object({
    items: Type.Array(DownloadFile),
    offset: Type.Integer({ minimum: 0 }),
    limit: Type.Integer({ minimum: 1 }),
    total: Type.Integer({ minimum: 0 }),
    complete: Type.Boolean()
  })
});
/** `GET .../downloads/{id}`. */
export type DownloadDetail = Static<typeof DownloadDetail>;
