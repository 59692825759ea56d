/**
 * Benchmark (issue 13): the companion's uploads and downloads against `curl` PUT and GET of the
 * same bytes on the same storage (devlake's XRootD, over http on this machine), measured in the
 * same run, for one large file and for many small ones. Prints medians over `--runs` (the two
 * sides take turns going first) and the ratio companion/curl against the goal (≥ 0.8×).
 *
 *   npm run bench:transfers -- [--runs 3] [--large-mb 1024] [--small 1000]
 *
 * The companion runs as its own process (as jupyter-server-proxy starts it), signed in as
 * devlake's root account: root has no quota to exhaust on the scratch RSE, and a normal account
 * cannot delete replicas, so the uploads of every run (fresh names `bench:transfers.<stamp>.*`,
 * rules with a one-hour lifetime) would use up alice's 10 GiB, which the integration tests need.
 *
 * - Upload: the companion's job (`POST .../uploads`, until `done`) of the large file, then of a
 *   folder of `--small` files of 4 KiB, to LAKE_SCRATCHDISK, against `curl -T` of the same local
 *   files to PFNs of the same RSE in Rucio's layout under fresh names (never registered; deleted
 *   after each run). curl gets the companion's parallelism (3) in one process
 *   (`--parallel-max 3 --parallel-immediate`), the fairest baseline: the same number of PUTs in
 *   flight, with none of a process per file's start-up cost.
 * - Download: the companion's job (`POST .../downloads` into a fresh folder, until `done`) of the
 *   large file just uploaded, and of `bench:files_<small>` (devlake's `seed --files N`: N files of
 *   64 bytes on a site RSE), against `curl` GETs of the same PFNs into files, 4 at a time as the
 *   companion does. The storage's page cache is as warm for both sides: the large file was just
 *   written, and both read the same small files in every run, taking turns going first.
 *
 * Every run's downloaded folders and curl's files on the storage are removed after it, the local
 * files and the companion's home at the end. The large file is 1 GiB when devlake's disk holds
 * the runs' uploads, else 512 MiB.
 */
import type { UploadTargetsResponse } from '@dlaas/api';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  statfsSync
} from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Adler32 } from '../packages/companion/src/adler32.js';
import type { Config } from '../packages/companion/src/config.js';
import { DEFAULT_PARALLEL_FILES } from '../packages/companion/src/domain/uploads.js';
import { hashedPath } from '../packages/devlake/src/lfn.js';
import { rootClient } from '../packages/devlake/src/seed.js';
import { resolveLayout } from '../packages/devlake/src/settings.js';
import { formatTable, median } from './fuse-baselines.js';
import { root, runningLake } from './lake.js';
import {
  companionDownload,
  companionUpload,
  curlTransfers,
  deleteUrls,
  startCompanionProcess,
  writeLargeFile,
  writeSmallFiles,
  type CompanionApi,
  type CurlTransfer,
  type Timed
} from './transfers-support.js';

const USAGE = 'npm run bench:transfers -- [--runs N] [--large-mb N] [--small N]';
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const MB = 1e6;
/** Size of each small file the bench uploads. */
const SMALL_BYTES = 4096;
/** The companion's download parallelism (`DEFAULT_PARALLEL` of domain/downloads.ts). */
const DOWNLOAD_PARALLEL = 4;
const UPLOAD_PARALLEL = DEFAULT_PARALLEL_FILES;
const SCOPE = 'bench';
const INSTANCE = 'bench';
/** The ratio companion/curl the issue asks for. */
const GOAL = 0.8;

/** Stops with a sentence (and the usage) when the command line is wrong. */
function refuse(sentence: string): never {
  console.error(`${sentence}\nUsage: ${USAGE}`);
  process.exit(2);
}

/** A whole number option from `min` to `max`, or a refusal that names it. */
function wholeNumber(name: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) {
    refuse(`--${name} must be a whole number from ${min} to ${max}; it is "${text}".`);
  }
  return value;
}

