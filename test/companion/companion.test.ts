import type {
  Availability,
  DidDetails,
  FileEntry,
  InstancesResponse,
  LocalPath,
  MakeAvailableResponse,
  Window,
  Did,
  TransfersResponse
} from '@dlaas/api';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningCompanion } from '../../packages/companion/src/index.js';
import { adler32 } from '../../packages/devlake/src/adler32.js';
import { devlake, didPath, newDataset, rucioAs } from '../devlake/helpers.js';
import { answers, CompanionClient, errorOf, logLines, startCompanion } from './harness.js';

let companion: RunningCompanion;
let api: CompanionClient;
const run = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;

beforeAll(async () => {
  companion = await startCompanion();
  api = new CompanionClient(companion.address);
});

afterAll(async () => {
  await companion.stop();
});

/** Reads server-sent events until `until` says stop or `timeoutMs` passes. */
async function watchEvents(
  path: string,
  until: (a: Availability) => boolean,
  timeoutMs = 180_000
): Promise<Availability[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const seen: Availability[] = [];
  try {
    const response = await fetch(companion.address + path, { signal: controller.signal });
    expect(response.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        break;
      }
      buffer += decoder.decode(value, { stream: true });
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = /^data: (.*)$/m.exec(event)?.[1];
        if (data) {
          const availability = JSON.parse(data) as Availability;
          seen.push(availability);
          if (until(availability)) {
            controller.abort();
            return seen;
          }
        }
        end = buffer.indexOf('\n\n');
      }
    }
  } catch (error) {
    if (!controller.signal.aborted) {
      throw error;
    }
  } finally {
    clearTimeout(timer);
  }
  return seen;
}

