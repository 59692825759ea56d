import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CredentialSource } from '../src/auth/credentials.js';
import type { InstanceConfig } from '../src/config.js';
import { Availabilities } from '../src/domain/availability.js';
import { RucioClient } from '../src/rucio/client.js';

/**
 * How many requests the companion sends Rucio at once, and what happens when Rucio does not
 * answer: a stand-in for Rucio on loopback (the transport of this unit) that counts the requests
 * under way, answers slowly, never, or stops in the middle of a list.
 */
let rucio: Server;
let rucioUrl: string;
let underWay = 0;
let mostAtOnce = 0;

beforeAll(async () => {
  rucio = createServer((req, res) => {
    underWay++;
    mostAtOnce = Math.max(mostAtOnce, underWay);
    res.once('close', () => underWay--);
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path.startsWith('/silent')) {
      return; // Accepts the request and never answers.
    }
    if (path === '/stalled') {
      // The first line of a list, then nothing, with the connection open.
      res.writeHead(200, { 'content-type': 'application/x-json-stream' });
      res.write('{"n": 1}\n');
      return;
    }
    if (path === '/open-list') {
      // The first line, and the second 0.4 s later: longer than the test's idle timeout.
      res.writeHead(200, { 'content-type': 'application/x-json-stream' });
      res.write('{"n": 1}\n');
      setTimeout(() => res.end('{"n": 2}\n'), 400);
      return;
    }
    if (path === '/held') {
      res.writeHead(200, { 'content-type': 'application/x-json-stream' });
      res.write('{"n": 1}\n');
      return;
    }
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json' });
      // No rules for any DID; each DID a dataset of one file.
      res.end(path.endsWith('/rules') ? '' : '{"type": "DATASET", "length": 1, "bytes": 10}');
    }, 10);
  });
  await new Promise<void>(resolvePromise => rucio.listen(0, '127.0.0.1', resolvePromise));
  rucioUrl = `http://127.0.0.1:${(rucio.address() as AddressInfo).port}`;
});

afterAll(() => {
  rucio.closeAllConnections();
  rucio.close();
});

const credentials: CredentialSource = {
  method: 'userpass',
  configuredAccount: 'alice',
  token: async () => ({ value: 't', expiresAt: Date.now() + 3600_000, account: 'alice' })
};

function client(extra: Partial<InstanceConfig> = {}): RucioClient {
  return new RucioClient(
    {
      name: 'lake',
      rucioUrl,
      auth: { method: 'userpass', username: 'u', password: 'p', account: 'alice' },
      scratchRse: 'SCRATCH',
      ...extra
    },
    credentials
  );
}

describe('requests to Rucio: how many at once', () => {
  it('when an event stream asks the availability of 200 DIDs at once, then Rucio never sees more than 8 requests at a time', async () => {
    mostAtOnce = 0;
    const availabilities = new Availabilities(client());
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        availabilities.availability({ scope: 'user.alice', name: `data.${i}` })
      )
    );
    availabilities.dispose();
    expect(answers.every(a => a.state === 'NOT_AVAILABLE' && a.files.total === 1)).toBe(true);
    expect(mostAtOnce).toBeLessThanOrEqual(8);
    expect(mostAtOnce).toBeGreaterThan(1);
  });

  it('when the instance configures 2 requests at once, then Rucio sees at most 2', async () => {
    mostAtOnce = 0;
    const rucioClient = client({ maxConcurrentRequests: 2 });
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => rucioClient.json('GET', `/dids/s/d${i}`))
    );
    expect(mostAtOnce).toBe(2);
  });

  it('when as many lists as there are slots are held half-read, then other requests still go out', async () => {
    const rucioClient = client({ maxConcurrentRequests: 2 });
    const held = Array.from({ length: 3 }, () =>
      rucioClient.lines<{ n: number }>('GET', '/held')[Symbol.asyncIterator]()
    );
    for (const list of held) {
      expect((await list.next()).value).toEqual({ n: 1 });
    }
    // A caller that reads a list while it asks for something else (details, say) goes on.
    expect(await rucioClient.json('GET', '/dids/s/d')).toMatchObject({ type: 'DATASET' });
    await Promise.all(held.map(list => list.return?.(undefined)));
  });
});

describe('requests to Rucio: timeouts', () => {
  it('when Rucio never answers, then availability fails with a sentence once the timeout has passed', async () => {
    const availabilities = new Availabilities(
      client({ rucioUrl: `${rucioUrl}/silent`, requestTimeoutSeconds: 0.2 })
    );
    const started = Date.now();
    await expect(
      availabilities.availability({ scope: 'user.alice', name: 'data' })
    ).rejects.toMatchObject({
      status: 504,
      message:
        "lake did not answer within 0.2 s. Try again; if it persists, tell the data lake's admins."
    });
    expect(Date.now() - started).toBeLessThan(3000);
    availabilities.dispose();
  });

  it('when Rucio stops in the middle of a list, then reading it fails with a sentence after the idle timeout', async () => {
    const lines = client({ requestTimeoutSeconds: 0.2 }).lines<{ n: number }>('GET', '/stalled');
    const seen: unknown[] = [];
    const reading = (async () => {
      for await (const line of lines) {
        seen.push(line);
      }
    })();
    await expect(reading).rejects.toMatchObject({
      status: 504,
      message:
        "lake stopped sending its answer for 0.2 s. Try again; if it persists, tell the data lake's admins."
    });
    expect(seen).toEqual([{ n: 1 }]);
  });

  it('when a caller pauses longer than the timeout between two lines, then the list goes on', async () => {
    const lines = client({ requestTimeoutSeconds: 0.2 }).lines<{ n: number }>('GET', '/open-list');
    const list = lines[Symbol.asyncIterator]();
    expect((await list.next()).value).toEqual({ n: 1 });
    // A window of a list held between two scrolls: only a read that waits counts as idle, so
    // Rucio's 0.4 s of silence while nobody read is no timeout.
    await sleep(600);
    expect((await list.next()).value).toEqual({ n: 2 });
    expect((await list.next()).done).toBe(true);
  });
});
