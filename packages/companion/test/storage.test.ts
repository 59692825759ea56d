import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CredentialSource } from '../src/auth/credentials.js';
import { checkConfig, type InstanceConfig } from '../src/config.js';
import { EACCES, EIO, StorageError, StorageReader } from '../src/fuse/storage.js';

/**
 * The mount's storage reads against a stand-in storage on loopback that misbehaves on purpose:
 * the transport of a unit test; the mount's integration test reads devlake's real XRootD.
 */

const FILE = randomBytes(100_000);
const TOKEN = 'secret-oidc-token';
let server: Server;
let base: string;
/** Connections the stand-in storage accepted. */
let connections = 0;
/** Connections that carried an answer already. */
const answered = new WeakSet<object>();
const seen: { path: string; authorization: string | undefined; range: string | undefined }[] = [];

function handle(req: IncomingMessage, res: ServerResponse): void {
  const path = req.url ?? '';
  seen.push({ path, authorization: req.headers.authorization, range: req.headers.range });
  const match = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
  const [start, end] = match ? [Number(match[1]), Number(match[2])] : [0, FILE.length - 1];
  if (path.startsWith('/forbidden')) {
    res.writeHead(403).end();
  } else if (path.startsWith('/redirect')) {
    res.writeHead(302, { Location: `${base}/file` }).end();
  } else if (path.startsWith('/silent')) {
    // Never answers.
  } else if (path.startsWith('/whole')) {
    res.writeHead(200, { 'Content-Length': String(FILE.length) }).end(FILE);
  } else if (path.startsWith('/short')) {
    res.writeHead(206, { 'Content-Length': String(end - start) });
    res.end(FILE.subarray(start, end));
  } else if (path.startsWith('/cut')) {
    res.writeHead(206, { 'Content-Length': String(end - start + 1) });
    res.write(FILE.subarray(start, start + 10), () => res.socket?.destroy());
  } else if (path.startsWith('/closing') && answered.has(req.socket)) {
    // A kept-alive connection the storage closes as the next request arrives (as one closed
    // while idle looks to a client that sent on it at that moment).
    req.socket.destroy();
  } else if (path.startsWith('/exact') || path.startsWith('/closing')) {
    // As XRootD and nginx answer: the range's length, so the thread reads it straight in.
    answered.add(req.socket);
    res.writeHead(206, {
      'Content-Length': String(end - start + 1),
      'Content-Range': `bytes ${start}-${end}/${FILE.length}`
    });
    res.end(FILE.subarray(start, end + 1));
  } else if (path.startsWith('/shifted')) {
    res.writeHead(206, {
      'Content-Length': String(end - start + 1),
      'Content-Range': `bytes ${start + 1}-${end + 1}/${FILE.length}`
    });
    res.end(FILE.subarray(start + 1, end + 2));
  } else if (path.startsWith('/more')) {
    res.writeHead(206, { 'Content-Length': String(end - start + 2) });
    res.end(FILE.subarray(start, end + 2));
  } else if (path.startsWith('/long-head')) {
    res.writeHead(206, { 'X-Padding': 'x'.repeat(20_000), 'Content-Length': '10' });
    res.end(FILE.subarray(0, 10));
  } else {
    // Chunked (no length), as Node answers by default.
    res.writeHead(206, { 'Content-Range': `bytes ${start}-${end}/${FILE.length}` });
    res.end(FILE.subarray(start, end + 1));
  }
}

function instance(
  method: 'userpass' | 'token',
  trusted: string[] = [],
  caBundle?: string
): InstanceConfig {
  const config = checkConfig(
    {
      instances: [
        {
          name: 'lake',
          rucioUrl: 'https://rucio.example.org',
          scratchRse: 'SCRATCH',
          trustedHttpHosts: trusted,
          ...(caBundle ? { caBundle } : {}),
          auth:
            method === 'token'
              ? { method: 'token', env: 'DLAAS_TEST_TOKEN' }
              : { method: 'userpass', username: 'u', password: 'p' }
        }
      ]
    },
    'the test'
  );
  return config.instances[0] as InstanceConfig;
}

const credentials: CredentialSource = {
  method: 'token',
  configuredAccount: null,
  token: () => Promise.resolve({ value: TOKEN, expiresAt: Date.now() + 3600_000, account: null })
};

async function read(reader: StorageReader, path: string, start: number, end: number) {
  const target = Buffer.alloc(end - start + 1);
  await reader.read(`${base}${path}`, start, end, target);
  return target;
}

