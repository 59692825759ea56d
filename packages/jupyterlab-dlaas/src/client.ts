import type {
  TransfersResponse,
  Availability,
  AuthStatus,
  DeviceSignIn,
  Did,
  DidDetails,
  Download,
  DownloadDetail,
  DownloadsResponse,
  ErrorResponse,
  FileEntry,
  ListOrder,
  InstancesResponse,
  LocalPath,
  MakeAvailableResponse,
  ScopesResponse,
  SearchRequest,
  UploadDetail,
  UploadRequest,
  UploadsResponse,
  UploadTargetsResponse,
  Window
} from '@dlaas/api';
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { nullTranslator, type TranslationBundle } from '@jupyterlab/translation';

/**
 * Sends one request to the companion, `path` being relative to its root (`api/instances`), and
 * answers its response. In JupyterLab this is `ServerConnection.makeRequest` (Jupyter's auth and
 * XSRF headers); unit tests stub it.
 */
export type Transport = (path: string, init?: RequestInit) => Promise<Response>;

/** Where jupyter-server-proxy serves the companion, below the Jupyter server's base URL. */
export const COMPANION_PATH = 'dlaas';

/** A transport through the Jupyter server, with its authentication and XSRF token. */
export function jupyterTransport(settings: ServerConnection.ISettings): Transport {
  return (path, init = {}) =>
    ServerConnection.makeRequest(
      URLExt.join(settings.baseUrl, COMPANION_PATH, path),
      init,
      settings
    );
}

/** The companion's error codes, plus those of the way there. */
export type DataLakeErrorCode = ErrorResponse['error']['code'] | 'unreachable' | 'bad_answer';

/** A failed call to the companion, with a sentence for the user: what happened, what to do. */
export class DataLakeError extends Error {
  /** The HTTP status, or 0 when no answer came. */
  readonly status: number;
  /** What kind of failure this is. */
  readonly code: DataLakeErrorCode;

  constructor(status: number, code: DataLakeErrorCode, message: string) {
    super(message);
    this.name = 'DataLakeError';
    this.status = status;
    this.code = code;
  }

  /** Whether signing in (again) is what the user should do. */
  get needsSignIn(): boolean {
    return this.code === 'not_signed_in';
  }
}

/** A DID, `scope:name`, split on the first colon only (names may contain colons and slashes). */
export function splitDid(did: string): { scope: string; name: string } {
  const colon = did.indexOf(':');
  return colon < 0
    ? { scope: '', name: did }
    : { scope: did.slice(0, colon), name: did.slice(colon + 1) };
}

/** `scope:name` of a DID. */
export function didString(did: { scope: string; name: string }): string {
  return `${did.scope}:${did.name}`;
}

/** A search: the request the companion takes, without its window. */
export type SearchQuery = Omit<SearchRequest, 'offset' | 'limit'>;

/**
 * The companion's HTTP API, typed. Every method throws a {@link DataLakeError} whose message is
 * the sentence to show.
 */
export class DataLakeClient {
  /**
   * Uses `transport` to reach the companion; `trans` translates the sentences of failures that
   * are not the companion's (the Jupyter server or the network failed).
   */
  constructor(
    readonly transport: Transport,
    private readonly trans: TranslationBundle = nullTranslator.load('dlaas')
  ) {}

  /** The configured instances (and, when there are none, how to configure one). */
  instances(): Promise<InstancesResponse> {
    return this.get('api/instances');
  }

  /** Whether the companion can act for the user on `instance`. */
  authStatus(instance: string): Promise<AuthStatus> {
    return this.get(this.at(instance, 'auth'));
  }

  /** Starts (or resumes) a device sign-in: the code to enter and where. */
  startDeviceSignIn(instance: string): Promise<DeviceSignIn> {
    return this.send('POST', this.at(instance, 'auth/device'));
  }

  /** Forgets the user's tokens for `instance`. */
  async signOut(instance: string): Promise<void> {
    await this.send('POST', this.at(instance, 'auth/sign-out'));
  }

  /** The scopes the user can see. */
  async scopes(instance: string): Promise<string[]> {
    return (await this.get<ScopesResponse>(this.at(instance, 'scopes'))).scopes;
  }

  /** One window of a search's results. */
  search(
    instance: string,
    query: SearchQuery,
    offset: number,
    limit: number,
    sort?: ListOrder
  ): Promise<Window<Did>> {
    return this.send('POST', this.at(instance, 'search'), {
      ...query,
      offset,
      limit,
      ...(sort ? { sort } : {})
    });
  }

