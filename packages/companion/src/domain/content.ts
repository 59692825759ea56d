import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { didString, type DidRef } from '../did.js';
import { AppError } from '../errors.js';
import { StorageReader, storageHeaders } from '../fuse/storage.js';
import { fetchWithinOrigin } from '../http.js';
import { log } from '../log.js';
import {
  DEFAULT_REQUEST_TIMEOUT_SECONDS,
  didPath,
  idleGuarded,
  type RucioClient
} from '../rucio/client.js';
import { unreachable } from '../rucio/errors.js';
import { rucioNumber } from '../rucio/json.js';

/** A byte range to read, inclusive. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/**
 * Parses a `Range` header against a file of `size` bytes into one closed range, clamped to the file:
 * `bytes=a-b`, `bytes=a-` and `bytes=-n`. Returns undefined for no (or an unsupported multi-)range,
 * and 'unsatisfiable' when the range starts past the end. The storage gets only closed ranges
 * inside the file, because XRootD 5.5 mishandles the others.
 */
export function parseRange(
  header: string | undefined,
  size: number
): ByteRange | 'unsatisfiable' | undefined {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header?.trim() ?? '');
  if (!match || (match[1] === '' && match[2] === '')) {
    return undefined;
  }
  const [first, last] = [match[1] as string, match[2] as string];
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) {
      return 'unsatisfiable';
    }
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  if (start >= size) {
    return 'unsatisfiable';
  }
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  return end < start ? 'unsatisfiable' : { start, end };
}

const TYPES: Record<string, string> = {
  csv: 'text/csv; charset=utf-8',
  txt: 'text/plain; charset=utf-8',
  log: 'text/plain; charset=utf-8',
  md: 'text/plain; charset=utf-8',
  json: 'application/json',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif'
};

/** The type a file is served with: known previewable types, else bytes (never HTML or SVG, which could run script). */
export function contentType(name: string): string {
  const extension = /\.([A-Za-z0-9]+)$/.exec(name)?.[1]?.toLowerCase() ?? '';
  return TYPES[extension] ?? 'application/octet-stream';
}

/** What the content route sends. */
export interface FileContent {
  readonly status: 200 | 206 | 416;
  readonly headers: Record<string, string>;
  readonly body: Readable | null;
}

interface ReplicaLine {
  scope?: string;
  name: string;
  bytes?: unknown;
  rses?: Record<string, string[]>;
  states?: Record<string, string>;
}

/**
 * How far into a file the companion reads and throws away when storage ignores a Range request
 * and sends the whole file (200): enough for previews and small files (about a second of
 * reading at LAN speed); past it, a Range request to such storage fails with a sentence rather
 * than reading gigabytes to resume a download.
 */
export const MAX_SKIP_BYTES = 32 * 1024 * 1024;

/**
 * The bytes of one file, read from its best replica (the scratch RSE first) with the user's
 * token, for previews and downloads. Only PFNs Rucio gives for the file are fetched, so only
 * hosts of the instance's RSEs are reached; a redirect is followed only within the PFN's origin.
 * What is sent is what Rucio says the file (or the range asked for) is: an answer of storage that
 * announces another length or range fails with 502 before anything is sent, and one whose bytes
 * turn out too few or too many breaks off the body, so a download fails instead of being wrong.
 */
