import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { DevlakeStatus } from '../packages/devlake/src/lake.js';

/** The repository's root. */
export const root = join(import.meta.dirname, '..');

/** The running devlake's status and alice's credentials, or an error saying to bring it up. */
export function runningLake(): {
  status: DevlakeStatus;
  alice: DevlakeStatus['accounts'][number];
} {
  const status = JSON.parse(
    spawnSync(process.execPath, [join(root, 'packages/devlake/lib/cli.js'), 'status', '--json'], {
      encoding: 'utf8'
    }).stdout
  ) as DevlakeStatus;
  const alice = status.accounts.find(a => a.account === 'alice');
  if (!status.running || !alice) {
    throw new Error('devlake is not running: run "npm run devlake -- up" first.');
  }
  return { status, alice };
}