beforeAll(async () => {
  server = createServer(handle);
  server.on('connection', () => (connections += 1));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => {
  server.closeAllConnections();
  server.close();
});

describe('reading scratch replicas', () => {
  it('when a range is read, then the storage gets a closed range and the bytes are right', async () => {
    const reader = new StorageReader(instance('userpass'), credentials, 5000);
    expect((await read(reader, '/file', 1000, 50_999)).equals(FILE.subarray(1000, 51_000))).toBe(
      true
    );
    expect(seen.at(-1)?.range).toBe('bytes=1000-50999');
    reader.dispose();
  });

  it('when the storage answers with the range’s length, then the bytes are right and one kept-alive connection serves the reads one after another', async () => {
    const reader = new StorageReader(instance('userpass'), credentials, 5000);
    const before = connections;
    for (const [start, end] of [
      [0, 65_535],
      [65_536, 99_999],
      [7, 7],
      [12_345, 98_765]
    ] as const) {
      expect((await read(reader, '/exact', start, end)).equals(FILE.subarray(start, end + 1))).toBe(
        true
      );
    }
    expect(connections - before).toBe(1);
    reader.dispose();
  });

  it('when the storage closes a kept-alive connection as a read is sent on it, then the read is sent again on a new one', async () => {
    const reader = new StorageReader(instance('userpass'), credentials, 5000);
    for (const start of [0, 1000, 2000]) {
      expect(
        (await read(reader, '/closing', start, start + 999)).equals(
          FILE.subarray(start, start + 1000)
        )
      ).toBe(true);
    }
    reader.dispose();
  });

  it.each([
    ['/shifted', /another range/],
    ['/more', /more than the range/],
    ['/long-head', /headers longer than 16 KiB/]
  ])(
    'when the storage answers %s, then the read fails with EIO and says why',
    async (path, why) => {
      const reader = new StorageReader(instance('userpass'), credentials, 5000);
      await expect(read(reader, path, 100, 1099)).rejects.toMatchObject({
        errno: EIO,
        message: expect.stringMatching(why)
      });
      reader.dispose();
    }
  );

  it('when the storage is on https, then reads trust only the configured CA bundle', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dlaas-storage-tls-'));
    const [key, cert] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1'
      ],
      { stdio: 'ignore' }
    );
    const secure = createTlsServer(
      { key: readFileSync(key), cert: readFileSync(cert) },
      handle
    ).listen(0, '127.0.0.1');
    await once(secure, 'listening');
    const url = `https://127.0.0.1:${(secure.address() as AddressInfo).port}/exact`;
    try {
      const trusting = new StorageReader(instance('userpass', [], cert), credentials, 5000);
      const target = Buffer.alloc(5000);
      await trusting.read(url, 50_000, 54_999, target);
      expect(target.equals(FILE.subarray(50_000, 55_000))).toBe(true);
      trusting.dispose();
      const plain = new StorageReader(instance('userpass'), credentials, 5000);
      await expect(plain.read(url, 0, 9, Buffer.alloc(10))).rejects.toMatchObject({
        errno: EIO,
        message: expect.stringMatching(/could not reach 127\.0\.0\.1:\d+: .*certificate/)
      });
      plain.dispose();
    } finally {
      secure.closeAllConnections();
      secure.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('when the storage sends the whole file for a range, then only the range is kept', async () => {
    const reader = new StorageReader(instance('userpass'), credentials, 5000);
    expect(
      (await read(reader, '/whole', 70_000, 70_999)).equals(FILE.subarray(70_000, 71_000))
    ).toBe(true);
    reader.dispose();
  });

  it.each(['/short', '/cut'])(
    'when the storage sends fewer bytes than asked (%s), then the read fails with EIO',
    async path => {
      const reader = new StorageReader(instance('userpass'), credentials, 2000);
      await expect(read(reader, path, 0, 999)).rejects.toMatchObject({ errno: EIO });
      reader.dispose();
    }
  );

  it('when the storage refuses, then the read fails with EACCES', async () => {
    const reader = new StorageReader(instance('userpass'), credentials, 5000);
    await expect(read(reader, '/forbidden', 0, 9)).rejects.toMatchObject({ errno: EACCES });
    reader.dispose();
  });

  it('when the storage redirects, then the read fails with EIO and the redirect is not followed', async () => {
    const reader = new StorageReader(instance('token', [new URL(base).host]), credentials, 5000);
    const before = seen.length;
    await expect(read(reader, '/redirect', 0, 9)).rejects.toBeInstanceOf(StorageError);
    expect(seen.slice(before).map(s => s.path)).toEqual(['/redirect']);
    reader.dispose();
  });

  it('when a PFN has a . or .. segment (also as %2e), then the read fails with EIO and nothing is asked of the storage', async () => {
    const reader = new StorageReader(instance('userpass'), credentials, 5000);
    const before = seen.length;
    for (const path of ['/x/../file', '/x/%2e%2E/file', '/./file', '/x/.%2e/file']) {
      await expect(read(reader, path, 0, 9), path).rejects.toMatchObject({
        errno: EIO,
        message: expect.stringMatching(/"\." or "\.\." segment/)
      });
    }
    expect(seen.slice(before)).toEqual([]);
    reader.dispose();
  });

  it('when the storage says nothing, then the read fails with EIO after the timeout', async () => {
    const reader = new StorageReader(instance('userpass'), credentials, 300);
    const started = Date.now();
    await expect(read(reader, '/silent', 0, 9)).rejects.toMatchObject({ errno: EIO });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    reader.dispose();
  });

  it('when the storage is on plain http, then the bearer token goes only to a trusted host, and never Rucio’s userpass session', async () => {
    const untrusted = new StorageReader(instance('token'), credentials, 5000);
    await read(untrusted, '/file', 0, 9);
    expect(seen.at(-1)?.authorization).toBeUndefined();
    untrusted.dispose();
    const trusted = new StorageReader(instance('token', [new URL(base).host]), credentials, 5000);
    await read(trusted, '/file', 0, 9);
    expect(seen.at(-1)?.authorization).toBe(`Bearer ${TOKEN}`);
    trusted.dispose();
    const userpass = new StorageReader(
      instance('userpass', [new URL(base).host]),
      credentials,
      5000
    );
    await read(userpass, '/file', 0, 9);
    expect(seen.at(-1)?.authorization).toBeUndefined();
    userpass.dispose();
  });
});
