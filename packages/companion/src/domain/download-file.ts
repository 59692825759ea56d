import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { request as httpRequest, type Agent as HttpAgent, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type Agent as HttpsAgent } from 'node:https';
import { pipeline } from 'node:stream/promises';
import { droppedConnection } from '../dropped.js';
import { Adler32, sameAdler32 } from '../adler32.js';
import { sharedChecksumThread, type ChecksumThread } from '../checksum-thread.js';
import { tame } from '../rucio/errors.js';

/** Redirects followed within the PFN's origin before giving up. */
const MAX_REDIRECTS = 5;

/** Where one replica of a file can be read. */
export interface ReplicaSource {
  readonly rse: string;
  /** http(s) URL (a davs PFN already turned into https). */
  readonly url: URL;
}

/** One file to fetch: where it goes and what Rucio says it is. */
export interface FileTarget {
  /** `scope:name`, for sentences. */
  readonly did: string;
  /** Final path; the bytes are written to `<path>.part` until they are checked. */
  readonly path: string;
  readonly bytes: number;
  readonly adler32: string | null;
}

/** How the storage is reached: agents (TLS options in them), headers per URL, timeout. */
export interface StorageAccess {
  readonly http: HttpAgent;
  readonly https: HttpsAgent;
  /** The credential headers a URL may carry (none over plain http to an untrusted host). */
  headers(url: URL): Promise<Record<string, string>>;
  /** Milliseconds a storage may stay silent (before its answer, or within it). */
  readonly timeoutMs: number;
  /** Where large files' Adler-32 is summed (the process's checksum thread when not given). */
  readonly checksums?: ChecksumThread;
}

/** What a fetch did: the bytes on disk were checked and renamed, or they were already there. */
export interface FetchResult {
  /** True when the final file was already there, whole and checked; nothing was fetched. */
  readonly reused: boolean;
  /** The offset the transfer resumed from (0 for a whole file; undefined when nothing was fetched). */
  readonly resumedFrom?: number;
}

/** A failure of one replica (try the next) or of the file itself (stop: the disk, say). */
export class FetchError extends Error {
  override readonly name = 'FetchError';
  constructor(
    message: string,
    /** True when another replica may do better (a storage error, a wrong checksum). */
    readonly replicaFault: boolean,
    /**
     * True when the storage dropped the connection (see dropped.ts): the same replica may do at
     * a second try, which resumes where the bytes stopped.
     */
    readonly dropped = false
  ) {
    super(message);
  }
}

/** Adds the first `length` bytes of a file (all of them when undefined) to `sum`. */
async function addFileTo(sum: Adler32, path: string, length?: number): Promise<Adler32> {
  if (length === 0) {
    return sum;
  }
  const stream = createReadStream(path, {
    highWaterMark: 1 << 20,
    ...(length === undefined ? {} : { start: 0, end: length - 1 })
  });
  for await (const chunk of stream) {
    sum.update(chunk as Buffer);
  }
  return sum;
}

/** The size of a file, or undefined when there is none. */
async function sizeOf(path: string): Promise<number | undefined> {
  try {
    const info = await stat(path);
    return info.isFile() ? info.size : -1;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw error;
  }
}

/** A sentence for a local file system error. */
export function diskProblem(path: string, error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return `The disk that holds ${path} is full. Free some space, then retry the download: it resumes where it stopped.`;
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return `dlaas may not write ${path}. Choose a folder you can write to, or fix its permissions, then retry.`;
  }
  if (code === 'ENOTDIR' || code === 'EISDIR') {
    return `${path} cannot be written: a file stands where a folder must be, or a folder where the file must be. Move it away, then retry.`;
  }
  return `dlaas could not write ${path} (${tame((error as Error).message, 120)}). Check the disk, then retry.`;
}

/**
 * Whether the file at `path` is the file Rucio describes: its size, then its Adler-32. A file
 * without a checksum in Rucio is taken on its size alone.
 */
async function isTheFile(path: string, target: FileTarget): Promise<boolean> {
  if ((await sizeOf(path)) !== target.bytes) {
    return false;
  }
  return (
    target.adler32 === null ||
    sameAdler32((await addFileTo(new Adler32(), path)).hex(), target.adler32)
  );
}