export async function fileContent(
  rucio: RucioClient,
  did: DidRef,
  rangeHeader: string | undefined
): Promise<FileContent> {
  const name = didString(did);
  const context = { did: name };
  // Only a file has content. /replicas/list expands a collection into its files, so its answer
  // alone cannot tell a one-file dataset from the file, nor an empty collection from a file
  // without replicas: Rucio says the type.
  const meta = await rucio.json<{ type?: unknown; bytes?: unknown } | null>(
    'GET',
    didPath(did.scope, did.name),
    { context }
  );
  const type = typeof meta?.type === 'string' ? meta.type.toUpperCase() : '';
  if (type === 'DATASET' || type === 'CONTAINER') {
    throw new AppError(
      400,
      'bad_request',
      `${name} is a collection; only a file has content. Open the collection to see its files.`
    );
  }
  let replica: ReplicaLine | undefined;
  for await (const line of rucio.lines<ReplicaLine>('POST', '/replicas/list', {
    body: {
      dids: [{ scope: did.scope, name: did.name }],
      schemes: ['https', 'http', 'davs'],
      all_states: false,
      sort: 'random'
    },
    context
  })) {
    if (line.name === did.name && (line.scope ?? did.scope) === did.scope) {
      replica = line;
      break;
    }
  }
  if (!replica) {
    throw new AppError(
      404,
      'not_found',
      `${name} has no available replica to read. Make it available first, or try again later.`
    );
  }
  const states = replica.states;
  const scratch = rucio.instance.scratchRse;
  const available = Object.entries(replica.rses ?? {}).filter(
    ([rse]) => states?.[rse] === 'AVAILABLE'
  );
  const ordered = [
    ...available.filter(([rse]) => rse === scratch),
    ...available.filter(([rse]) => rse !== scratch)
  ];
  const pfn = ordered.flatMap(([, pfns]) => pfns).find(p => /^(https?|davs):\/\//.test(p));
  if (!pfn) {
    throw new AppError(
      404,
      'not_found',
      `${name} has no replica that can be read over HTTP. Make it available first.`
    );
  }
  const size = rucioNumber(replica.bytes) ?? rucioNumber(meta?.bytes);
  if (size === null || size < 0 || !Number.isInteger(size)) {
    throw new AppError(
      502,
      'rucio_error',
      `${rucio.instance.name} does not say how big ${name} is, so it cannot be sent safely. Tell the data lake's admins.`
    );
  }
  const range = parseRange(rangeHeader, size);
  const common = {
    'Content-Type': contentType(did.name),
    'Accept-Ranges': 'bytes',
    'X-Content-Type-Options': 'nosniff',
    'Content-Security-Policy': "default-src 'none'; sandbox",
    'Content-Disposition': `inline; filename="${encodeURIComponent(did.name.split('/').pop() ?? 'file')}"`
  };
  if (range === 'unsatisfiable') {
    return { status: 416, headers: { ...common, 'Content-Range': `bytes */${size}` }, body: null };
  }
  // Lengths are checked against the bytes of the file, so storage must not compress them.
  const headers: Record<string, string> = { 'Accept-Encoding': 'identity' };
  if (range) {
    headers['Range'] = `bytes=${range.start}-${range.end}`;
  }
  const url = StorageReader.urlOf(pfn);
  // Storage of token-based lakes (WLCG) takes the same bearer token, over https or to trusted
  // test hosts only; never Rucio's own session token (userpass), nor any with a certificate.
  Object.assign(headers, await storageHeaders(rucio.instance, rucio.credentials, url));
  const storage = `The storage holding ${name}`;
  // The storage must start answering, and then keep sending, within the instance's timeout.
  const seconds = rucio.instance.requestTimeoutSeconds ?? DEFAULT_REQUEST_TIMEOUT_SECONDS;
  const silent = (): AppError =>
    new AppError(
      504,
      'rucio_unreachable',
      `${storage} sent nothing for ${seconds} s. Try again; if it persists, tell the data lake's admins.`
    );
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(silent()), seconds * 1000);
  let response: Response;
  try {
    response = await fetchWithinOrigin(url, { headers, signal: deadline.signal }, storage);
  } catch (error) {
    if (error instanceof AppError) {
      throw error;
    }
    if (deadline.signal.aborted) {
      throw silent();
    }
    throw unreachable(storage, url.host, error);
  } finally {
    clearTimeout(timer);
  }
  const body = response.body && idleGuarded(response.body, seconds * 1000, silent);
  const refuse = async (sentence: string): Promise<never> => {
    await body?.cancel().catch(() => undefined);
    throw new AppError(502, 'rucio_error', `${storage} ${sentence}`);
  };
  if ((response.status !== 200 && response.status !== 206) || !body) {
    return refuse(`answered ${response.status}. Try again later.`);
  }
  const length = range ? range.end - range.start + 1 : size;
  const announced = announcedLength(response);
  const ask = `Try again; if it persists, tell the data lake's admins.`;
  let skip = 0;
  let rest: 'cut' | 'error' = 'error';
  if (response.status === 206) {
    const answered = parseContentRange(response.headers.get('content-range'));
    const wanted = range ?? { start: 0, end: size - 1 };
    if (!answered || answered.start !== wanted.start || answered.end !== wanted.end) {
      return refuse(
        `sent ${answered ? `bytes ${answered.start}-${answered.end}` : 'a part of the file it did not name'} where bytes ${wanted.start}-${wanted.end} were asked for. ${ask}`
      );
    }
    if (answered.size !== undefined && answered.size !== size) {
      return refuse(
        `says the file has ${answered.size} bytes where ${rucio.instance.name} says ${size}. ${ask}`
      );
    }
    if (announced !== undefined && announced !== length) {
      return refuse(`announced ${announced} bytes for a range of ${length}. ${ask}`);
    }
  } else {
    // 200 is the whole file, whether or not a range was asked for.
    if (announced !== undefined && announced !== size) {
      return refuse(
        `announced ${announced} bytes where ${rucio.instance.name} says the file has ${size}. ${ask}`
      );
    }
    if (range) {
      if (range.start > MAX_SKIP_BYTES) {
        return refuse(
          `cannot send part of a file, and reading ${Math.ceil(range.start / 1024 / 1024)} MiB to reach the part asked for is more than dlaas does for one request. Download the whole file instead.`
        );
      }
      skip = range.start;
      rest = 'cut';
    }
  }
  return {
    status: range ? 206 : 200,
    headers: {
      ...common,
      'Content-Length': String(length),
      ...(range ? { 'Content-Range': `bytes ${range.start}-${range.end}/${size}` } : {})
    },
    body: Readable.from(
      exactBytes(body as WebReadableStream<Uint8Array>, skip, length, rest, reason =>
        log('warn', 'storage sent a file of another length; the download was broken off', {
          instance: rucio.instance.name,
          did: name,
          host: url.host,
          reason
        })
      ),
      { objectMode: false }
    )
  };
}