  /** One DID in detail: metadata, replicas, rules. */
  details(instance: string, did: string): Promise<DidDetails> {
    return this.get(this.at(instance, 'did', { did }));
  }

  /** One window of a collection's direct children. */
  children(
    instance: string,
    did: string,
    offset: number,
    limit: number,
    sort?: ListOrder
  ): Promise<Window<Did>> {
    return this.get(
      this.at(instance, 'children', { did, offset, limit, ...(sort ? { sort } : {}) })
    );
  }

  /** One window of all the files below a DID. */
  files(
    instance: string,
    did: string,
    offset: number,
    limit: number,
    sort?: ListOrder
  ): Promise<Window<FileEntry>> {
    return this.get(this.at(instance, 'files', { did, offset, limit, ...(sort ? { sort } : {}) }));
  }

  /** Where a DID stands toward the scratch RSE. */
  availability(instance: string, did: string): Promise<Availability> {
    return this.get(this.at(instance, 'availability', { did }));
  }

  /** Makes a DID available on the scratch RSE: one rule, reused when it exists. */
  makeAvailable(instance: string, did: string): Promise<MakeAvailableResponse> {
    return this.send('POST', this.at(instance, 'make-available'), { did });
  }

  /** The user's replications toward the scratch RSE of `instance` that are under way. */
  transfers(instance: string): Promise<TransfersResponse> {
    return this.get(this.at(instance, 'transfers'));
  }

  /** Asks Rucio to retry the stuck transfers of a DID's rule now. */
  retry(instance: string, did: string): Promise<Availability> {
    return this.send('POST', this.at(instance, 'retry'), { did });
  }

  /** One window of the local paths of a DID's files. */
  localPaths(
    instance: string,
    did: string,
    offset: number,
    limit: number
  ): Promise<Window<LocalPath>> {
    return this.get(this.at(instance, 'paths', { did, offset, limit }));
  }

  /** Every local path of a DID's files, window after window. */
  async allLocalPaths(instance: string, did: string, limit = 5000): Promise<LocalPath[]> {
    const paths: LocalPath[] = [];
    for (let offset = 0; ; offset += limit) {
      const window = await this.localPaths(instance, did, offset, limit);
      paths.push(...window.items);
      if (window.items.length < limit || (window.complete && paths.length >= (window.total ?? 0))) {
        return paths;
      }
    }
  }

  /** The first `bytes` bytes of a file's content, for a preview. */
  async content(
    instance: string,
    did: string,
    bytes: number
  ): Promise<{ type: string; body: Blob; size: number | null }> {
    const response = await this.call(this.at(instance, 'content', { did }), {
      headers: { Range: `bytes=0-${bytes - 1}` }
    });
    const range = /\/(\d+)$/.exec(response.headers.get('Content-Range') ?? '');
    const length = response.headers.get('Content-Length');
    return {
      type: response.headers.get('Content-Type') ?? 'application/octet-stream',
      body: await response.blob().catch(() => {
        throw this.cutOff();
      }),
      size: range
        ? Number(range[1])
        : length !== null && response.status === 200
          ? Number(length)
          : null
    };
  }

  /** The download jobs of `instance`, newest first. */
  downloads(instance: string): Promise<DownloadsResponse> {
    return this.get(this.at(instance, 'downloads'));
  }

  /** Starts downloading a DID's files into the instance's default folder (or `folder`). */
  startDownload(instance: string, did: string, folder?: string): Promise<Download> {
    return this.send('POST', this.at(instance, 'downloads'), {
      did,
      ...(folder === undefined ? {} : { folder })
    });
  }

  /** One download job and a window of its files. */
  download(instance: string, id: string, offset = 0, limit = 50): Promise<DownloadDetail> {
    return this.get(this.at(instance, `downloads/${encodeURIComponent(id)}`, { offset, limit }));
  }

  /** Stops a download job; what is on disk stays. */
  cancelDownload(instance: string, id: string): Promise<Download> {
    return this.send('POST', this.at(instance, `downloads/${encodeURIComponent(id)}/cancel`));
  }

  /** Runs a download job that is not running again; it resumes where it stopped. */
  retryDownload(instance: string, id: string): Promise<Download> {
    return this.send('POST', this.at(instance, `downloads/${encodeURIComponent(id)}/retry`));
  }

  /** Forgets a download job; its files stay on disk. */
  async removeDownload(instance: string, id: string): Promise<void> {
    await this.send('DELETE', this.at(instance, `downloads/${encodeURIComponent(id)}`));
  }

  /** What the user may upload to on `instance`: scopes, RSEs with quota, metadata keys. */
  uploadTargets(instance: string): Promise<UploadTargetsResponse> {
    return this.get(this.at(instance, 'upload-targets'));
  }

