import { chownSync, copyFileSync, existsSync, linkSync, statSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DevlakeError } from './errors.js';
import type { ServiceUser } from './processes.js';
import { RucioError, RucioRest, didPath, segment } from './rest.js';
import { chunks, inParallel, rootClient, storagePath, type FileRecord } from './seed.js';
import { RSES, SCRATCH_RSE, demoAccount, rucioUrl, type Layout } from './settings.js';
import { makeStorageDir, storageUser } from './storage.js';

/** A DID by scope and name. */
export interface DidRef {
  readonly scope: string;
  readonly name: string;
}

/** What {@link stageOnScratch} did. */
export interface StagedOnScratch {
  /** The account's rule toward the scratch RSE. */
  readonly ruleId: string;
  /** True when this call created the rule; false when the account had it already. */
  readonly ruleCreated: boolean;
  /** The rule's state after this call: OK, unless files of it were being transferred already. */
  readonly ruleState: string;
  /** Files of the DID. */
  readonly files: number;
  /** Files this call put on the scratch RSE; the others had a replica there already. */
  readonly placed: number;
  /** Of those, files copied because a hard link was impossible (another file system, say). */
  readonly copied: number;
}

/** Lifetime of the rule: a week, as the companion's "make available" rules have by default. */
const RULE_LIFETIME_SECONDS = 7 * 86400;

/** How long to wait for Rucio's judge-injector to make a large rule's locks. */
const INJECTION_TIMEOUT_MS = 30 * 60_000;

/** Replicas per `POST /replicas/` call, as seeding registers them. */
const REPLICAS_PER_CALL = 1000;

const SITE_RSES = RSES.filter(r => r.role === 'site').map(r => r.name);

/** A DID as `GET /dids/{scope}/{name}` or its content list (`.../dids`) describes it. */
interface DidLine {
  scope: string;
  name: string;
  type: string;
  bytes: number | null;
  adler32: string | null;
  md5: string | null;
}

/** A file as `POST /replicas/list` describes it. */
interface ReplicaLine {
  scope: string;
  name: string;
  states?: Record<string, string>;
}

/** A rule as `GET /dids/{scope}/{name}/rules` lists it. */
interface RuleLine {
  id: string;
  account: string;
  rse_expression: string;
  copies: number;
  state: string;
  locks_ok_cnt: number;
}

/**
 * Makes a DID (file, dataset or container) available on the scratch RSE for `account` without a
 * single transfer, for benchmarks where Rucio's daemons would take hours: every file with no
 * replica on the scratch RSE is hard-linked (copied when linking is impossible) from a site disk's
 * storage directory into the scratch RSE's, at Rucio's hash path; root registers those replicas on
 * the scratch RSE, 1,000 a call; then the account's rule toward the scratch RSE is created as the
 * companion's "make available" creates it (one copy, DATASET grouping, a week's lifetime), and it
 * is OK at once because every replica exists (for 10,000 files or more, which Rucio always injects
 * asynchronously, once its judge-injector has made the locks: this waits for that). An existing
 * rule of the account is reused, and when it is OK already nothing else is done.
 *
 * A hard link shares its bytes with the site disk's file: a scratch copy must not be written in
 * place (XRootD and Rucio never do; deleting it leaves the site disk's file alone).
 */
export async function stageOnScratch(
  layout: Layout,
  did: DidRef,
  account: string,
  log: (line: string) => void = () => undefined
): Promise<StagedOnScratch> {
  const root = rootClient(layout);
  const rucio = new RucioRest(rucioUrl(layout), demoAccount(account));
  const existing = await findRule(rucio, did, account);
  if (existing?.state === 'OK') {
    log(`  ${did.scope}:${did.name}: rule ${existing.id} of ${account} is OK already`);
    return {
      ruleId: existing.id,
      ruleCreated: false,
      ruleState: existing.state,
      files: existing.locks_ok_cnt,
      placed: 0,
      copied: 0
    };
  }
  const { files, datasets } = await contentsOf(root, did);
  const onScratch = await namesOnScratch(root, did, datasets);
  const missing = files.filter(f => !onScratch.has(`${f.scope}:${f.name}`));
  log(
    `  ${did.scope}:${did.name}: ${files.length} files, ${missing.length} to put on ${SCRATCH_RSE}`
  );
  const storage = storageUser();
  const made = new Set<string>();
  let copied = 0;
  for (const file of missing) {
    const target = storagePath(layout, SCRATCH_RSE, file.scope, file.name);
    const dir = dirname(target);
    if (!made.has(dir)) {
      makeStorageDir(dir, storage);
      made.add(dir);
    }
    const sources = SITE_RSES.map(rse => storagePath(layout, rse, file.scope, file.name));
    if (placeFile(sources, target, storage)) {
      copied++;
    }
  }
  await inParallel(chunks(missing, REPLICAS_PER_CALL), 3, batch => registerOnScratch(root, batch));
  const ruleId = existing?.id ?? (await createRule(rucio, did, account));
  const state = await stateAfterInjection(root, ruleId, log);
  log(`  rule ${ruleId} of ${account} on ${SCRATCH_RSE}: ${state}`);
  return {
    ruleId,
    ruleCreated: existing === undefined,
    ruleState: state,
    files: files.length,
    placed: missing.length,
    copied
  };
}

