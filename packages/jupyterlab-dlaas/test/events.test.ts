import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { AvailabilityEvents } from '../src/events';
import { followTransfers, TransferWatcher } from '../src/notifier';
import { availability, FakeStreams, testContext } from './harness';

function setUp() {
  const streams = new FakeStreams();
  const events = new AvailabilityEvents(
    (instance, dids) => `/events/${instance}?${dids.map(d => `did=${d}`).join('&')}`,
    streams.factory
  );
  const seen: string[] = [];
  events.changed.connect((_, a) => seen.push(`${a.did}=${a.state}`));
  return { streams, events, seen };
}

describe('live availability events', () => {
  it('when many views watch DIDs at once, then one stream per instance carries them all', async () => {
    const { streams, events } = setUp();
    const watches = ['s:a', 's:b', 's:a', 's:c'].map(did => events.watch('lake', did));
    await sleep(80);
    expect(streams.open).toHaveLength(1);
    expect(streams.open[0]?.url).toBe('/events/lake?did=s:a&did=s:b&did=s:c');
    watches.forEach(w => w.dispose());
    await sleep(80);
    expect(streams.open).toHaveLength(0);
    events.watch('lake', 's:z');
    await sleep(80);
    expect(streams.open).toHaveLength(1);
    events.dispose();
    expect(streams.open).toHaveLength(0);
  });

  it('when more than 200 DIDs are watched, then they are split over streams of at most 200', async () => {
    const { streams, events } = setUp();
    for (let i = 0; i < 450; i++) {
      events.watch('lake', `s:f${i}`);
    }
    await sleep(80);
    expect(streams.open.map(s => s.url.split('did=').length - 1)).toEqual([200, 200, 50]);
  });

  it('when a followed replication ends, then the stream stops watching it', async () => {
    const { streams, events, seen } = setUp();
    events.follow('lake', 's:d');
    await sleep(80);
    streams.push(availability({ did: 's:d', state: 'REPLICATING' }));
    streams.push(availability({ did: 's:other', state: 'AVAILABLE' }));
    streams.push(availability({ did: 's:d', state: 'AVAILABLE' }));
    expect(seen).toEqual(['s:d=REPLICATING', 's:d=AVAILABLE']);
    await sleep(80);
    expect(streams.open).toHaveLength(0);
  });

  it('when the browser gives up on a stream, then it is opened again after a pause, with the same DIDs', async () => {
    const { streams, events, seen } = setUp();
    events.watch('lake', 's:d');
    await sleep(80);
    expect(streams.open).toHaveLength(1);
    streams.open[0]?.fail();
    expect(streams.open).toHaveLength(0);
    await sleep(1500);
    expect(streams.open).toHaveLength(0);
    await sleep(800);
    expect(streams.open.map(s => s.url)).toEqual(['/events/lake?did=s:d']);
    streams.push(availability({ did: 's:d', state: 'REPLICATING' }));
    expect(seen).toEqual(['s:d=REPLICATING']);
    events.dispose();
  });

  it('when watched DIDs replicate, end or stop being watched, then the active count follows', async () => {
    const { streams, events } = setUp();
    const counts: number[] = [];
    events.activeChanged.connect((_, n) => counts.push(n));
    const a = events.watch('lake', 's:a');
    events.watch('lake', 's:b');
    await sleep(80);
    streams.push(availability({ did: 's:a', state: 'REPLICATING' }));
    streams.push(availability({ did: 's:b', state: 'REPLICATING' }));
    streams.push(availability({ did: 's:b', state: 'AVAILABLE' }));
    expect(events.active).toBe(1);
    // The view of s:a closes while it still replicates: it is no longer counted.
    a.dispose();
    expect(events.active).toBe(0);
    expect(counts).toEqual([1, 2, 1, 0]);
    events.dispose();
  });
});

describe('reports of finished replications', () => {
  it('when a DID seen replicating ends, then it is reported once, and a DID first seen finished is not', async () => {
    const { streams, events } = setUp();
    const reports: string[] = [];
    const watcher = new TransferWatcher(events, ({ availability, outcome }) =>
      reports.push(`${availability.did}:${outcome}`)
    );
    ['s:ok', 's:stuck', 's:old'].forEach(did => events.watch('lake', did));
    await sleep(80);
    streams.push(availability({ did: 's:old', state: 'AVAILABLE' }));
    for (const did of ['s:ok', 's:stuck']) {
      streams.push(availability({ did, state: 'REPLICATING' }));
    }
    streams.push(availability({ did: 's:ok', state: 'AVAILABLE' }));
    streams.push(availability({ did: 's:stuck', state: 'STUCK' }));
    streams.push(availability({ did: 's:ok', state: 'AVAILABLE' }));
    expect(reports).toEqual(['s:ok:available', 's:stuck:stuck']);
    watcher.dispose();
    watcher.dispose();
    streams.push(availability({ did: 's:old', state: 'REPLICATING' }));
    streams.push(availability({ did: 's:old', state: 'AVAILABLE' }));
    expect(reports).toHaveLength(2);
    events.dispose();
  });
});

describe('replications under way at start-up', () => {
  it('when JupyterLab starts while a replication runs, then it is followed and reported when it ends; an instance not signed in is skipped', async () => {
    const running = availability({ did: 'lofar:L1', state: 'REPLICATING', ruleId: 'r1' });
    const lake = testContext({
      'GET api/instances': {
        instances: [
          { name: 'lake', displayName: 'Lake', authMethod: 'userpass', scratchRse: 'S' },
          { name: 'other', displayName: 'Other', authMethod: 'device', scratchRse: 'S' }
        ]
      },
      'GET api/instances/lake/transfers': { transfers: [running] },
      'GET api/instances/other/transfers': {
        status: 401,
        body: { error: { code: 'not_signed_in', message: 'Sign in to other.' } }
      }
    });
    const reports: string[] = [];
    new TransferWatcher(lake.context.events, ({ availability, outcome }) =>
      reports.push(`${availability.did}:${outcome}`)
    );
    expect(await followTransfers(lake.context.client, lake.context.events)).toBe(1);
    await sleep(80);
    expect(lake.streams.open.map(s => s.url)).toEqual([
      'http://lab/dlaas/api/instances/lake/events?did=lofar%3AL1'
    ]);
    lake.streams.push(running);
    expect(lake.context.events.active).toBe(1);
    lake.streams.push({ ...running, state: 'AVAILABLE' });
    expect(reports).toEqual(['lofar:L1:available']);
    expect(lake.context.events.active).toBe(0);
    await sleep(80);
    expect(lake.streams.open).toHaveLength(0);
    lake.context.events.dispose();
  });
});