/** The command line's options, or a refusal with the parser's sentence. */
function parseOptions(): { runs: string; small: string; 'large-mb'?: string } {
  try {
    return parseArgs({
      options: {
        runs: { type: 'string', default: '3' },
        'large-mb': { type: 'string' },
        small: { type: 'string', default: '1000' }
      }
    }).values;
  } catch (error) {
    return refuse((error as Error).message);
  }
}
const options = parseOptions();
const runs = wholeNumber('runs', options.runs, 1, 50);
const smallCount = wholeNumber('small', options.small, 1, 100_000);
const largeMbOption = options['large-mb'];
const askedLargeMb =
  largeMbOption === undefined ? undefined : wholeNumber('large-mb', largeMbOption, 1, 65_536);

const { status } = runningLake();
const layout = resolveLayout({ stateDir: status.stateDir });
const scratchRse = status.rses.find(r => r.role === 'scratch');
const rootAccount = status.accounts.find(a => a.account === 'root');
if (!scratchRse || !rootAccount) {
  throw new Error(
    'devlake names no scratch RSE or no root account in its status: bring it up with "npm run devlake -- up".'
  );
}
const scratch = scratchRse;

/** Free bytes of the file system that holds `path`, and its device. */
function freeBytes(path: string): { free: number; device: number } {
  const fs = statfsSync(path);
  return { free: fs.bavail * fs.bsize, device: statSync(path).dev };
}

/**
 * The large file's size: `--large-mb`, else 1 GiB, or 512 MiB when devlake's disk would not hold
 * 1 GiB per run (the companion's uploads stay) plus curl's copy, the local file and two
 * downloads, with 1 GiB to spare. Refuses a size that does not fit.
 */
function largeBytes(): { bytes: number; note: string } {
  const lake = freeBytes(status.dataDir);
  const local = freeBytes(tmpdir());
  const fits = (bytes: number): boolean => {
    const onLake = bytes * (runs + 1);
    const onLocal = bytes * 3;
    return lake.device === local.device
      ? onLake + onLocal + GiB <= lake.free
      : onLake + GiB <= lake.free && onLocal + GiB <= local.free;
  };
  if (askedLargeMb !== undefined) {
    const bytes = askedLargeMb * MiB;
    if (!fits(bytes)) {
      refuse(
        `A large file of ${askedLargeMb} MiB for ${runs} runs needs about ${(((runs + 4) * bytes + GiB) / GiB).toFixed(1)} GiB of disk, and ${(lake.free / GiB).toFixed(1)} GiB are free under ${status.dataDir}: choose a smaller --large-mb or fewer --runs.`
      );
    }
    return { bytes, note: '' };
  }
  for (const mb of [1024, 512]) {
    if (fits(mb * MiB)) {
      return { bytes: mb * MiB, note: mb === 1024 ? '' : ' (512 MiB: too little disk for 1 GiB)' };
    }
  }
  return refuse(
    `devlake's disk (${(lake.free / GiB).toFixed(1)} GiB free under ${status.dataDir}) holds no large file of 512 MiB per run: pass a smaller --large-mb or fewer --runs.`
  );
}

/** The PFN of `name` in the scope on the scratch RSE, in Rucio's layout (`hash` lfn2pfn). */
function scratchPfn(name: string): string {
  const path = `${scratch.prefix}${hashedPath(SCOPE, name)}`;
  return new URL(path.split('/').map(encodeURIComponent).join('/'), scratch.url).href;
}

/** Adds `bench:files_<n>` (n files of 64 bytes) once, with devlake's CLI. */
function seedSmallDataset(n: number): string {
  const seeded = spawnSync(
    process.execPath,
    [join(root, 'packages/devlake/lib/cli.js'), 'seed', '--files', String(n)],
    { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] }
  );
  if (seeded.status !== 0) {
    throw new Error(`devlake could not seed bench:files_${n}: ${seeded.stderr.trim()}`);
  }
  return `files_${n}`;
}

