import type { Config, InstanceConfig } from '../../packages/companion/src/index.js';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devlake, newDataset, rucioAs } from '../devlake/helpers.js';
import { startCompanionProcess, type CompanionProcess } from '../support/companion-process.js';
import { CountingProxy } from '../support/counting-proxy.js';

/**
 * Load: 50 event streams over 1,000 watched DIDs for 10 minutes (DLAAS_LOAD_MINUTES), against a
 * companion process talking to devlake's Rucio through a proxy that counts every request. Rucio's
 * load must not grow with the number of streams (compared with 5 streams over the same DIDs,
 * measured first in the same run) nor over time, and the companion's memory must stay flat.
 */

const MINUTES = Number(process.env['DLAAS_LOAD_MINUTES'] ?? 10);
const BASELINE_MINUTES = 2;
const GROUPS = 5;
const STREAMS_PER_GROUP = 10;
const DIDS_PER_GROUP = 200;
const run = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;

let work: string;
let proxy: CountingProxy;
let companion: CompanionProcess;

/** The companion's resident memory, in MB, from /proc. */
function rssMb(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) / 1024;
}

/** An event stream held open, counting the events it gets, until `close()`. */
class HeldStream {
  events = 0;
  status = 0;
  private readonly controller = new AbortController();
  readonly done: Promise<void>;

  constructor(dids: readonly string[]) {
    const query = dids.map(d => `did=${encodeURIComponent(d)}`).join('&');
    this.done = (async () => {
      const response = await fetch(`${companion.address}/api/instances/devlake/events?${query}`, {
        headers: { Authorization: `token ${companion.token}` },
        signal: this.controller.signal
      });
      this.status = response.status;
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          return;
        }
        this.events +=
          decoder.decode(value, { stream: true }).split('event: availability').length - 1;
      }
    })().catch((error: unknown) => {
      if (!this.controller.signal.aborted) {
        throw error;
      }
    });
  }

  async close(): Promise<void> {
    this.controller.abort();
    await this.done;
  }
}

/** Opens `perGroup` streams on each group and waits until each has its first events. */
async function openStreams(groups: readonly string[][], perGroup: number): Promise<HeldStream[]> {
  const streams = groups.flatMap(group =>
    Array.from({ length: perGroup }, () => new HeldStream(group))
  );
  const deadline = Date.now() + 300_000;
  while (streams.some(s => s.events < DIDS_PER_GROUP)) {
    if (Date.now() > deadline) {
      throw new Error(
        `streams still waiting for their first events: ${companion.log.slice(-5).join('\n')}`
      );
    }
    await sleep(200);
  }
  expect(streams.every(s => s.status === 200)).toBe(true);
  return streams;
}

/** Requests per minute at Rucio over `minutes` full minutes from now, one count per minute. */
async function countMinutes(minutes: number): Promise<number[]> {
  const counts: number[] = [];
  for (let i = 0; i < minutes; i++) {
    const from = Date.now();
    await sleep(60_000);
    counts.push(proxy.between(from, Date.now()));
  }
  return counts;
}

beforeAll(async () => {
  proxy = new CountingProxy(devlake.rucio.url);
  await proxy.start();
  work = mkdtempSync(join(tmpdir(), 'dlaas-load-'));
  const config = JSON.parse(readFileSync(devlake.companionConfig, 'utf8')) as Config;
  const base = config.instances.find(i => i.name === 'devlake') as InstanceConfig;
  // Sign-in stays with Rucio itself; the API requests, the load, go through the proxy.
  const instance = { ...base, rucioUrl: proxy.url, authUrl: base.authUrl ?? base.rucioUrl };
  writeFileSync(join(work, 'companion.json'), JSON.stringify({ instances: [instance] }));
  companion = await startCompanionProcess({
    config: join(work, 'companion.json'),
    env: { XDG_RUNTIME_DIR: work }
  });
});

afterAll(async () => {
  companion?.process.kill('SIGTERM');
  await proxy?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('load', () => {
  it(
    `when 50 event streams watch 1,000 DIDs for ${MINUTES} minutes, then Rucio's requests per minute do not grow with streams or time, and the companion's memory stays flat`,
    async () => {
      // 1,000 DIDs: files of the 10,000-file dataset, and five open datasets made available, whose
      // counts the tracker follows while they are watched.
      const files = await rucioAs('alice').lines<{ scope: string; name: string }>(
        'GET',
        '/dids/lofar/L700000_subbands/files'
      );
      const open: string[] = [];
      for (let i = 0; i < GROUPS; i++) {
        const name = `load.${run}.${i}`;
        await newDataset(name, 2);
        const made = await companion.client.post('/api/instances/devlake/make-available', {
          did: `user.alice:${name}`
        });
        expect(made.status).toBeLessThan(300);
        open.push(`user.alice:${name}`);
      }
      const groups = Array.from({ length: GROUPS }, (_, g) => [
        open[g] as string,
        ...files
          .slice(g * (DIDS_PER_GROUP - 1), (g + 1) * (DIDS_PER_GROUP - 1))
          .map(f => `${f.scope}:${f.name}`)
      ]);
      expect(new Set(groups.flat()).size).toBe(GROUPS * DIDS_PER_GROUP);

      // Baseline: one stream per group.
      const fewStreams = await openStreams(groups, 1);
      const baseline = await countMinutes(BASELINE_MINUTES);
      await Promise.all(fewStreams.map(s => s.close()));

      // Load: ten streams per group.
      const subscribedAt = Date.now();
      const streams = await openStreams(groups, STREAMS_PER_GROUP);
      const subscriptionRequests = proxy.between(subscribedAt, Date.now());
      const rssStart = rssMb(companion.process.pid as number);
      const loaded = await countMinutes(MINUTES);
      const rssEnd = rssMb(companion.process.pid as number);
      const alive = await companion.client.get('/health');
      await Promise.all(streams.map(s => s.close()));

      const perMinute = (counts: number[]): number => Math.max(...counts.slice(-1));
      const summary = {
        baselineStreams: GROUPS,
        baselineRequestsPerMinute: baseline,
        loadStreams: streams.length,
        loadRequestsPerMinute: loaded,
        requestsToSubscribe50Streams: subscriptionRequests,
        rssStartMb: Math.round(rssStart),
        rssEndMb: Math.round(rssEnd)
      };
      process.stdout.write(`load: ${JSON.stringify(summary)}\n`);
      expect(alive.status).toBe(200);
      // Ten times the streams, not ten times the requests: within half again the baseline (plus a
      // few for the tracker's own rhythm), in every minute, the last included.
      const allowed = perMinute(baseline) * 1.5 + 20;
      for (const count of loaded) {
        expect(count, JSON.stringify(summary)).toBeLessThanOrEqual(allowed);
      }
      // Memory flat: the end within a quarter (and 30 MB) of the start.
      expect(rssEnd, JSON.stringify(summary)).toBeLessThanOrEqual(rssStart * 1.25 + 30);
    },
    // Its own limit: both phases, plus subscribing, making available and closing.
    (MINUTES + BASELINE_MINUTES + 8) * 60_000
  );
});
