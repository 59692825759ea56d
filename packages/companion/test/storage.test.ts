import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
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
  } else {
    res.writeHead(206, { 'Content-Range': `bytes ${start}-${end}/${FILE.length}` });
    res.end(FILE.subarray(start, end + 1));
  }
}

function instance(method: 'userpass' | 'token', trusted: string[] = []): InstanceConfig {
  const config = checkConfig(
    {
      instances: [
        {
          name: 'lake',
          rucioUrl: 'https://rucio.example.org',
          scratchRse: 'SCRATCH',
          trustedHttpHosts: trusted,
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
