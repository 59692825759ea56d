import type { UploadDetail } from '@dlaas/api';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RucioRest } from '../../packages/devlake/src/rest.js';
import { Adler32 } from '../../packages/devlake/src/adler32.js';
import type { CompanionClient } from '../companion/harness.js';

/** A local file made for an upload test, with its checksums. */
export interface MadeFile {
  readonly path: string;
  readonly bytes: number;
  readonly adler32: string;
  readonly md5: string;
}

/**
 * Writes files of random bytes below `root` (`relative path → size`), large ones a chunk at a
 * time, and returns them with their Adler-32 and MD5 as the test computes them.
 */
export async function makeFiles(
  root: string,
  sizes: Record<string, number>
): Promise<Map<string, MadeFile>> {
  const made = new Map<string, MadeFile>();
  for (const [relative, bytes] of Object.entries(sizes)) {
    const path = join(root, relative);
    mkdirSync(dirname(path), { recursive: true });
    const adler = new Adler32();
    const md5 = createHash('md5');
    const handle = await open(path, 'w');
    try {
      for (let written = 0; written < bytes;) {
        const chunk = randomBytes(Math.min(8 * 1024 * 1024, bytes - written));
        adler.update(chunk);
        md5.update(chunk);
        await handle.write(chunk);
        written += chunk.length;
      }
    } finally {
      await handle.close();
    }
    made.set(relative, { path, bytes, adler32: adler.hex(), md5: md5.digest('hex') });
  }
  return made;
}

/** MD5 of a file on disk (to compare what the storage holds with what was sent). */
export async function md5Of(path: string): Promise<string> {
  const md5 = createHash('md5');
  for await (const chunk of createReadStream(path)) {
    md5.update(chunk as Buffer);
  }
  return md5.digest('hex');
}

/** Asks the companion for a job until `done` says it is where the test wants it. */
export async function waitForUpload(
  client: CompanionClient,
  instance: string,
  id: string,
  done: (detail: UploadDetail) => boolean,
  timeoutMs = 300_000,
  intervalMs = 200
): Promise<UploadDetail> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status, body } = await client.get(
      `/api/instances/${instance}/uploads/${id}?limit=5000`
    );
    if (status !== 200) {
      throw new Error(`GET upload ${id} answered ${status}: ${JSON.stringify(body)}`);
    }
    const detail = body as UploadDetail;
    if (done(detail)) {
      return detail;
    }
    if (Date.now() > deadline) {
      throw new Error(`gave up waiting for upload ${id}: ${JSON.stringify(detail.upload)}`);
    }
    await sleep(intervalMs);
  }
}

/** The RSEs holding a replica (in any state) of each file, as Rucio lists them. */
export async function replicaRses(
  rucio: RucioRest,
  scope: string,
  names: readonly string[]
): Promise<Map<string, string[]>> {
  const found = new Map<string, string[]>(names.map(n => [n, []]));
  const lines = await rucio.lines<{ name: string; rses?: Record<string, string[]> }>(
    'POST',
    '/replicas/list',
    {
      body: {
        dids: names.map(name => ({ scope, name })),
        all_states: true,
        sort: 'random'
      }
    }
  );
  for (const line of lines) {
    found.set(line.name, Object.keys(line.rses ?? {}));
  }
  return found;
}