/** Each file of a DID with the PFN Rucio lists first among its available http(s) replicas. */
async function listedPfns(
  name: string
): Promise<{ name: string; pfn: string; rse: string; bytes: number }[]> {
  const lines = await rootClient(layout).lines<{
    name: string;
    bytes: number;
    pfns?: Record<string, { rse?: string }>;
    states?: Record<string, string>;
  }>('POST', '/replicas/list', {
    body: { dids: [{ scope: SCOPE, name }], schemes: ['https', 'http'], all_states: false }
  });
  return lines.map(line => {
    const first = Object.entries(line.pfns ?? {}).find(
      ([, about]) => about.rse !== undefined && line.states?.[about.rse] === 'AVAILABLE'
    );
    if (!first) {
      throw new Error(`${SCOPE}:${line.name} has no available http replica in Rucio.`);
    }
    return { name: line.name, pfn: first[0], rse: first[1].rse as string, bytes: line.bytes };
  });
}

/** The companion's configuration: devlake's instance, signed in as root, in download mode. */
function companionConfig(): Config {
  const written = JSON.parse(readFileSync(status.companionConfig, 'utf8')) as Config;
  const base = written.instances[0];
  if (!base || !rootAccount) {
    throw new Error('devlake wrote no companion instance: run "npm run devlake -- up".');
  }
  const instance: Record<string, unknown> = {
    ...base,
    name: INSTANCE,
    displayName: 'devlake as root (bench:transfers)',
    auth: {
      method: 'userpass',
      username: rootAccount.username,
      password: rootAccount.password,
      account: 'root'
    },
    mode: 'download'
  };
  delete instance['scratchRse'];
  delete instance['paths'];
  return { instances: [instance as Config['instances'][number]] };
}

/** Refuses to start when root cannot write the scratch RSE or has no room there. */
async function checkTarget(api: CompanionApi, needed: number): Promise<void> {
  const targets = await api.call<UploadTargetsResponse>(
    'GET',
    `/api/instances/${INSTANCE}/upload-targets`
  );
  const target = targets.rses.find(r => r.rse === scratch.name);
  if (!target?.writable) {
    throw new Error(
      `${targets.account} may not upload to ${scratch.name} now; check "npm run devlake -- status".`
    );
  }
  if (target.freeBytes !== null && target.freeBytes < needed) {
    throw new Error(
      `${targets.account}'s quota on ${scratch.name} has ${target.freeBytes} bytes left, and the runs need ${needed}: pass a smaller --large-mb or fewer --runs.`
    );
  }
}

/** Times of one case, per side, over the runs. */
interface Case {
  readonly title: string;
  readonly bytes: number;
  readonly files: number;
  readonly companion: number[];
  readonly curl: number[];
  readonly companionDoes: string;
  readonly curlDoes: string;
  /** What the job cannot do without, timed alone in the same run, where measured. */
  readonly floor?: Floor;
}

/**
 * A part of a job that the issue asks for and no implementation can skip, timed alone: the job
 * cannot be faster than it, so curl's time over it bounds the ratio any job can reach.
 */
interface Floor {
  readonly side: string;
  readonly does: string;
  /** Who cannot go under it: "any job that …". */
  readonly who: string;
  readonly times: number[];
}

/** Runs both sides of a case, in the order of this run (the sides take turns going first). */
async function measure(
  what: Case,
  run: number,
  companion: () => Promise<Timed>,
  curl: () => Promise<Timed>
): Promise<void> {
  const sides: [string, () => Promise<Timed>, number[]][] = [
    ['companion', companion, what.companion],
    ['curl', curl, what.curl]
  ];
  for (const [side, go, times] of run % 2 === 0 ? sides : [...sides].reverse()) {
    const timed = await go();
    if (timed.bytes !== what.bytes || timed.files !== what.files) {
      throw new Error(
        `${side} moved ${timed.files} files (${timed.bytes} bytes) in "${what.title}", not ${what.files} (${what.bytes} bytes).`
      );
    }
    times.push(timed.seconds);
    console.error(
      `  ${what.title}, ${side}: ${timed.seconds.toFixed(2)} s, ` +
        `${figure(timed.bytes / MB / timed.seconds)} MB/s, ${figure(timed.files / timed.seconds)} files/s`
    );
  }
}

