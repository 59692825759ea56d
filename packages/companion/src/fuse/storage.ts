import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import type { CredentialSource } from '../auth/credentials.js';
import type { InstanceConfig } from '../config.js';
import { log } from '../log.js';
import { AppError } from '../errors.js';

/**
 * What https storage needs from the instance's files: its CA bundle, and the user's certificate
 * and key when the instance signs in with X.509. Throws the file system's error when a file cannot
 * be read; each user of storage says so in its own way.
 */
export function storageTls(instance: InstanceConfig): { ca?: string; cert?: string; key?: string } {
  const tls: { ca?: string; cert?: string; key?: string } = {};
  if (instance.caBundle) {
    tls.ca = readFileSync(instance.caBundle, 'utf8');
  }
  if (instance.auth.method === 'x509') {
    tls.cert = readFileSync(instance.auth.cert, 'utf8');
    tls.key = readFileSync(instance.auth.key ?? instance.auth.cert, 'utf8');
  }
  return tls;
}
/**
 * Whether the path of a URL or PFN has a `.` or `..` segment (also written `%2e`), which every
 * URL parser resolves: such a PFN cannot name its own file in a request.
 */
export function hasDotSegments(pfn: string): boolean {
  const path = pfn.replace(/^[a-z]+:\/\/[^/]*/i, '').replace(/[?#].*$/, '');
  return path.split('/').some(s => /^(\.|%2e){1,2}$/i.test(s));
}

/** A read that failed, with the errno the mount answers (negative, as FUSE wants). */
export class StorageError extends Error {
  override readonly name = 'StorageError';
  constructor(
    readonly errno: number,
    message: string
  ) {
    super(message);
  }
}

/** errno values the reads end with. */
export const EIO = -5;
export const EACCES = -13;

/** The storage thread's young generation (V8's semi-spaces), in MB. */
const STORAGE_THREAD_YOUNG_MB = 6;

/** How many connections to one storage host are kept open and used at once. */
const SOCKETS_PER_HOST = 32;

/** What the main thread asks of the storage thread: one closed range into shared memory. */
interface RangeRequest {
  readonly id: number;
  readonly url: string;
  readonly start: number;
  readonly end: number;
  readonly headers: Record<string, string>;
  readonly memory: SharedArrayBuffer;
  readonly byteOffset: number;
}

/** Its answer: done, or the errno and why. */
type RangeAnswer =
  | { readonly id: number; readonly ok: true }
  | {
      readonly id: number;
      readonly ok: false;
      readonly errno: number;
      readonly message: string;
      readonly status?: number;
    };

/** What the storage thread is started with. */
interface StorageThreadOptions {
  readonly timeoutMs: number;
  readonly sockets: number;
  /** PEM texts for https storage (CA bundle; the user's certificate and key for x509 sign-in). */
  readonly tls: { ca?: string; cert?: string; key?: string };
  readonly EIO: number;
  readonly EACCES: number;
}

/** A range on its way: where its bytes go, and how many have. */
interface RangeJob {
  readonly ask: RangeRequest;
  readonly url: URL;
  readonly target: Buffer;
  readonly wanted: number;
  written: number;
  /** Sent again once already (a kept-alive connection the storage had closed). */
  retried: boolean;
  settled: boolean;
}

/** Where a chunked answer's decoding stands. */
interface Chunked {
  state: 'size' | 'data' | 'data-end' | 'trailer' | 'done';
  /** Bytes left of the chunk being read. */
  left: number;
  /** A size or trailer line read so far. */
  line: string;
}

/**
 * The storage thread: HTTP/1.1 Range GETs over kept-alive connections (plain or TLS), each
 * answer's bytes read by the socket straight into the shared memory of the segment that asked.
 * A `206` with the range's exact `Content-Length`, which is what XRootD, nginx, dCache and EOS
 * send, is read with Node's `onread` buffers pointed at the segment itself, so the kernel copies
 * the bytes once, to where the main thread reads them, and no JavaScript object is made per
 * piece. Node's HTTP client made a buffer per 64 KiB piece and copied it again: measured on
 * 2 cores, a 1 GiB file read 1 MiB at a time, 8 in flight, from devlake's XRootD cost the thread
 * 1.3-1.4 s of CPU that way and 0.26-0.28 s this way (0.8 against 2.9-3.9 GB/s), and its spent
 * buffers needed a forced collection every MiB to keep the companion under 200 MB. Any other
 * answer (chunked, a whole file for a range, no length) goes through a small decoder into the
 * same memory. Redirects are not followed; the request carries only the headers the main thread
 * gives.
 *
 * It runs as the source of a worker (`eval`), so it is self-contained and takes Node's modules
 * from `process.getBuiltinModule` (Node 20.16 and later), which no bundler rewrites. Moving the
 * transfers off the main thread keeps the main thread, which answers FUSE, free.
 */
function storageThread(): void {
  // Node's own modules by process.getBuiltinModule: a bundler rewrites require and import.
  const net = process.getBuiltinModule('node:net');
  const tls = process.getBuiltinModule('node:tls');
  const { parentPort, workerData } = process.getBuiltinModule('node:worker_threads');
  const options = workerData as StorageThreadOptions;
  /** The most bytes an answer's status line and headers may take. */
  const HEAD_BYTES = 16 * 1024;
  const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

  const answer = (job: RangeJob, value: RangeAnswer): void => {
    if (!job.settled) {
      job.settled = true;
      parentPort?.postMessage(value);
    }
  };

  /** The connections to one storage (scheme, host and port), and the ranges waiting for one. */
  class Storage {
    readonly idle: Connection[] = [];
    readonly waiting: RangeJob[] = [];
    open = 0;

    constructor(readonly url: URL) {}

    /** Gives waiting ranges to idle connections, or to new ones up to the bound. */
    dispatch(): void {
      for (let job = this.waiting.shift(); job; job = this.waiting.shift()) {
        let connection = this.idle.pop();
        if (!connection) {
          if (this.open >= options.sockets) {
            this.waiting.unshift(job);
            return;
          }
          this.open += 1;
          connection = new Connection(this);
        }
        connection.start(job);
      }
    }

    /** A connection that went away: one fewer open; another may take what waits. */
    closed(connection: Connection): void {
      this.open -= 1;
      const at = this.idle.indexOf(connection);
      if (at >= 0) {
        this.idle.splice(at, 1);
      }
      this.dispatch();
    }
  }
  const storages = new Map<string, Storage>();

  /** One connection to a storage, reading one answer at a time. */
  class Connection {
    private readonly scratch = Buffer.allocUnsafe(HEAD_BYTES);
    private readonly socket: Socket;
    private readonly host: string;
    private job: RangeJob | undefined;
    /** Reading the head into scratch, the body straight into the target, or through scratch. */
    private mode: 'head' | 'direct' | 'copy' = 'head';
    /** Bytes of the head in scratch so far. */
    private head = 0;
    /** Bytes of the current answer received at all. */
    private received = 0;
    /** Answers this connection has read in full before. */
    private served = 0;
    private status = 0;
    /** Body bytes the answer's Content-Length still promises (-1: chunked, or until close). */
    private bodyLeft = -1;
    /** Bytes of a whole-file answer (200) before the range. */
    private skip = 0;
    private chunked: Chunked | undefined;
    /** Whether the connection may carry another request after this answer. */
    private reusable = true;
    private gone = false;

    constructor(private readonly storage: Storage) {
      const url = storage.url;
      this.host = url.host;
      const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
      const onread = {
        buffer: (): Uint8Array => this.nextBuffer(),
        callback: (count: number, buffer: Uint8Array): boolean => {
          this.arrived(count, buffer);
          return true;
        }
      };
      this.socket =
        url.protocol === 'https:'
          ? tls.connect({
              host,
              port: Number(url.port) || 443,
              ...(net.isIP(host) ? {} : { servername: host }),
              ALPNProtocols: ['http/1.1'],
              ...options.tls,
              // Node reads TLS sockets into such buffers too; its types name onread for net only.
              ...({ onread } as object)
            })
          : net.connect({ host, port: Number(url.port) || 80, onread });
      this.socket.setNoDelay(true);
      this.socket.on('timeout', () =>
        this.fail(
          options.EIO,
          `the storage at ${this.host} sent nothing for ${options.timeoutMs / 1000} s`
        )
      );
      this.socket.on('error', error => this.broke(error.message));
      this.socket.on('end', () => this.broke(null));
      this.socket.on('close', () => this.broke(null));
    }

    /** Sends the request of `job`; its answer is read by {@link arrived}. */
    start(job: RangeJob): void {
      this.job = job;
      this.mode = 'head';
      this.head = 0;
      this.received = 0;
      this.socket.setTimeout(options.timeoutMs);
      const url = job.url;
      let request = `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n`;
      for (const [name, value] of Object.entries(job.ask.headers)) {
        if (/[\r\n]/.test(name + value)) {
          this.fail(options.EIO, `a header for ${this.host} held a line break; nothing was sent`);
          return;
        }
        request += `${name}: ${value}\r\n`;
      }
      this.socket.write(`${request}\r\n`, 'latin1');
    }

    /** Where the socket reads next: the segment itself while a direct body streams in. */
    private nextBuffer(): Uint8Array {
      const job = this.job;
      if (job && this.mode === 'direct' && job.written < job.wanted) {
        return job.target.subarray(job.written);
      }
      return this.mode === 'head' && this.head < HEAD_BYTES
        ? this.scratch.subarray(this.head)
        : this.scratch;
    }

    private arrived(count: number, buffer: Uint8Array): void {
      const job = this.job;
      if (!job) {
        // Bytes nobody asked for: this connection is out of step with the storage.
        this.socket.destroy();
        return;
      }
      this.received += count;
      if (this.mode === 'direct') {
        job.written += count;
        if (job.written === job.wanted) {
          this.finish();
        }
      } else if (this.mode === 'copy') {
        this.body(Buffer.from(buffer.buffer, buffer.byteOffset, count));
      } else {
        this.head += count;
        this.readHead(job);
      }
    }

    /** Reads the status line and headers once they are all here, then what followed them. */
    private readHead(job: RangeJob): void {
      const end = this.scratch.subarray(0, this.head).indexOf(HEAD_END);
      if (end < 0) {
        if (this.head >= HEAD_BYTES) {
          this.fail(options.EIO, `the storage at ${this.host} sent headers longer than 16 KiB`);
        }
        return;
      }
      const lines = this.scratch.toString('latin1', 0, end).split('\r\n');
      const rest = Buffer.from(this.scratch.subarray(end + 4, this.head));
      const line = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0] ?? '');
      if (!line) {
        this.fail(options.EIO, `the storage at ${this.host} did not answer in HTTP/1.1`);
        return;
      }
      const status = Number(line[2]);
      if (status >= 100 && status < 200) {
        // An interim answer: the real one follows.
        this.head = rest.copy(this.scratch);
        this.readHead(job);
        return;
      }
      this.status = status;
      if (status === 401 || status === 403) {
        this.fail(
          options.EACCES,
          `the storage at ${this.host} refused the read (${status})`,
          status
        );
        return;
      }
      if (status !== 206 && status !== 200) {
        this.fail(options.EIO, `the storage at ${this.host} answered ${status}`, status);
        return;
      }
      const headers = new Map<string, string>();
      for (const header of lines.slice(1)) {
        const colon = header.indexOf(':');
        if (colon > 0) {
          headers.set(header.slice(0, colon).trim().toLowerCase(), header.slice(colon + 1).trim());
        }
      }
      const connection = (headers.get('connection') ?? '').toLowerCase();
      this.reusable = line[1] === '1' ? !connection.includes('close') : connection === 'keep-alive';
      const encoding = headers.get('transfer-encoding');
      const length = headers.get('content-length');
      if (encoding !== undefined && !/(^|,)\s*chunked$/i.test(encoding)) {
        this.fail(
          options.EIO,
          `the storage at ${this.host} sent an encoding the companion does not read (${encoding})`
        );
        return;
      }
      this.chunked = encoding === undefined ? undefined : { state: 'size', left: 0, line: '' };
      this.bodyLeft =
        !this.chunked && length !== undefined && /^\d+$/.test(length) ? Number(length) : -1;
      if (!this.chunked && this.bodyLeft < 0) {
        this.reusable = false;
      }
      const range = /^bytes (\d+)-(\d+)\//.exec(headers.get('content-range') ?? '');
      if (status === 206 && range && Number(range[1]) !== job.ask.start) {
        this.fail(
          options.EIO,
          `the storage at ${this.host} sent another range than the one asked for`
        );
        return;
      }
      if (status === 206 && this.bodyLeft > job.wanted) {
        this.fail(options.EIO, `the storage at ${this.host} sent more than the range asked for`);
        return;
      }
      this.skip = status === 200 ? job.ask.start : 0;
      this.head = 0;
      if (status === 206 && this.bodyLeft === job.wanted) {
        this.mode = 'direct';
        const first = rest.subarray(0, job.wanted);
        first.copy(job.target, 0);
        job.written = first.length;
        if (rest.length > first.length) {
          this.reusable = false;
        }
        if (job.written === job.wanted) {
          this.finish();
        }
        return;
      }
      this.mode = 'copy';
      this.body(rest);
    }

    /** Body bytes of an answer read through scratch: chunks decoded, the range kept. */
    private body(bytes: Buffer): void {
      const chunked = this.chunked;
      if (!chunked) {
        let piece = bytes;
        if (this.bodyLeft >= 0) {
          piece = bytes.subarray(0, this.bodyLeft);
          this.bodyLeft -= piece.length;
        }
        if (this.keep(piece) && this.bodyLeft === 0) {
          this.ended();
        }
        return;
      }
      let at = 0;
      while (at < bytes.length && chunked.state !== 'done' && this.job) {
        if (chunked.state === 'data') {
          const piece = bytes.subarray(at, at + chunked.left);
          at += piece.length;
          chunked.left -= piece.length;
          if (chunked.left === 0) {
            chunked.state = 'data-end';
          }
          if (!this.keep(piece)) {
            return;
          }
          continue;
        }
        const newline = bytes.indexOf(10, at);
        chunked.line += bytes.toString('latin1', at, newline < 0 ? bytes.length : newline);
        at = newline < 0 ? bytes.length : newline + 1;
        if (chunked.line.length > 4096) {
          this.fail(options.EIO, `the storage at ${this.host} sent a malformed chunked answer`);
          return;
        }
        if (newline < 0) {
          continue;
        }
        const text = chunked.line.trim();
        chunked.line = '';
        if (chunked.state === 'data-end') {
          chunked.state = 'size';
        } else if (chunked.state === 'trailer') {
          chunked.state = text === '' ? 'done' : 'trailer';
        } else {
          const size = /^[0-9a-f]+/i.exec(text);
          if (!size) {
            this.fail(options.EIO, `the storage at ${this.host} sent a malformed chunked answer`);
            return;
          }
          chunked.left = parseInt(size[0], 16);
          chunked.state = chunked.left === 0 ? 'trailer' : 'data';
        }
      }
      if (chunked.state === 'done' && this.job) {
        if (at < bytes.length) {
          this.reusable = false;
        }
        this.ended();
      }
    }

    /** Keeps what of a body piece falls in the range; false once the read is over. */
    private keep(bytes: Buffer): boolean {
      const job = this.job as RangeJob;
      let piece = bytes;
      if (this.skip > 0) {
        const dropped = Math.min(this.skip, piece.length);
        this.skip -= dropped;
        piece = piece.subarray(dropped);
      }
      const room = job.wanted - job.written;
      if (piece.length > room) {
        if (this.status === 206) {
          this.fail(options.EIO, `the storage at ${this.host} sent more than the range asked for`);
          return false;
        }
        piece = piece.subarray(0, room);
      }
      piece.copy(job.target, job.written);
      job.written += piece.length;
      if (this.status === 200 && job.written === job.wanted) {
        // The rest of the whole file is not needed: this connection is not reused.
        this.reusable = false;
        this.finish();
        return false;
      }
      return true;
    }

    /** The answer is over: the read is done when all its bytes came. */
    private ended(): void {
      const job = this.job as RangeJob;
      if (job.written === job.wanted) {
        this.finish();
      } else {
        this.fail(
          options.EIO,
          `the storage at ${this.host} sent ${job.written} of ${job.wanted} bytes`
        );
      }
    }

    private finish(): void {
      const job = this.job as RangeJob;
      this.job = undefined;
      this.mode = 'head';
      this.head = 0;
      this.served += 1;
      answer(job, { id: job.ask.id, ok: true });
      if (!this.reusable) {
        this.close();
        return;
      }
      this.socket.setTimeout(0);
      this.storage.idle.push(this);
      this.storage.dispatch();
    }

    private fail(errno: number, message: string, status?: number): void {
      const job = this.job;
      this.job = undefined;
      this.close();
      if (job) {
        answer(job, { id: job.ask.id, ok: false, errno, message, ...(status ? { status } : {}) });
      }
    }

    /** The connection ended or failed (`reason`): what it was reading ends or is sent again. */
    private broke(reason: string | null): void {
      const job = this.job;
      if (job && this.mode === 'copy' && !this.chunked && this.bodyLeft < 0 && reason === null) {
        // An answer without a length ends with its connection.
        this.ended();
        return;
      }
      if (job && this.served > 0 && this.received === 0 && !job.retried) {
        // The storage had closed this kept-alive connection before the request reached it.
        job.retried = true;
        this.job = undefined;
        this.close();
        this.storage.waiting.unshift(job);
        this.storage.dispatch();
        return;
      }
      const what =
        this.received > 0 || this.served > 0
          ? `reading from ${this.host}: ${reason ?? 'the connection closed'}`
          : `could not reach ${this.host}: ${reason ?? 'the connection closed'}`;
      this.fail(
        options.EIO,
        job && this.mode !== 'head'
          ? `the storage at ${this.host} sent ${job.written} of ${job.wanted} bytes (${what})`
          : what
      );
    }

    /** Closes the socket (no more reads into any segment) and leaves the storage's set. */
    private close(): void {
      this.socket.destroy();
      if (!this.gone) {
        this.gone = true;
        this.storage.closed(this);
      }
    }
  }

  parentPort?.on('message', (ask: RangeRequest) => {
    const url = new URL(ask.url);
    const wanted = ask.end - ask.start + 1;
    const job: RangeJob = {
      ask,
      url,
      target: Buffer.from(ask.memory, ask.byteOffset, wanted),
      wanted,
      written: 0,
      retried: false,
      settled: false
    };
    const key = `${url.protocol}//${url.host}`;
    let storage = storages.get(key);
    if (!storage) {
      storage = new Storage(url);
      storages.set(key, storage);
    }
    storage.waiting.push(job);
    storage.dispatch();
  });
}

