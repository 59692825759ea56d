import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import type { DevlakeStatus } from '../packages/devlake/src/lake.js';

declare module 'vitest' {
  export interface ProvidedContext {
    devlake: DevlakeStatus;
  }
}

/**
 * Reads the running devlake's endpoints and credentials from `devlake status --json`, so that no
 * test hard-codes them. `npm test` brings devlake up before the integration tests run.
 */
export default function setup(project: TestProject): void {
  const cli = join(import.meta.dirname, '..', 'packages', 'devlake', 'lib', 'cli.js');
  const result = spawnSync(process.execPath, [cli, 'status', '--json'], { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(`devlake status failed: ${result.stderr}`);
  }
  const status = JSON.parse(result.stdout) as DevlakeStatus;
  if (!status.running) {
    const down = status.services.filter(s => !s.running).map(s => s.name);
    throw new Error(
      `devlake is not running (${down.join(', ')} down). Run "npm run devlake -- up" first.`
    );
  }
  project.provide('devlake', status);
}