/** A dataset and the files in it (`scope:name`). */
interface DatasetFiles {
  readonly did: DidRef;
  readonly files: readonly string[];
}

/**
 * The files of a DID with their sizes and checksums, and the datasets they are in, from the
 * content lists of its datasets (`GET .../dids` carries md5 as well, and is much faster than
 * listing replicas).
 */
async function contentsOf(
  rucio: RucioRest,
  did: DidRef
): Promise<{ files: FileRecord[]; datasets: DatasetFiles[] }> {
  const found = new Map<string, FileRecord>();
  const datasets: DatasetFiles[] = [];
  const pending = [await rucio.json<DidLine>('GET', didPath(did.scope, did.name))];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const type = next.type.toUpperCase();
    if (type === 'FILE') {
      found.set(`${next.scope}:${next.name}`, fileRecord(next));
      continue;
    }
    const children = await rucio.lines<DidLine>('GET', `${didPath(next.scope, next.name)}/dids`);
    if (type === 'DATASET') {
      datasets.push({
        did: { scope: next.scope, name: next.name },
        files: children.map(c => `${c.scope}:${c.name}`)
      });
    }
    pending.push(...children);
  }
  return { files: [...found.values()], datasets };
}

function fileRecord(file: DidLine): FileRecord {
  if (file.bytes === null || file.adler32 === null) {
    throw new DevlakeError(
      `${file.scope}:${file.name} has no size or adler32 in Rucio, so it cannot be staged on ${SCRATCH_RSE}.`
    );
  }
  return {
    scope: file.scope,
    name: file.name,
    bytes: file.bytes,
    adler32: file.adler32,
    ...(file.md5 ? { md5: file.md5 } : {})
  };
}

/**
 * The files (`scope:name`) of a DID that have a replica on the scratch RSE. A dataset's count of
 * available replicas there (`?deep=true`, well under a second) settles the common cases, none or
 * all; only a dataset partly there has its replicas listed, which takes about a minute per 100,000
 * even sorted "random" (Rucio's default geoip sort looks for a GeoIP database for every file and
 * takes several times longer). A replica there in another state than AVAILABLE (a transfer under
 * way) is only found by a listing; when it is missed, registering it answers Duplicate, which
 * {@link registerOnScratch} takes as done.
 */
async function namesOnScratch(
  rucio: RucioRest,
  did: DidRef,
  datasets: readonly DatasetFiles[]
): Promise<Set<string>> {
  const found = new Set<string>();
  const list = async (of: DidRef): Promise<void> => {
    const replicas = await rucio.lines<ReplicaLine>('POST', '/replicas/list', {
      body: {
        dids: [{ scope: of.scope, name: of.name }],
        rse_expression: SCRATCH_RSE,
        all_states: true,
        sort: 'random'
      }
    });
    for (const replica of replicas) {
      if (replica.states?.[SCRATCH_RSE] !== undefined) {
        found.add(`${replica.scope}:${replica.name}`);
      }
    }
  };
  if (datasets.length === 0) {
    await list(did);
  }
  for (const dataset of datasets) {
    const counts = await rucio.lines<{ rse: string; available_length: number }>(
      'GET',
      `/replicas/${segment(dataset.did.scope)}/${segment(dataset.did.name)}/datasets`,
      { query: { deep: true } }
    );
    const available = counts.find(c => c.rse === SCRATCH_RSE)?.available_length ?? 0;
    if (available >= dataset.files.length) {
      dataset.files.forEach(name => found.add(name));
    } else if (available > 0) {
      await list(dataset.did);
    }
  }
  return found;
}

