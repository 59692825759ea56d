/**
 * Benchmark: the companion's FUSE mount of the scratch RSE against what a user could read the same
 * bytes with instead, all measured in the same run on the same storage (devlake's scratch XRootD):
 * curl of the PFN, `rclone mount` (WebDAV) and `xrootdfs` (root://), and the local disk the
 * storage serves from. Prints medians over `--runs` (the methods take turns in every run) and the
 * ratios the issue sets goals for.
 *
 *   npm run bench:fuse -- [--runs 3] [--random 500]
 *
 * It makes its own data once: `bench:large_files` (4 × 1 GiB, `devlake seed --large`) and
 * `bench:files_100000` (`devlake seed --files 100000`), both put on the scratch RSE with a rule
 * of devlake's root account (devlake's `stageOnScratch`: no transfers), whose data lake folder
 * the benchmark mounts; alice's folder (tests, `npm start`) is left as it is, so that it does not
 * list 100,000 files at every start. Needs root (to mount, and to drop the page cache so that
 * "cold" is cold) and /dev/fuse.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { Config } from '../packages/companion/src/config.js';
import { hashedPath } from '../packages/devlake/src/lfn.js';
import { LARGE_FILES } from '../packages/devlake/src/lake.js';
import { benchDataset } from '../packages/devlake/src/catalogue.js';
import { rootClient, seedDataset, seedLargeFiles } from '../packages/devlake/src/seed.js';
import { resolveLayout } from '../packages/devlake/src/settings.js';
import { stageOnScratch } from '../packages/devlake/src/stage.js';
import {
  curlRanges,
  curlSequential,
  ddReread,
  ensureBaselineTools,
  formatTable,
  listLong,
  median,
  mountedType,
  mountInMemory,
  mountRclone,
  mountXrootdfs,
  parallelReaders,
  randomReads,
  rereadFromCache,
  rootUrlOf,
  sequentialRead,
  type MountHandle
} from './fuse-baselines.js';
import { root, runningLake } from './lake.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    random: { type: 'string', default: '500' }
  }
});
const runs = Number(values.runs);
const randomCount = Number(values.random);

const { status } = runningLake();
const layout = resolveLayout({ stateDir: status.stateDir });
const scratchRse = status.rses.find(r => r.role === 'scratch');
if (!scratchRse) {
  throw new Error('devlake has no scratch RSE');
}
const scratch = scratchRse;
const MANY = 100_000;
/** The account whose folder is measured. */
const ACCOUNT = 'root';
const GB = 1e9;
const MB = 1e6;

/** Makes the benchmark datasets and puts them on the scratch RSE for alice (once). */
async function prepareData(): Promise<{ large: string; many: string }> {
  const rucio = rootClient(layout);
  const log = (line: string): void => console.error(line);
  const { did: large } = await seedLargeFiles(layout, rucio, LARGE_FILES, log);
  const dataset = benchDataset(MANY);
  await seedDataset(layout, rucio, dataset, log);
  for (const did of [large, `${dataset.scope}:${dataset.name}`]) {
    const colon = did.indexOf(':');
    const staged = await stageOnScratch(
      layout,
      { scope: did.slice(0, colon), name: did.slice(colon + 1) },
      ACCOUNT,
      log
    );
    if (staged.ruleState !== 'OK') {
      throw new Error(`${did} is not all on the scratch RSE (rule ${staged.ruleState})`);
    }
  }
  return { large, many: `${dataset.scope}:${dataset.name}` };
}

/** The companion, as its own process, with its folder at `mountPoint`; and its pid for RSS. */
async function startCompanion(mountPoint: string, work: string): Promise<ChildProcess> {
  const base = (JSON.parse(readFileSync(status.companionConfig, 'utf8')) as Config).instances[0];
  if (!base) {
    throw new Error('devlake wrote no companion instance');
  }
  const rootAccount = status.accounts.find(a => a.account === ACCOUNT);
  if (!rootAccount) {
    throw new Error(`devlake has no account ${ACCOUNT}`);
  }
  const config: Config = {
    instances: [
      {
        ...base,
        auth: {
          method: 'userpass',
          username: rootAccount.username,
          password: rootAccount.password,
          account: ACCOUNT
        },
        paths: { mode: 'fuse', mountPoint }
      }
    ]
  };
  const file = join(work, 'companion.json');
  writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
  const child = spawn(
    process.execPath,
    // As the wheel starts it (dlaas/serverproxy.py, COMPANION_NODE_OPTIONS): V8's young
    // generation at 1 MB, not up to 32 MB.
    ['--max-semi-space-size=1', join(root, 'packages/companion/lib/main.js'), '--port', '0'],
    {
      // As the wheel's Jupyter server proxy starts it (COMPANION_ENVIRONMENT): two malloc
      // arenas, not one per thread of fuse-native's, whose free tops go back above 128 KiB.
      env: {
        ...process.env,
        DLAAS_CONFIG: file,
        DLAAS_LOG_LEVEL: 'warn',
        MALLOC_ARENA_MAX: '2',
        MALLOC_TRIM_THRESHOLD_: '131072'
      },
      stdio: ['ignore', 'ignore', 'inherit']
    }
  );
  return child;
}