/** A rate with about three significant digits (0.0125 MB/s stays readable). */
function figure(x: number): string {
  return x >= 100
    ? x.toFixed(0)
    : x >= 1
      ? x.toFixed(Math.max(0, 2 - Math.floor(Math.log10(x))))
      : x.toPrecision(2);
}

/** The table's rows for a case: one per side, the ratio on the companion's. */
function rowsOf(c: Case): string[][] {
  const row = (side: string, does: string, seconds: number, ratio: string): string[] => [
    c.title,
    side,
    does,
    `${seconds.toFixed(2)} s`,
    figure(c.bytes / MB / seconds),
    figure(c.files / seconds),
    ratio
  ];
  const companion = median(c.companion);
  const curl = median(c.curl);
  const ratio = curl / companion;
  const times = (x: number): string => (x >= 0.1 ? x.toFixed(2) : x.toPrecision(2));
  const floor = c.floor && c.floor.times.length > 0 ? median(c.floor.times) : undefined;
  return [
    row(
      'companion',
      c.companionDoes,
      companion,
      `${times(ratio)}× (goal ≥ ${GOAL}×: ${ratio >= GOAL ? 'met' : 'not met'})`
    ),
    row('curl', c.curlDoes, curl, 'baseline'),
    ...(c.floor === undefined || floor === undefined
      ? []
      : [
          row(
            c.floor.side,
            c.floor.does,
            floor,
            `${times(curl / floor)}×: the most any job that ${c.floor.who} can reach`
          )
        ])
  ];
}

/**
 * The request every download job makes first and cannot do without (where each file is, and its
 * Adler-32): Rucio's replica listing of the DID, as the companion asks for it.
 */
async function replicaListing(name: string): Promise<number> {
  const rucio = rootClient(layout);
  await rucio.json('GET', '/accounts/whoami');
  const started = performance.now();
  const lines = await rucio.lines('POST', '/replicas/list', {
    body: {
      dids: [{ scope: SCOPE, name }],
      schemes: ['https', 'http', 'davs'],
      all_states: false,
      sort: 'random'
    }
  });
  const seconds = (performance.now() - started) / 1000;
  if (lines.length === 0) {
    throw new Error(`Rucio lists no replicas of ${SCOPE}:${name}.`);
  }
  console.error(`  Rucio's replica listing of ${SCOPE}:${name} alone: ${seconds.toFixed(2)} s`);
  return seconds;
}

/**
 * The MD5 the issue asks uploads to sum, of the file at `path` on one core, timed without the
 * reading (1 MiB at a time from the page cache): MD5 cannot be split between cores, so no
 * upload that sums it as the bytes go out ends sooner.
 */
function md5Alone(path: string): number {
  const hash = createHash('md5');
  const chunk = Buffer.alloc(MiB);
  const fd = openSync(path, 'r');
  let hashing = 0;
  try {
    for (let read = readSync(fd, chunk); read > 0; read = readSync(fd, chunk)) {
      const started = performance.now();
      hash.update(chunk.subarray(0, read));
      hashing += performance.now() - started;
    }
  } finally {
    closeSync(fd);
  }
  hash.digest();
  const seconds = hashing / 1000;
  console.error(`  MD5 of the large file alone: ${seconds.toFixed(2)} s`);
  return seconds;
}

