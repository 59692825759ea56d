import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { didString, type DidRef } from '../did.js';
import { AppError } from '../errors.js';
import { StorageReader, storageHeaders } from '../fuse/storage.js';
import type { RucioClient } from '../rucio/client.js';
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
  name: string;
  bytes?: unknown;
  rses?: Record<string, string[]>;
  states?: Record<string, string>;
}

/**
 * The bytes of one file, read from its best replica (the scratch RSE first) with the user's
 * token, for previews and downloads. Only PFNs Rucio gives for the file are fetched, so only
 * hosts of the instance's RSEs are reached.
 */
export async function fileContent(
  rucio: RucioClient,
  did: DidRef,
  rangeHeader: string | undefined
): Promise<FileContent> {
  const replicas: ReplicaLine[] = [];
  for await (const line of rucio.lines<ReplicaLine>('POST', '/replicas/list', {
    body: {
      dids: [{ scope: did.scope, name: did.name }],
      schemes: ['https', 'http', 'davs'],
      all_states: false,
      sort: 'random'
    },
    context: { did: didString(did) }
  })) {
    replicas.push(line);
    if (replicas.length > 1) {
      throw new AppError(
        400,
        'bad_request',
        `${didString(did)} is a collection; only a file has content. Open the collection to see its files.`
      );
    }
  }
  const replica = replicas[0];
  if (!replica || replica.name !== did.name) {
    throw new AppError(
      404,
      'not_found',
      `${didString(did)} has no available replica to read. Make it available first, or try again later.`
    );
  }
  const scratch = rucio.instance.scratchRse;
  const available = Object.entries(replica.rses ?? {}).filter(
    ([rse]) => replica.states?.[rse] === 'AVAILABLE'
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
      `${didString(did)} has no replica that can be read over HTTP. Make it available first.`
    );
  }
  const size = rucioNumber(replica.bytes) ?? 0;
  const range = parseRange(rangeHeader, size);
  const type = contentType(did.name);
  const common = {
    'Content-Type': type,
    'Accept-Ranges': 'bytes',
    'X-Content-Type-Options': 'nosniff',
    'Content-Security-Policy': "default-src 'none'; sandbox",
    'Content-Disposition': `inline; filename="${encodeURIComponent(did.name.split('/').pop() ?? 'file')}"`
  };
  if (range === 'unsatisfiable') {
    return { status: 416, headers: { ...common, 'Content-Range': `bytes */${size}` }, body: null };
  }
  const headers: Record<string, string> = {};
  if (range) {
    headers['Range'] = `bytes=${range.start}-${range.end}`;
  }
  const url = StorageReader.urlOf(pfn);
  // Storage of token-based lakes (WLCG) takes the same bearer token, over https or to trusted
  // test hosts only; never Rucio's own session token (userpass), nor any with a certificate.
  Object.assign(headers, await storageHeaders(rucio.instance, rucio.credentials, url));
  let response: Response;
  try {
    response = await fetch(url, { headers });
  } catch (error) {
    throw unreachable(`The storage holding ${didString(did)}`, new URL(pfn).host, error);
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new AppError(
      502,
      'rucio_error',
      `The storage holding ${didString(did)} answered ${response.status}. Try again later.`
    );
  }
  const length = range ? range.end - range.start + 1 : size;
  return {
    status: range ? 206 : 200,
    headers: {
      ...common,
      'Content-Length': String(length),
      ...(range ? { 'Content-Range': `bytes ${range.start}-${range.end}/${size}` } : {})
    },
    body: Readable.fromWeb(response.body as WebReadableStream<Uint8Array>)
  };
}
