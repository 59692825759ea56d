import type { MakeAvailableResponse, TransfersResponse, Window } from '@dlaas/api';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkConfig, start, type RunningCompanion } from '../../packages/companion/src/index.js';
import { CompanionClient, errorOf, testConfig } from '../companion/harness.js';
import { devlake } from '../devlake/helpers.js';
import { putDatasetBytesLater } from '../support/bytes-later.js';
import { EventStream } from '../support/event-stream.js';
import { FaultProxy } from '../support/fault-proxy.js';

/**
 * Rucio "down" for the companion (issue 11): a companion whose Rucio address is a fault proxy in
 * front of devlake's real Rucio, which keeps running for every other test; stopping the proxy is,
 * for this companion, Rucio being unreachable.
 */

/** How long Rucio is away: the 60 s. */
const OUTAGE_MS = 60_000;
/** The longest an answer may take while Rucio is away (connections are refused at once). */
const ANSWER_WITHIN_MS = 10_000;
/** Between two rounds of requests during the outage. */
const ROUND_EVERY_MS = 10_000;

const INSTANCE = 'outage';

let proxy: FaultProxy;
let companion: RunningCompanion;
let api: CompanionClient;

beforeAll(async () => {
  proxy = new FaultProxy(devlake.rucio.url);
  await proxy.start();
  const base = testConfig().instances.find(i => i.name === 'devlake');
  if (!base) {
    throw new Error('devlake wrote no instance "devlake"');
  }
  const config = checkConfig(
    {
      instances: [
        {
          ...base,
          name: INSTANCE,
          displayName: 'devlake behind a fault proxy',
          rucioUrl: proxy.url,
          authUrl: proxy.url
        }
      ]
    },
    'the Rucio outage test configuration'
  );
  // The tracker's own intervals (2 s, backing off to 30 s), as a user's companion has them.
  companion = await start(config, { port: 0 });
  api = new CompanionClient(companion.address);
});

afterAll(async () => {
  await companion?.stop();
  await proxy?.stop();
});

/** A request to the companion that must be answered within {@link ANSWER_WITHIN_MS}. */
async function timed(
  method: 'GET' | 'POST',
  path: string,
  body?: unknown
): Promise<{ status: number; body: unknown; ms: number }> {
  const started = performance.now();
  const limit = ANSWER_WITHIN_MS * 3;
  const timer = new AbortController();
  const answer = await Promise.race([
    api.call(method, path, body),
    sleep(limit, undefined, { signal: timer.signal }).then(() => {
      throw new Error(`${method} ${path} got no answer within ${limit} ms`);
    })
  ]).finally(() => timer.abort());
  return { ...answer, ms: performance.now() - started };
}

/** The three requests of the issue (and the transfers list the panel reads at start). */
function requestsAbout(dataset: string, did: string) {
  const at = `/api/instances/${INSTANCE}`;
  return {
    children: () => timed('GET', `${at}/children?did=${encodeURIComponent(did)}`),
    search: () => timed('POST', `${at}/search`, { did: `user.alice:${dataset}*`, type: 'dataset' }),
    transfers: () => timed('GET', `${at}/transfers`),
    events: () =>
      EventStream.open(`${companion.address}${at}/events?did=${encodeURIComponent(did)}`)
  };
}

