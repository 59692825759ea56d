import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CredentialSource } from '../src/auth/credentials.js';
import type { InstanceConfig } from '../src/config.js';
import { fileContent, MAX_SKIP_BYTES, type FileContent } from '../src/domain/content.js';
import { RucioClient } from '../src/rucio/client.js';

/**
 * `/content` against a stand-in Rucio and a stand-in storage on loopback that misbehaves on
 * purpose (redirects away, ignores ranges, announces other lengths, sends too few or too many
 * bytes), and another host that records what reaches it: the transport of a unit test; the
 * integration test reads devlake's real storage.
 */

const FILE = randomBytes(100_000);
const TOKEN = 'secret-oidc-token';
const SCOPE = 'user.alice';

/** Files the stand-in Rucio knows: a name, the storage path of its replica, and its size. */
const FILES: Record<string, { path: string; bytes: number }> = {
  'good.csv': { path: '/ok', bytes: FILE.length },
  'moved-here.csv': { path: '/near', bytes: FILE.length },
  'moved-away.csv': { path: '/away', bytes: FILE.length },
  'ignores-ranges.csv': { path: '/whole', bytes: FILE.length },
  'huge-ignores-ranges.bin': { path: '/whole-chunked', bytes: 2 * MAX_SKIP_BYTES },
  'truncated-replica.csv': { path: '/truncated', bytes: FILE.length },
  'wrong-range.csv': { path: '/first-ten', bytes: FILE.length },
  'short-stream.csv': { path: '/short-chunked', bytes: FILE.length },
  'long-stream.csv': { path: '/long-chunked', bytes: FILE.length },
  'silent.csv': { path: '/silent', bytes: FILE.length },
  'stalls.csv': { path: '/stall', bytes: FILE.length }
};

/** Collections the stand-in Rucio knows, with the files /replicas/list expands them into. */
const COLLECTIONS: Record<string, { type: string; files: string[] }> = {
  'empty-dataset': { type: 'DATASET', files: [] },
  'one-file-dataset': { type: 'DATASET', files: ['good.csv'] },
  'two-file-container': { type: 'CONTAINER', files: ['good.csv', 'ignores-ranges.csv'] }
};

let rucio: Server;
let storage: Server;
let elsewhere: Server;
let storageUrl: string;
let elsewhereUrl: string;
let rucioUrl: string;
const reachedElsewhere: IncomingHttpHeaders[] = [];
const reachedStorage: IncomingHttpHeaders[] = [];

