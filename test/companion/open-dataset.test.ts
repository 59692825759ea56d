import type { Availability, LocalPath, Window } from '@dlaas/api';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningCompanion } from '../../packages/companion/src/index.js';
import { adler32 } from '../../packages/devlake/src/adler32.js';
import { hashedPath } from '../../packages/devlake/src/lfn.js';
import { devlake, didPath, newDataset, putFile, rucioAs } from '../devlake/helpers.js';
import { EventStream } from '../support/event-stream.js';
import { CompanionClient, startCompanion } from './harness.js';

/**
 * A user's own dataset stays open while they work on it: files attached after it was made
 * available must show in its count, state and local paths within seconds (issue 11). Against the
 * real devlake: its judge-evaluator gives the rule a lock for the new file, its conveyor copies it.
 */
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

/**
 * Puts a new file's bytes on the site storage, registers its replica (as root, as the generic
 * policy wants for a site disk) and attaches it to alice's dataset, as putNewDataset does for a
 * whole dataset. Returns its name and Adler-32.
 */
async function attachNewFile(dataset: string, fileName: string): Promise<[string, string]> {
  const site = devlake.rses.find(r => r.name === 'CERN_DATADISK');
  if (!site) {
    throw new Error('devlake has no CERN_DATADISK');
  }
  const scope = 'user.alice';
  const content = randomBytes(5000);
  const status = await putFile(`${site.url}${site.prefix}${hashedPath(scope, fileName)}`, content);
  expect(status).toBe(200);
  const file = { scope, name: fileName, bytes: content.length, adler32: adler32(content) };
  await rucioAs('root').request('POST', '/replicas/', { body: { rse: site.name, files: [file] } });
  await rucioAs('alice').request('POST', `${didPath(scope, dataset)}/dids`, {
    body: { dids: [{ scope, name: fileName }] }
  });
  return [fileName, file.adler32];
}

async function availabilityOf(did: string): Promise<Availability> {
  return (await api.get(`/api/instances/devlake/availability?did=${encodeURIComponent(did)}`))
    .body as Availability;
}

async function pathsOf(did: string): Promise<Window<LocalPath>> {
  return (await api.get(`/api/instances/devlake/paths?did=${encodeURIComponent(did)}`))
    .body as Window<LocalPath>;
}

/** How soon after a file is attached the companion must count it. */
const WITHIN_MS = 15_000;

describe('companion: an open dataset that gets a file after it was made available', () => {
  it('when a file is attached, then within seconds the count says 2, the rule replicates it, and the local paths list both files', async () => {
    const name = `open.${run}`;
    const checksums = await newDataset(name, 1);
    const did = `user.alice:${name}`;
    const made = await api.post('/api/instances/devlake/make-available', { did });
    expect(made.status).toBe(201);

    // As the panel does: an event stream on the DID, open from before the file is attached.
    const events = await EventStream.open(
      `${companion.address}/api/instances/devlake/events?did=${encodeURIComponent(did)}`
    );
    try {
      const { availability: ready } = await events.until(
        a => a.state === 'AVAILABLE' || a.state === 'STUCK',
        180_000,
        'the first file made available'
      );
      expect(ready.state).toBe('AVAILABLE');
      expect(ready.files).toEqual({ ok: 1, replicating: 0, stuck: 0, total: 1 });
      expect((await pathsOf(did)).items.map(p => p.name)).toEqual([...checksums.keys()]);

      const [added, sum] = await attachNewFile(name, `${name}/added.dat`);
      checksums.set(added, sum);
      const attachedAt = Date.now();

      // Asked directly (a notebook that polls), the count follows within seconds ...
      let asked = await availabilityOf(did);
      while (asked.files.total !== 2 && Date.now() - attachedAt < WITHIN_MS) {
        await sleep(500);
        asked = await availabilityOf(did);
      }
      expect(asked.files.total).toBe(2);
      // ... and the event stream says so too, without being asked.
      await events.until(
        a => a.files.total === 2,
        Math.max(0, attachedAt + WITHIN_MS - Date.now()),
        'a total of 2'
      );

      const { availability: done } = await events.until(
        a => a.files.total === 2 && (a.state === 'STUCK' || a.files.ok === 2),
        180_000,
        'both files made available'
      );
      expect(done.state).toBe('AVAILABLE');
      expect(done.files).toEqual({ ok: 2, replicating: 0, stuck: 0, total: 2 });
      expect(await availabilityOf(did)).toMatchObject({
        state: 'AVAILABLE',
        files: { ok: 2, replicating: 0, stuck: 0, total: 2 }
      });

      const paths = await pathsOf(did);
      expect(paths.items.map(p => p.name).sort()).toEqual([...checksums.keys()].sort());
      for (const entry of paths.items) {
        expect(entry.path).not.toBeNull();
        expect(adler32(readFileSync(entry.path as string))).toBe(checksums.get(entry.name));
      }
    } finally {
      events.close();
    }
  });
});
