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
 * Copies one file from `source` to `destination` the way a plain HTTP transfer does: GET the
 * source and stream it into a PUT on the destination, summing Adler-32 on the way. Throws an
 * error whose message reads like an FTS3 reason.
 */
export async function copyFile(source: string, destination: string): Promise<CopyResult> {
  const sourceUrl = new URL(source);
  const destinationUrl = new URL(destination);
  const response = await get(sourceUrl).catch((error: Error) => {
    throw new Error(`SOURCE [${error.message}] could not connect to ${sourceUrl.host}`);
  });
  if (response.statusCode !== 200) {
    response.resume();
    throw new Error(`SOURCE [${response.statusCode}] GET ${source} answered ${response.statusCode} ${response.statusMessage ?? ''}`.trim());
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
        headers: length === undefined ? { 'transfer-encoding': 'chunked' } : { 'content-length': length }
      },
      answer => {
        answer.resume();
        answer.once('end', () => resolvePromise(answer.statusCode ?? 0));
      }
    );
    put.once('error', error => reject(new Error(`DESTINATION [${error.message}] PUT ${destination} failed`)));
    pipeline(response, sum, put).catch(reject);
  });
  if (status < 200 || status >= 300) {
    throw new Error(`DESTINATION [${status}] PUT ${destination} answered ${status}`);
  }
  return { bytes, adler32: checksum.hex() };
}
