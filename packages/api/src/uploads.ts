/**
 * Upload ("store back"): the wire contract of `GET .../upload-targets` and `.../uploads`.
 */
import { Type, type Static } from '@sinclair/typebox';

/** A scope the account may create DIDs in. */
export const UploadScope = Type.Object({
  scope: Type.String(),
  /** The account's own scope (`user.<account>`): what the dialog offers first. */
  own: Type.Boolean()
});
/** A scope the account may create DIDs in. */
export type UploadScope = Static<typeof UploadScope>;

/** An RSE the account may upload to, with Rucio's numbers for the account's quota there. */
export const UploadRse = Type.Object({
  rse: Type.String(),
  /** The account's limit on the RSE in bytes; null when unlimited. */
  limitBytes: Type.Union([Type.Number(), Type.Null()]),
  /** What Rucio counts as used (its counters lag by a few minutes). */
  usedBytes: Type.Number(),
  /** Limit minus usage minus what this companion's unfinished uploads will add; null when unlimited. */
  freeBytes: Type.Union([Type.Number(), Type.Null()]),
  /** Whether the RSE accepts new data now (its admins may block writing). */
  writable: Type.Boolean()
});
/** An RSE the account may upload to. */
export type UploadRse = Static<typeof UploadRse>;

/** `GET .../upload-targets`: what the user may upload to, for the upload dialog. */
export const UploadTargetsResponse = Type.Object({
  account: Type.String(),
  scopes: Type.Array(UploadScope),
  rses: Type.Array(UploadRse),
  /**
   * Metadata keys with a column of their own in Rucio (the search filter's keys); any other key
   * matching {@link METADATA_KEY_PATTERN} is kept as custom metadata.
   */
  metadataKeys: Type.Array(Type.String()),
  /** The lifetime the dialog proposes, in seconds (the instance's rule lifetime). */
  defaultLifetimeSeconds: Type.Integer()
});
/** `GET .../upload-targets`. */
export type UploadTargetsResponse = Static<typeof UploadTargetsResponse>;

/** The keys metadata may have (as in search filters). */
export const METADATA_KEY_PATTERN = '^[A-Za-z_][A-Za-z0-9_]{0,63}$';

/** `POST .../uploads` body. */
export const UploadRequest = Type.Object(
  {
    /**
     * Local files and folders (absolute, or `~/` for the home of the user's server); folders are
     * walked recursively. A file becomes `<dataset>/<its name>`, a folder's files
     * `<dataset>/<folder name>/<path below the folder>`.
     */
    paths: Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), {
      minItems: 1,
      maxItems: 1000
    }),
    scope: Type.String({ minLength: 1, maxLength: 100 }),
    /** A new dataset's name, or an open dataset of the account's in `scope`. */
    dataset: Type.String({ minLength: 1, maxLength: 500 }),
    rse: Type.String({ minLength: 1, maxLength: 100 }),
    /** Lifetime of the dataset's rule in seconds; none keeps the data until it is deleted. */
    lifetimeSeconds: Type.Optional(Type.Integer({ minimum: 3600, maximum: 10 * 365 * 86400 })),
    /** Metadata set on the dataset. */
    metadata: Type.Optional(
      Type.Record(
        Type.String({ pattern: METADATA_KEY_PATTERN }),
        Type.Union([Type.String({ maxLength: 250 }), Type.Number(), Type.Boolean()]),
        { maxProperties: 50 }
      )
    )
  },
  { additionalProperties: false }
);
/** `POST .../uploads` body. */
export type UploadRequest = Static<typeof UploadRequest>;

/**
 * Where one file stands: `waiting`; `uploading` (bytes go to the storage), `verifying` (the
 * storage is asked what it holds), `registering` (replica, dataset); `done`; `failed` (nothing of
 * it is left registered or on the storage, unless `leftover`); `cancelled`.
 */