/**
 * Byte ranges of scratch replicas, read with HTTP Range GETs over keep-alive connections by a
 * thread of their own ({@link storageThread}), with the user's bearer token where the
 * instance's sign-in gives one (an OIDC token: `token`, `jupyterhub`, `device`), only over https
 * or to hosts the configuration trusts over plain http. Rucio's own session token (userpass)
 * never goes to storage; an x509 instance presents its certificate to https storage instead.
 */
export class StorageReader {
  private thread: Worker | undefined;
  private readonly waiting = new Map<
    number,
    { resolve: () => void; reject: (error: StorageError) => void }
  >();
  private nextId = 1;
  /** Why https storage cannot be read (a certificate file that cannot be read), if so. */
  private tlsProblem: string | undefined;
  private readonly warned = new Set<string>();

  constructor(
    private readonly instance: InstanceConfig,
    private readonly credentials: CredentialSource,
    /** A storage that sends nothing for this long fails the read with EIO. */
    private readonly timeoutMs: number
  ) {}

  /** The storage thread, started on first use (it reads the certificate files once). */
  private get storage(): Worker {
    if (!this.thread) {
      let tls: StorageThreadOptions['tls'] = {};
      try {
        tls = storageTls(this.instance);
      } catch (error) {
        this.tlsProblem = `the certificate files for https storage could not be read (${(error as Error).message})`;
      }
      const options: StorageThreadOptions = {
        timeoutMs: this.timeoutMs,
        sockets: SOCKETS_PER_HOST,
        tls,
        EIO,
        EACCES
      };
      const thread = new Worker(`(${storageThread.toString()})()`, {
        eval: true,
        workerData: options,
        // Its objects live for one response chunk: a small young generation is collected often
        // and cheaply, and lets go of the shared memory it was sent sooner. V8's default (up to
        // 48 MiB) kept about 25 MB more resident while 8 readers streamed.
        resourceLimits: { maxYoungGenerationSizeMb: STORAGE_THREAD_YOUNG_MB }
      });
      thread.on('message', (answer: RangeAnswer) => {
        const waiter = this.waiting.get(answer.id);
        this.waiting.delete(answer.id);
        if (answer.ok) {
          waiter?.resolve();
          return;
        }
        if (answer.status === 401 || answer.status === 403) {
          log('warn', 'storage refused a read', {
            instance: this.instance.name,
            reason: answer.message
          });
        }
        waiter?.reject(new StorageError(answer.errno, answer.message));
      });
      thread.on('error', error => this.failAll(`the storage thread failed: ${error.message}`));
      thread.on('exit', () => {
        this.thread = undefined;
        this.failAll('the storage thread stopped');
      });
      thread.unref();
      this.thread = thread;
    }
    return this.thread;
  }

