import { Worker } from 'node:worker_threads';
import { Adler32 } from './adler32.js';
import { AppError } from './errors.js';
import { log } from './log.js';

/** The checksums Rucio keeps of a file, in its form (lower-case hex). */
export interface Checksums {
  readonly adler32: string;
  readonly md5: string;
}

/** The checksums of one file, on their way from the thread. */
export interface ChecksumJob {
  /**
   * The checksums; fails with the job's abort reason once it is aborted or cancelled, with a
   * {@link FileLengthChanged} for a file that is not `size` bytes long when read, or with an
   * {@link AppError} when the file cannot be read or the thread stopped.
   */
  readonly result: Promise<Checksums>;
  /** Stops the job (the thread stops reading the file at its next chunk). */
  cancel(): void;
}

/**
 * A file that held fewer or more bytes than it was to have when the thread read it: the caller
 * words it for its own user (an upload says the file changed while it was being uploaded).
 */
export class FileLengthChanged extends Error {
  override readonly name = 'FileLengthChanged';
}

/** A job for the thread: the checksums of the first `size` bytes of `path`. */
interface ChecksumAsk {
  readonly id: number;
  readonly path: string;
  readonly size: number;
  /** Whether the thread sums the Adler-32 too (else MD5 only: the caller sums the Adler-32). */
  readonly adler: boolean;
}

/**
 * A stream job for the thread: the Adler-32 of bytes handed over in order (a download's, as they
 * are written), `start`ed, then each piece (its memory moved to the thread, not copied), then
 * `end`, which the thread answers.
 */
type AdlerStreamMessage =
  | { readonly id: number; readonly stream: 'start' | 'end' }
  | { readonly id: number; readonly piece: Uint8Array };

/** Asks the thread to stop job `cancel`. */
interface ChecksumCancel {
  readonly cancel: number;
}

/** The thread's answer to a job (a cancelled job has none). */
type ChecksumAnswer =
  | {
      readonly id: number;
      readonly ok: true;
      readonly adler32: string;
      /** Null for a stream job (Adler-32 only). */
      readonly md5: string | null;
    }
  | { readonly id: number; readonly ok: false; readonly problem: 'length' }
  | { readonly id: number; readonly ok: false; readonly problem: 'read'; readonly message: string };

/** The end of the sentence for a job whose thread stopped: an upload's, and a download's. */
const RETRY_UPLOAD = "Retry the upload; if it persists, tell the hub's admins.";
const RETRY_DOWNLOAD =
  "Retry the download: the bytes on disk are kept; if it persists, tell the hub's admins.";

/** Bytes the thread reads and sums at a time; a cancel waits at most for one of them. */
const CHUNK_BYTES = 1024 * 1024;

/**
 * The checksum thread: MD5 (Node's OpenSSL) and Adler-32 of files it reads itself, several
 * jobs at a time (each one reads and sums a chunk, then lets the others and the messages in).
 * It runs as the source of a worker (`eval`: the companion is bundled, so a worker cannot be a
 * module file of its own), so it is self-contained: Node's modules come from
 * `process.getBuiltinModule`, which no bundler rewrites, and the Adler-32 class is handed in as
 * source, the one implementation of adler32.ts.
 */