/**
 * The rule's state once Rucio has made its locks. Rucio creates rules for DIDs of 10,000 files or
 * more asynchronously (state INJECT), and its judge-injector makes their locks a few seconds later.
 */
async function stateAfterInjection(
  rucio: RucioRest,
  ruleId: string,
  log: (line: string) => void
): Promise<string> {
  const deadline = Date.now() + INJECTION_TIMEOUT_MS;
  let logged = false;
  for (;;) {
    const { state } = await rucio.json<{ state: string }>(
      'GET',
      `/rules/${encodeURIComponent(ruleId)}`
    );
    if (state !== 'INJECT') {
      return state;
    }
    if (Date.now() > deadline) {
      throw new DevlakeError(
        `Rule ${ruleId} is still waiting for Rucio's judge-injector after ${INJECTION_TIMEOUT_MS / 60_000} minutes. Check that "devlake status" shows rucio-judge-injector up, and its log.`
      );
    }
    if (!logged) {
      log(`  rule ${ruleId} waits for Rucio's judge-injector to make its locks ...`);
      logged = true;
    }
    await sleep(1000);
  }
}

/**
 * Hard-links the first of `sources` that exists at `target` (replacing another file there), or
 * copies it when the file system refuses a link. Returns true when it copied.
 */
function placeFile(
  sources: readonly string[],
  target: string,
  storage: ServiceUser | undefined
): boolean {
  const source = sources.find(path => existsSync(path));
  if (source === undefined) {
    throw new DevlakeError(
      `No site disk holds ${sources.join(' or ')}. Run "devlake seed" (or "seed --files N") again to write it.`
    );
  }
  try {
    linkSync(source, target);
    return false;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      const [a, b] = [statSync(source), statSync(target)];
      if (a.ino === b.ino && a.dev === b.dev) {
        return false;
      }
      // Bytes left by an earlier transfer or staging whose replica is gone: Rucio's are the truth.
      unlinkSync(target);
      return placeFile([source], target, storage);
    }
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK') {
      throw error;
    }
  }
  copyFileSync(source, target);
  if (storage) {
    chownSync(target, storage.uid, storage.gid);
  }
  return true;
}

/**
 * Registers replicas on the scratch RSE as root. A batch in which one replica exists already (a
 * staging or transfer that ran meanwhile) fails as a whole, so it is then registered file by file.
 */
async function registerOnScratch(root: RucioRest, files: readonly FileRecord[]): Promise<void> {
  try {
    await root.request('POST', '/replicas/', { body: { rse: SCRATCH_RSE, files } });
  } catch (error) {
    if (!isDuplicate(error)) {
      throw error;
    }
    if (files.length > 1) {
      for (const file of files) {
        await registerOnScratch(root, [file]);
      }
    }
  }
}

function isDuplicate(error: unknown): boolean {
  return error instanceof RucioError && error.exceptionClass === 'Duplicate';
}

/** The account's rule for the DID toward the scratch RSE (one copy), if it has one. */
async function findRule(
  rucio: RucioRest,
  did: DidRef,
  account: string
): Promise<RuleLine | undefined> {
  const rules = await rucio.lines<RuleLine>('GET', `${didPath(did.scope, did.name)}/rules`);
  return rules.find(
    r => r.account === account && r.rse_expression === SCRATCH_RSE && r.copies === 1
  );
}

/**
 * Creates the account's rule toward the scratch RSE, as the companion's "make available" does;
 * when one was created meanwhile (DuplicateRule), returns that one.
 */
async function createRule(rucio: RucioRest, did: DidRef, account: string): Promise<string> {
  try {
    const [ruleId] = await rucio.json<string[]>('POST', '/rules/', {
      body: {
        dids: [{ scope: did.scope, name: did.name }],
        account,
        copies: 1,
        rse_expression: SCRATCH_RSE,
        grouping: 'DATASET',
        lifetime: RULE_LIFETIME_SECONDS,
        comment: 'devlake: staged on the scratch RSE without transfers',
        asynchronous: false
      }
    });
    if (ruleId !== undefined) {
      return ruleId;
    }
  } catch (error) {
    if (!(error instanceof RucioError && error.exceptionClass === 'DuplicateRule')) {
      throw error;
    }
  }
  const rule = await findRule(rucio, did, account);
  if (!rule) {
    throw new DevlakeError(
      `Rucio created no rule of ${account} for ${did.scope}:${did.name} on ${SCRATCH_RSE}, and lists none.`
    );
  }
  return rule.id;
}