/**
 * Brings one file to `target.path`: nothing to do when a file of the right size and checksum is
 * already there; else the bytes go to `<path>.part` (continuing an earlier `.part` with a Range
 * request), the Adler-32 is computed as they are written (over the whole file), and only a file
 * whose checksum equals Rucio's is renamed to its final name. `progress` hears the bytes on disk.
 * Throws a {@link FetchError} with a sentence.
 */
export async function fetchFile(
  target: FileTarget,
  source: ReplicaSource,
  access: StorageAccess,
  progress: (bytesOnDisk: number) => void,
  signal: AbortSignal
): Promise<FetchResult> {
  const part = `${target.path}.part`;
  try {
    const existing = await sizeOf(target.path);
    if (existing !== undefined) {
      if (await isTheFile(target.path, target)) {
        progress(target.bytes);
        return { reused: true };
      }
      throw new FetchError(
        `${target.path} is already there and is not ${target.did} (its size or checksum differs). Move it away or delete it, then retry: dlaas does not overwrite it.`,
        false
      );
    }
    let had = (await sizeOf(part)) ?? 0;
    if (had < 0 || had > target.bytes) {
      // Not a part of this file (a folder, or longer than the file): start again.
      await rm(part, { recursive: true, force: true });
      had = 0;
    }
    const first = await transfer(target, part, had, source, access, progress, signal);
    if (target.adler32 !== null && !sameAdler32(first.adler32, target.adler32)) {
      await rm(part, { force: true });
      if (first.from > 0) {
        // The part on disk may be what was wrong: one more try, from the start.
        const again = await transfer(target, part, 0, source, access, progress, signal);
        if (sameAdler32(again.adler32, target.adler32)) {
          await rename(part, target.path);
          return { reused: false, resumedFrom: again.from };
        }
        await rm(part, { force: true });
      }
      throw new FetchError(
        `The bytes of ${target.did} from ${source.rse} do not match Rucio's checksum (Adler-32 ${first.adler32}, Rucio says ${target.adler32}), so they were thrown away. Retry the download; if it fails again, tell the data lake's admins that this replica may be damaged.`,
        true
      );
    }
    await rename(part, target.path);
    return { reused: false, resumedFrom: first.from };
  } catch (error) {
    if (error instanceof FetchError || signal.aborted) {
      throw error;
    }
    throw new FetchError(diskProblem(target.path, error), false);
  }
}

/**
 * GETs the bytes from `had` on into `part` (a closed Range request when resuming: XRootD 5.5
 * mishandles open ones), checking what the storage says it sends. A storage that answers 200 to a
 * Range request sends the whole file, which then replaces the part. Returns the offset written
 * from and the Adler-32 of the whole part: the bytes kept on disk are read once, before the new
 * ones are summed as they stream by, so the file is never read back. A whole file of
 * {@link THREAD_SUM_BYTES} or more is summed on the checksum thread, each 1 MiB as its write
 * lands, so that the main thread only moves bytes (Adler-32 costs it 0.6 s per GiB).
 */
