import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RucioRest } from '../../packages/devlake/src/rest.js';
import { inject } from 'vitest';
import { didPath, putFile, putNewDataset, rucioOf } from '../support/lake.js';

/** The running devlake, as `devlake status --json` described it. */
export const devlake = inject('devlake');

/** A Rucio client signed in as one of devlake's demo accounts. */
export function rucioAs(account: string): RucioRest {
  return rucioOf(devlake, account);
}

export { didPath, putFile };

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
 * Puts a new dataset of `count` files into alice's scope the way a site would (see
 * {@link putNewDataset}); returns each file's name and Adler-32 checksum.
 */
export function newDataset(name: string, count: number): Promise<Map<string, string>> {
  return putNewDataset(devlake, name, count);
}