/**
 * The Rucio requests every upload job makes and cannot do without, at their fewest: one `POST
 * /replicas/` of all the files curl just put (their sizes and checksums) and one attachment to a
 * dataset (made beforehand, not timed). The files are curl's, so the replicas have their bytes;
 * they stay on the storage, registered, as the companion's uploads do.
 */
async function registrationAlone(
  dataset: string,
  files: readonly { name: string; path: string }[]
): Promise<number> {
  const rucio = rootClient(layout);
  await rucio.request('POST', `/dids/${SCOPE}/${encodeURIComponent(dataset)}`, {
    body: { type: 'DATASET', lifetime: 3600 }
  });
  const described = files.map(({ name, path }) => {
    const bytes = readFileSync(path);
    return {
      scope: SCOPE,
      name,
      bytes: bytes.length,
      adler32: new Adler32().update(bytes).hex(),
      md5: createHash('md5').update(bytes).digest('hex')
    };
  });
  const started = performance.now();
  await rucio.request('POST', '/replicas/', { body: { rse: scratch.name, files: described } });
  await rucio.request('POST', `/dids/${SCOPE}/${encodeURIComponent(dataset)}/dids`, {
    body: { dids: described.map(({ scope, name }) => ({ scope, name })) }
  });
  const seconds = (performance.now() - started) / 1000;
  console.error(`  Rucio's registration of ${files.length} files alone: ${seconds.toFixed(2)} s`);
  return seconds;
}