describe('companion: instances, sign-in and browsing, as alice against devlake', () => {
  it('when the panel asks for instances, then both devlake instances are listed with the default marked', async () => {
    const { status, body } = await api.get('/api/instances');
    expect(status).toBe(200);
    const instances = (body as InstancesResponse).instances;
    expect(instances.find(i => i.isDefault)?.name).toBe('devlake');
    expect(instances.map(i => i.name)).toEqual(expect.arrayContaining(['devlake', 'devlake-bob']));
    expect(JSON.stringify(body)).not.toMatch(/alice-devlake|password/);
  });

  it('when the panel asks for the sign-in state, then it says alice is signed in', async () => {
    expect((await api.get('/api/instances/devlake/auth')).body).toEqual({
      instance: 'devlake',
      method: 'userpass',
      signedIn: true,
      account: 'alice'
    });
  });

  it('when the panel asks for scopes, then the demo scopes come back sorted', async () => {
    const scopes = ((await api.get('/api/instances/devlake/scopes')).body as { scopes: string[] })
      .scopes;
    expect(scopes).toEqual([...scopes].sort());
    expect(scopes).toEqual(expect.arrayContaining(['lofar', 'cta', 'user.alice']));
  });

  it('when searching with a wildcard and a type, then the matching datasets come back in a window', async () => {
    const { body } = await api.post('/api/instances/devlake/search', {
      did: 'lofar:L6*',
      type: 'dataset'
    });
    const window = body as Window<Did>;
    expect(window.items.map(d => d.name).sort()).toEqual([
      'L600000_SAP000_uv',
      'L600000_SAP001_uv'
    ]);
    expect(window.complete).toBe(true);
    expect(window.total).toBe(2);
  });

  it('when a search matches more DIDs than its first window holds, then the companion reads on and a later answer tells how many', async () => {
    const search = async (): Promise<Window<Did>> =>
      (
        await api.post('/api/instances/devlake/search', {
          did: 'lofar:L700000/subbands/SB01*',
          type: 'file',
          limit: 200
        })
      ).body as Window<Did>;
    const first = await search();
    expect(first.items).toHaveLength(200);
    let again = first;
    for (let i = 0; i < 50 && again.total === null; i++) {
      await new Promise(resolvePromise => setTimeout(resolvePromise, 200));
      again = await search();
    }
    expect(again).toMatchObject({ total: 1000, complete: true });
    expect(again.items).toEqual(first.items);
  });

  it('when searching with metadata filters (AND, and OR of groups), then Rucio applies them', async () => {
    const and = (
      await api.post('/api/instances/devlake/search', {
        did: 'atlas_opendata:*',
        type: 'dataset',
        filters: [
          [
            { key: 'run_number', operator: '>', value: 300000 },
            { key: 'datatype', operator: '=', value: 'MC' }
          ]
        ]
      })
    ).body as Window<Did>;
    expect(and.items.map(d => d.name)).toEqual(['2020_13TeV.2lep.mc']);
    const or = (
      await api.post('/api/instances/devlake/search', {
        did: 'lofar:*',
        type: 'dataset',
        filters: [
          [{ key: 'observation_id', operator: '=', value: 'L700000' }],
          [{ key: 'telescope', operator: '=', value: 'nope' }]
        ]
      })
    ).body as Window<Did>;
    expect(or.items.map(d => d.name)).toEqual(['L700000_subbands']);
  });

  it('when searching on custom metadata (particle = gamma), then results come with their real type and size, and only of the type asked for', async () => {
    const gamma = [[{ key: 'particle', operator: '=', value: 'gamma' }]];
    const window = (
      await api.post('/api/instances/devlake/search', { did: 'cta:prod5*', filters: gamma })
    ).body as Window<Did>;
    const files = await rucioAs('alice').lines<{ bytes: number }>(
      'GET',
      `${didPath('cta', 'prod5.gamma_onSource')}/files`
    );
    expect(files).toHaveLength(6);
    expect(window.items).toContainEqual({
      scope: 'cta',
      name: 'prod5.gamma_onSource',
      type: 'DATASET',
      bytes: files.reduce((sum, f) => sum + f.bytes, 0),
      length: 6
    });
    // Rucio's custom-metadata search sends the dataset whatever type is asked for.
    const onlyFiles = (
      await api.post('/api/instances/devlake/search', {
        did: 'cta:prod5*',
        type: 'file',
        filters: gamma
      })
    ).body as Window<Did>;
    expect(onlyFiles.items.filter(d => d.type !== 'FILE')).toEqual([]);
    expect(onlyFiles.items.map(d => d.name)).not.toContain('prod5.gamma_onSource');
  });

  it('when a search mixes a DID column (datatype) with custom metadata (particle), then 400 says Rucio cannot and what to do', async () => {
    for (const filters of [
      [
        [
          { key: 'datatype', operator: '=', value: 'DL0' },
          { key: 'particle', operator: '=', value: 'gamma' }
        ]
      ],
      [
        [{ key: 'datatype', operator: '=', value: 'DL0' }],
        [{ key: 'particle', operator: '=', value: 'gamma' }]
      ]
    ]) {
      const answer = await api.post('/api/instances/devlake/search', { did: 'cta:*', filters });
      expect(answer.status).toBe(400);
      expect(errorOf(answer.body).message).toMatch(
        /^This search cannot run: "datatype" is one of Rucio's own DID columns and "particle" is custom metadata.*Filter on one kind of key only, or split it into two searches/
      );
    }
  });

  it('when a container is opened, then its datasets are listed', async () => {
    const window = (await api.get('/api/instances/devlake/children?did=lofar:L600000'))
      .body as Window<Did>;
    expect(window.items.map(d => `${d.name}:${d.type}`).sort()).toEqual([
      'L600000_SAP000_uv:DATASET',
      'L600000_SAP001_uv:DATASET'
    ]);
  });

  it('when the 10,000-file dataset is listed in windows, then the total follows Rucio’s count and the windows match Rucio’s stream', async () => {
    const base = '/api/instances/devlake/files?did=lofar:L700000_subbands';
    const first = (await api.get(`${base}&limit=100`)).body as Window<FileEntry>;
    expect(first.items).toHaveLength(100);
    expect(first.complete).toBe(false);
    expect([null, 10_000]).toContain(first.total);
    let second = first;
    for (let i = 0; i < 50 && second.total === null; i++) {
      await new Promise(resolvePromise => setTimeout(resolvePromise, 100));
      second = (await api.get(`${base}&offset=100&limit=100`)).body as Window<FileEntry>;
    }
    expect(second.complete).toBe(false);
    expect(second.total).toBe(10_000);
    const last = (
      await api.get('/api/instances/devlake/files?did=lofar:L700000_subbands&offset=9990&limit=100')
    ).body as Window<FileEntry>;
    expect(last.items).toHaveLength(10);
    expect(last.complete).toBe(true);
    const raw = await rucioAs('alice').lines<FileEntry>(
      'GET',
      `${didPath('lofar', 'L700000_subbands')}/files`
    );
    expect(first.items.map(f => f.name)).toEqual(raw.slice(0, 100).map(f => f.name));
    expect(last.items.map(f => [f.name, f.adler32])).toEqual(
      raw.slice(9990).map(f => [f.name, f.adler32])
    );
  });

  it('when the 10,000-file dataset is asked for sorted, then the windows hold Rucio’s files in that order, with the total', async () => {
    const base = '/api/instances/devlake/files?did=lofar:L700000_subbands';
    const raw = await rucioAs('alice').lines<FileEntry>(
      'GET',
      `${didPath('lofar', 'L700000_subbands')}/files`
    );
    const byName = new Intl.Collator('en', { numeric: true }).compare;
    const all = async (sort: string): Promise<FileEntry[]> => {
      const items: FileEntry[] = [];
      for (let offset = 0; offset < 10_000; offset += 5000) {
        const window = (await api.get(`${base}&sort=${sort}&offset=${offset}&limit=5000`))
          .body as Window<FileEntry>;
        expect(window).toMatchObject({ total: 10_000, complete: true });
        items.push(...window.items);
      }
      return items;
    };
    const named = await all('name');
    expect(named.map(f => f.name)).toEqual(
      raw.map(f => f.name).sort((a, b) => byName(`lofar:${a}`, `lofar:${b}`))
    );
    const sized = await all('size');
    expect(sized.map(f => f.bytes ?? -1)).toEqual(
      raw.map(f => f.bytes ?? -1).sort((a, b) => b - a)
    );
    expect(new Set(sized.map(f => f.name))).toEqual(new Set(raw.map(f => f.name)));

    const wrong = await api.get(`${base}&sort=date`);
    expect(wrong.status).toBe(400);
    expect(errorOf(wrong.body).message).toBe(
      '"sort" must be "name" or "size" (or left out for Rucio\'s order).'
    );
  });

  it('when search results are asked for by size, then the largest come first', async () => {
    const window = (
      await api.post('/api/instances/devlake/search', {
        did: 'lofar:*',
        type: 'dataset',
        sort: 'size'
      })
    ).body as Window<Did>;
    expect(window.complete).toBe(true);
    const sizes = window.items.map(d => d.bytes ?? -1);
    expect(sizes.length).toBeGreaterThan(1);
    expect(sizes).toEqual([...sizes].sort((a, b) => b - a));
  });

  it('when a dataset’s details are asked for, then size, count, metadata, replicas per RSE and rules come back', async () => {
    const details = (await api.get('/api/instances/devlake/did?did=lofar:L600000_SAP000_uv'))
      .body as DidDetails;
    expect(details.did).toMatchObject({ type: 'DATASET', length: 8 });
    expect(details.did.bytes).toBeGreaterThan(0);
    expect(details.metadata).toMatchObject({ telescope: 'LOFAR', run_number: 600000 });
    expect(details.replicas.map(r => [r.rse, r.files, r.availableFiles])).toEqual([
      ['CERN_DATADISK', 8, 8],
      ['DESY_DATADISK', 8, 8]
    ]);
    expect(details.rules.map(r => r.rseExpression).sort()).toEqual([
      'CERN_DATADISK',
      'DESY_DATADISK'
    ]);
  });

  it('when a file whose name starts with a slash is asked for, then it is found', async () => {
    const name = encodeURIComponent(
      'atlas_opendata:/store/data/2020/13TeV/GamGam/data_A.GamGam.root'
    );
    const details = (await api.get(`/api/instances/devlake/did?did=${name}`)).body as DidDetails;
    expect(details.did).toMatchObject({
      type: 'FILE',
      name: '/store/data/2020/13TeV/GamGam/data_A.GamGam.root',
      length: 1
    });
    expect(details.replicas).toEqual([
      { rse: 'CERN_DATADISK', files: 1, bytes: details.did.bytes, availableFiles: 1 }
    ]);
  });
});