export const UploadFileState = Type.Union([
  Type.Literal('waiting'),
  Type.Literal('uploading'),
  Type.Literal('verifying'),
  Type.Literal('registering'),
  Type.Literal('done'),
  Type.Literal('failed'),
  Type.Literal('cancelled')
]);
/** Where one file stands. */
export type UploadFileState = Static<typeof UploadFileState>;

/** One file of an upload. */
export const UploadFile = Type.Object({
  /** The local file. */
  path: Type.String(),
  /** Its DID name in the job's scope. */
  name: Type.String(),
  bytesTotal: Type.Number(),
  bytesDone: Type.Number(),
  state: UploadFileState,
  /** Computed while the bytes went out; null before. */
  adler32: Type.Union([Type.String(), Type.Null()]),
  md5: Type.Union([Type.String(), Type.Null()]),
  /** Why it failed, as a sentence. */
  error: Type.Union([Type.String(), Type.Null()]),
  /**
   * Bytes of a failed attempt may still be on the storage (it could not be reached to delete
   * them); a retry removes them before anything else.
   */
  leftover: Type.Boolean()
});
/** One file of an upload. */
export type UploadFile = Static<typeof UploadFile>;

/**
 * Where a job stands: `running`; `done`; `failed` (some files failed: retry resumes);
 * `cancelled`; `interrupted` (the companion stopped while it ran: retry resumes).
 */
export const UploadState = Type.Union([
  Type.Literal('running'),
  Type.Literal('done'),
  Type.Literal('failed'),
  Type.Literal('cancelled'),
  Type.Literal('interrupted')
]);
/** Where a job stands. */
export type UploadState = Static<typeof UploadState>;

/** An upload job with its progress. */
export const UploadJob = Type.Object({
  id: Type.String(),
  instance: Type.String(),
  account: Type.String(),
  scope: Type.String(),
  dataset: Type.String(),
  /** `scope:dataset`. */
  did: Type.String(),
  rse: Type.String(),
  lifetimeSeconds: Type.Union([Type.Integer(), Type.Null()]),
  metadata: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()])),
  state: UploadState,
  /** ISO times. */
  createdAt: Type.String(),
  finishedAt: Type.Union([Type.String(), Type.Null()]),
  filesTotal: Type.Integer({ minimum: 0 }),
  filesDone: Type.Integer({ minimum: 0 }),
  filesFailed: Type.Integer({ minimum: 0 }),
  bytesTotal: Type.Number(),
  /** Bytes on the storage and checked, or being sent now. */
  bytesDone: Type.Number(),
  /** Bytes per second over the last seconds while running; 0 otherwise. */
  bytesPerSecond: Type.Number(),
  /** Estimated seconds to the end at that rate; null when not running or not known yet. */
  secondsLeft: Type.Union([Type.Number(), Type.Null()]),
  /** Why the job failed, was cancelled or interrupted, and what to do: a sentence. */
  error: Type.Optional(Type.String()),
  /** Local entries left out (links leading out of a chosen folder, say), and why. */
  skipped: Type.Array(Type.Object({ path: Type.String(), reason: Type.String() }))
});
/** An upload job with its progress. */
export type UploadJob = Static<typeof UploadJob>;

/** `GET .../uploads`: the jobs the companion knows, newest first (kept across restarts). */
export const UploadsResponse = Type.Object({ uploads: Type.Array(UploadJob) });
/** `GET .../uploads`. */
export type UploadsResponse = Static<typeof UploadsResponse>;

/**
 * `GET .../uploads/{id}?offset=&limit=` (and the answer of `POST .../uploads`, `.../cancel`,
 * `.../retry`): the job and a window of its files, in the order they are sent.
 */
export const UploadDetail = Type.Object({
  upload: UploadJob,
  files: Type.Object({
    items: Type.Array(UploadFile),
    offset: Type.Integer({ minimum: 0 }),
    limit: Type.Integer({ minimum: 1 }),
    total: Type.Integer({ minimum: 0 }),
    complete: Type.Boolean()
  })
});
/** `GET .../uploads/{id}`. */
export type UploadDetail = Static<typeof UploadDetail>;
