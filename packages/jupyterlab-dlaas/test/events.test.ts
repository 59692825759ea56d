import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { AvailabilityEvents } from '../src/events';
import { availability, FakeStreams } from './harness';

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
});
