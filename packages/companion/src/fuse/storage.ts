import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { CredentialSource } from '../auth/credentials.js';
import type { InstanceConfig } from '../config.js';
import { log } from '../log.js';

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

/** How many connections to one storage host are kept open and used at once. */
const SOCKETS_PER_HOST = 32;

/**
 * Byte ranges of scratch replicas, read with HTTP Range GETs over keep-alive connections, with
 * the user's bearer token where the instance's sign-in gives one (an OIDC token: `token`,
 * `jupyterhub`, `device`), only over https or to hosts the configuration trusts over plain http.
 * Rucio's own session token (userpass, x509) never goes to storage; an x509 instance presents its
 * certificate to https storage instead.
 */
export class StorageReader {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: SOCKETS_PER_HOST });
  private httpsAgentMade: https.Agent | undefined;
  private readonly trusted: ReadonlySet<string>;
  private readonly warned = new Set<string>();

  constructor(
    private readonly instance: InstanceConfig,
    private readonly credentials: CredentialSource,
    /** A storage that sends nothing for this long fails the read with EIO. */
    private readonly timeoutMs: number
  ) {
    this.trusted = new Set((instance.trustedHttpHosts ?? []).map(h => h.toLowerCase()));
  }

  /**
   * The agent of https storage, made on first use: it reads the CA bundle and, for x509 sign-in,
   * the user's certificate, so a missing file fails the reads (EIO, logged), not the companion.
   */
  private get httpsAgent(): https.Agent {
    if (!this.httpsAgentMade) {
      const auth = this.instance.auth;
      try {
        this.httpsAgentMade = new https.Agent({
          keepAlive: true,
          maxSockets: SOCKETS_PER_HOST,
          ...(this.instance.caBundle ? { ca: readFileSync(this.instance.caBundle) } : {}),
          ...(auth.method === 'x509'
            ? { cert: readFileSync(auth.cert), key: readFileSync(auth.key ?? auth.cert) }
            : {})
        });
      } catch (error) {
        throw new StorageError(
          EIO,
          `the certificate files for https storage could not be read (${(error as Error).message})`
        );
      }
    }
    return this.httpsAgentMade;
  }

  /** The URL a PFN is read from: WebDAV's `davs://` is https, `dav://` is http. */
  static urlOf(pfn: string): URL {
    return new URL(pfn.replace(/^davs:/, 'https:').replace(/^dav:/, 'http:'));
  }

  /** Whether a PFN can be read over HTTP at all. */
  static readable(pfn: string): boolean {
    return /^(https?|davs?):\/\//.test(pfn);
  }

  private async headers(url: URL): Promise<Record<string, string>> {
    const method = this.instance.auth.method;
    if (method === 'userpass' || method === 'x509') {
      return {};
    }
    if (url.protocol !== 'https:' && !this.trusted.has(url.host.toLowerCase())) {
      if (!this.warned.has(url.host)) {
        this.warned.add(url.host);
        log('warn', 'storage on plain http gets no token', {
          instance: this.instance.name,
          host: url.host,
          hint: 'list the host in trustedHttpHosts if it is a trusted test storage'
        });
      }
      return {};
    }
    const token = await this.credentials.token();
    return { Authorization: `Bearer ${token.value}` };
  }

  /**
   * Reads bytes `start` to `end` (inclusive, inside the file) of a replica into `target` at
   * `offset`. Only closed ranges are asked for (XRootD 5.5 mishandles the others); an answer with
   * the whole file (200) is cut to the range; any other length is an error, never bytes in the
   * wrong place.
   */
  async read(pfn: string, start: number, end: number, target: Buffer, offset = 0): Promise<void> {
    const url = StorageReader.urlOf(pfn);
    const wanted = end - start + 1;
    const headers = { ...(await this.headers(url)), Range: `bytes=${start}-${end}` };
    const client = url.protocol === 'https:' ? https : http;
    const agent = url.protocol === 'https:' ? this.httpsAgent : this.httpAgent;
    await new Promise<void>((resolvePromise, reject) => {
      const fail = (errno: number, message: string): void => {
        request.destroy();
        reject(new StorageError(errno, message));
      };
      const request = client.request(url, { method: 'GET', headers, agent }, response => {
        const status = response.statusCode ?? 0;
        if (status === 401 || status === 403) {
          response.resume();
          log('warn', 'storage refused a read', {
            instance: this.instance.name,
            host: url.host,
            status
          });
          fail(EACCES, `the storage at ${url.host} refused the read (${status})`);
          return;
        }
        if (status !== 206 && status !== 200) {
          response.resume();
          fail(EIO, `the storage at ${url.host} answered ${status}`);
          return;
        }
        // A 200 carries the whole file: skip to the range.
        let skip = status === 200 ? start : 0;
        let written = 0;
        response.on('data', (chunk: Buffer) => {
          let piece = chunk;
          if (skip > 0) {
            const dropped = Math.min(skip, piece.length);
            skip -= dropped;
            piece = piece.subarray(dropped);
          }
          const room = wanted - written;
          if (piece.length > room) {
            if (status === 206) {
              fail(EIO, `the storage at ${url.host} sent more than the range asked for`);
              return;
            }
            piece = piece.subarray(0, room);
          }
          piece.copy(target, offset + written);
          written += piece.length;
          if (status === 200 && written === wanted) {
            // The rest of the file is not needed; this connection is not reused.
            request.destroy();
            resolvePromise();
          }
        });
        response.on('end', () => {
          if (written === wanted) {
            resolvePromise();
          } else {
            reject(
              new StorageError(EIO, `the storage at ${url.host} sent ${written} of ${wanted} bytes`)
            );
          }
        });
        response.on('error', error => fail(EIO, `reading from ${url.host}: ${error.message}`));
      });
      request.setTimeout(this.timeoutMs, () =>
        fail(EIO, `the storage at ${url.host} sent nothing for ${this.timeoutMs / 1000} s`)
      );
      request.on('error', error =>
        reject(
          error instanceof StorageError
            ? error
            : new StorageError(EIO, `could not reach ${url.host}: ${error.message}`)
        )
      );
      request.end();
    });
  }

  /** Closes the kept connections. */
  dispose(): void {
    this.httpAgent.destroy();
    this.httpsAgentMade?.destroy();
  }
}
