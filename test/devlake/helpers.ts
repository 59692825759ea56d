import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { adler32 } from '../../packages/devlake/src/adler32.js';
import { hashedPath } from '../../packages/devlake/src/lfn.js';
import { RucioRest, segment } from '../../packages/devlake/src/rest.js';
import { randomBytes } from 'node:crypto';
import { expect, inject } from 'vitest';

/** The running devlake, as `devlake status --json` described it. */
export const devlake = inject('devlake');

/** A Rucio client signed in as one of devlake's demo accounts. */
export function rucioAs(account: string): RucioRest {
  const identity = devlake.accounts.find(a => a.account === account);
  if (!identity) {
    throw new Error(`devlake has no account ${account}`);
  }
  return new RucioRest(devlake.rucio.url, identity);
}

/** The REST path of a DID. */
export function didPath(scope: string, name: string): string {
  return `/dids/${segment(scope)}/${segment(name)}`;
}

/** What a finished CLI run printed. */
export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const CLI = join(import.meta.dirname, '..', '..', 'packages', 'devlake', 'lib', 'cli.js');

/** Runs the devlake CLI with extra environment variables. */
export function devlakeCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', code => resolvePromise({ code, stdout, stderr }));
  });
}

/** A replication rule as `GET /rules/{id}` shows it. */
export interface Rule {
  id: string;
  state: string;
  locks_ok_cnt: number;
  locks_replicating_cnt: number;
  locks_stuck_cnt: number;
  error: string | null;
}

/**
 * Polls a rule until it reaches one of `states`, recording every state seen on the way; fails
 * with the last state after `timeoutMs`.
 */
export async function waitForRule(
  rucio: RucioRest,
  ruleId: string,
  states: string[],
  timeoutMs = 240_000
): Promise<{ rule: Rule; seen: string[] }> {
  const seen: string[] = [];
  const deadline = Date.now() + timeoutMs;
  let rule: Rule | undefined;
  while (Date.now() < deadline) {
    rule = await rucio.json<Rule>('GET', `/rules/${ruleId}`);
    if (seen[seen.length - 1] !== rule.state) {
      seen.push(rule.state);
    }
    if (states.includes(rule.state)) {
      return { rule, seen };
    }
    await sleep(1000);
  }
  throw new Error(
    `rule ${ruleId} is still ${rule?.state} after ${timeoutMs} ms (seen: ${seen.join(' → ')})`
  );
}

/**
 * PUTs bytes on a storage endpoint. Not with fetch: XRootD 5.5 reads `Content-Length`
 * case-sensitively (fetch sends it lower-case, and the file is stored empty), and it closes the
 * connection after a PUT, so a pooled keep-alive connection fails on the next request.
 */
export function putFile(url: string, body: Buffer): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const req = request(
      url,
      { method: 'PUT', agent: false, headers: { 'Content-Length': body.length } },
      res => {
        res.resume();
        res.once('end', () => resolvePromise(res.statusCode ?? 0));
      }
    );
    req.once('error', reject);
    req.end(body);
  });
}

/**
 * Puts a new dataset of `count` files into the lake the way a site would: bytes PUT onto the site
 * storage at Rucio's deterministic path, replicas registered (by root, as the generic policy
 * wants for a site disk), the dataset created and filled by alice in her scope.
 */
export async function newDataset(name: string, count: number): Promise<Map<string, string>> {
  const site = devlake.rses.find(r => r.name === 'CERN_DATADISK');
  const root = rucioAs('root');
  const alice = rucioAs('alice');
  if (!site) {
    throw new Error('devlake has no CERN_DATADISK');
  }
  const scope = 'user.alice';
  const checksums = new Map<string, string>();
  const files = [];
  for (let i = 0; i < count; i++) {
    const fileName = `${name}/part_${i}.dat`;
    const content = randomBytes(1000 + i * 20_000);
    const status = await putFile(
      `${site.url}${site.prefix}${hashedPath(scope, fileName)}`,
      content
    );
    expect(status, `PUT ${fileName}`).toBe(200);
    checksums.set(fileName, adler32(content));
    files.push({ scope, name: fileName, bytes: content.length, adler32: adler32(content) });
  }
  await root.request('POST', '/replicas/', { body: { rse: site.name, files } });
  await alice.request('POST', didPath(scope, name), { body: { type: 'DATASET' } });
  await alice.request('POST', `${didPath(scope, name)}/dids`, {
    body: { dids: files.map(({ scope: s, name: n }) => ({ scope: s, name: n })) }
  });
  return checksums;
}