function checksumThread(Sum: typeof Adler32, chunkBytes: number): void {
  const { open } = process.getBuiltinModule('node:fs/promises');
  const { createHash } = process.getBuiltinModule('node:crypto');
  const { parentPort } = process.getBuiltinModule('node:worker_threads');
  /** The jobs being read, and whether each is cancelled. */
  const running = new Map<number, { cancelled: boolean }>();
  /** The stream jobs' sums so far. */
  const streams = new Map<number, Adler32>();

  /** The answer to `ask`, or undefined once it is cancelled. */
  const sum = async (ask: ChecksumAsk): Promise<ChecksumAnswer | undefined> => {
    const state = running.get(ask.id) ?? { cancelled: false };
    const adler = ask.adler ? new Sum() : undefined;
    const md5 = createHash('md5');
    let file: Awaited<ReturnType<typeof open>> | undefined;
    // The next chunk is read (by libuv's pool) while this one is summed: two buffers.
    let reading: Promise<unknown> | undefined;
    try {
      const opened = await open(ask.path, 'r');
      file = opened;
      const length = Math.max(1, Math.min(chunkBytes, ask.size));
      const buffers = [Buffer.allocUnsafe(length), Buffer.allocUnsafe(length)] as const;
      const readAt = (which: 0 | 1, position: number): Promise<number> =>
        opened
          .read(buffers[which], 0, Math.min(length, ask.size - position), position)
          .then(read => read.bytesRead);
      let which: 0 | 1 = 0;
      let done = 0;
      let next = ask.size > 0 ? readAt(which, 0) : undefined;
      while (next !== undefined) {
        reading = next;
        const bytesRead = await next;
        reading = undefined;
        if (state.cancelled) {
          return undefined;
        }
        if (bytesRead === 0) {
          return { id: ask.id, ok: false, problem: 'length' };
        }
        const chunk = buffers[which].subarray(0, bytesRead);
        done += bytesRead;
        which = which === 0 ? 1 : 0;
        next = done < ask.size ? readAt(which, done) : undefined;
        reading = next;
        adler?.update(chunk);
        md5.update(chunk);
      }
      // One byte past `size` tells a file that grew.
      if ((await opened.read(buffers[0], 0, 1, ask.size)).bytesRead > 0) {
        return { id: ask.id, ok: false, problem: 'length' };
      }
      return { id: ask.id, ok: true, adler32: adler?.hex() ?? '', md5: md5.digest('hex') };
    } catch (error) {
      return { id: ask.id, ok: false, problem: 'read', message: (error as Error).message };
    } finally {
      // A read still under way must end before the file is closed.
      await reading?.catch(() => undefined);
      await file?.close().catch(() => undefined);
    }
  };

  parentPort?.on('message', (message: ChecksumAsk | ChecksumCancel | AdlerStreamMessage) => {
    if ('cancel' in message) {
      // Messages come in order: a job's cancel never comes before the job.
      const state = running.get(message.cancel);
      if (state) {
        state.cancelled = true;
      }
      streams.delete(message.cancel);
      return;
    }
    if ('piece' in message) {
      streams.get(message.id)?.update(message.piece);
      return;
    }
    if ('stream' in message) {
      if (message.stream === 'start') {
        streams.set(message.id, new Sum());
        return;
      }
      const adler = streams.get(message.id);
      streams.delete(message.id);
      if (adler) {
        parentPort.postMessage({
          id: message.id,
          ok: true,
          adler32: adler.hex(),
          md5: null
        } satisfies ChecksumAnswer);
      }
      return;
    }
    running.set(message.id, { cancelled: false });
    void sum(message).then(answer => {
      running.delete(message.id);
      if (answer) {
        parentPort.postMessage(answer);
      }
    });
  });
}

/**
 * The source a checksum thread runs. esbuild's `keepNames` (tsx, for one) wraps named functions
 * and classes in calls of `__name`, a helper of the module they come from and not of this
 * source: the thread has its own, which leaves them as they are.
 */
function threadSource(): string {
  return `const __name = target => target;\n(${checksumThread.toString()})(${Adler32.toString()}, ${CHUNK_BYTES});`;
}

/** Starts a worker that runs `source` (the default: Node's `eval` worker). */
export type StartWorker = (source: string) => Worker;

/**
 * MD5 and Adler-32 of local files summed on a thread of their own ({@link checksumThread}), so
 * that an upload's main thread only sends: on the 2-core machine of bench:transfers, MD5
 * (2.0 s of CPU per GiB) and Adler-32 (0.6 s) summed beside the PUT on the main thread held a
 * 1 GiB upload to 0.67–0.91× of curl while XRootD needed the other core (see the README).
 *
 * One thread, started on first use and shared by every upload of the process, which reads each
 * file itself (from the page cache, as the PUT reads it too). It is unref'd: it never keeps the
 * process alive. When no thread can start (a limit on threads, say), {@link ready} says so,
 * once in the log too, and the caller sums the bytes itself as it sends them.
 */