  /** The upload jobs of `instance`, newest first. */
  uploads(instance: string): Promise<UploadsResponse> {
    return this.get(this.at(instance, 'uploads'));
  }

  /** Starts an upload; refused with a sentence before any byte moves when it cannot succeed. */
  startUpload(instance: string, request: UploadRequest): Promise<UploadDetail> {
    return this.send('POST', this.at(instance, 'uploads'), request);
  }

  /** One upload job and a window of its files. */
  upload(instance: string, id: string, offset = 0, limit = 50): Promise<UploadDetail> {
    return this.get(this.at(instance, `uploads/${encodeURIComponent(id)}`, { offset, limit }));
  }

  /** Stops an upload job; what was sent and not registered is deleted. */
  cancelUpload(instance: string, id: string): Promise<UploadDetail> {
    return this.send('POST', this.at(instance, `uploads/${encodeURIComponent(id)}/cancel`));
  }

  /** Runs an upload job that is not running again; it resumes at the first file not registered. */
  retryUpload(instance: string, id: string): Promise<UploadDetail> {
    return this.send('POST', this.at(instance, `uploads/${encodeURIComponent(id)}/retry`));
  }

  /** Forgets an upload job; the data in the lake stays. */
  async removeUpload(instance: string, id: string): Promise<void> {
    await this.send('DELETE', this.at(instance, `uploads/${encodeURIComponent(id)}`));
  }

  /** The path, below the companion's root, of the event stream for `dids` of `instance`. */
  eventsPath(instance: string, dids: string[]): string {
    const query = new URLSearchParams();
    dids.forEach(did => query.append('did', did));
    return `${this.at(instance, 'events')}?${query.toString()}`;
  }

  private at(instance: string, route: string, query?: Record<string, string | number>): string {
    const path = `api/instances/${encodeURIComponent(instance)}/${route}`;
    if (!query) {
      return path;
    }
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      params.set(key, String(value));
    }
    return `${path}?${params.toString()}`;
  }

  private get<T>(path: string): Promise<T> {
    return this.json<T>(path, { method: 'GET' });
  }

  private send<T>(method: 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    return this.json<T>(path, {
      method,
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } })
    });
  }

  private async json<T>(path: string, init: RequestInit): Promise<T> {
    const response = await this.call(path, init);
    if (response.status === 204) {
      return undefined as T;
    }
    let text: string;
    try {
      text = await response.text();
    } catch {
      throw this.cutOff();
    }
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new DataLakeError(
        response.status,
        'bad_answer',
        this.trans.__(
          'The data lake service gave an answer that is not JSON. Reload JupyterLab; if it persists, ask your hub admin to check the dlaas companion.'
        )
      );
    }
  }

  private async call(path: string, init: RequestInit): Promise<Response> {
    let response: Response;
    try {
      response = await this.transport(path, init);
    } catch {
      throw this.cutOff();
    }
    if (response.ok) {
      return response;
    }
    throw await Private.errorOf(response, this.trans);
  }

  /** The failure of a request that got no (whole) answer. */
  private cutOff(): DataLakeError {
    return new DataLakeError(
      0,
      'unreachable',
      this.trans.__(
        'The Jupyter server did not answer. Check your connection, then reload JupyterLab.'
      )
    );
  }
}

namespace Private {
  /** The companion's sentence, or one for answers that are not the companion's. */
  export async function errorOf(
    response: Response,
    trans: TranslationBundle
  ): Promise<DataLakeError> {
    const text = await response.text().catch(() => '');
    try {
      const body = JSON.parse(text) as Partial<ErrorResponse>;
      if (body.error && typeof body.error.message === 'string') {
        return new DataLakeError(response.status, body.error.code, body.error.message);
      }
    } catch {
      // Not the companion's JSON: the proxy or the Jupyter server answered.
    }
    if (response.status === 403) {
      return new DataLakeError(
        403,
        'forbidden',
        trans.__(
          'The Jupyter server refused the request. Reload JupyterLab and sign in to it again.'
        )
      );
    }
    if (response.status === 404 || response.status >= 500) {
      return new DataLakeError(
        response.status,
        'unreachable',
        trans.__(
          'The data lake service is not running in this Jupyter server. Check that the dlaas package is installed, then restart JupyterLab.'
        )
      );
    }
    return new DataLakeError(
      response.status,
      'bad_answer',
      trans.__(
        'The data lake service answered %1. Try again; if it persists, ask your hub admin.',
        response.status
      )
    );
  }
}
