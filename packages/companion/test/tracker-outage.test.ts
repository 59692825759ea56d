import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkConfig } from '../src/config.js';
import { start, type RunningCompanion } from '../src/server.js';

/**
 * Rucio stops while a view follows a replication: a stand-in for Rucio (the transport of this
 * unit) that, while down, drops every connection unanswered (and counts them), and a companion
 * whose tracker polls every few milliseconds.
 */
let rucio: Server;
let companion: RunningCompanion;
let down = false;
/** Requests dropped while down. */
let dropped = 0;
/** Resolved whenever a request is dropped. */
const onDropped: (() => void)[] = [];
/** The state of alice's rule on `user.alice:data`, as the stand-in answers it. */
let ruleState = 'REPLICATING';

function rule(): object {
  return {
    id: 'r1',
    account: 'alice',
    rse_expression: 'SCRATCH',
    copies: 1,
    state: ruleState,
    locks_ok_cnt: ruleState === 'OK' ? 2 : 1,
    locks_replicating_cnt: ruleState === 'OK' ? 0 : 1,
    locks_stuck_cnt: 0,
    expires_at: null,
    error: null,
    scope: 'user.alice',
    name: 'data'
  };
}

/** Resolves once `count` requests in all have been dropped. */
async function droppedAtLeast(count: number): Promise<void> {
  while (dropped < count) {
    await new Promise<void>(resolvePromise => onDropped.push(resolvePromise));
  }
}

beforeAll(async () => {
  rucio = createServer((req, res) => {
    if (down) {
      dropped++;
      onDropped.splice(0).forEach(resolvePromise => resolvePromise());
      req.socket.destroy();
      return;
    }
    const path = new URL(req.url ?? '/', 'http://rucio').pathname;
    res.writeHead(200, { 'content-type': 'application/json' });
    if (path === '/dids/user.alice/data/rules') {
      res.end(`${JSON.stringify(rule())}\n`);
    } else if (path === '/rules/r1') {
      res.end(JSON.stringify(rule()));
    } else {
      res.end('{"type": "DATASET", "length": 2, "bytes": 20, "open": false}');
    }
  });
  await new Promise<void>(resolvePromise => rucio.listen(0, '127.0.0.1', resolvePromise));
  const { port } = rucio.address() as AddressInfo;
  process.env['DLAAS_OUTAGE_TEST_TOKEN'] = 'token';
  companion = await start(
    checkConfig(
      {
        instances: [
          {
            name: 'lake',
            rucioUrl: `http://127.0.0.1:${port}`,
            scratchRse: 'SCRATCH',
            auth: { method: 'token', env: 'DLAAS_OUTAGE_TEST_TOKEN', account: 'alice' },
            paths: { mode: 'none' }
          }
        ]
      },
      'the tracker outage test'
    ),
    { port: 0 },
    { intervalMs: 10, maxIntervalMs: 80 }
  );
});

afterAll(async () => {
  await companion.stop();
  rucio.close();
  delete process.env['DLAAS_OUTAGE_TEST_TOKEN'];
});

/** Server-sent events read from a stream, as `{event, data}`, with a way to await the next ones. */
class Events {
  readonly seen: { event: string; data: unknown }[] = [];

  constructor(body: ReadableStream<Uint8Array>) {
    void this.read(body);
  }

  /** Resolves once an event accepted by `wanted` has come, with it. */
  async next(
    wanted: (e: { event: string; data: unknown }) => boolean
  ): Promise<{ event: string; data: unknown }> {
    for (;;) {
      const found = this.seen.find(wanted);
      if (found) {
        return found;
      }
      await new Promise<void>(resolvePromise => this.waiting.push(resolvePromise));
    }
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let text = '';
    try {
      for await (const chunk of body) {
        text += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = text.indexOf('\n\n')) >= 0) {
          const block = text.slice(0, end);
          text = text.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data !== undefined) {
            this.seen.push({ event, data: JSON.parse(data) });
            this.waiting.splice(0).forEach(resolvePromise => resolvePromise());
          }
        }
      }
    } catch {
      // The test aborted the stream.
    }
  }

  private readonly waiting: (() => void)[] = [];
}

describe('the tracker while Rucio is away', () => {
  it('when Rucio stops while a view follows a replication, then the open stream says why once, says when it is back, and the tracker picks up the rule', async () => {
    const abort = new AbortController();
    const response = await fetch(
      `${companion.address}/api/instances/lake/events?did=user.alice:data`,
      { signal: abort.signal }
    );
    expect(response.status).toBe(200);
    const events = new Events(response.body as ReadableStream<Uint8Array>);
    await events.next(e => e.event === 'availability');

    down = true;
    const problem = await events.next(e => e.event === 'problem');
    expect(problem.data).toMatchObject({ code: 'rucio_unreachable' });
    expect((problem.data as { message: string }).message).toMatch(
      /^lake \(http:\/\/127\.0\.0\.1:\d+\) cannot be reached .*Check your network or try again in a minute\.$/
    );
    expect(problem.data).not.toHaveProperty('stack');
    // Several more rounds fail meanwhile (the tracker goes on, backing off): still one problem.
    await droppedAtLeast(dropped + 3);
    expect(companion.lake.instance('lake').availabilities.watchedRules).toBe(1);
    expect(events.seen.map(e => e.event)).toEqual(['availability', 'problem']);

    // Rucio is back, and the replication ended meanwhile.
    ruleState = 'OK';
    down = false;
    await events.next(e => e.event === 'recovered');
    const done = await events.next(
      e => e.event === 'availability' && (e.data as { state: string }).state === 'AVAILABLE'
    );
    expect(done.data).toMatchObject({ did: 'user.alice:data', files: { ok: 2, total: 2 } });
    expect(events.seen.map(e => e.event)).toEqual([
      'availability',
      'problem',
      'availability',
      'recovered'
    ]);
    abort.abort();
  });
});