export class ChecksumThread {
  private thread: Worker | undefined;
  /** Whether the thread is running; undefined before it started. */
  private online: Promise<boolean> | undefined;
  /** No thread could start: the callers sum for the rest of the process. */
  private unavailable = false;
  private readonly waiting = new Map<
    number,
    {
      path: string;
      /** What the user does when the thread stops under this job (see {@link stopped}). */
      retry: string;
      resolve: (sums: { adler32: string; md5: string | null }) => void;
      reject: (error: Error) => void;
    }
  >();
  private nextId = 1;

  constructor(
    private readonly startWorker: StartWorker = source => new Worker(source, { eval: true })
  ) {}

  /**
   * Whether the thread runs (starting it the first time): false when it cannot start, and the
   * caller then sums on its own thread. Waiting for it (some 30 ms, once) before the first job
   * keeps that choice before any byte is sent.
   */
  ready(): Promise<boolean> {
    if (this.unavailable) {
      return Promise.resolve(false);
    }
    if (this.online === undefined) {
      this.online = this.start();
    }
    return this.online;
  }

  /**
   * Starts summing the first `size` bytes of the file at `path`, which must be exactly that long
   * (see {@link ChecksumJob.result}). `signal` aborts it; so does {@link ChecksumJob.cancel}. Call
   * it once {@link ready} said true. With `which` `md5` the thread sums MD5 only and the result's
   * `adler32` is empty: the caller sums the Adler-32 itself (an upload, on the bytes it sends).
   */
  sum(
    path: string,
    size: number,
    signal: AbortSignal,
    which: 'both' | 'md5' = 'both'
  ): ChecksumJob {
    const id = this.nextId++;
    const thread = this.thread;
    const { result, resolve, reject } = outcome<Checksums>();
    const stop = (reason: unknown): void => {
      if (this.waiting.delete(id)) {
        thread?.postMessage({ cancel: id } satisfies ChecksumCancel);
        signal.removeEventListener('abort', aborted);
        reject(reason instanceof Error ? reason : new Error('cancelled'));
      }
    };
    const aborted = (): void => stop(signal.reason);
    if (signal.aborted) {
      reject(signal.reason instanceof Error ? signal.reason : new Error('cancelled'));
      return { result, cancel: () => undefined };
    }
    if (thread === undefined) {
      reject(this.stopped(path, 'it is not running', RETRY_UPLOAD));
      return { result, cancel: () => undefined };
    }
    this.waiting.set(id, {
      path,
      retry: RETRY_UPLOAD,
      resolve: sums => {
        signal.removeEventListener('abort', aborted);
        resolve({ adler32: sums.adler32, md5: sums.md5 ?? '' });
      },
      reject: error => {
        signal.removeEventListener('abort', aborted);
        reject(error);
      }
    });
    signal.addEventListener('abort', aborted, { once: true });
    thread.postMessage({ id, path, size, adler: which === 'both' } satisfies ChecksumAsk);
    return { result, cancel: () => stop(new Error('cancelled')) };
  }

  /**
   * Starts an Adler-32 of bytes handed over in order with {@link AdlerStream.add} (a download's,
   * as each write lands), summed on the thread. Call it once {@link ready} said true. `file`
   * names the bytes in sentences.
   */
  adlerStream(file: string): AdlerStream {
    const id = this.nextId++;
    const thread = this.thread;
    const { result, resolve, reject } = outcome<string>();
    if (thread === undefined) {
      reject(this.stopped(file, 'it is not running', RETRY_DOWNLOAD));
      return { add: () => undefined, end: () => result, cancel: () => undefined };
    }
    this.waiting.set(id, {
      path: file,
      retry: RETRY_DOWNLOAD,
      resolve: sums => resolve(sums.adler32),
      reject
    });
    const post = (
      message: AdlerStreamMessage | ChecksumCancel,
      transfer: ArrayBuffer[] = []
    ): void => (this.thread === thread ? thread.postMessage(message, transfer) : undefined);
    post({ id, stream: 'start' });
    return {
      add: piece => {
        // Moved, not copied, when the piece is its memory's only view; else a copy is moved.
        const own =
          piece.byteOffset === 0 &&
          piece.buffer instanceof ArrayBuffer &&
          piece.byteLength === piece.buffer.byteLength
            ? piece
            : new Uint8Array(piece);
        post({ id, piece: own }, [own.buffer as ArrayBuffer]);
      },
      end: () => {
        post({ id, stream: 'end' });
        return result;
      },
      cancel: () => {
        if (this.waiting.delete(id)) {
          post({ cancel: id });
          reject(new Error('cancelled'));
        }
      }
    };
  }