function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  return once(server, 'listening').then(
    () => `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  );
}

function replicaLine(name: string): string {
  const file = FILES[name];
  if (!file) {
    return '';
  }
  const pfn = `${storageUrl}${file.path}/${name}`;
  return `${JSON.stringify({
    scope: SCOPE,
    name,
    bytes: file.bytes,
    rses: { SCRATCH: [pfn] },
    states: { SCRATCH: 'AVAILABLE' }
  })}\n`;
}

async function answerRucio(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = decodeURIComponent(req.url ?? '');
  const didMatch = /^\/dids\/([^/]+)\/(.+)$/.exec(path);
  if (req.method === 'GET' && didMatch) {
    const name = didMatch[2] as string;
    const collection = COLLECTIONS[name];
    const file = FILES[name];
    if (!collection && !file) {
      res
        .writeHead(404, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ ExceptionClass: 'DataIdentifierNotFound', ExceptionMessage: 'no' }));
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(
      JSON.stringify({
        scope: SCOPE,
        name,
        type: collection ? collection.type : 'FILE',
        bytes: file?.bytes ?? null
      })
    );
    return;
  }
  if (req.method === 'POST' && path === '/replicas/list') {
    const chunks: Buffer[] = [];
    for await (const chunk of req) {
      chunks.push(chunk as Buffer);
    }
    const { dids } = JSON.parse(Buffer.concat(chunks).toString()) as {
      dids: { name: string }[];
    };
    const name = dids[0]?.name ?? '';
    const files = COLLECTIONS[name]?.files ?? [name];
    res.writeHead(200, { 'Content-Type': 'application/x-json-stream' });
    res.end(files.map(replicaLine).join(''));
    return;
  }
  res.writeHead(404).end();
}

function answerStorage(req: IncomingMessage, res: ServerResponse): void {
  reachedStorage.push(req.headers);
  const path = req.url ?? '';
  const match = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
  const [start, end] = match ? [Number(match[1]), Number(match[2])] : [0, FILE.length - 1];
  const part = FILE.subarray(start, end + 1);
  const ranged = (): void => {
    if (match) {
      res.writeHead(206, { 'Content-Range': `bytes ${start}-${end}/${FILE.length}` }).end(part);
    } else {
      res.writeHead(200, { 'Content-Length': String(FILE.length) }).end(FILE);
    }
  };
  const chunked = (bytes: Buffer): void => {
    res.writeHead(200);
    res.write(bytes.subarray(0, 1000));
    res.end(bytes.subarray(1000));
  };
  if (path.startsWith('/ok/')) {
    ranged();
  } else if (path.startsWith('/near/')) {
    res.writeHead(307, { Location: path.replace(/^\/near\//, '/ok/') }).end();
  } else if (path.startsWith('/away/')) {
    res.writeHead(302, { Location: `${elsewhereUrl}${path}` }).end();
  } else if (path.startsWith('/whole/')) {
    res.writeHead(200, { 'Content-Length': String(FILE.length) }).end(FILE);
  } else if (path.startsWith('/whole-chunked/')) {
    chunked(FILE);
  } else if (path.startsWith('/truncated/')) {
    const stored = FILE.subarray(0, FILE.length - 7);
    res.writeHead(200, { 'Content-Length': String(stored.length) }).end(stored);
  } else if (path.startsWith('/first-ten/')) {
    res.writeHead(206, { 'Content-Range': `bytes 0-9/${FILE.length}` }).end(FILE.subarray(0, 10));
  } else if (path.startsWith('/short-chunked/')) {
    chunked(FILE.subarray(0, FILE.length - 100));
  } else if (path.startsWith('/long-chunked/')) {
    chunked(Buffer.concat([FILE, randomBytes(100)]));
  } else if (path.startsWith('/silent/')) {
    // Never answers (the socket is closed when the test's servers stop).
  } else if (path.startsWith('/stall/')) {
    res.writeHead(200, { 'Content-Length': String(FILE.length) });
    res.write(FILE.subarray(0, 1000));
  } else {
    res.writeHead(404).end();
  }
}

beforeAll(async () => {
  elsewhere = createServer((req, res) => {
    reachedElsewhere.push(req.headers);
    res.writeHead(200, { 'Content-Length': String(FILE.length) }).end(FILE);
  });
  elsewhereUrl = await listen(elsewhere);
  storage = createServer(answerStorage);
  storageUrl = await listen(storage);
  rucio = createServer((req, res) => {
    answerRucio(req, res).catch(() => res.destroy());
  });
  rucioUrl = await listen(rucio);
});

afterAll(() => {
  for (const server of [rucio, storage, elsewhere]) {
    server.closeAllConnections();
    server.close();
  }
});

beforeEach(() => {
  reachedElsewhere.length = 0;
  reachedStorage.length = 0;
});

const credentials: CredentialSource = {
  method: 'token',
  configuredAccount: null,
  token: () => Promise.resolve({ value: TOKEN, expiresAt: Date.now() + 3600_000, account: null })
};

/** A client of the stand-in Rucio whose storage, on plain http, is trusted with the token. */
function client(requestTimeoutSeconds?: number): RucioClient {
  const instance: InstanceConfig = {
    name: 'lake',
    rucioUrl,
    scratchRse: 'SCRATCH',
    trustedHttpHosts: [new URL(storageUrl).host, new URL(elsewhereUrl).host],
    auth: { method: 'token', env: 'DLAAS_TEST_TOKEN' },
    ...(requestTimeoutSeconds === undefined ? {} : { requestTimeoutSeconds })
  };
  return new RucioClient(instance, credentials);
}

function read(name: string, range?: string, timeoutSeconds?: number): Promise<FileContent> {
  return fileContent(client(timeoutSeconds), { scope: SCOPE, name }, range);
}

/** All the bytes of an answer's body. */
async function bytesOf(content: FileContent): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of content.body ?? []) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

describe('file content: redirects of storage', () => {
  it('when storage redirects within its own address, then the redirect is followed with the token', async () => {
    const content = await read('moved-here.csv', 'bytes=10-19');
    expect(content.status).toBe(206);
    expect((await bytesOf(content)).equals(FILE.subarray(10, 20))).toBe(true);
    expect(reachedStorage.map(h => h.authorization)).toEqual([
      `Bearer ${TOKEN}`,
      `Bearer ${TOKEN}`
    ]);
  });

  it('when storage redirects to another host, then nothing is sent there and 502 names the host', async () => {
    await expect(read('moved-away.csv')).rejects.toMatchObject({
      status: 502,
      message: expect.stringContaining(
        `The storage holding ${SCOPE}:moved-away.csv redirected a request that carries your credentials to another address (${elsewhereUrl})`
      )
    });
    expect(reachedElsewhere).toEqual([]);
  });
});

describe('file content: answers of storage that do not match the request', () => {
  it('when storage honours the range, then 206 relays exactly the range', async () => {
    const content = await read('good.csv', 'bytes=100-199');
    expect(content.status).toBe(206);
    expect(content.headers).toMatchObject({
      'Content-Length': '100',
      'Content-Range': `bytes 100-199/${FILE.length}`
    });
    expect((await bytesOf(content)).equals(FILE.subarray(100, 200))).toBe(true);
    expect(reachedStorage[0]?.range).toBe('bytes=100-199');
  });

  it('when storage answers a range with the whole file (200), then the body is cut to the range', async () => {
    const content = await read('ignores-ranges.csv', 'bytes=5000-5099');
    expect(content.status).toBe(206);
    expect(content.headers).toMatchObject({
      'Content-Length': '100',
      'Content-Range': `bytes 5000-5099/${FILE.length}`
    });
    expect((await bytesOf(content)).equals(FILE.subarray(5000, 5100))).toBe(true);
  });

  it('when storage ignores a range that starts too far into a big file, then 502 says to download the whole file', async () => {
    const start = MAX_SKIP_BYTES + 1;
    await expect(
      read('huge-ignores-ranges.bin', `bytes=${start}-${start + 9}`)
    ).rejects.toMatchObject({
      status: 502,
      message: expect.stringMatching(/cannot send part of a file.*Download the whole file instead/)
    });
  });

  it('when storage announces a length other than Rucio’s size, then 502 comes before any header', async () => {
    await expect(read('truncated-replica.csv')).rejects.toMatchObject({
      status: 502,
      message: `The storage holding ${SCOPE}:truncated-replica.csv announced ${FILE.length - 7} bytes where lake says the file has ${FILE.length}. Try again; if it persists, tell the data lake's admins.`
    });
  });

  it('when storage answers 206 with another range than asked, then 502 says which', async () => {
    await expect(read('wrong-range.csv', 'bytes=500-599')).rejects.toMatchObject({
      status: 502,
      message: expect.stringContaining('sent bytes 0-9 where bytes 500-599 were asked for')
    });
  });

  it.each([
    ['fewer', 'short-stream.csv', /99900 of the 100000 bytes expected/],
    ['more', 'long-stream.csv', /more than the 100000 bytes expected/]
  ])(
    'when storage sends %s bytes than announced without saying so, then the body breaks off',
    async (_what, name, reason) => {
      const content = await read(name);
      expect(content.headers['Content-Length']).toBe(String(FILE.length));
      await expect(bytesOf(content)).rejects.toThrow(reason);
    }
  );
});

describe('file content: storage that goes silent', () => {
  it('when storage never answers, then 504 says so within the instance’s timeout', async () => {
    await expect(read('silent.csv', undefined, 0.3)).rejects.toMatchObject({
      status: 504,
      message: `The storage holding ${SCOPE}:silent.csv sent nothing for 0.3 s. Try again; if it persists, tell the data lake's admins.`
    });
  });

  it('when storage stops sending mid-file, then the body fails after the timeout', async () => {
    const content = await read('stalls.csv', undefined, 0.3);
    await expect(bytesOf(content)).rejects.toThrow(/sent nothing for 0\.3 s/);
  });
});

describe('file content: collections', () => {
  it.each(['empty-dataset', 'one-file-dataset', 'two-file-container'])(
    'when the content of %s is asked for, then 400 says only a file has content',
    async name => {
      await expect(read(name)).rejects.toMatchObject({
        status: 400,
        message: `${SCOPE}:${name} is a collection; only a file has content. Open the collection to see its files.`
      });
      expect(reachedStorage).toEqual([]);
    }
  );
});