/** Waits until `path` exists (the folder fills after the mount). */
async function appears(path: string, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await stat(path);
      return;
    } catch {
      if (Date.now() > deadline) {
        throw new Error(`${path} did not appear`);
      }
      await sleep(200);
    }
  }
}

/** Waits until `dir` is a mount (the companion mounts before it reads the user's rules). */
async function mounted(dir: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (mountedType(dir) === null) {
    if (Date.now() > deadline) {
      throw new Error(`${dir} was not mounted`);
    }
    await sleep(50);
  }
}

/**
 * The companion's RSS once it has settled: sampled every 500 ms until two samples lie within
 * 1 MB (a reading's garbage is collected after it ends).
 */
async function settledRssMb(pid: number, timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = rssMb(pid);
  for (;;) {
    await sleep(500);
    const now = rssMb(pid);
    if (Math.abs(now - last) < 1 || Date.now() > deadline) {
      return now;
    }
    last = now;
  }
}

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find(l => l.startsWith('VmRSS:'));
  return Number(/(\d+)/.exec(line ?? '')?.[1] ?? 0) / 1024;
}

function fileName(did: string): { scope: string; name: string } {
  const colon = did.indexOf(':');
  return { scope: did.slice(0, colon), name: did.slice(colon + 1) };
}

