import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Adler32 } from '../adler32.js';

/** What a finished copy found. */
export interface CopyResult {
  readonly bytes: number;
  readonly adler32: string;
}

function requestFor(url: URL): typeof httpRequest {
  return url.protocol === 'https:' ? httpsRequest : httpRequest;
}

function get(url: URL): Promise<IncomingMessage> {
  return new Promise((resolvePromise, reject) => {
    const req = requestFor(url)(url, { method: 'GET' }, resolvePromise);
    req.once('error', reject);
    req.end();
  });
}

/**
 * A URL whose path has a `.` or `..` segment (also as `%2e`) names another file once parsed
 * (`new URL` resolves them, as XRootD refuses them): copying it would read or overwrite another
 * DID's replica. Such a transfer fails before any byte moves, as it does at a real site.
 */
function refuseDotSegments(side: 'SOURCE' | 'DESTINATION', url: string): void {
  const path = url.replace(/^[a-z]+:\/\/[^/]*/i, '').replace(/[?#].*$/, '');
  if (path.split('/').some(s => /^(\.|%2e){1,2}$/i.test(s))) {
    throw new Error(
      `${side} [22] ${url} has a "." or ".." path segment, which names another file; not copied`
    );
  }
}

/**
 * Copies one file from `source` to `destination` the way a plain HTTP transfer does: GET the
 * source and stream it into a PUT on the destination, summing Adler-32 on the way. Throws an
 * error whose message reads like an FTS3 reason.
 */
export async function copyFile(source: string, destination: string): Promise<CopyResult> {
  refuseDotSegments('SOURCE', source);
  refuseDotSegments('DESTINATION', destination);
  const sourceUrl = new URL(source);
  const destinationUrl = new URL(destination);
  const response = await get(sourceUrl).catch((error: Error) => {
    throw new Error(`SOURCE [${error.message}] could not connect to ${sourceUrl.host}`);
  });
  if (response.statusCode !== 200) {
    response.resume();
    throw new Error(
      `SOURCE [${response.statusCode}] GET ${source} answered ${response.statusCode} ${response.statusMessage ?? ''}`.trim()
    );
  }
  const length = response.headers['content-length'];
  const checksum = new Adler32();
  let bytes = 0;
  const sum = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      checksum.update(chunk);
      bytes += chunk.length;
      callback(null, chunk);
    }
  });
  const status = await new Promise<number>((resolvePromise, reject) => {
    const put = requestFor(destinationUrl)(
      destinationUrl,
      {
        method: 'PUT',
        // XRootD 5.5 reads these header names case-sensitively: lower-case ones are ignored
        // and the file is stored empty.
        headers:
          length === undefined ? { 'Transfer-Encoding': 'chunked' } : { 'Content-Length': length }
      },
      answer => {
        answer.resume();
        answer.once('end', () => resolvePromise(answer.statusCode ?? 0));
      }
    );
    put.once('error', error =>
      reject(new Error(`DESTINATION [${error.message}] PUT ${destination} failed`))
    );
    pipeline(response, sum, put).catch(reject);
  });
  if (status < 200 || status >= 300) {
    throw new Error(`DESTINATION [${status}] PUT ${destination} answered ${status}`);
  }
  const result = { bytes, adler32: checksum.hex() };
  await verifyDestination(destinationUrl, result);
  return result;
}

/**
 * Checks what the destination stored, as FTS3 does after a copy: its size, and its Adler-32 when
 * the storage reports one (`Want-Digest: adler32`, which XRootD answers).
 */
async function verifyDestination(url: URL, expected: CopyResult): Promise<void> {
  const head = await new Promise<IncomingMessage>((resolvePromise, reject) => {
    const req = requestFor(url)(
      url,
      { method: 'HEAD', headers: { 'Want-Digest': 'adler32' } },
      resolvePromise
    );
    req.once('error', reject);
    req.end();
  }).catch((error: Error) => {
    throw new Error(`DESTINATION [${error.message}] HEAD ${url.href} failed after the copy`);
  });
  head.resume();
  const size = Number(head.headers['content-length']);
  if (head.statusCode !== 200 || size !== expected.bytes) {
    throw new Error(
      `DESTINATION [${head.statusCode}] ${url.href} holds ${Number.isNaN(size) ? 'no file' : `${size} bytes`} after copying ${expected.bytes}`
    );
  }
  const digest = /adler32=([0-9a-f]{1,8})/i.exec(String(head.headers['digest'] ?? ''))?.[1];
  if (digest !== undefined && digest.toLowerCase().padStart(8, '0') !== expected.adler32) {
    throw new Error(
      `DESTINATION [5] checksum mismatch: copied ${expected.adler32}, destination reports ${digest}`
    );
  }
}