  private failAll(message: string): void {
    for (const waiter of this.waiting.values()) {
      waiter.reject(new StorageError(EIO, message));
    }
    this.waiting.clear();
  }

  /**
   * The URL a PFN is read from: WebDAV's `davs://` is https, `dav://` is http. A PFN whose path has
   * a `.` or `..` segment (a DID named `a/../b`, also as `%2e`) is refused with an AppError: URL
   * parsers resolve those segments, so the storage would send another file's bytes.
   */
  static urlOf(pfn: string): URL {
    if (hasDotSegments(pfn)) {
      throw new AppError(
        409,
        'conflict',
        'This file cannot be read: its name has a "." or ".." segment, and a web address cannot carry that segment unchanged, so the storage would send another file\'s bytes. Ask the file\'s owner to give it a name without such a segment.'
      );
    }
    return new URL(pfn.replace(/^davs:/, 'https:').replace(/^dav:/, 'http:'));
  }

  private headers(url: URL): Promise<Record<string, string>> {
    return storageHeaders(this.instance, this.credentials, url, this.warned);
  }

  /**
   * Reads bytes `start` to `end` (inclusive, inside the file) of a replica into `target` at
   * `offset`. Only closed ranges are asked for (XRootD 5.5 mishandles the others); an answer with
   * the whole file (200) is cut to the range; any other length is an error, never bytes in the
   * wrong place. A `target` in shared memory (see {@link sharedBuffer}) is written directly.
   */
  async read(pfn: string, start: number, end: number, target: Buffer, offset = 0): Promise<void> {
    let url: URL;
    try {
      url = StorageReader.urlOf(pfn);
    } catch (error) {
      throw new StorageError(EIO, (error as Error).message);
    }
    const wanted = end - start + 1;
    const headers = { ...(await this.headers(url)), Range: `bytes=${start}-${end}` };
    const storage = this.storage;
    if (url.protocol === 'https:' && this.tlsProblem !== undefined) {
      throw new StorageError(EIO, this.tlsProblem);
    }
    const shared = target.buffer instanceof SharedArrayBuffer;
    const memory = shared ? target : sharedBuffer(wanted);
    const id = this.nextId++;
    await new Promise<void>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      const ask: RangeRequest = {
        id,
        url: url.href,
        start,
        end,
        headers,
        memory: memory.buffer as SharedArrayBuffer,
        byteOffset: memory.byteOffset + (shared ? offset : 0)
      };
      storage.postMessage(ask);
    });
    if (!shared) {
      memory.copy(target, offset);
    }
  }

  /** Stops the storage thread and its connections. */
  dispose(): void {
    void this.thread?.terminate();
    this.thread = undefined;
  }
}