describe('companion: make available', () => {
  it('when 20 requests for the same dataset arrive at once, then exactly one rule is made, it goes OK, and the local paths hold Rucio’s bytes', async () => {
    const name = `mk.${run}`;
    const checksums = await newDataset(name, 4);
    const did = `user.alice:${name}`;
    const answersOf20 = await Promise.all(
      Array.from({ length: 20 }, () => api.post('/api/instances/devlake/make-available', { did }))
    );
    expect(answersOf20.every(a => a.status === 200 || a.status === 201)).toBe(true);
    expect(answersOf20.filter(a => (a.body as MakeAvailableResponse).created)).toHaveLength(1);
    const ruleIds = new Set(
      answersOf20.map(a => (a.body as MakeAvailableResponse).availability.ruleId)
    );
    expect(ruleIds.size).toBe(1);

    // Under way (Rucio's conveyor takes seconds): a reloaded JupyterLab finds it among the transfers.
    const { transfers } = (await api.get('/api/instances/devlake/transfers'))
      .body as TransfersResponse;
    expect(transfers.filter(t => t.did === did)).toEqual([
      expect.objectContaining({ state: 'REPLICATING', ruleId: [...ruleIds][0] })
    ]);
    expect(transfers.every(t => t.state === 'REPLICATING' && t.instance === 'devlake')).toBe(true);

    const rules = await rucioAs('alice').lines<{ account: string; rse_expression: string }>(
      'GET',
      `${didPath('user.alice', name)}/rules`
    );
    expect(
      rules.filter(r => r.account === 'alice' && r.rse_expression === devlake.scratchRse)
    ).toHaveLength(1);

    const events = await watchEvents(
      `/api/instances/devlake/events?did=${encodeURIComponent(did)}`,
      a => a.state === 'AVAILABLE' || a.state === 'STUCK'
    );
    const final = events[events.length - 1] as Availability;
    expect(final.state).toBe('AVAILABLE');
    expect(final.files).toEqual({ ok: 4, replicating: 0, stuck: 0, total: 4 });

    const again = await api.post('/api/instances/devlake/make-available', { did });
    expect(again.status).toBe(200);
    expect((again.body as MakeAvailableResponse).availability.ruleId).toBe([...ruleIds][0]);

    const paths = (await api.get(`/api/instances/devlake/paths?did=${encodeURIComponent(did)}`))
      .body as Window<LocalPath>;
    expect(paths.items.map(p => p.name).sort()).toEqual([...checksums.keys()].sort());
    for (const entry of paths.items) {
      expect(entry.path).not.toBeNull();
      expect(adler32(readFileSync(entry.path as string))).toBe(checksums.get(entry.name));
    }
  });

  it('when a DID is already made available, then availability answers AVAILABLE at once', async () => {
    const did = `user.alice:mk.${run}`;
    const availability = (
      await api.get(`/api/instances/devlake/availability?did=${encodeURIComponent(did)}`)
    ).body as Availability;
    expect(availability.state).toBe('AVAILABLE');
  });

  it('when a DID was never made available, then availability says NOT_AVAILABLE with its file count', async () => {
    const availability = (
      await api.get('/api/instances/devlake/availability?did=lofar:L600000_SAP001_uv')
    ).body as Availability;
    expect(availability).toMatchObject({
      state: 'NOT_AVAILABLE',
      ruleId: null,
      files: { total: 8 }
    });
  });

  it('when transfers fail, then availability turns STUCK with Rucio’s reason', async () => {
    const did = 'cta:calib.unreachable';
    await api.post('/api/instances/devlake/make-available', { did });
    const events = await watchEvents(
      `/api/instances/devlake/events?did=${did}`,
      a => a.state === 'STUCK' || a.state === 'AVAILABLE'
    );
    const final = events[events.length - 1] as Availability;
    expect(final.state).toBe('STUCK');
    expect(final.error).toMatch(/told to fail/);
  });

  it('when a STUCK DID is retried, then Rucio resubmits its transfers and the events show it replicating again', async () => {
    const did = 'cta:calib.unreachable';
    const stuck = await watchEvents(`/api/instances/devlake/events?did=${did}`, a =>
      ['STUCK', 'AVAILABLE'].includes(a.state)
    );
    expect(stuck[stuck.length - 1]?.state).toBe('STUCK');
    const retried = await api.post('/api/instances/devlake/retry', { did });
    expect(retried.status).toBe(200);
    expect((retried.body as Availability).ruleId).toBe(stuck[stuck.length - 1]?.ruleId);
    const events = await watchEvents(
      `/api/instances/devlake/events?did=${did}`,
      a => a.state === 'REPLICATING',
      90_000
    );
    expect(events[events.length - 1]?.state).toBe('REPLICATING');
  });

  it('when a DID that was never made available is retried, then the companion answers 409 with a sentence', async () => {
    const retried = await api.post('/api/instances/devlake/retry', {
      did: 'lofar:L600000_SAP001_uv'
    });
    expect(retried.status).toBe(409);
    expect(retried.body).toEqual({
      error: {
        code: 'conflict',
        message:
          '"lofar:L600000_SAP001_uv" has not been made available yet, so there is nothing to retry. Make it available first.'
      }
    });
  });
});