async function main(): Promise<void> {
  const large = largeBytes();
  const smallDataset = seedSmallDataset(smallCount);
  const smallListed = await listedPfns(smallDataset);
  const smallRses = new Set(smallListed.map(f => f.rse));
  const smallListedBytes = smallListed.reduce((sum, f) => sum + f.bytes, 0);

  const work = mkdtempSync(join(tmpdir(), 'dlaas-bench-transfers-'));
  const stamp = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  let stop: (() => Promise<void>) | undefined;
  /** What curl PUT and is not deleted yet: the URL, and how many folders its name made. */
  const onStorage: { url: string; folders: number }[] = [];
  const curlPut = (name: string): string => {
    const url = scratchPfn(name);
    onStorage.push({ url, folders: name.split('/').length - 1 });
    return url;
  };
  /** Deletes curl's files, then the folders their names made (deepest first). */
  const cleanStorage = async (): Promise<void> => {
    const files = onStorage.splice(0);
    const left = await deleteUrls(files.map(f => f.url));
    const folders = new Map<string, number>();
    for (const { url, folders: count } of files) {
      let folder = url;
      for (let depth = count; depth > 0; depth--) {
        folder = folder.slice(0, folder.lastIndexOf('/'));
        folders.set(folder, depth);
      }
    }
    const deepest = [...folders.values()].reduce((a, b) => Math.max(a, b), 0);
    for (let depth = deepest; depth > 0; depth--) {
      left.push(...(await deleteUrls([...folders].filter(([, d]) => d === depth).map(([f]) => f))));
    }
    if (left.length > 0) {
      console.error(
        `  note: ${left.length} of curl's files and folders stay on the storage, e.g. ${left[0]}`
      );
    }
  };
  try {
    const home = join(work, 'home');
    mkdirSync(join(home, 'run'), { recursive: true, mode: 0o700 });
    const configFile = join(work, 'companion.json');
    await writeFile(configFile, JSON.stringify(companionConfig()), { mode: 0o600 });
    const companion = await startCompanionProcess(
      join(root, 'packages/companion/lib/main.js'),
      configFile,
      home
    );
    stop = companion.stop;
    const api = companion.api;
    await checkTarget(api, runs * (large.bytes + smallCount * SMALL_BYTES));

    console.error(`writing the local files into ${work}`);
    const largeFile = join(work, 'local', 'large.bin');
    mkdirSync(join(work, 'local'), { recursive: true });
    writeLargeFile(largeFile, large.bytes);
    const smallDir = join(work, 'local', 'small');
    const smallNames = writeSmallFiles(smallDir, smallCount, SMALL_BYTES);

    const sizeLabel =
      large.bytes % GiB === 0 ? `${large.bytes / GiB} GiB` : `${large.bytes / MiB} MiB`;
    const cases = {
      upLarge: {
        title: `upload, 1 file of ${sizeLabel}`,
        bytes: large.bytes,
        files: 1,
        companion: [],
        curl: [],
        companionDoes: 'job: PUT + checks + Rucio (a)',
        curlDoes: 'curl -T: PUT only (b)',
        floor: {
          side: 'MD5 alone',
          does: 'MD5 of the file, one core (f)',
          who: 'sums MD5 as it sends',
          times: [] as number[]
        }
      },
      upSmall: {
        title: `upload, ${smallCount} files of 4 KiB`,
        bytes: smallCount * SMALL_BYTES,
        files: smallCount,
        companion: [],
        curl: [],
        companionDoes: `job: ${UPLOAD_PARALLEL} at a time, as (a)`,
        curlDoes: `curl -T, --parallel-max ${UPLOAD_PARALLEL} (b)`,
        floor: {
          side: 'Rucio alone',
          does: 'registering the files (g)',
          who: 'registers its files in Rucio',
          times: [] as number[]
        }
      },
      downLarge: {
        title: `download, 1 file of ${sizeLabel}`,
        bytes: large.bytes,
        files: 1,
        companion: [],
        curl: [],
        companionDoes: 'job: Rucio + GET + Adler-32 (c)',
        curlDoes: 'curl GET to a file (d)'
      },
      downSmall: {
        title: `download, ${smallCount} files of 64 B (${SCOPE}:${smallDataset})`,
        bytes: smallListedBytes,
        files: smallListed.length,
        companion: [],
        curl: [],
        companionDoes: `job: ${DOWNLOAD_PARALLEL} at a time, as (c)`,
        curlDoes: `curl GET, --parallel-max ${DOWNLOAD_PARALLEL} (d)`,
        floor: {
          side: 'Rucio alone',
          does: 'its replica listing (e)',
          who: 'lists the replicas in Rucio',
          times: [] as number[]
        }
      }
    } satisfies Record<string, Case>;

    for (let run = 0; run < runs; run++) {
      console.error(`run ${run + 1} of ${runs}`);
      const prefix = `transfers.${stamp}.r${run + 1}`;
      const down = join(work, 'down', String(run + 1));

      await measure(
        cases.upLarge,
        run,
        () =>
          companionUpload(api, INSTANCE, {
            paths: [largeFile],
            scope: SCOPE,
            dataset: `${prefix}.large`,
            rse: scratch.name,
            lifetimeSeconds: 3600
          }),
        () => {
          const url = curlPut(`${prefix}.curl-large/large.bin`);
          return curlTransfers([{ upload: largeFile, url, bytes: large.bytes }], 1);
        }
      );

      cases.upLarge.floor.times.push(md5Alone(largeFile));

      await measure(
        cases.upSmall,
        run,
        () =>
          companionUpload(api, INSTANCE, {
            paths: [smallDir],
            scope: SCOPE,
            dataset: `${prefix}.small`,
            rse: scratch.name,
            lifetimeSeconds: 3600
          }),
        () => {
          const transfers: CurlTransfer[] = smallNames.map(name => ({
            upload: join(smallDir, name),
            url: curlPut(`${prefix}.curl-small/small/${name}`),
            bytes: SMALL_BYTES
          }));
          return curlTransfers(transfers, UPLOAD_PARALLEL);
        }
      );
      // curl's small files become registered replicas: they stay on the storage, as the
      // companion's uploads do (a replica without its bytes is what an upload must never leave).
      const curlSmall = new Set(
        smallNames.map(name => scratchPfn(`${prefix}.curl-small/small/${name}`))
      );
      onStorage.splice(
        0,
        onStorage.length,
        ...onStorage.filter(entry => !curlSmall.has(entry.url))
      );
      cases.upSmall.floor.times.push(
        await registrationAlone(
          `${prefix}.curl-small`,
          smallNames.map(name => ({
            name: `${prefix}.curl-small/small/${name}`,
            path: join(smallDir, name)
          }))
        )
      );

      const largeName = `${prefix}.large/large.bin`;
      await measure(
        cases.downLarge,
        run,
        () =>
          companionDownload(api, INSTANCE, `${SCOPE}:${largeName}`, join(down, 'companion-large')),
        () =>
          curlTransfers(
            [
              {
                url: scratchPfn(largeName),
                output: join(down, 'curl-large', 'large.bin'),
                bytes: large.bytes
              }
            ],
            1
          )
      );

      await measure(
        cases.downSmall,
        run,
        async () => {
          const timed = await companionDownload(
            api,
            INSTANCE,
            `${SCOPE}:${smallDataset}`,
            join(down, 'companion-small')
          );
          const elsewhere = timed.items.filter(f => f.rse !== undefined && !smallRses.has(f.rse));
          if (elsewhere.length > 0) {
            console.error(
              `  note: the companion read ${elsewhere.length} files from another RSE than curl (${elsewhere[0]?.rse})`
            );
          }
          return timed;
        },
        () =>
          curlTransfers(
            smallListed.map(f => ({
              url: f.pfn,
              output: join(down, 'curl-small', f.name),
              bytes: f.bytes
            })),
            DOWNLOAD_PARALLEL
          )
      );

      cases.downSmall.floor.times.push(await replicaListing(smallDataset));

      rmSync(down, { recursive: true, force: true });
      await cleanStorage();
    }

    const curlVersion = spawnSync('curl', ['--version'], { encoding: 'utf8' }).stdout.split(' ')[1];
    console.log(
      `\nbench:transfers, ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores, ` +
        `${(totalmem() / GiB).toFixed(0)} GiB, medians of ${runs} runs; large file ${sizeLabel}${large.note}; ` +
        `storage: devlake's XRootD over http on this machine; curl ${curlVersion}\n`
    );
    console.log(
      formatTable(
        ['case', 'side', 'what it does', 'time', 'MB/s', 'files/s', 'companion/curl'],
        Object.values(cases).flatMap(rowsOf)
      )
    );
    console.log(
      [
        '',
        `(a) the companion's upload job, POST to done: checks (scope, RSE, quota, names free in Rucio), the dataset created with its rule, PFNs asked for many files per Rucio request, then per file a PUT with Adler-32 and MD5 computed on the way and a HEAD that checks size and Adler-32 on the storage, checked files registered and attached in groups; journal on disk at each step.`,
        `(b) curl -T of the same local files to fresh PFNs of the same RSE, in one curl process: the PUT only (no checksum, no check, nothing registered).`,
        `(c) the companion's download job, POST to done: files and replicas listed from Rucio, each file a GET into <file>.part with its Adler-32 computed and compared to Rucio's, then renamed; journal on disk.`,
        `(d) curl GET of the same PFNs into files, in one curl process: the bytes only.`,
        `(e) the first request of (c) alone, as the companion sends it (POST /replicas/list of the dataset, sort random), timed after each run: no job that lists the replicas Rucio knows and checks their Adler-32 can be faster than it.`,
        `(f) the MD5 the issue asks uploads to sum, of the same file (read from the page cache, the reading not timed), on one core: MD5 cannot be shared between cores, so no upload that sums it can be faster.`,
        `(g) the two Rucio requests an upload job cannot do without, at their fewest: one POST /replicas/ of all of curl's files of the run (sizes, Adler-32, MD5) and one attachment to a dataset made beforehand.`
      ].join('\n')
    );
  } finally {
    await stop?.();
    rmSync(work, { recursive: true, force: true });
    await cleanStorage();
  }
}

await main();
