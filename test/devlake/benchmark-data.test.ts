import { createHash, randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { adler32 } from '../../packages/devlake/src/adler32.js';
import { largeFileBytes } from '../../packages/devlake/src/catalogue.js';
import { seedLargeFiles, storagePath } from '../../packages/devlake/src/seed.js';
import { resolveLayout } from '../../packages/devlake/src/settings.js';
import { stageOnScratch } from '../../packages/devlake/src/stage.js';
import { devlake, devlakeCli, didPath, newDataset, rucioAs } from './helpers.js';

const alice = rucioAs('alice');
const layout = resolveLayout({ stateDir: devlake.stateDir });
const scratch = devlake.scratchRse;
/** A tag unique to this run, so every run seeds and stages fresh data. */
const run = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;

interface ReplicaLine {
  scope: string;
  name: string;
  bytes: number;
  adler32: string;
  md5: string;
  rses: Record<string, string[]>;
  states: Record<string, string>;
}

/** The replicas of a DID's files on one RSE, with their http PFNs. */
function replicasOn(scope: string, name: string, rse: string): Promise<ReplicaLine[]> {
  return alice.lines<ReplicaLine>('POST', '/replicas/list', {
    body: { dids: [{ scope, name }], schemes: ['http'], rse_expression: rse, all_states: true }
  });
}

async function download(pfn: string, headers: Record<string, string> = {}): Promise<Buffer> {
  const response = await fetch(pfn, { headers });
  expect(response.ok, `${pfn} answered ${response.status}`).toBe(true);
  return Buffer.from(await response.arrayBuffer());
}

interface RuleDetails {
  id: string;
  state: string;
  account: string;
  rse_expression: string;
  copies: number;
  grouping: string;
  locks_ok_cnt: number;
  locks_replicating_cnt: number;
  expires_at: string | null;
}

describe('benchmark datasets of large files', () => {
  it('when a large-files dataset is seeded, then its files on the site disk serve bytes with Rucio’s size and checksums, and seeding again writes nothing', async () => {
    const bytes = 3 * 1024 ** 2 + 5;
    const name = `large_test.${run}`;
    const options = { name, files: 2, bytes };
    expect(await seedLargeFiles(layout, rucioAs('root'), options)).toEqual({
      did: `bench:${name}`,
      written: 2
    });

    const replicas = await replicasOn('bench', name, 'CERN_DATADISK');
    expect(replicas.map(r => r.name).sort()).toEqual([
      `${name}/large_000.bin`,
      `${name}/large_001.bin`
    ]);
    const contents = [];
    for (const replica of replicas) {
      expect(replica.states).toEqual({ CERN_DATADISK: 'AVAILABLE' });
      const content = await download(replica.rses['CERN_DATADISK']?.[0] as string);
      expect(content.length).toBe(bytes);
      expect(replica.bytes).toBe(bytes);
      expect(adler32(content)).toBe(replica.adler32);
      expect(createHash('md5').update(content).digest('hex')).toBe(replica.md5);
      expect(content.some(byte => byte !== 0)).toBe(true);
      contents.push(content);
    }
    expect((contents[0] as Buffer).equals(contents[1] as Buffer)).toBe(false);

    // A read at an offset (what a mount does) returns what largeFileBytes computes for it.
    const first = replicas[0] as ReplicaLine;
    const range = await download(first.rses['CERN_DATADISK']?.[0] as string, {
      Range: `bytes=${1024 ** 2 - 7}-${1024 ** 2 + 8}`
    });
    expect(range).toEqual(largeFileBytes('bench', first.name, 1024 ** 2 - 7, 16));

    expect(await seedLargeFiles(layout, rucioAs('root'), options)).toEqual({
      did: `bench:${name}`,
      written: 0
    });
    const dataset = await alice.json<{ open: boolean; length: number; bytes: number }>(
      'GET',
      didPath('bench', name)
    );
    expect(dataset).toMatchObject({ open: false, length: 2, bytes: 2 * bytes });
  });
});

describe('staging on the scratch RSE without transfers', () => {
  it('when a dataset is staged for alice, then her rule toward the scratch RSE is OK at once and the scratch replicas serve the right bytes', async () => {
    const name = `stage.${run}.ok`;
    const checksums = await newDataset(name, 3);
    const staged = await stageOnScratch(layout, { scope: 'user.alice', name }, 'alice');
    expect(staged).toMatchObject({
      ruleCreated: true,
      ruleState: 'OK',
      files: 3,
      placed: 3,
      copied: 0
    });

    const rule = await alice.json<RuleDetails>('GET', `/rules/${staged.ruleId}`);
    expect(rule).toMatchObject({
      state: 'OK',
      account: 'alice',
      rse_expression: scratch,
      copies: 1,
      grouping: 'DATASET',
      locks_ok_cnt: 3,
      locks_replicating_cnt: 0
    });
    const lifetime = Date.parse(String(rule.expires_at).replace(/ UTC$/, ' GMT')) - Date.now();
    expect(lifetime).toBeGreaterThan(6.9 * 86400_000);
    expect(lifetime).toBeLessThan(7.1 * 86400_000);

    const replicas = await replicasOn('user.alice', name, scratch);
    expect(replicas.map(r => r.name).sort()).toEqual([...checksums.keys()].sort());
    const scratchRoot = devlake.rses.find(r => r.name === scratch)?.directory as string;
    for (const replica of replicas) {
      expect(replica.states).toEqual({ [scratch]: 'AVAILABLE' });
      const content = await download(replica.rses[scratch]?.[0] as string);
      expect(adler32(content)).toBe(checksums.get(replica.name));
      // XRootD must be able to delete there: what staging created belongs to the storage's user.
      const path = storagePath(layout, scratch, 'user.alice', replica.name);
      expect(statSync(dirname(path)).uid).toBe(statSync(scratchRoot).uid);
    }
  });

  it('when one file of a dataset is on the scratch RSE already, then staging the dataset places only the others', async () => {
    const name = `stage.${run}.part`;
    const checksums = await newDataset(name, 3);
    const [firstFile] = [...checksums.keys()].sort();
    const file = await stageOnScratch(
      layout,
      { scope: 'user.alice', name: firstFile as string },
      'alice'
    );
    expect(file).toMatchObject({ ruleState: 'OK', files: 1, placed: 1 });

    const dataset = await stageOnScratch(layout, { scope: 'user.alice', name }, 'alice');
    expect(dataset).toMatchObject({ ruleCreated: true, ruleState: 'OK', files: 3, placed: 2 });
    expect(await replicasOn('user.alice', name, scratch)).toHaveLength(3);
  });

  it('when a dataset is staged twice, the second time with the CLI, then the rule is reused and nothing is placed again', async () => {
    const name = `stage.${run}.twice`;
    await newDataset(name, 2);
    const first = await stageOnScratch(layout, { scope: 'user.alice', name }, 'alice');
    expect(first).toMatchObject({ ruleCreated: true, ruleState: 'OK', placed: 2 });

    const again = await devlakeCli(['stage', '--did', `user.alice:${name}`, '--account', 'alice']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(
      `0 of 2 files placed now (0 copied, the others hard-linked), rule ${first.ruleId} reused, OK`
    );
    const rules = await alice.lines<{ id: string; rse_expression: string }>(
      'GET',
      `${didPath('user.alice', name)}/rules`
    );
    expect(rules.filter(r => r.rse_expression === scratch).map(r => r.id)).toEqual([first.ruleId]);
  });

  it('when a dataset alice staged is staged for bob, then no file is placed again and bob gets his own OK rule', async () => {
    const name = `stage.${run}.shared`;
    await newDataset(name, 2);
    const forAlice = await stageOnScratch(layout, { scope: 'user.alice', name }, 'alice');
    expect(forAlice).toMatchObject({ ruleState: 'OK', placed: 2 });

    const forBob = await stageOnScratch(layout, { scope: 'user.alice', name }, 'bob');
    expect(forBob).toMatchObject({ ruleCreated: true, ruleState: 'OK', files: 2, placed: 0 });
    expect(forBob.ruleId).not.toBe(forAlice.ruleId);
    const rule = await rucioAs('bob').json<RuleDetails>('GET', `/rules/${forBob.ruleId}`);
    expect(rule).toMatchObject({ account: 'bob', rse_expression: scratch, locks_ok_cnt: 2 });
  });

  it('when a dataset of 10,000 files is staged, then Rucio makes the rule asynchronously and its judge-injector turns it OK', async () => {
    const seeded = await devlakeCli(['seed', '--files', '10000']);
    expect(seeded.code, seeded.stderr).toBe(0);
    // A dataset of its own for this run (of the same files), so that a new rule is made each time.
    const root = rucioAs('root');
    const name = `inject.${run}`;
    const files = await root.lines<{ scope: string; name: string }>(
      'GET',
      `${didPath('bench', 'files_10000')}/files`
    );
    await root.request('POST', didPath('bench', name), { body: { type: 'DATASET' } });
    for (let i = 0; i < files.length; i += 1000) {
      await root.request('POST', `${didPath('bench', name)}/dids`, {
        body: { dids: files.slice(i, i + 1000).map(f => ({ scope: f.scope, name: f.name })) }
      });
    }
    // Closed, so that Rucio knows its length, which is what makes it inject the rule later.
    await root.request('PUT', `${didPath('bench', name)}/status`, { body: { open: false } });

    const lines: string[] = [];
    const staged = await stageOnScratch(layout, { scope: 'bench', name }, 'alice', line =>
      lines.push(line)
    );
    expect(staged).toMatchObject({ ruleCreated: true, ruleState: 'OK', files: 10_000 });
    expect(lines.some(line => line.includes("waits for Rucio's judge-injector"))).toBe(true);
    const rule = await alice.json<RuleDetails>('GET', `/rules/${staged.ruleId}`);
    expect(rule.locks_ok_cnt).toBe(10_000);
    // Rucio keeps a deleted rule for an hour; its locks go then, not in a week.
    await root.request('DELETE', `/rules/${staged.ruleId}`, { body: {} });
  });
});
