import type {
  Availability,
  DidDetails,
  LocalPath,
  MakeAvailableResponse,
  Window
} from '@dlaas/api';
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningCompanion } from '../../packages/companion/src/index.js';
import { adler32 } from '../../packages/devlake/src/adler32.js';
import { hashedPath } from '../../packages/devlake/src/lfn.js';
import { devlake, didPath, newDataset, putFile, rucioAs, waitForRule } from '../devlake/helpers.js';
import { CompanionClient, errorOf, startCompanion } from './harness.js';

/**
 * DIDs whose names Rucio's generic schema accepts but that look like paths (`..` segments, names
 * without a letter or digit), and containers: every one must work end to end or say why not,
 * and never lend its bytes to another DID.
 */

let companion: RunningCompanion;
let api: CompanionClient;
const run = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const scope = 'user.alice';

beforeAll(async () => {
  companion = await startCompanion();
  api = new CompanionClient(companion.address);
});

afterAll(async () => {
  await companion.stop();
});

/**
 * Puts one file of alice's on a site RSE as a site would (bytes at Rucio's deterministic path,
 * replica registered by root). The PUT goes through Node's URL parser, as any HTTP client's would.
 */
async function putSiteFile(rse: string, name: string, content: Buffer): Promise<void> {
  const site = devlake.rses.find(r => r.name === rse);
  if (!site) {
    throw new Error(`devlake has no ${rse}`);
  }
  const status = await putFile(`${site.url}${site.prefix}${hashedPath(scope, name)}`, content);
  expect(status, `PUT ${name} on ${rse}`).toBe(200);
  await rucioAs('root').request('POST', '/replicas/', {
    body: {
      rse,
      files: [{ scope, name, bytes: content.length, adler32: adler32(content) }]
    }
  });
}

async function makeAvailable(did: string): Promise<string> {
  const answer = await api.post('/api/instances/devlake/make-available', { did });
  expect(answer.status, JSON.stringify(answer.body)).toBeLessThan(300);
  return (answer.body as MakeAvailableResponse).availability.ruleId as string;
}

function query(did: string): string {
  return `did=${encodeURIComponent(did)}`;
}

describe('DID names that look like paths', () => {
  it('when a name with .. segments resolves onto another DID’s replica path, then its transfer fails and the other DID keeps its own bytes and path', async () => {
    const target = `names.${run}/b.dat`;
    const targetBytes = randomBytes(30_000);
    await putSiteFile('CERN_DATADISK', target, targetBytes);
    // `<scope dirs>/<h1>/<h2>/` + name: three `..` climb out of this name's own hash folders
    // (and the empty segment its leading slash makes) into the target's.
    const [h1, h2] = hashedPath(scope, target).split('/').slice(2, 4) as [string, string];
    const evil = `/../../../${h1}/${h2}/${target}`;
    const evilBytes = randomBytes(30_000);
    await putSiteFile('DESY_DATADISK', evil, evilBytes);

    const targetDid = `${scope}:${target}`;
    const targetRule = await makeAvailable(targetDid);
    expect((await waitForRule(rucioAs('alice'), targetRule, ['OK', 'STUCK'])).rule.state).toBe(
      'OK'
    );
    const targetPaths = (await api.get(`/api/instances/devlake/paths?${query(targetDid)}`))
      .body as Window<LocalPath>;
    const targetPath = targetPaths.items[0]?.path as string;
    expect(adler32(readFileSync(targetPath))).toBe(adler32(targetBytes));

    // Accepted as Rucio accepts it (it used to be "not a valid name").
    const evilDid = `${scope}:${evil}`;
    const evilRule = await makeAvailable(evilDid);
    const { rule } = await waitForRule(rucioAs('alice'), evilRule, ['OK', 'STUCK']);
    expect(rule.state).toBe('STUCK');
    const evilAvailability = (
      await api.get(`/api/instances/devlake/availability?${query(evilDid)}`)
    ).body as Availability;
    expect(evilAvailability.state).toBe('STUCK');
    expect(evilAvailability.error).toMatch(/"\." or "\.\." path segment/);

    // The target's copy on scratch is untouched: same path, Rucio's bytes.
    expect(adler32(readFileSync(targetPath))).toBe(adler32(targetBytes));
    const again = (await api.get(`/api/instances/devlake/availability?${query(targetDid)}`))
      .body as Availability;
    expect(again.state).toBe('AVAILABLE');
    const content = await fetch(
      `${companion.address}/api/instances/devlake/content?${query(targetDid)}`
    );
    expect(content.status).toBe(200);
    expect(adler32(Buffer.from(await content.arrayBuffer()))).toBe(adler32(targetBytes));
  });

  it('when a name has no letter or digit, then make-available works and its paths say why they cannot be listed, in a sentence', async () => {
    // Only "/", "." and "-": the run's number spelt in dashes and dots keeps the name new.
    const name = `/${randomInt(2 ** 30)
      .toString(2)
      .replaceAll('0', '-')
      .replaceAll('1', '.')}-`;
    const file = `names.${run}/in-dashes.dat`;
    await putSiteFile('CERN_DATADISK', file, randomBytes(2000));
    const alice = rucioAs('alice');
    await alice.request('POST', didPath(scope, name), { body: { type: 'DATASET' } });
    await alice.request('POST', `${didPath(scope, name)}/dids`, {
      body: { dids: [{ scope, name: file }] }
    });
    const did = `${scope}:${name}`;
    const ruleId = await makeAvailable(did);
    expect((await waitForRule(alice, ruleId, ['OK', 'STUCK'])).rule.state).toBe('OK');

    const paths = await api.get(`/api/instances/devlake/paths?${query(did)}`);
    expect(paths.status).toBe(409);
    expect(errorOf(paths.body).message).toMatch(
      /cannot list where the files of ".*" are: its replica listing needs a letter, a digit or an underscore in every name/
    );
    expect(errorOf(paths.body).message).not.toMatch(/validating|does not match/);
  });
});

describe('containers', () => {
  it('when a container’s details are asked for, then its replicas are the sum of its datasets’', async () => {
    const first = await newDataset(`cont.${run}.a`, 2);
    const second = await newDataset(`cont.${run}.b`, 3);
    const container = `cont.${run}`;
    const alice = rucioAs('alice');
    await alice.request('POST', didPath(scope, container), { body: { type: 'CONTAINER' } });
    await alice.request('POST', `${didPath(scope, container)}/dids`, {
      body: {
        dids: [
          { scope, name: `cont.${run}.a` },
          { scope, name: `cont.${run}.b` }
        ]
      }
    });
    const details = (await api.get(`/api/instances/devlake/did?${query(`${scope}:${container}`)}`))
      .body as DidDetails;
    expect(details.did.type).toBe('CONTAINER');
    expect(details.replicas).toEqual([
      {
        rse: 'CERN_DATADISK',
        files: first.size + second.size,
        bytes: details.did.bytes,
        availableFiles: first.size + second.size
      }
    ]);
  });
});
