import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import {
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
  type RequestOptions
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { once } from 'node:events';
import { droppedConnection } from '../dropped.js';
import { Adler32 } from '../adler32.js';
import {
  FileLengthChanged,
  sharedChecksumThread,
  type ChecksumJob,
  type ChecksumThread
} from '../checksum-thread.js';
import type { CredentialSource } from '../auth/credentials.js';
import type { InstanceConfig } from '../config.js';
import { AppError } from '../errors.js';
import { StorageReader, storageHeaders, storageTls } from '../fuse/storage.js';
import { DEFAULT_REQUEST_TIMEOUT_SECONDS } from '../rucio/client.js';
import { tame } from '../rucio/errors.js';

/** What the storage holds at a PFN. */
export interface StoredFile {
  readonly bytes: number;
  /** The storage's Adler-32 (`Want-Digest`), when it computes one. */
  readonly adler32: string | null;
}

/** The checksums of the bytes sent. */
export interface SentFile {
  readonly bytes: number;
  readonly adler32: string;
  readonly md5: string;
}

/** A storage answer (status and body) from one request. */
interface Answer {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
}

/** Connections kept open to the storages of one instance, at most (uploads send 3 at a time). */
const STORAGE_SOCKETS = 8;
/** A kept-alive connection unused this long is closed. */
const IDLE_SOCKET_MS = 15_000;

/**
 * Writes files to an RSE's storage over HTTP(S), as Rucio's WebDAV clients do: PUT, HEAD (with
 * `Want-Digest: adler32`) and DELETE, on kept-alive connections (a file's PUT and HEAD, and the
 * next file's, go over the same one). With `node:http` rather than `fetch`: XRootD reads
 * `Content-Length` only when it is spelled so, and `fetch` writes every header in lower case (the
 * file is then stored empty). Kept alive, 1,000 PUT + HEAD pairs to devlake's XRootD 5.5.3 take
 * 0.63 s over 3 connections instead of 1.1 s over 2,000, and never `Connection: close`, which
 * XRootD ends through its "send failure" path every time. (Under 6 or more streams at once,
 * whatever the connection handling, that XRootD leaves some requests unanswered and has
 * segfaulted: those files fail after `requestTimeoutSeconds` and a retry sends them.) A
 * connection the storage closed meanwhile fails the next request with ECONNRESET, which the
 * caller sends again (see dropped.ts).
 *
 * Credentials as for reads (see {@link storageHeaders}): the bearer token of an OIDC sign-in only
 * over https or to `trustedHttpHosts`, the certificate of an x509 sign-in over https, nothing
 * for userpass. Redirects are not followed: a PUT's body cannot be sent twice, and a redirect
 * to another host would carry the token there. The storage must answer, and keep reading or
 * answering, within the instance's `requestTimeoutSeconds`.
 */
export class StorageWriter {
  private readonly timeoutMs: number;
  private readonly warned = new Set<string>();
  private tls: { ca?: string; cert?: string; key?: string } | undefined;
  private readonly agents = {
    http: new HttpAgent({ keepAlive: true, maxSockets: STORAGE_SOCKETS, timeout: IDLE_SOCKET_MS }),
    https: new HttpsAgent({ keepAlive: true, maxSockets: STORAGE_SOCKETS, timeout: IDLE_SOCKET_MS })
  };

  constructor(
    private readonly instance: InstanceConfig,
    private readonly credentials: CredentialSource,
    /** Where the checksums of the files sent are summed: the process's one thread. */
    private readonly checksums: ChecksumThread = sharedChecksumThread
  ) {
    this.timeoutMs = (instance.requestTimeoutSeconds ?? DEFAULT_REQUEST_TIMEOUT_SECONDS) * 1000;
  }

  /**
   * Sends the local file at `path` (opened read-only) to `pfn`; `size` is what it held when the
   * upload was checked, and a file whose length changed since fails. `progress` hears each
   * chunk's length. `signal` breaks the transfer off. Resolves once the storage answered the PUT
   * and the checksums are summed.
   *
   * MD5 is summed on the checksum thread (see checksum-thread.ts), which reads the file itself
   * while this thread sends it and sums the Adler-32 of the bytes it sends: the two sums (some
   * 1.4 and 0.65 s of CPU per GiB) then run on both cores side by side, where the thread summing
   * both held the PUT to its 2.1 s per GiB. Where no thread can start, both are summed here as
   * the bytes go out. The bytes sent and the bytes MD5 summed are read separately: a file that
   * changed between the two reads (but not in length) would have an MD5 of other bytes, which no
   * check of the storage's Adler-32 (the caller's, after the PUT, in uploads.ts) would see. The
   * file's modification time, taken before and after both reads, tells: a file written to
   * meanwhile fails as changed.
   */
  async put(
    pfn: string,
    path: string,
    size: number,
    progress: (bytes: number) => void,
    signal: AbortSignal
  ): Promise<SentFile> {
    const url = StorageReader.urlOf(pfn);
    const before = await modified(path);
    const threaded = this.checksums.ready();
    let sent = 0;
    const { req, answer } = await this.open('PUT', url, { 'Content-Length': String(size) }, signal);
    const summing = (await threaded) ? this.checksums.sum(path, size, signal, 'md5') : undefined;
    // The Adler-32 of the bytes sent is summed here; MD5 too without the thread.
    const adler = new Adler32();
    const md5 = summing ? undefined : createHash('md5');
    // A file the thread finds changed or unreadable stops the transfer at once.
    let summingFailed: Error | undefined;
    let over = false;
    summing?.result.catch((error: Error) => {
      if (!over && !signal.aborted) {
        summingFailed = error;
        req.destroy();
      }
    });
    /** Stops the summing of a transfer that failed. */
    const stopSumming = (): void => {
      over = true;
      summing?.cancel();
    };
    /** The sentence for a transfer that broke off (the summing stops with it). */
    const brokenOff = (error: unknown): Error => {
      stopSumming();
      return summingFailed && !signal.aborted
        ? checksumFailure(summingFailed, path)
        : this.failure(error, url, signal);
    };
    // An answer that comes before the whole file is sent (a refusal): sending stops there.
    let early: Answer | undefined;
    try {
      const source = createReadStream(path, { flags: 'r', highWaterMark: 1024 * 1024, signal });
      for await (const chunk of source as AsyncIterable<Buffer>) {
        sent += chunk.length;
        if (sent > size) {
          throw changed(path);
        }
        adler.update(chunk);
        md5?.update(chunk);
        progress(chunk.length);
        // After the last chunk nothing waits for the buffer to drain: the answer comes next.
        if (!req.write(chunk) && sent < size) {
          await Promise.race([
            once(req, 'drain'),
            answer.then(result => {
              early = result;
            })
          ]);
          if (early !== undefined) {
            // The rest of the body is never sent: this connection cannot serve another request.
            req.destroy();
            break;
          }
        }
      }
      if (early === undefined) {
        if (sent !== size) {
          throw changed(path);
        }
        req.end();
      }
    } catch (error) {
      req.destroy();
      throw brokenOff(error);
    }
    const result =
      early ??
      (await answer.catch(error => {
        throw brokenOff(error);
      }));
    if (result.status < 200 || result.status > 299) {
      stopSumming();
      throw this.refused('PUT', url, result.status);
    }
    if (sent !== size) {
      req.destroy();
      throw brokenOff(new Error('it answered before the whole file was sent'));
    }
    const sums = {
      adler32: adler.hex(),
      md5: md5
        ? md5.digest('hex')
        : (
            await (summing as ChecksumJob).result.catch((error: unknown) => {
              throw signal.aborted
                ? this.failure(error, url, signal)
                : checksumFailure(error, path);
            })
          ).md5
    };
    // Written to while it was read (the two reads may then differ even at the same length, and a
    // storage without Adler-32 would not tell): the caller takes back what was sent.
    if ((await modified(path)) !== before) {
      throw changed(path);
    }
    return { bytes: size, ...sums };
  }

  /** What the storage holds at `pfn`, or null when nothing is there. */
  async head(pfn: string): Promise<StoredFile | null> {
    const url = StorageReader.urlOf(pfn);
    const { req, answer } = await this.open('HEAD', url, { 'Want-Digest': 'adler32' });
    req.end();
    const result = await answer.catch(error => {
      throw this.failure(error, url);
    });
    if (result.status === 404) {
      return null;
    }
    if (result.status !== 200) {
      throw this.refused('HEAD', url, result.status);
    }
    const length = Number(result.headers['content-length']);
    const digest = /(?:^|,)\s*adler32=([0-9a-fA-F]{1,8})\s*(?:,|$)/.exec(
      String(result.headers['digest'] ?? '')
    );
    return {
      bytes: Number.isFinite(length) ? length : -1,
      adler32: digest ? (digest[1] as string).toLowerCase().padStart(8, '0') : null
    };
  }

  /** Deletes what is at `pfn`; nothing there is fine. */
  async remove(pfn: string): Promise<void> {
    const url = StorageReader.urlOf(pfn);
    const { req, answer } = await this.open('DELETE', url, {});
    req.end();
    const result = await answer.catch(error => {
      throw this.failure(error, url);
    });
    if (result.status !== 404 && (result.status < 200 || result.status > 299)) {
      throw this.refused('DELETE', url, result.status);
    }
  }

  /** Closes the kept-alive connections (the companion stops). */
  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  /** Starts a request with the user's storage credentials and the timeouts. */
  private async open(
    method: string,
    url: URL,
    extra: Record<string, string>,
    signal?: AbortSignal
  ): Promise<{ req: ReturnType<typeof httpRequest>; answer: Promise<Answer> }> {
    const headers = {
      ...(await storageHeaders(this.instance, this.credentials, url, this.warned)),
      ...extra
    };
    const secure = url.protocol === 'https:';
    const options: RequestOptions = {
      method,
      headers,
      // The TLS options are part of the name under which the https agent keeps connections.
      agent: secure ? this.agents.https : this.agents.http,
      ...(secure ? this.tlsOptions() : {}),
      ...(signal ? { signal } : {})
    };
    const req = (secure ? httpsRequest : httpRequest)(url, options);
    const answer = new Promise<Answer>((resolvePromise, reject) => {
      req.once('response', (response: IncomingMessage) => {
        // Only the status and headers matter; the body is a short text, read and dropped.
        response.resume();
        response.once('end', () =>
          resolvePromise({ status: response.statusCode ?? 0, headers: response.headers })
        );
        response.on('error', reject);
      });
      // `on`, not `once`: a request destroyed mid-body may report more than one error.
      req.on('error', reject);
    });
    // A transfer that fails while sending is reported by `put`; the answer is then never awaited.
    answer.catch(() => undefined);
    // An idle socket: the storage neither reads what is sent nor answers.
    req.setTimeout(this.timeoutMs, () => req.destroy(new StorageSilent()));
    return { req, answer };
  }

  private tlsOptions(): { ca?: string; cert?: string; key?: string } {
    if (this.tls === undefined) {
      try {
        this.tls = storageTls(this.instance);
      } catch (error) {
        throw new AppError(
          502,
          'not_configured',
          `The certificate files for https storage could not be read (${tame((error as Error).message)}). Tell the hub's admins to fix the companion's configuration.`
        );
      }
    }
    return this.tls;
  }

  /** The sentence for a transfer that broke off. */
  private failure(error: unknown, url: URL, signal?: AbortSignal): Error {
    if (signal?.aborted) {
      return signal.reason instanceof Error ? signal.reason : new Error('cancelled');
    }
    if (error instanceof AppError) {
      return error;
    }
    if (error instanceof StorageSilent) {
      return new AppError(
        504,
        'rucio_unreachable',
        `The storage at ${url.host} stopped answering for ${this.timeoutMs / 1000} s. Retry the upload once it answers again; if it persists, tell the data lake's admins.`
      );
    }
    const reason = tame((error as Error).message ?? String(error), 120);
    return new (droppedConnection(error) ? StorageDropped : AppError)(
      502,
      'rucio_unreachable',
      `The storage at ${url.host} could not be reached or broke the connection off (${reason}). Retry the upload once it answers again; if it persists, tell the data lake's admins.`
    );
  }

  private refused(method: string, url: URL, status: number): AppError {
    if (status === 401 || status === 403) {
      return new AppError(
        403,
        'forbidden',
        `The storage at ${url.host} refused to let you write (${method} answered ${status}). Ask the data lake's admins whether your account may write to this storage.`
      );
    }
    if (status >= 300 && status < 400) {
      return new AppError(
        502,
        'rucio_error',
        `The storage at ${url.host} redirected the ${method} elsewhere; dlaas sends your files only to the address Rucio names. Tell the data lake's admins.`
      );
    }
    if (status === 507 || status === 413) {
      return new AppError(
        507,
        'quota_exceeded',
        `The storage at ${url.host} has no room for the file (${method} answered ${status}). Choose another RSE, or tell the data lake's admins.`
      );
    }
    return new (status >= 500 ? StorageTrouble : AppError)(
      502,
      'rucio_error',
      `The storage at ${url.host} answered ${status} to a ${method}. Retry the upload; if it persists, tell the data lake's admins.`
    );
  }
}

/**
 * A storage request whose connection the storage dropped (see dropped.ts): the same request may
 * be sent again.
 */
export class StorageDropped extends AppError {}

/** A storage that answered a request with a server error (5xx): a second try may do. */
export class StorageTrouble extends AppError {}

/** An idle timeout of a storage request. */
class StorageSilent extends Error {
  override readonly name = 'StorageSilent';
}

/**
 * The sentence for checksums the thread could not sum: a file whose length is not what it was
 * gets the same sentence as one the PUT found so.
 */
function checksumFailure(error: unknown, path: string): Error {
  return error instanceof FileLengthChanged ? changed(path) : (error as Error);
}

/** When the file at `path` was last written to, to the nanosecond, as text. */
async function modified(path: string): Promise<string> {
  try {
    return String((await stat(path, { bigint: true })).mtimeNs);
  } catch (error) {
    throw new AppError(
      409,
      'conflict',
      `${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'unknown error'}). Check that it is still there, then retry the upload.`
    );
  }
}

function changed(path: string): AppError {
  return new AppError(
    409,
    'conflict',
    `${path} changed while it was being uploaded (it was written to, or its length is not what it was when the upload started). Let whatever writes it finish, then retry the upload.`
  );
}
