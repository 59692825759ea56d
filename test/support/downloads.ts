import type { Download, DownloadDetail, DownloadFile } from '@dlaas/api';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { adler32 } from '../../packages/devlake/src/adler32.js';
import { devlake, didPath, rucioAs } from '../devlake/helpers.js';
import { startCompanionProcess, type CompanionProcess } from './companion-process.js';

/**
 * A companion process for download tests: its own HOME (so downloads go to
 * `<home>/datalake-downloads` and the journal to `<home>/.local/state`), with the instances of
 * devlake's configuration ("devlake" as alice, in replica mode) and "dl", alice in download mode.
 */
export interface DownloadLab {
  readonly home: string;
  readonly config: string;
  companion: CompanionProcess;
}

/** Creates a home and a configuration, and starts the companion. */
export async function startDownloadLab(): Promise<DownloadLab> {
  const home = mkdtempSync(join(tmpdir(), 'dlaas-download-home-'));
  mkdirSync(join(home, '.config'), { recursive: true });
  const written = JSON.parse(readFileSync(devlake.companionConfig, 'utf8')) as {
    instances: Record<string, unknown>[];
  };
  const alice = written.instances.find(i => i['name'] === 'devlake');
  if (!alice) {
    throw new Error('devlake wrote no instance "devlake"');
  }
  // The same account with no scratch RSE and no paths: download mode.
  const rest = { ...alice };
  delete rest['scratchRse'];
  delete rest['paths'];
  const config = join(home, 'companion.json');
  writeFileSync(
    config,
    JSON.stringify({ instances: [alice, { ...rest, name: 'dl', mode: 'download' }] })
  );
  const lab = { home, config } as DownloadLab;
  lab.companion = await startLabCompanion(lab);
  return lab;
}

/** Starts (again) the companion of a lab. */
export function startLabCompanion(
  lab: Pick<DownloadLab, 'home' | 'config'>
): Promise<CompanionProcess> {
  return startCompanionProcess({
    config: lab.config,
    env: { HOME: lab.home, XDG_STATE_HOME: '', XDG_CONFIG_HOME: '', XDG_RUNTIME_DIR: '' }
  });
}

/** Stops a companion process with `signal` and waits for it to exit. */
export async function stopLabCompanion(
  companion: CompanionProcess,
  signal: NodeJS.Signals = 'SIGTERM'
): Promise<void> {
  if (companion.process.exitCode === null && companion.process.signalCode === null) {
    const exited = once(companion.process, 'exit');
    companion.process.kill(signal);
    await exited;
  }
}

/** A job as the companion shows it, with all its files. */
export async function downloadOf(
  companion: CompanionProcess,
  instance: string,
  id: string
): Promise<{ download: Download; files: DownloadFile[] }> {
  const answer = await companion.client.get(
    `/api/instances/${instance}/downloads/${encodeURIComponent(id)}?limit=5000`
  );
  if (answer.status !== 200) {
    throw new Error(
      `GET downloads/${id} answered ${answer.status}: ${JSON.stringify(answer.body)}`
    );
  }
  const detail = answer.body as DownloadDetail;
  return { download: detail.download, files: detail.files.items };
}

/** Polls the job (the companion's API is the only window on it) until `done` says so. */
export async function waitForDownload(
  companion: CompanionProcess,
  instance: string,
  id: string,
  done: (job: { download: Download; files: DownloadFile[] }) => boolean = j =>
    !['listing', 'running'].includes(j.download.state),
  timeoutMs = 300_000
): Promise<{ download: Download; files: DownloadFile[] }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await downloadOf(companion, instance, id);
    if (done(job)) {
      return job;
    }
    if (Date.now() > deadline) {
      throw new Error(`gave up waiting for download ${id}: ${JSON.stringify(job.download)}`);
    }
    await sleep(50);
  }
}

/** Rucio's files of a DID with their Adler-32, as alice lists them. */
export async function rucioFiles(
  did: string
): Promise<Map<string, { bytes: number; adler32: string }>> {
  const colon = did.indexOf(':');
  const [scope, name] = [did.slice(0, colon), did.slice(colon + 1)];
  const files = new Map<string, { bytes: number; adler32: string }>();
  const lines = await rucioAs('alice').lines<{
    scope: string;
    name: string;
    bytes: number;
    adler32: string;
  }>('GET', `${didPath(scope, name)}/files`);
  for (const file of lines) {
    files.set(`${file.scope}:${file.name}`, { bytes: file.bytes, adler32: file.adler32 });
  }
  return files;
}

/** The Adler-32 of a local file, as Rucio writes it. */
export function localAdler32(path: string): string {
  return adler32(readFileSync(path));
}
