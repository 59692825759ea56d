/**
 * Benchmark: listing a large dataset through the companion versus reading Rucio's raw `/files`
 * stream, in the same run. Prints time to first window, total time and the companion's peak RSS,
 * with ratios against the raw stream; and the first window of the dataset sorted by size (the
 * companion reads it whole first) and then by name (from what it holds), with peak RSS.
 *
 *   npm run devlake -- seed --files 100000      (once)
 *   npm run bench:list -- [--files 100000] [--runs 3] [--window 5000]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { RucioRest } from '../packages/devlake/src/rest.js';
import { root, runningLake } from './lake.js';

const { values } = parseArgs({
  options: {
    files: { type: 'string', default: '100000' },
    runs: { type: 'string', default: '3' },
    window: { type: 'string', default: '5000' }
  }
});
const files = Number(values.files);
const runs = Number(values.runs);
const windowSize = Number(values.window);

const { status, alice } = runningLake();
const rucio = new RucioRest(status.rucio.url, alice);
const did = { scope: 'bench', name: `files_${files}` };

/** Reads Rucio's raw stream to the end; returns ms to the first line and in total. */
async function rawStream(): Promise<{ first: number; total: number; count: number }> {
  const started = performance.now();
  const response = await fetch(
    `${status.rucio.url}/dids/${did.scope}/${encodeURIComponent(did.name)}/files`,
    {
      headers: { 'X-Rucio-Auth-Token': await rucio.authToken() }
    }
  );
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  let first = 0;
  let count = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      break;
    }
    if (first === 0) {
      first = performance.now() - started;
    }
    for (const byte of value) {
      if (byte === 10) {
        count++;
      }
    }
  }
  return { first, total: performance.now() - started, count };
}

function peakRss(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find(l => l.startsWith('VmHWM:'));
  return Number(line?.split(/\s+/)[1] ?? 0) / 1024;
}

/** Companions this bench started: stopped when it exits, also on a failure. */
const companions = new Set<ChildProcess>();
process.on('exit', () => companions.forEach(child => child.kill('SIGTERM')));

async function startCompanion(port: number): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [join(root, 'packages/companion/lib/main.js'), '--port', String(port)],
    {
      env: { ...process.env, DLAAS_CONFIG: status.companionConfig, DLAAS_LOG_LEVEL: 'warn' },
      stdio: 'ignore'
    }
  );
  companions.add(child);
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) {
        return child;
      }
    } catch {
      await sleep(50);
    }
  }
  throw new Error('the companion did not start');
}

/** Lists the dataset through a fresh companion in windows; ms to the first window and in total, peak RSS. */
async function throughCompanion(
  port: number
): Promise<{ first: number; total: number; count: number; rssMb: number }> {
  const child = await startCompanion(port);
  const base = `http://127.0.0.1:${port}/api/instances/devlake/files?did=${encodeURIComponent(`${did.scope}:${did.name}`)}`;
  // Sign in and browse something small before timing, as in a panel that is already open.
  await fetch(`http://127.0.0.1:${port}/api/instances/devlake/auth`);
  await (
    await fetch(`http://127.0.0.1:${port}/api/instances/devlake/files?did=lofar:L600000_SAP000_uv`)
  ).json();
  const started = performance.now();
  let first = 0;
  let count = 0;
  for (let offset = 0; ; offset += windowSize) {
    const response = await fetch(
      `${base}&offset=${offset}&limit=${offset === 0 ? 200 : windowSize}`
    );
    const window = (await response.json()) as {
      items: unknown[];
      complete: boolean;
      limit: number;
    };
    if (offset === 0) {
      first = performance.now() - started;
      offset = 200 - windowSize;
    }
    count += window.items.length;
    if (window.complete && window.items.length < window.limit) {
      break;
    }
  }
  const total = performance.now() - started;
  const rssMb = peakRss(child.pid as number);
  child.kill('SIGTERM');
  return { first, total, count, rssMb };
}

/** The first window sorted by size on a fresh companion, then by name; ms each, peak RSS. */
async function sortedThroughCompanion(
  port: number
): Promise<{ bySize: number; byName: number; rssMb: number }> {
  const child = await startCompanion(port);
  const base = `http://127.0.0.1:${port}/api/instances/devlake/files?did=${encodeURIComponent(`${did.scope}:${did.name}`)}&offset=0&limit=200`;
  await fetch(`http://127.0.0.1:${port}/api/instances/devlake/auth`);
  await (
    await fetch(`http://127.0.0.1:${port}/api/instances/devlake/files?did=lofar:L600000_SAP000_uv`)
  ).json();
  const timed = async (sort: string): Promise<number> => {
    const started = performance.now();
    const window = (await (await fetch(`${base}&sort=${sort}`)).json()) as { total: number };
    if (window.total !== files) {
      throw new Error(`sorted by ${sort}: total ${window.total}, expected ${files}`);
    }
    return performance.now() - started;
  };
  const bySize = await timed('size');
  const byName = await timed('name');
  const rssMb = peakRss(child.pid as number);
  child.kill('SIGTERM');
  return { bySize, byName, rssMb };
}

const median = (xs: number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const raw: Awaited<ReturnType<typeof rawStream>>[] = [];
const companion: Awaited<ReturnType<typeof throughCompanion>>[] = [];
const sorted: Awaited<ReturnType<typeof sortedThroughCompanion>>[] = [];
for (let i = 0; i < runs; i++) {
  raw.push(await rawStream());
  companion.push(await throughCompanion(18490 + i));
  sorted.push(await sortedThroughCompanion(18495 + i));
}
if (raw.some(r => r.count !== files) || companion.some(c => c.count !== files)) {
  throw new Error(
    `expected ${files} files everywhere, got raw ${raw.map(r => r.count)} and companion ${companion.map(c => c.count)}`
  );
}
const rawTotal = median(raw.map(r => r.total));
const result = {
  files,
  runs,
  rawStream: { firstMs: median(raw.map(r => r.first)), totalMs: rawTotal },
  companion: {
    firstWindowMs: median(companion.map(c => c.first)),
    totalMs: median(companion.map(c => c.total)),
    peakRssMb: Math.max(...companion.map(c => c.rssMb))
  },
  sorted: {
    firstWindowBySizeMs: median(sorted.map(c => c.bySize)),
    thenByNameMs: median(sorted.map(c => c.byName)),
    peakRssMb: Math.max(...sorted.map(c => c.rssMb))
  }
};
console.log(JSON.stringify(result, null, 2));
console.log(
  `first window ${result.companion.firstWindowMs.toFixed(0)} ms (target < 200); ` +
    `total ${result.companion.totalMs.toFixed(0)} ms = ${(result.companion.totalMs / rawTotal).toFixed(2)}x the raw stream's ${rawTotal.toFixed(0)} ms (target <= 1.2x); ` +
    `peak RSS ${result.companion.peakRssMb.toFixed(0)} MB (target < 150)`
);
console.log(
  `sorted by size, first window ${result.sorted.firstWindowBySizeMs.toFixed(0)} ms = ${(result.sorted.firstWindowBySizeMs / rawTotal).toFixed(2)}x the raw stream; ` +
    `then by name ${result.sorted.thenByNameMs.toFixed(0)} ms; peak RSS ${result.sorted.peakRssMb.toFixed(0)} MB`
);