async function transfer(
  target: FileTarget,
  part: string,
  had: number,
  source: ReplicaSource,
  access: StorageAccess,
  progress: (bytesOnDisk: number) => void,
  signal: AbortSignal
): Promise<{ from: number; adler32: string }> {
  const storage = `The storage of ${source.rse}`;
  const sum = new Adler32();
  if (had === target.bytes || target.bytes === 0) {
    if (target.bytes === 0) {
      await pipeline(async function* () {}, createWriteStream(part));
    } else {
      await addFileTo(sum, part, had);
    }
    progress(target.bytes);
    return { from: had, adler32: sum.hex() };
  }
  const headers: Record<string, string> = {
    ...(await access.headers(source.url)),
    'Accept-Encoding': 'identity'
  };
  if (had > 0) {
    headers['Range'] = `bytes=${had}-${target.bytes - 1}`;
  }
  const response = await get(source.url, headers, access, storage, signal);
  const status = response.statusCode ?? 0;
  const refuse = (sentence: string, replicaFault = true): never => {
    response.destroy();
    throw new FetchError(`${storage} ${sentence}`, replicaFault);
  };
  if (status === 401 || status === 403) {
    refuse(
      `refused to send ${target.did} (${status}): your credentials do not let you read it there. Sign in again, or ask the data lake's admins.`
    );
  }
  if (status !== 200 && status !== 206) {
    refuse(
      `answered ${status} for ${target.did}. Retry later; if it persists, tell the data lake's admins.`
    );
  }
  let from = 0;
  if (status === 206) {
    const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(response.headers['content-range'] ?? '');
    if (
      !range ||
      Number(range[1]) !== had ||
      Number(range[2]) !== target.bytes - 1 ||
      (range[3] !== '*' && Number(range[3]) !== target.bytes)
    ) {
      refuse(
        `sent another part of ${target.did} than the one asked for (${tame(response.headers['content-range'] ?? 'none named', 60)} for bytes ${had}-${target.bytes - 1}/${target.bytes}). Retry; if it persists, tell the data lake's admins.`
      );
    }
    from = had;
    await addFileTo(sum, part, had);
  }
  const announced = response.headers['content-length'];
  const wanted = target.bytes - from;
  if (announced !== undefined && Number(announced) !== wanted) {
    refuse(
      `announced ${announced} bytes for ${target.did} where ${wanted} were expected (Rucio says the file has ${target.bytes}). Retry; if it persists, tell the data lake's admins.`
    );
  }
  const checksums = access.checksums ?? sharedChecksumThread;
  const onThread =
    from === 0 && wanted >= THREAD_SUM_BYTES && (await checksums.ready())
      ? checksums.adlerStream(target.path)
      : undefined;
  let written = 0;
  try {
    written = await writeAnswer(
      response,
      part,
      from,
      chunk => {
        if (written + chunk.length > wanted) {
          throw new FetchError(
            `${storage} sent more bytes of ${target.did} than the file has. Retry; if it persists, tell the data lake's admins.`,
            true
          );
        }
        written += chunk.length;
        if (!onThread) {
          sum.update(chunk);
        }
        progress(from + written);
      },
      onThread && (piece => onThread.add(piece))
    );
  } catch (error) {
    onThread?.cancel();
    if (error instanceof FetchError || signal.aborted) {
      throw error;
    }
    if (isDiskError(error)) {
      throw error; // the caller says what is wrong with the disk
    }
    throw new FetchError(
      `${storage} broke off sending ${target.did} after ${from + written} of ${target.bytes} bytes (${tame((error as Error).message, 120)}). Retry the download: it resumes where it stopped.`,
      true,
      droppedConnection(error)
    );
  }
  if (written !== wanted) {
    onThread?.cancel();
    throw new FetchError(
      `${storage} sent ${from + written} of the ${target.bytes} bytes of ${target.did} and stopped. Retry the download: it resumes where it stopped.`,
      true
    );
  }
  if (!onThread) {
    return { from, adler32: sum.hex() };
  }
  try {
    return { from, adler32: await onThread.end() };
  } catch (error) {
    // The thread stopped: its sentence says so, and what to do.
    throw new FetchError((error as Error).message, false);
  }
}

/** Files of at least this many bytes are summed on the checksum thread (see {@link transfer}). */
const THREAD_SUM_BYTES = 4 * 1024 * 1024;

/**
 * Bytes gathered from the answer before one write to the part file. Node's HTTP client hands an
 * answer over in pieces of up to 64 KiB; written one by one through a write stream (a round trip
 * to libuv's thread pool each), a 1 GiB GET from devlake's XRootD reached 510-610 MB/s where curl
 * reached 600-740; gathered into 1 MiB writes, 710-770 MB/s (the same run, machine busy).
 */
const WRITE_BATCH = 1024 * 1024;

/**
 * Writes the answer's bytes into `part` from `from` on, in writes of {@link WRITE_BATCH} with one
 * write under way while the next one gathers; `each` sees every piece before it is written (and
 * may throw to stop). With `landed`, each write's pieces are first made one buffer, which
 * `landed` gets, in order, once it is written (and may keep: nothing here uses it after). Returns
 * the bytes written. Errors of the file keep their `syscall`.
 */