/**
 * The headers a read from storage carries: the user's bearer token for the sign-ins that have one
 * from the identity provider (token, jupyterhub, device), and only over https or to a host the
 * instance lists in `trustedHttpHosts`; nothing for userpass (its token is Rucio's own session,
 * which storage must never see) or x509 (the certificate speaks for the user over TLS). `warned`
 * keeps the hosts already named in the log.
 */
export async function storageHeaders(
  instance: InstanceConfig,
  credentials: CredentialSource,
  url: URL,
  warned: Set<string> = new Set()
): Promise<Record<string, string>> {
  const method = instance.auth.method;
  if (method === 'userpass' || method === 'x509') {
    return {};
  }
  const trusted = (instance.trustedHttpHosts ?? []).some(
    host => host.toLowerCase() === url.host.toLowerCase()
  );
  if (url.protocol !== 'https:' && !trusted) {
    if (!warned.has(url.host)) {
      warned.add(url.host);
      log('warn', 'storage on plain http gets no token', {
        instance: instance.name,
        host: url.host,
        hint: 'list the host in trustedHttpHosts if it is a trusted test storage'
      });
    }
    return {};
  }
  const token = await credentials.token();
  return { Authorization: `Bearer ${token.value}` };
}

/** A buffer in memory the storage thread can write into. */
export function sharedBuffer(size: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(size));
}