describe('companion: file content for previews and downloads', () => {
  const file = 'atlas_opendata:/store/data/2020/13TeV/GamGam/data_A.GamGam.root';
  const url = (did: string): string =>
    `${companion.address}/api/instances/devlake/content?did=${encodeURIComponent(did)}`;

  it('when a whole file is read, then its bytes match Rucio’s adler32', async () => {
    const response = await fetch(url(file));
    expect(response.status).toBe(200);
    expect(response.headers.get('accept-ranges')).toBe('bytes');
    const bytes = new Uint8Array(await response.arrayBuffer());
    const [meta] = await rucioAs('alice').lines<{ adler32: string; bytes: number }>(
      'POST',
      '/replicas/list',
      {
        body: {
          dids: [
            { scope: 'atlas_opendata', name: '/store/data/2020/13TeV/GamGam/data_A.GamGam.root' }
          ]
        }
      }
    );
    expect(bytes.length).toBe(meta?.bytes);
    expect(adler32(bytes)).toBe(meta?.adler32);
  });

  it('when ranges are asked for, then each is clamped to the file and answered 206, or 416 past the end', async () => {
    const whole = new Uint8Array(await (await fetch(url(file))).arrayBuffer());
    const size = whole.length;
    for (const [range, start, end] of [
      ['bytes=0-9', 0, 9],
      [`bytes=${size - 5}-`, size - 5, size - 1],
      ['bytes=-7', size - 7, size - 1],
      [`bytes=${size - 3}-${size + 100}`, size - 3, size - 1]
    ] as const) {
      const response = await fetch(url(file), { headers: { Range: range } });
      expect(response.status, range).toBe(206);
      expect(response.headers.get('content-range')).toBe(`bytes ${start}-${end}/${size}`);
      expect(
        Buffer.from(await response.arrayBuffer()).equals(
          Buffer.from(whole.subarray(start, end + 1))
        ),
        range
      ).toBe(true);
    }
    const past = await fetch(url(file), { headers: { Range: `bytes=${size}-` } });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe(`bytes */${size}`);
  });

  it('when a CSV is previewed, then it comes as text/csv and never as something a browser would run', async () => {
    const response = await fetch(url('user.alice:analysis.v1/histograms.csv'));
    expect(response.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(response.headers.get('content-security-policy')).toMatch(/sandbox/);
    expect((await response.text()).split('\n')[0]).toBe('bin_low,bin_high,events');
  });

  it('when a collection’s content is asked for, then 400 says only files have content', async () => {
    const { status, body } = await api.get(
      `/api/instances/devlake/content?did=${encodeURIComponent('lofar:L600000_SAP000_uv')}`
    );
    expect(status).toBe(400);
    expect(errorOf(body).message).toMatch(/only a file has content/);
  });
});

/** Any value as query text; some generated objects cannot be turned into a string at all. */
function asText(value: unknown): string {
  try {
    return String(value);
  } catch {
    return JSON.stringify(value) ?? '';
  }
}

describe('companion: errors reach the user as sentences', () => {
  const sentence = /^[A-Z"].*[.]$/s;

  it('when the DID does not exist, then 404 says so and what to do', async () => {
    const { status, body } = await api.get('/api/instances/devlake/did?did=lofar:no-such-thing');
    expect(status).toBe(404);
    expect(errorOf(body)).toMatchObject({
      code: 'not_found',
      message: expect.stringMatching(/does not exist in devlake\. Check the spelling/)
    });
  });

  it('when the quota is too small, then 409 quota_exceeded says what to do', async () => {
    const { status, body } = await api.post('/api/instances/devlake-bob/make-available', {
      did: 'atlas_opendata:2020_13TeV.GamGam.data'
    });
    expect(status).toBe(409);
    expect(errorOf(body)).toMatchObject({
      code: 'quota_exceeded',
      message: expect.stringMatching(
        /quota on LAKE_SCRATCHDISK is too small.*ask the data lake's admins/
      )
    });
  });

  describe('when the scratch RSE is blocked for writing', () => {
    const root = rucioAs('root');
    beforeAll(async () => {
      await root.request('PUT', `/rses/${devlake.scratchRse}`, {
        body: { availability_write: false }
      });
    });
    afterAll(async () => {
      await root.request('PUT', `/rses/${devlake.scratchRse}`, {
        body: { availability_write: true }
      });
    });

    it('then make-available answers 503 rse_blocked with a sentence', async () => {
      const { status, body } = await api.post('/api/instances/devlake/make-available', {
        did: 'lofar:L600000_SAP001_uv'
      });
      expect(status).toBe(503);
      expect(errorOf(body)).toMatchObject({
        code: 'rse_blocked',
        message: expect.stringMatching(/does not accept new data right now/)
      });
    });
  });

  it('when Rucio is down, then 502 rucio_unreachable says it cannot be reached', async () => {
    const { status, body } = await api.get('/api/instances/down/scopes');
    expect(status).toBe(502);
    expect(errorOf(body)).toMatchObject({
      code: 'rucio_unreachable',
      message: expect.stringMatching(/cannot be reached.*try again/i)
    });
  });

  it('when the token has expired, then 401 not_signed_in says to sign in, and the auth state says so too', async () => {
    const { status, body } = await api.get('/api/instances/expired/scopes');
    expect(status).toBe(401);
    expect(errorOf(body)).toMatchObject({
      code: 'not_signed_in',
      message: expect.stringMatching(/expired.*Sign in to expired\./)
    });
    expect((await api.get('/api/instances/expired/auth')).body).toMatchObject({
      signedIn: false,
      message: expect.stringMatching(/Sign in/)
    });
  });

  it('when the instance is unknown, then 404 lists the configured ones', async () => {
    const { status, body } = await api.get('/api/instances/nope/scopes');
    expect(status).toBe(404);
    expect(errorOf(body).message).toMatch(
      /no data lake instance named "nope".*devlake, devlake-bob/
    );
  });

  it('when the DID is malformed, then 400 explains the form; a name with .. is looked up as Rucio takes it', async () => {
    for (const did of ['lofar', ':x', 'lofar:', 'lo far:x', `lofar:${'x'.repeat(300)}`]) {
      const { status, body } = await api.get(
        `/api/instances/devlake/did?did=${encodeURIComponent(did)}`
      );
      expect(status, did).toBe(400);
      expect(errorOf(body).message, did).toMatch(sentence);
    }
    // Rucio's generic schema allows ".." segments: such a name is a name, never a way up a tree.
    const climbing = await api.get(
      `/api/instances/devlake/did?did=${encodeURIComponent('lofar:a/../../etc/passwd')}`
    );
    expect(climbing.status).toBe(404);
    expect(errorOf(climbing.body).message).toContain('"lofar:a/../../etc/passwd" does not exist');
  });

  it('when the body is not JSON, is 10 MB, or lacks the XSRF token, then a 4xx with a sentence comes back', async () => {
    const notJson = await api.call('POST', '/api/instances/devlake/make-available', undefined, {
      raw: '{did: oops'
    });
    expect(notJson.status).toBe(400);
    expect(errorOf(notJson.body).message).toBe('The request body is not valid JSON.');
    const huge = await api.call('POST', '/api/instances/devlake/make-available', undefined, {
      raw: JSON.stringify({ did: 'x'.repeat(10 * 1024 * 1024) })
    });
    expect(huge.status).toBe(413);
    expect(errorOf(huge.body).code).toBe('too_large');
    const noXsrf = await api.call(
      'POST',
      '/api/instances/devlake/make-available',
      { did: 'lofar:L600000_SAP001_uv' },
      { xsrf: false }
    );
    expect(noXsrf.status).toBe(403);
    expect(errorOf(noXsrf.body).message).toMatch(/XSRF/);
  });

  it('when arbitrary input is thrown at the API, then every answer is a 2xx or a 4xx with a sentence, and the companion keeps serving', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(
          'search',
          'make-available',
          'did',
          'children',
          'files',
          'availability',
          'paths'
        ),
        fc.oneof(
          fc.string({ maxLength: 40 }),
          fc.constantFrom('lofar:*', 'user.alice:..', 'a:b/../c', 'x:%00', 'lofar:L6%')
        ),
        fc.anything({ maxDepth: 2 }),
        async (route, did, extra) => {
          const post = route === 'search' || route === 'make-available';
          const result = post
            ? await api.post(
                `/api/instances/devlake/${route}`,
                route === 'search' ? { did, filters: extra } : { did, extra }
              )
            : await api.get(
                `/api/instances/devlake/${route}?did=${encodeURIComponent(did)}&limit=${encodeURIComponent(asText(extra))}`
              );
          if (result.status >= 400) {
            expect(result.status, JSON.stringify(result.body)).toBeLessThan(500);
            expect(errorOf(result.body).message).toMatch(/\.$/);
          }
        }
      ),
      { numRuns: 60 }
    );
    expect((await api.get('/health')).status).toBe(200);
  });
});

describe('companion: secrets', () => {
  it('when every answer and log line so far is scanned, then none contains a Rucio token or a password', async () => {
    const tokens = await Promise.all(
      ['devlake', 'devlake-bob'].map(
        async n => (await companion.lake.instance(n).rucio.credentials.token()).value
      )
    );
    const everything = [...answers, ...logLines].join('\n');
    expect(answers.length).toBeGreaterThan(20);
    expect(logLines.length).toBeGreaterThan(20);
    for (const secret of [...tokens, 'alice-devlake', 'bob-devlake']) {
      expect(everything.includes(secret)).toBe(false);
    }
  });
});