async function writeAnswer(
  response: IncomingMessage,
  part: string,
  from: number,
  each: (chunk: Buffer) => void,
  landed?: (written: Buffer) => void
): Promise<number> {
  const file = await open(part, from > 0 ? 'r+' : 'w');
  let position = from;
  let batch: Buffer[] = [];
  let gathered = 0;
  let writing: Promise<void> = Promise.resolve();
  const flush = async (): Promise<void> => {
    await writing;
    if (landed && gathered > 0) {
      const whole = Buffer.concat(batch, gathered);
      writing = writeAll(file, [whole], position).then(() => landed(whole));
    } else {
      writing = writeAll(file, batch, position);
    }
    position += gathered;
    batch = [];
    gathered = 0;
  };
  try {
    for await (const chunk of response as AsyncIterable<Buffer>) {
      each(chunk);
      batch.push(chunk);
      gathered += chunk.length;
      if (gathered >= WRITE_BATCH) {
        await flush();
      }
    }
    await flush();
    await writing;
    return position - from;
  } catch (error) {
    // What arrived before the answer broke off is kept, so that a retry resumes after it.
    await writing.then(
      () => writeAll(file, batch, position),
      () => undefined
    );
    throw error;
  } finally {
    await file.close();
  }
}

/** Writes every byte of `buffers` at `position` (a write may take fewer than it was given). */
async function writeAll(file: FileHandle, buffers: Buffer[], position: number): Promise<void> {
  let rest = buffers;
  let at = position;
  while (rest.length > 0) {
    const { bytesWritten } = await file.writev(rest, at);
    at += bytesWritten;
    let skip = bytesWritten;
    while (rest.length > 0 && skip >= (rest[0] as Buffer).length) {
      skip -= (rest[0] as Buffer).length;
      rest = rest.slice(1);
    }
    if (skip > 0) {
      rest = [(rest[0] as Buffer).subarray(skip), ...rest.slice(1)];
    }
  }
}

/** Whether an error of the transfer came from the file being written, not from the storage. */
function isDiskError(error: unknown): boolean {
  const syscall = (error as NodeJS.ErrnoException).syscall ?? '';
  return ['open', 'write', 'close', 'fsync', 'ftruncate'].includes(syscall);
}

/**
 * A GET with node:http(s) on kept-alive connections; a redirect is followed only within the
 * origin of `url` (same scheme, host and port), since the request carries the user's credentials.
 * The storage must answer, and keep sending, within `access.timeoutMs`.
 */
async function get(
  url: URL,
  headers: Record<string, string>,
  access: StorageAccess,
  storage: string,
  signal: AbortSignal
): Promise<IncomingMessage> {
  let current = url;
  for (let hop = 0; ; hop++) {
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const secure = current.protocol === 'https:';
      let answer: IncomingMessage | undefined;
      const request = (secure ? httpsRequest : httpRequest)(
        current,
        { method: 'GET', headers, agent: secure ? access.https : access.http, signal },
        response => {
          answer = response;
          resolve(response);
        }
      );
      // The socket's idle time, before the answer and within it: the answer's reader hears why.
      request.setTimeout(access.timeoutMs, () => {
        const silent = new FetchError(
          `${storage} sent nothing for ${access.timeoutMs / 1000} s. Retry the download: it resumes where it stopped.`,
          true
        );
        answer?.destroy(silent);
        request.destroy(silent);
      });
      request.once('error', error => {
        reject(
          error instanceof FetchError || signal.aborted
            ? error
            : new FetchError(
                `${storage} (${current.host}) cannot be reached (${tame(error.message, 120)}). Retry later: the download resumes where it stopped.`,
                true,
                droppedConnection(error)
              )
        );
      });
      request.end();
    });
    const location = response.headers.location;
    const status = response.statusCode ?? 0;
    if (![301, 302, 303, 307, 308].includes(status) || location === undefined) {
      return response;
    }
    response.resume();
    const next = new URL(location, current);
    if (next.origin !== current.origin) {
      throw new FetchError(
        `${storage} redirected a request that carries your credentials to another address (${next.protocol}//${next.host}); dlaas does not send credentials on to another host. Tell the data lake's admins.`,
        true
      );
    }
    if (hop >= MAX_REDIRECTS) {
      throw new FetchError(
        `${storage} redirected a request more than ${MAX_REDIRECTS} times. Tell the data lake's admins.`,
        true
      );
    }
    current = next;
  }
}