/**
 * Shared memory in blocks of one size, carved from reservations ("slabs") that are made as they
 * are needed and then kept and reused: first one of `blocks` blocks, then, while readers need
 * more at once, slabs of `blocks / 2` more up to `maxBlocks` (the kernel gives a slab pages as
 * they are first written). Only past `maxBlocks` does a read get memory of its own. Memory per
 * request is what kept the companion large: a buffer of its own per request left it at 1.5 GB
 * of resident memory after 8 readers of 1 GiB, and with a fixed reservation too small for 8
 * readers (each holds the segment it reads, the one behind it and one ahead: 24 blocks) two
 * requests in three still got one, which the storage thread held on to until its own garbage
 * collection and which fragmented the C heap: 770 MB. Read-ahead stops taking blocks once
 * `aheadBlocks` are out; reads asked for always get memory.
 */
export class SharedBufferPool {
  private readonly slabs: SharedArrayBuffer[] = [];
  private readonly free: { slab: SharedArrayBuffer; offset: number }[] = [];
  /** Blocks of the last slab not handed out yet. */
  private uncarved = 0;
  private reserved = 0;
  private out = 0;

  constructor(
    readonly size: number,
    private readonly blocks: number,
    /** Blocks out at once beyond which read-ahead waits. */
    private readonly aheadBlocks = blocks,
    /** The most blocks the slabs hold together. */
    private readonly maxBlocks = blocks
  ) {}

