import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CompanionClient } from '../companion/harness.js';
import { REPO } from './processes.js';

const MAIN = join(REPO, 'packages', 'companion', 'lib', 'main.js');

/** A companion running as its own process on a port, and a client that sends its token. */
export interface CompanionProcess {
  readonly process: ChildProcess;
  readonly client: CompanionClient;
  /** `http://127.0.0.1:PORT`. */
  readonly address: string;
  /** The token every request carries (`DLAAS_TOKEN`). */
  readonly token: string;
  /** Its log lines (and anything else it wrote to stderr), as they come. */
  readonly log: string[];
}

/**
 * Starts `dlaas-companion --port 0` (lib/main.js) with the configuration file `config` and a new
 * token; resolves when it says where it listens, or fails with its log after 30 s.
 * `stopWithStdin` gives it a stdin pipe and `--stop-with-stdin`; `env` adds variables.
 */
export async function startCompanionProcess(options: {
  readonly config: string;
  readonly stopWithStdin?: boolean;
  readonly env?: Record<string, string>;
}): Promise<CompanionProcess> {
  const token = randomBytes(32).toString('base64url');
  const child = spawn(
    process.execPath,
    [MAIN, '--port', '0', ...(options.stopWithStdin ? ['--stop-with-stdin'] : [])],
    {
      env: {
        ...process.env,
        DLAAS_CONFIG: options.config,
        DLAAS_LOG_LEVEL: 'info',
        DLAAS_TOKEN: token,
        ...options.env
      },
      stdio: [options.stopWithStdin ? 'pipe' : 'ignore', 'ignore', 'pipe']
    }
  );
  const log: string[] = [];
  let address: string | undefined;
  child.stderr?.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) {
      log.push(line);
      try {
        const entry = JSON.parse(line) as { message?: string; address?: string };
        if (entry.message === 'companion started') {
          address = entry.address;
        }
      } catch {
        // Not a log line of ours: kept as it is.
      }
    }
  });
  const deadline = Date.now() + 30_000;
  while (address === undefined && child.exitCode === null && Date.now() < deadline) {
    await sleep(100);
  }
  if (address === undefined) {
    throw new Error(`the companion did not start:\n${log.join('\n')}`);
  }
  return { process: child, client: new CompanionClient(address, token), address, token, log };
}