  /** Starts the thread: whether it came up. */
  private start(): Promise<boolean> {
    let thread: Worker;
    try {
      thread = this.startWorker(threadSource());
    } catch (error) {
      return Promise.resolve(this.giveUp(error));
    }
    this.thread = thread;
    let up = false;
    const started = new Promise<boolean>(resolve => {
      thread.once('online', () => {
        up = true;
        resolve(true);
      });
      thread.on('message', (answer: ChecksumAnswer) => {
        const waiter = this.waiting.get(answer.id);
        this.waiting.delete(answer.id);
        if (!waiter) {
          return;
        }
        if (answer.ok) {
          waiter.resolve({ adler32: answer.adler32, md5: answer.md5 });
        } else if (answer.problem === 'length') {
          waiter.reject(new FileLengthChanged(`${waiter.path} is not as long as it was`));
        } else {
          waiter.reject(
            new AppError(
              409,
              'conflict',
              `${waiter.path} could not be read to compute its checksums (${answer.message}). Make it readable, then retry the upload.`
            )
          );
        }
      });
      let failure: unknown;
      thread.on('error', error => {
        failure = error;
      });
      thread.on('exit', code => {
        if (this.thread === thread) {
          this.thread = undefined;
          this.online = undefined;
        }
        if (!up) {
          resolve(this.giveUp(failure ?? new Error(`it ended with code ${code}`)));
          return;
        }
        const reason =
          failure instanceof Error ? failure.message : `it ended with code ${String(code)}`;
        for (const [id, waiter] of this.waiting) {
          this.waiting.delete(id);
          waiter.reject(this.stopped(waiter.path, reason, waiter.retry));
        }
      });
    });
    // After the listeners: a 'message' listener added to an unref'd worker refs it again.
    thread.unref();
    return started;
  }

  /** Notes that no thread can start (one log line): false, for {@link ready}. */
  private giveUp(error: unknown): false {
    this.unavailable = true;
    this.online = undefined;
    log(
      'warn',
      'no checksum thread could start; uploads and downloads sum their checksums on the main thread',
      {
        reason: error instanceof Error ? error.message : String(error)
      }
    );
    return false;
  }

  private stopped(path: string, reason: string, retry: string): AppError {
    return new AppError(
      500,
      'internal',
      `The checksums of ${path} could not be computed: the companion's checksum thread stopped (${reason}). ${retry}`
    );
  }
}

/**
 * A job's result and the functions that settle it. A job its caller cancels is not awaited: its
 * failure must not be an unhandled rejection.
 */
function outcome<T>(): {
  result: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: Error) => void;
} {
  let resolve: (value: T) => void = () => undefined;
  let reject: (error: Error) => void = () => undefined;
  const result = new Promise<T>((settle, fail) => {
    resolve = settle;
    reject = fail;
  });
  result.catch(() => undefined);
  return { result, resolve, reject };
}

/** An Adler-32 summed on the checksum thread (see {@link ChecksumThread.adlerStream}). */
export interface AdlerStream {
  /** Hands the next bytes over; their memory moves to the thread (the piece is then empty). */
  add(piece: Buffer): void;
  /** The Adler-32 of every byte handed over (fails when the thread stopped). */
  end(): Promise<string>;
  /** Drops the sum. */
  cancel(): void;
}

/** The checksum thread of this process, shared by every upload and download. */
export const sharedChecksumThread = new ChecksumThread();