  /** Whether another block may be taken to read ahead. */
  get canReadAhead(): boolean {
    return this.out < this.aheadBlocks;
  }

  /** Bytes of the slabs made so far (what the pool can keep resident). */
  get reservedBytes(): number {
    return this.reserved * this.size;
  }

  /** A buffer of `length` bytes (contents undefined), from a slab when it fits. */
  take(length: number): Buffer {
    if (length <= this.size) {
      const block = this.free.pop() ?? this.carve();
      if (block !== undefined) {
        this.out += 1;
        return Buffer.from(block.slab, block.offset, length);
      }
    }
    return sharedBuffer(length);
  }

  private carve(): { slab: SharedArrayBuffer; offset: number } | undefined {
    if (this.uncarved === 0) {
      const count = Math.min(
        this.slabs.length === 0 ? this.blocks : Math.max(1, Math.ceil(this.blocks / 2)),
        this.maxBlocks - this.reserved
      );
      if (count <= 0) {
        return undefined;
      }
      this.slabs.push(new SharedArrayBuffer(this.size * count));
      this.reserved += count;
      this.uncarved = count;
    }
    const slab = this.slabs[this.slabs.length - 1] as SharedArrayBuffer;
    this.uncarved -= 1;
    return { slab, offset: slab.byteLength - this.size * (this.uncarved + 1) };
  }

  /** Gives a buffer's memory back; the caller no longer uses it. */
  give(buffer: Buffer): void {
    const slab = this.slabs.find(s => s === buffer.buffer);
    if (slab !== undefined) {
      this.out -= 1;
      this.free.push({ slab, offset: buffer.byteOffset });
    }
  }
}
