import { createCipheriv, createHash, type Cipher } from 'node:crypto';

/** A file of the demo data. */
export interface DemoFile {
  readonly name: string;
  /** Its size; for a file with {@link DemoFile.content}, the length of that content. */
  readonly bytes: number;
  /**
   * Its bytes, for a file made from what it holds (a table of events) rather than from its size.
   * Read them with {@link fileContent}, which falls back to bytes made from the name and size.
   */
  readonly content?: () => Buffer;
}

/** A dataset of the demo data, with the site RSEs that hold its files. */
export interface DemoDataset {
  readonly scope: string;
  readonly name: string;
  readonly rses: readonly string[];
  readonly meta: Readonly<Record<string, string | number>>;
  readonly files: readonly DemoFile[];
}

/** A container of the demo data and the datasets it holds. */
export interface DemoContainer {
  readonly scope: string;
  readonly name: string;
  readonly meta: Readonly<Record<string, string | number>>;
  readonly datasets: readonly DemoDataset[];
}

/** Scopes of the demo data and the accounts that own them. */
export const SCOPES: readonly { scope: string; owner: string }[] = [
  { scope: 'user.alice', owner: 'alice' },
  { scope: 'user.bob', owner: 'bob' },
  { scope: 'atlas_opendata', owner: 'root' },
  { scope: 'lofar', owner: 'root' },
  { scope: 'cta', owner: 'root' },
  { scope: 'bench', owner: 'root' }
];

/** Number of files in the large demo dataset. */
export const LARGE_DATASET_FILES = 10_000;

/** Transfers of DIDs matching this pattern fail unless the failure patterns are changed. */
export const DEFAULT_FAILURE_PATTERN = 'unreachable';

