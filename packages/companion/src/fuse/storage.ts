import { readFileSync } from 'node:fs';
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

/**
 * Bytes the storage thread receives between two collections of its young generation. Each piece
 * of an answer arrives in a buffer of its own (Node's HTTP client copies it out of the socket's),
 * in the C heap, freed only when V8 collects the small object that holds it: V8 counts objects,
 * not the buffers they hold, so between its own collections tens of MB of spent buffers piled up
 * and the C heap grew by 64 MB while 8 readers streamed, and kept that size. A collection every
 * 4 MiB costs well under a millisecond and bounds them; every 1 MiB the companion's peak with 8
 * readers after `ls -l` of 100,000 files was 182 MB instead of 191-194, at the same read rate.
 */
const STORAGE_THREAD_COLLECT_BYTES = 1024 * 1024;

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
  /** Bytes received between two collections of the young generation. */
  readonly collectEveryBytes: number;
}

/**
 * The storage thread: HTTP Range GETs over kept-alive connections, each answer's bytes written
 * straight into the shared memory of the segment that asked. It runs as the source of a worker
 * (`eval`), so it is self-contained and takes Node's modules from `process.getBuiltinModule`
 * (Node 20.16 and later), which no bundler rewrites. Moving the transfers
 * off the main thread keeps the main thread, which answers FUSE, free: measured on 2 cores,
 * sequential reads through the mount went from about 200 MB/s with the transfers' socket events
 * on the main thread to (see bench:fuse) with them here.
 */
function storageThread(): void {
  // Node's own modules by process.getBuiltinModule: a bundler rewrites require and import.
  const http = process.getBuiltinModule('node:http');
  const https = process.getBuiltinModule('node:https');
  const { parentPort, workerData } = process.getBuiltinModule('node:worker_threads');
  const options = workerData as StorageThreadOptions;
  // V8's gc() (the main thread sets --expose-gc too): a minor collection frees the spent buffers
  // of the answers' pieces, which V8 does not count towards its own collections.
  const collectYoung = ((): (() => void) => {
    try {
      process.getBuiltinModule('node:v8').setFlagsFromString('--expose-gc');
      const gc = process.getBuiltinModule('node:vm').runInNewContext('gc') as unknown;
      return typeof gc === 'function'
        ? () => (gc as (options: { type: string }) => void)({ type: 'minor' })
        : () => undefined;
    } catch {
      return () => undefined;
    }
  })();
  let received = 0;
  const agents = {
    http: new http.Agent({ keepAlive: true, maxSockets: options.sockets }),
    https: new https.Agent({ keepAlive: true, maxSockets: options.sockets, ...options.tls })
  };
  const answer = (value: RangeAnswer): void => parentPort?.postMessage(value);
  parentPort?.on('message', (ask: RangeRequest) => {
    const url = new URL(ask.url);
    const wanted = ask.end - ask.start + 1;
    const target = Buffer.from(ask.memory, ask.byteOffset, wanted);
    const secure = url.protocol === 'https:';
    let settled = false;
    const settle = (value: RangeAnswer): void => {
      if (!settled) {
        settled = true;
        answer(value);
      }
    };
    const fail = (errno: number, message: string, status?: number): void => {
      request.destroy();
      settle({ id: ask.id, ok: false, errno, message, ...(status ? { status } : {}) });
    };
    const request = (secure ? https : http).request(
      url,
      { method: 'GET', headers: ask.headers, agent: secure ? agents.https : agents.http },
      response => {
        const status = response.statusCode ?? 0;
        if (status === 401 || status === 403) {
          response.resume();
          fail(options.EACCES, `the storage at ${url.host} refused the read (${status})`, status);
          return;
        }
        if (status !== 206 && status !== 200) {
          response.resume();
          fail(options.EIO, `the storage at ${url.host} answered ${status}`, status);
          return;
        }
        // A 200 carries the whole file: skip to the range.
        let skip = status === 200 ? ask.start : 0;
        let written = 0;
        response.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received >= options.collectEveryBytes) {
            received = 0;
            collectYoung();
          }
          let piece = chunk;
          if (skip > 0) {
            const dropped = Math.min(skip, piece.length);
            skip -= dropped;
            piece = piece.subarray(dropped);
          }
          const room = wanted - written;
          if (piece.length > room) {
            if (status === 206) {
              fail(options.EIO, `the storage at ${url.host} sent more than the range asked for`);
              return;
            }
            piece = piece.subarray(0, room);
          }
          piece.copy(target, written);
          written += piece.length;
          if (status === 200 && written === wanted) {
            // The rest of the file is not needed; this connection is not reused.
            request.destroy();
            settle({ id: ask.id, ok: true });
          }
        });
        response.on('end', () =>
          written === wanted
            ? settle({ id: ask.id, ok: true })
            : fail(options.EIO, `the storage at ${url.host} sent ${written} of ${wanted} bytes`)
        );
        response.on('error', error =>
          fail(options.EIO, `reading from ${url.host}: ${error.message}`)
        );
      }
    );
    request.setTimeout(options.timeoutMs, () =>
      fail(options.EIO, `the storage at ${url.host} sent nothing for ${options.timeoutMs / 1000} s`)
    );
    request.on('error', error =>
      settle({
        id: ask.id,
        ok: false,
        errno: options.EIO,
        message: `could not reach ${url.host}: ${error.message}`
      })
    );
    request.end();
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
        EACCES,
        collectEveryBytes: STORAGE_THREAD_COLLECT_BYTES
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