async function main(): Promise<void> {
  const tools = ensureBaselineTools();
  const { large, many } = await prepareData();
  const work = mkdtempSync(join(tmpdir(), 'dlaas-bench-fuse-'));
  const dlaasDir = join(work, 'datalake');
  const rcloneDir = join(work, 'rclone');
  const xrootdDir = join(work, 'xrootdfs');
  const memoryDir = join(work, 'memory');
  for (const dir of [rcloneDir, xrootdDir, memoryDir]) {
    mkdirSync(dir);
  }
  const companion = await startCompanion(dlaasDir, work);
  const mounts: MountHandle[] = [];
  try {
    // Mounted, before the user's rules are read: the companion without the folder's tree.
    await mounted(dlaasDir);
    const mountedRss = rssMb(companion.pid as number);
    const { scope, name } = fileName(large);
    const files = Array.from(
      { length: LARGE_FILES.files },
      (_, i) => `${name}/large_${String(i).padStart(3, '0')}.bin`
    );
    const storePath = (file: string): string => hashedPath(scope, file);
    const pfn = (file: string): string => `${scratch.url}${scratch.prefix}${storePath(file)}`;
    const local = (file: string): string =>
      join(scratch.directory, scratch.prefix, storePath(file));
    const inMount = (file: string): string => join(dlaasDir, scope, name, file);
    await appears(inMount(files[0] as string));
    // The benchmark files are named <dataset>/f<n>.dat: their folder is inside the dataset's.
    const manyDid = fileName(many);
    const manyFirst = benchDataset(MANY).files[0]?.name ?? '';
    const manyDir = join(dlaasDir, manyDid.scope, manyDid.name, dirname(manyFirst));
    await appears(manyDir);
    // The 100,000-file tree built, nothing read or listed yet.
    const treeRss = await settledRssMb(companion.pid as number);
    const first = files[0] as string;
    mounts.push(await mountRclone(`${scratch.url}${scratch.prefix}`, rcloneDir));
    mounts.push(await mountXrootdfs(rootUrlOf(`${scratch.url}${scratch.prefix}`), xrootdDir));
    mounts.push(await mountInMemory(memoryDir, LARGE_FILES.bytes));
    const viaRclone = (file: string): string => join(rcloneDir, storePath(file));
    const viaXrootd = (file: string): string => join(xrootdDir, storePath(file));
    await appears(viaRclone(first), 30_000);
    await appears(viaXrootd(first), 30_000);

    const seq: Record<string, number[]> = {
      curl: [],
      dlaas: [],
      rclone: [],
      xrootdfs: [],
      memory: []
    };
    const reread: Record<string, number[]> = { 'local disk (page cache)': [], dlaas: [] };
    /** `dd bs=1M` of files in the page cache: rates, and CPU seconds of the copy. */
    const dd: Record<string, { rate: number[]; cpu: number[] }> = {
      'local disk': { rate: [], cpu: [] },
      dlaas: { rate: [], cpu: [] },
      'fuse-native file in memory': { rate: [], cpu: [] }
    };
    const random: Record<string, { p50: number[]; p99: number[] }> = {
      'curl ranges': { p50: [], p99: [] },
      dlaas: { p50: [], p99: [] },
      rclone: { p50: [], p99: [] },
      xrootdfs: { p50: [], p99: [] }
    };
    const listing: Record<string, number[]> = {
      'dlaas first': [],
      'dlaas again': [],
      'local tmpfs': []
    };
    const parallel: number[] = [];
    const rss: number[] = [];
    const listedRss: number[] = [];
    let listedEntries = 0;

    // A local folder of as many empty files, for the listing's baseline.
    const localMany = join('/dev/shm', `dlaas-bench-${process.pid}`);
    mkdirSync(localMany, { recursive: true });
    for (let i = 0; i < MANY; i++) {
      writeFileSync(join(localMany, `f${String(i).padStart(7, '0')}.dat`), '');
    }

    for (let run = 0; run < runs; run++) {
      console.error(`run ${run + 1} of ${runs}`);
      seq['curl']?.push((await curlSequential(pfn(first))).bytesPerSecond);
      seq['dlaas']?.push((await sequentialRead(inMount(first))).bytesPerSecond);
      seq['rclone']?.push((await sequentialRead(viaRclone(first))).bytesPerSecond);
      seq['xrootdfs']?.push((await sequentialRead(viaXrootd(first))).bytesPerSecond);
      seq['memory']?.push((await sequentialRead(join(memoryDir, 'file'))).bytesPerSecond);

      reread['local disk (page cache)']?.push((await rereadFromCache(local(first))).bytesPerSecond);
      reread['dlaas']?.push((await rereadFromCache(inMount(first))).bytesPerSecond);
      for (const [key, path] of [
        ['local disk', local(first)],
        ['dlaas', inMount(first)],
        ['fuse-native file in memory', join(memoryDir, 'file')]
      ] as const) {
        const r = await ddReread(path);
        dd[key]?.rate.push(r.bytesPerSecond);
        dd[key]?.cpu.push(r.cpuSeconds / (r.bytes / 1024 ** 3));
      }

      const target = files[1] as string;
      const addRandom = (key: string, r: { p50Ms: number; p99Ms: number }): void => {
        random[key]?.p50.push(r.p50Ms);
        random[key]?.p99.push(r.p99Ms);
      };
      addRandom('curl ranges', await curlRanges(pfn(target), randomCount, 4096, run + 1));
      addRandom('dlaas', await randomReads(inMount(target), randomCount, 4096, run + 1));
      addRandom('rclone', await randomReads(viaRclone(target), randomCount, 4096, run + 1));
      addRandom('xrootdfs', await randomReads(viaXrootd(target), randomCount, 4096, run + 1));

      // "First" is with the kernel's cache of names and attributes gone (it keeps them 10 s).
      await sleep(11_000);
      const firstList = await listLong(manyDir);
      listedEntries = firstList.entries;
      listing['dlaas first']?.push(firstList.seconds);
      listing['dlaas again']?.push((await listLong(manyDir)).seconds);
      listing['local tmpfs']?.push((await listLong(localMany)).seconds);

      const afterListing = await settledRssMb(companion.pid as number);
      listedRss.push(afterListing);
      let peak = afterListing;
      const sampler = setInterval(() => {
        peak = Math.max(peak, rssMb(companion.pid as number));
      }, 50);
      const readers = await parallelReaders(files.map(inMount), 8);
      clearInterval(sampler);
      parallel.push(readers.bytesPerSecond);
      rss.push(peak);
    }
    rmSync(localMany, { recursive: true, force: true });

    const m = (xs: number[] | undefined): number => median(xs ?? []);
    const bestMount = Math.max(m(seq['rclone']), m(seq['xrootdfs']));
    const rows: string[][] = [
      [
        'sequential 1 GiB, cold: curl of the PFN',
        `${(m(seq['curl']) / MB).toFixed(0)} MB/s`,
        'baseline'
      ],
      [
        'sequential 1 GiB, cold: dlaas mount',
        `${(m(seq['dlaas']) / MB).toFixed(0)} MB/s`,
        `${(m(seq['dlaas']) / m(seq['curl'])).toFixed(2)}× curl (goal ≥ 0.8×)`
      ],
      [
        'sequential 1 GiB, cold: rclone mount (WebDAV)',
        `${(m(seq['rclone']) / MB).toFixed(0)} MB/s`,
        `dlaas ${(m(seq['dlaas']) / m(seq['rclone'])).toFixed(2)}×`
      ],
      [
        'sequential 1 GiB, cold: xrootdfs',
        `${(m(seq['xrootdfs']) / MB).toFixed(0)} MB/s`,
        `dlaas ${(m(seq['dlaas']) / m(seq['xrootdfs'])).toFixed(2)}×`
      ],
      [
        'sequential 1 GiB, cold: fuse-native file in memory (ceiling)',
        `${(m(seq['memory']) / MB).toFixed(0)} MB/s`,
        `dlaas ${(m(seq['dlaas']) / m(seq['memory'])).toFixed(2)}×; ${(m(seq['memory']) / m(seq['curl'])).toFixed(2)}× curl`
      ],
      [
        'dlaas vs the faster other mount',
        '',
        `${(m(seq['dlaas']) / bestMount).toFixed(2)}× (goal ≥ 1×)`
      ],
      [
        're-read, page cache: local disk',
        `${(m(reread['local disk (page cache)']) / GB).toFixed(2)} GB/s`,
        'baseline'
      ],
      [
        're-read, page cache: dlaas',
        `${(m(reread['dlaas']) / GB).toFixed(2)} GB/s`,
        `${(m(reread['dlaas']) / m(reread['local disk (page cache)'])).toFixed(2)}× local (goal ≥ 5 GB/s)`
      ],
      ...Object.entries(dd).map(([key, r]) => [
        `re-read, page cache, dd bs=1M: ${key}`,
        `${(m(r.rate) / GB).toFixed(2)} GB/s; CPU ${(m(r.cpu) * 1000).toFixed(0)} ms per GiB`,
        key === 'local disk'
          ? 'baseline'
          : `${(m(r.rate) / m(dd['local disk']?.rate)).toFixed(2)}× local; CPU ${(m(r.cpu) / m(dd['local disk']?.cpu)).toFixed(2)}×`
      ]),
      ...Object.entries(random).map(([key, r]) => [
        `random 4 KiB reads ×${randomCount}, cold: ${key}`,
        `p50 ${m(r.p50).toFixed(2)} ms, p99 ${m(r.p99).toFixed(2)} ms`,
        key === 'curl ranges'
          ? 'baseline'
          : `${(m(r.p50) / m(random['curl ranges']?.p50)).toFixed(2)}× / ${(m(r.p99) / m(random['curl ranges']?.p99)).toFixed(2)}× curl`
      ]),
      [
        `ls -l of ${listedEntries.toLocaleString('en')} files: dlaas first`,
        `${(m(listing['dlaas first']) * 1000).toFixed(0)} ms`,
        `${(m(listing['dlaas first']) / m(listing['local tmpfs'])).toFixed(1)}× tmpfs`
      ],
      [
        'ls -l again (kernel cache)',
        `${(m(listing['dlaas again']) * 1000).toFixed(0)} ms`,
        `${(m(listing['dlaas again']) / m(listing['local tmpfs'])).toFixed(1)}× tmpfs`
      ],
      [
        'ls -l of as many files on tmpfs',
        `${(m(listing['local tmpfs']) * 1000).toFixed(0)} ms`,
        'baseline'
      ],
      ['8 readers of 4 × 1 GiB, cold: dlaas total', `${(m(parallel) / MB).toFixed(0)} MB/s`, ''],
      ['companion RSS: mounted, before the 100,000-file tree', `${mountedRss.toFixed(0)} MB`, ''],
      ['companion RSS: with the tree, idle (before any ls -l)', `${treeRss.toFixed(0)} MB`, ''],
      [
        'companion RSS: after the reads above and ls -l of 100,000 files',
        `${m(listedRss).toFixed(0)} MB`,
        ''
      ],
      [
        'companion RSS while 8 readers stream (peak, after ls -l)',
        `${m(rss).toFixed(0)} MB`,
        'goal < 200 MB'
      ]
    ];
    console.log(
      `\nbench:fuse, ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores, ` +
        `${(totalmem() / 1024 ** 3).toFixed(0)} GiB, medians of ${runs} runs; ${tools.rclone}; ${tools.xrootdfs}\n`
    );
    console.log(formatTable(['what', 'measured', 'ratio'], rows));
  } finally {
    for (const mount of mounts) {
      await mount.unmount().catch(() => undefined);
    }
    companion.kill('SIGTERM');
    await new Promise(resolvePromise => companion.once('exit', resolvePromise));
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