describe('faults: Rucio unreachable for 60 s during a listing, a search and a replication', () => {
  it('when Rucio goes away for 60 s, then the listing, the search, the transfers and a new event stream answer 502 rucio_unreachable at once all along, the stream already open stays open, and once Rucio is back the same requests succeed and the rule made before is followed to AVAILABLE, without a restart', async () => {
    const dataset = `fault-outage-${randomBytes(5).toString('hex')}`;
    const did = `user.alice:${dataset}`;
    // Its bytes are written once Rucio is away for the companion: the rule replicates until then,
    // and finishes while the companion cannot see it.
    const writeBytes = await putDatasetBytesLater(devlake, dataset, 3);
    const requests = requestsAbout(dataset, did);

    // A replication under way, followed by an event stream (as the panel follows it).
    const made = await api.post(`/api/instances/${INSTANCE}/make-available`, { did });
    expect(made.status).toBe(201);
    expect((made.body as MakeAvailableResponse).availability.state).toBe('REPLICATING');
    const followed = await requests.events();
    expect(followed.status).toBe(200);
    await followed.until(a => a.did === did, 10_000, 'the first event');
    expect(proxy.connections, 'the companion reaches Rucio through the proxy').toBeGreaterThan(0);

    await proxy.stop();
    const outageStarted = performance.now();
    await writeBytes();
    const rounds: string[] = [];
    while (performance.now() - outageStarted < OUTAGE_MS) {
      const roundStarted = performance.now();
      const [children, search, transfers] = await Promise.all([
        requests.children(),
        requests.search(),
        requests.transfers()
      ]);
      const eventsStarted = performance.now();
      const events = await requests.events();
      const eventsMs = performance.now() - eventsStarted;
      for (const [what, answer] of Object.entries({
        children,
        search,
        transfers,
        events: { status: events.status, body: events.body, ms: eventsMs }
      })) {
        const error = answer.status === 200 ? undefined : errorOf(answer.body);
        rounds.push(`${what}: ${answer.status} ${error?.code} in ${Math.round(answer.ms)} ms`);
        expect(answer.status, `${what}: ${JSON.stringify(answer.body)}`).toBe(502);
        expect(error?.code).toBe('rucio_unreachable');
        expect(error?.message).toMatch(/^outage \(http:\/\/127\.0\.0\.1:\d+\) cannot be reached/);
        expect(error?.message).toMatch(/try again in a minute\.$/);
        expect(answer.ms, `${what} answered in bounded time`).toBeLessThan(ANSWER_WITHIN_MS);
      }
      expect(followed.isEnded, 'the stream opened before the outage stays open').toBe(false);
      const left = OUTAGE_MS - (performance.now() - outageStarted);
      await sleep(Math.max(0, Math.min(ROUND_EVERY_MS - (performance.now() - roundStarted), left)));
    }
    expect(rounds.length).toBeGreaterThanOrEqual(4 * 5);
    await proxy.start();
    const outageEnded = performance.now();

    // Back: the same requests succeed at the first try, in the same companion.
    const children = await requests.children();
    expect(children.status, JSON.stringify(children.body)).toBe(200);
    expect((children.body as Window<{ name: string }>).items.map(c => c.name).sort()).toEqual([
      `${dataset}/part_0.dat`,
      `${dataset}/part_1.dat`,
      `${dataset}/part_2.dat`
    ]);
    const search = await requests.search();
    expect(search.status, JSON.stringify(search.body)).toBe(200);
    expect((search.body as Window<{ name: string }>).items.map(d => d.name)).toEqual([dataset]);
    const transfers = await requests.transfers();
    expect(transfers.status, JSON.stringify(transfers.body)).toBe(200);
    expect(Array.isArray((transfers.body as TransfersResponse).transfers)).toBe(true);
    const reopened = await requests.events();
    expect(reopened.status, JSON.stringify(reopened.body)).toBe(200);
    await reopened.until(a => a.did === did, 10_000, 'the first event after the outage');
    reopened.close();

    // The tracker went on polling the rule made before the outage: the stream opened before it
    // gets AVAILABLE, after the outage (Rucio finished meanwhile, unseen by the companion).
    const available = await followed.until(
      a => a.did === did && a.state === 'AVAILABLE',
      240_000,
      'AVAILABLE on the stream opened before the outage'
    );
    expect(available.at).toBeGreaterThan(outageEnded);
    const states = followed.events.map(e => e.availability.state);
    expect(states[0]).toBe('REPLICATING');
    expect(states.filter(s => s !== 'REPLICATING' && s !== 'AVAILABLE')).toEqual([]);
    expect(available.availability.files).toMatchObject({ ok: 3, total: 3 });
    followed.close();
  });
});