function files(
  count: number,
  name: (i: number) => string,
  bytes: (i: number) => number
): DemoFile[] {
  return Array.from({ length: count }, (_, i) => ({ name: name(i), bytes: bytes(i) }));
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/**
 * A pseudo-random number generator (mulberry32) seeded by the SHA-256 of `key`: numbers in [0, 1),
 * always the same sequence for the same key, so demo tables are reproducible.
 */
export function seededRandom(key: string): () => number {
  let state = createHash('sha256').update(key).digest().readUInt32BE(0);
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * What the tutorial's diphoton events look like: a background of diphoton masses falling
 * exponentially over the mass window, and a small peak of a Higgs-like boson near 125 GeV.
 */
export const DIPHOTON_EVENTS = {
  /** Events in each file. */
  perFile: 5_000,
  /** The mass window, in GeV. */
  lowGeV: 100,
  highGeV: 160,
  /** The background falls as exp(-(m - low) / slope). */
  backgroundSlopeGeV: 20,
  /** The share of events in the peak. */
  signalFraction: 0.05,
  /** The peak: a Gaussian of this mean and width, in GeV. */
  peakGeV: 125,
  peakWidthGeV: 2
} as const;

/** The header line of a diphoton events table. */
export const DIPHOTON_COLUMNS = 'run,event,m_yy,pt_1,pt_2';

/**
 * A CSV table of diphoton events (`run,event,m_yy,pt_1,pt_2`; masses and transverse momenta of
 * the two photons in GeV) of run `run`, the same for the same `key` (the file's DID).
 */
export function diphotonEvents(key: string, run: number): string {
  const random = seededRandom(key);
  const { perFile, lowGeV, highGeV, backgroundSlopeGeV, signalFraction, peakGeV, peakWidthGeV } =
    DIPHOTON_EVENTS;
  // Share of an exponential over [0, ∞) that falls inside the window: inverse-CDF sampling.
  const inWindow = 1 - Math.exp(-(highGeV - lowGeV) / backgroundSlopeGeV);
  const background = (): number => lowGeV - backgroundSlopeGeV * Math.log(1 - random() * inWindow);
  const peak = (): number => {
    for (;;) {
      // Box-Muller; 1 - random() is in (0, 1], so the logarithm is finite.
      const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
      const mass = peakGeV + peakWidthGeV * z;
      if (mass >= lowGeV && mass < highGeV) {
        return mass;
      }
    }
  };
  const lines = [DIPHOTON_COLUMNS];
  let event = Math.floor(random() * 1_000_000);
  for (let i = 0; i < perFile; i++) {
    event += 1 + Math.floor(random() * 2_000);
    const mass = random() < signalFraction ? peak() : background();
    // The photons pass a diphoton selection's cuts, pT > 35% and 25% of the mass, the leading
    // one first.
    const pt1 = mass * (0.35 + 0.45 * random());
    const pt2 = mass * 0.25 + (pt1 - mass * 0.25) * 0.8 * random();
    lines.push(`${run},${event},${mass.toFixed(3)},${pt1.toFixed(2)},${pt2.toFixed(2)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** A demo file whose bytes come from `generate`, made once, when first asked for. */
function generatedFile(name: string, generate: () => string): DemoFile {
  let made: Buffer | undefined;
  const content = (): Buffer => (made ??= Buffer.from(generate(), 'utf8'));
  return {
    name,
    get bytes(): number {
      return content().length;
    },
    content
  };
}

/** Runs of the tutorial's diphoton events, one a file (`events_A.csv` … `events_D.csv`). */
const EDUCATION_RUNS = [276262, 279932, 283780, 284500] as const;

/** The demo data: containers of datasets of files, the way science collaborations lay them out. */
export const CONTAINERS: readonly DemoContainer[] = [
  {
    scope: 'atlas_opendata',
    name: '2020_13TeV',
    meta: { project: 'opendata_13TeV', campaign: '2020' },
    datasets: [
      {
        scope: 'atlas_opendata',
        name: '2020_13TeV.GamGam.data',
        rses: ['CERN_DATADISK'],
        meta: {
          datatype: 'DAOD',
          run_number: 284500,
          stream_name: 'physics_Main',
          channel: 'GamGam'
        },
        files: files(
          4,
          i => `/store/data/2020/13TeV/GamGam/data_${'ABCD'[i]}.GamGam.root`,
          i => 300_000 + i * 50_000
        )
      },
      {
        scope: 'atlas_opendata',
        name: '2020_13TeV.2lep.mc',
        rses: ['DESY_DATADISK'],
        meta: { datatype: 'MC', run_number: 361106, stream_name: 'mc16_13TeV', channel: '2lep' },
        files: files(
          5,
          i => `/store/mc/2020/13TeV/2lep/mc_${361106 + i}.Zee.2lep.root`,
          i => 200_000 + i * 10_000
        )
      }
    ]
  },
  {
    scope: 'atlas_opendata',
    name: 'education',
    meta: { project: 'opendata_education' },
    datasets: [
      {
        scope: 'atlas_opendata',
        name: 'education.GamGam.events',
        rses: ['CERN_DATADISK'],
        meta: {
          datatype: 'table',
          run_number: EDUCATION_RUNS[0],
          stream_name: 'physics_Main',
          channel: 'GamGam'
        },
        files: EDUCATION_RUNS.map((run, i) => {
          const name = `education/GamGam/events_${'ABCD'[i]}.csv`;
          return generatedFile(name, () => diphotonEvents(`atlas_opendata:${name}`, run));
        })
      }
    ]
  },
  {
    scope: 'lofar',
    name: 'L600000',
    meta: { project: 'LOFAR-LTA', campaign: 'cycle16' },
    datasets: ['SAP000', 'SAP001'].map((sap, s) => ({
      scope: 'lofar',
      name: `L600000_${sap}_uv`,
      rses: ['CERN_DATADISK', 'DESY_DATADISK'],
      meta: { datatype: 'uv', run_number: 600000, telescope: 'LOFAR', observation_id: 'L600000' },
      files: files(
        8,
        i => `L600000/${sap}/L600000_${sap}_SB${pad(i + 8 * s, 3)}_uv.MS.tar`,
        i => 64_000 + i * 1_000
      )
    }))
  },
  {
    scope: 'lofar',
    name: 'L700000',
    meta: { project: 'LOFAR-LTA', campaign: 'cycle17' },
    datasets: [
      {
        scope: 'lofar',
        name: 'L700000_subbands',
        rses: ['DESY_DATADISK'],
        meta: {
          datatype: 'beamformed',
          run_number: 700000,
          telescope: 'LOFAR',
          observation_id: 'L700000'
        },
        files: files(
          LARGE_DATASET_FILES,
          i => `L700000/subbands/SB${pad(i, 5)}.h5`,
          i => 200 + (i % 100)
        )
      }
    ]
  },
  {
    scope: 'cta',
    name: 'prod5',
    meta: { project: 'CTA-prod5', campaign: 'prod5b' },
    datasets: [
      {
        scope: 'cta',
        name: 'prod5.gamma_onSource',
        rses: ['CERN_DATADISK'],
        meta: { datatype: 'DL0', run_number: 1001, particle: 'gamma' },
        files: files(
          6,
          i => `prod5/gamma_20deg_0deg_run${1001 + i}.simtel.zst`,
          i => 120_000 + i * 7_000
        )
      },
      {
        scope: 'cta',
        name: 'prod5.proton',
        rses: ['DESY_DATADISK'],
        meta: { datatype: 'DL0', run_number: 2001, particle: 'proton' },
        files: files(
          6,
          i => `prod5/proton_20deg_0deg_run${2001 + i}.simtel.zst`,
          i => 90_000 + i * 3_000
        )
      }
    ]
  },
  {
    scope: 'cta',
    name: 'calibration',
    meta: { project: 'CTA-calib' },
    datasets: [
      {
        scope: 'cta',
        name: 'calib.unreachable',
        rses: ['CERN_DATADISK'],
        meta: { datatype: 'calib', run_number: 3001 },
        files: files(
          3,
          i => `calib/unreachable_${i}.fits`,
          () => 4_096
        )
      }
    ]
  },
  {
    scope: 'user.alice',
    name: 'analysis',
    meta: {},
    datasets: [
      {
        scope: 'user.alice',
        name: 'analysis.v1',
        rses: ['CERN_DATADISK'],
        meta: { datatype: 'ntuple', run_number: 284500 },
        files: [
          { name: 'analysis.v1/histograms.csv', bytes: 4_000 },
          { name: 'analysis.v1/README.txt', bytes: 600 },
          { name: 'analysis.v1/selection.json', bytes: 900 }
        ]
      }
    ]
  }
];

/** The dataset `seed --files N` creates for benchmarks. */
export function benchDataset(count: number): DemoDataset {
  return {
    scope: 'bench',
    name: `files_${count}`,
    rses: ['CERN_DATADISK'],
    meta: { datatype: 'bench' },
    files: files(
      count,
      i => `files_${count}/f${pad(i, 7)}.dat`,
      () => 64
    )
  };
}

/** Name of the dataset `seed --large` creates. */
export const LARGE_FILES_DATASET = 'large_files';

/**
 * A benchmark dataset of `count` large files of `bytes` bytes each, named
 * `<name>/large_000.bin` … (the dataset's name first, so that datasets of other sizes in the
 * `bench` scope never share a file).
 */
export function largeFilesDataset(name: string, count: number, bytes: number): DemoDataset {
  return {
    scope: 'bench',
    name,
    rses: ['CERN_DATADISK'],
    meta: { datatype: 'bench' },
    files: files(
      count,
      i => `${name}/large_${pad(i, 3)}.bin`,
      () => bytes
    )
  };
}

/** AES block size: the keystream of a large file advances its counter once per 16 bytes. */
const AES_BLOCK = 16;

/** An AES-128-CTR keystream keyed by the DID, positioned at `offset` (a multiple of 16). */
function keystreamAt(scope: string, name: string, offset: number): Cipher {
  const key = createHash('sha256').update(`${scope}:${name}`).digest().subarray(0, 16);
  const counter = Buffer.alloc(16);
  counter.writeBigUInt64BE(BigInt(offset / AES_BLOCK), 8);
  return createCipheriv('aes-128-ctr', key, counter);
}

/**
 * The bytes of a large benchmark file from `offset`, `length` of them: the AES-128-CTR keystream
 * of a key made from the DID, so they look random, differ at every offset and in every file, come
 * out at several GB/s, and any range can be computed alone (to check a read at an offset).
 */
export function largeFileBytes(
  scope: string,
  name: string,
  offset: number,
  length: number
): Buffer {
  const start = offset - (offset % AES_BLOCK);
  const stream = keystreamAt(scope, name, start);
  return stream.update(Buffer.alloc(offset - start + length)).subarray(offset - start);
}

/** The bytes of a large benchmark file of `bytes` bytes, in chunks of `chunkBytes` (1 MiB). */
export function* largeFileChunks(
  scope: string,
  name: string,
  bytes: number,
  chunkBytes = 1024 ** 2
): Generator<Buffer> {
  const stream = keystreamAt(scope, name, 0);
  const zeros = Buffer.alloc(chunkBytes);
  for (let offset = 0; offset < bytes; offset += chunkBytes) {
    yield stream.update(zeros.subarray(0, Math.min(chunkBytes, bytes - offset)));
  }
}

/**
 * The bytes of a demo file: its {@link DemoFile.content} when it has one; otherwise text for
 * `.csv`, `.txt` and `.json` names (so previews show something readable) and pseudo-random bytes
 * for others, `file.bytes` of them. Always the same for the same DID.
 */
export function fileContent(scope: string, file: DemoFile): Buffer {
  if (file.content) {
    return file.content();
  }
  const { name, bytes } = file;
  const out = Buffer.alloc(bytes);
  if (/\.(csv|txt|json)$/.test(name)) {
    const lines: string[] = [];
    if (name.endsWith('.csv')) {
      lines.push('bin_low,bin_high,events');
      for (let i = 0; lines.join('\n').length < bytes; i++) {
        lines.push(`${i * 5},${i * 5 + 5},${(i * 7919) % 1000}`);
      }
    } else if (name.endsWith('.json')) {
      lines.push(JSON.stringify({ did: `${scope}:${name}`, cuts: { pt_min: 25, eta_max: 2.5 } }));
    } else {
      lines.push(`This is ${scope}:${name}, demo data of devlake.`);
    }
    const text = Buffer.from(lines.join('\n').padEnd(bytes, '\n'));
    text.copy(out, 0, 0, bytes);
    return out;
  }
  let offset = 0;
  for (let counter = 0; offset < bytes; counter++) {
    const block = createHash('sha256').update(`${scope}:${name}:${counter}`).digest();
    offset += block.copy(out, offset);
  }
  return out;
}
