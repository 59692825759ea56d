import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkConfig } from '../src/config.js';
import { start, type RunningCompanion } from '../src/server.js';

/**
 * Event streams and clients that leave early: a slow stand-in for Rucio (the transport of this
 * unit) keeps the first answers pending while the subscribers go away.
 */
let rucio: Server;
let companion: RunningCompanion;
let answered = 0;

beforeAll(async () => {
  rucio = createServer((req, res) => {
    setTimeout(() => {
      answered++;
      res.writeHead(200, { 'content-type': 'application/json' });
      // No rules for the DID; the DID itself: a dataset of one file.
      res.end(req.url?.includes('/rules') ? '' : '{"type": "DATASET", "length": 1, "bytes": 10}');
    }, 400);
  });
  await new Promise<void>(resolvePromise => rucio.listen(0, '127.0.0.1', resolvePromise));
  process.env['DLAAS_EVENTS_TEST_TOKEN'] = 'token';
  companion = await start(
    checkConfig(
      {
        instances: [
          {
            name: 'lake',
            rucioUrl: `http://127.0.0.1:${(rucio.address() as AddressInfo).port}`,
            scratchRse: 'SCRATCH',
            auth: { method: 'token', env: 'DLAAS_EVENTS_TEST_TOKEN', account: 'alice' },
            paths: { mode: 'none' }
          }
        ]
      },
      'the events test'
    ),
    { port: 0 }
  );
});

afterAll(async () => {
  await companion.stop();
  rucio.close();
  delete process.env['DLAAS_EVENTS_TEST_TOKEN'];
});

describe('availability event streams', () => {
  it('when 200 subscribers leave before the first answers, then none of them leaves a listener behind', async () => {
    const { availabilities } = companion.lake.instance('lake');
    // The companion's own listeners (the paths cache, say), there before any subscriber.
    const own = availabilities.listenerCount('availability');
    const url = `${companion.address}/api/instances/lake/events?did=user.alice:data`;
    const leaving = Array.from({ length: 200 }, async () => {
      const abort = new AbortController();
      const request = fetch(url, { signal: abort.signal }).catch(() => undefined);
      await sleep(50);
      abort.abort();
      await request;
    });
    await Promise.all(leaving);
    // Until the slow answers have come back to the companion's handlers.
    for (let i = 0; i < 100 && answered < 2; i++) {
      await sleep(50);
    }
    await sleep(200);
    expect(availabilities.listenerCount('availability')).toBe(own);
    // 200 streams over HTTP: seconds on a machine busy with other work, not the default five.
  }, 30_000);

  it('when a subscriber stays, then it gets the first availability and holds one listener until it leaves', async () => {
    const { availabilities } = companion.lake.instance('lake');
    const own = availabilities.listenerCount('availability');
    const abort = new AbortController();
    const response = await fetch(
      `${companion.address}/api/instances/lake/events?did=user.alice:data`,
      { signal: abort.signal }
    );
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toMatch(/^event: availability\ndata: \{.*"did":"user.alice:data"/);
    expect(availabilities.listenerCount('availability')).toBe(own + 1);
    abort.abort();
    for (let i = 0; i < 40 && availabilities.listenerCount('availability') > own; i++) {
      await sleep(50);
    }
    expect(availabilities.listenerCount('availability')).toBe(own);
  });
});