/** The Content-Length of a storage answer, when it counts the bytes of the file (not compressed ones). */
function announcedLength(response: Response): number | undefined {
  const header = response.headers.get('content-length');
  const encoding = (response.headers.get('content-encoding') ?? 'identity').trim().toLowerCase();
  if (header === null || encoding !== 'identity') {
    return undefined;
  }
  return Number(header);
}

/** `bytes a-b/size` (size may be `*`) as numbers; undefined for anything else. */
function parseContentRange(
  header: string | null
): { start: number; end: number; size: number | undefined } | undefined {
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header?.trim() ?? '');
  if (!match) {
    return undefined;
  }
  const total = match[3] as string;
  return {
    start: Number(match[1]),
    end: Number(match[2]),
    size: total === '*' ? undefined : Number(total)
  };
}

/**
 * Bytes `skip` to `skip + length - 1` of a storage answer. After them, a `cut` answer (the whole
 * file sent for a range) is closed and the rest never read; for any other, more bytes are an
 * error, as are fewer: the error breaks the response off, so the browser sees a failed download
 * rather than a file of the wrong length. `report` hears why.
 */
async function* exactBytes(
  body: WebReadableStream<Uint8Array>,
  skip: number,
  length: number,
  rest: 'cut' | 'error',
  report: (reason: string) => void
): AsyncGenerator<Uint8Array, void, undefined> {
  const reader = body.getReader();
  let skipping = skip;
  let left = length;
  const fail = (reason: string): Error => {
    report(reason);
    return new Error(reason);
  };
  try {
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) {
        break;
      }
      let piece = chunk.value;
      if (skipping > 0) {
        const dropped = Math.min(skipping, piece.length);
        skipping -= dropped;
        piece = piece.subarray(dropped);
      }
      if (piece.length > left) {
        if (rest === 'error') {
          throw fail(`more than the ${length} bytes expected`);
        }
        piece = piece.subarray(0, left);
      }
      left -= piece.length;
      if (piece.length > 0) {
        yield piece;
      }
      if (left === 0 && rest === 'cut') {
        return;
      }
    }
    if (left > 0 || skipping > 0) {
      throw fail(`${length - left} of the ${length} bytes expected`);
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
