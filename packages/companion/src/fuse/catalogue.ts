import { didString, type DidRef } from '../did.js';
import { AppError } from '../errors.js';
import { log } from '../log.js';
import { inParallel } from '../parallel.js';
import { didPath, type RucioClient } from '../rucio/client.js';
import { rucioDate, rucioNumber } from '../rucio/json.js';
import { hasDotSegments } from './storage.js';
import type { Claim, MountedFile } from './tree.js';

/** A rule line of `GET /rules/`, with what the mount needs. */
interface RuleLine {
  id: string;
  scope: string;
  name: string;
  did_type?: string;
  copies: number;
  state: string;
  locks_ok_cnt: number;
  created_at?: string;
  updated_at?: string;
  expires_at?: string | null;
}

/** How long Rucio keeps a deleted rule (its soft deletion), in ms. */
const SOFT_DELETION_MS = 3600_000;

function time(value: string | null | undefined): number {
  return Date.parse(rucioDate(value) ?? '');
}

/**
 * Whether a rule was deleted: Rucio's `DELETE /rules/{id}` keeps the rule and its replicas for
 * an hour more, by moving its end to an hour after that change. A rule whose end lies exactly an
 * hour after its last change, and that was not created with a lifetime of an hour, was deleted.
 * (A rule whose lifetime someone changes to exactly an hour looks the same; it is gone within the
 * hour anyway.)
 */
export function deletedRule(
  rule: Pick<RuleLine, 'created_at' | 'updated_at' | 'expires_at'>
): boolean {
  const expires = time(rule.expires_at);
  const near = (a: number, b: number): boolean => Math.abs(a - b - SOFT_DELETION_MS) <= 1000;
  return near(expires, time(rule.updated_at)) && !near(expires, time(rule.created_at));
}

/** A replica line of `POST /replicas/list`. */
interface ReplicaLine {
  scope: string;
  name: string;
  bytes?: unknown;
  adler32?: string | null;
  md5?: string | null;
  rses?: Record<string, string[]>;
}

/** A child line of `GET /dids/{s}/{n}/dids`. */
interface ChildLine {
  scope: string;
  name: string;
  type?: string;
  did_type?: string;
}

/** How deep containers may nest below a made-available container (Rucio allows more; no lake uses it). */
const MAX_DEPTH = 8;

/** How many rules' files are listed at once. */
const LISTINGS_AT_ONCE = 4;

/** A rule's files are listed again at most this often while it replicates. */
const RELIST_MS = 5000;

/** A dataset's files, kept as one list below its folder's claim. */
interface DatasetFiles {
  /** The dataset folder's segments and owners (its claim's). */
  readonly segments: readonly string[];
  readonly owners: readonly (string | undefined)[];
  readonly mtimeMs: number;
  readonly files: readonly MountedFile[];
}

/**
 * What the catalogue knows of one rule: its folders' and single files' claims, and its datasets'
 * files as lists, whose claims are made only when a tree is built (a claim and its segments per
 * file, kept between readings, were a third of a 100,000-file folder's memory).
 */
interface RuleEntry {
  readonly key: string;
  readonly listedAt: number;
  readonly claims: readonly Claim[];
  readonly datasets: readonly DatasetFiles[];
  /** Claims in all, files of the datasets included. */
  readonly count: number;
}

/** Every claim of the entries: those kept, and one made for each file of their datasets. */
function claimsOf(entries: readonly (RuleEntry | undefined)[]): Claim[] {
  const claims: Claim[] = [];
  for (const entry of entries) {
    if (!entry) {
      continue;
    }
    claims.push(...entry.claims);
    for (const { segments, owners, mtimeMs, files } of entry.datasets) {
      // Arrays made to size (`concat`, where spreading leaves room to grow); claims of one depth
      // share one owners array.
      const ownersOf = new Map<number, readonly (string | undefined)[]>();
      for (const file of files) {
        const fileSegments = segments.concat(file.did.slice(file.did.indexOf(':') + 1).split('/'));
        let fileOwners = ownersOf.get(fileSegments.length);
        if (!fileOwners) {
          fileOwners = owners.concat(
            new Array<undefined>(fileSegments.length - owners.length).fill(undefined)
          );
          ownersOf.set(fileSegments.length, fileOwners);
        }
        claims.push({ segments: fileSegments, owners: fileOwners, file, mtimeMs });
      }
    }
  }
  return claims;
}

/** An entry of a rule with these claims and datasets. */
function ruleEntry(
  key: string,
  claims: readonly Claim[],
  datasets: readonly DatasetFiles[]
): RuleEntry {
  const count = datasets.reduce((sum, dataset) => sum + dataset.files.length, claims.length);
  return { key, listedAt: Date.now(), claims, datasets, count };
}

/** The user's made-available DIDs, as the mount shows them. */
export interface Catalogue {
  /** Every claim of the mount, made when read (so not at all by a reading that changed nothing). */
  readonly claims: Claim[];
  /** The earliest time a rule expires (ms since the epoch), when the tree changes by itself. */
  readonly nextExpiry: number | null;
  /** Claims read from Rucio this time (not kept from before). */
  readonly listed: number;
  /** Whether the claims differ from the last reading's (rules listed again, gone or expired). */
  readonly changed: boolean;
}

/**
 * Reads, for one user on one instance, what is on the scratch RSE for them: their rules toward
 * the scratch RSE expression (one request), and for each rule whose state or count of OK locks
 * changed since it was last read, the files with an available replica there (one replica list per
 * dataset; containers are walked to their datasets so that the tree keeps their structure).
 * Nothing is asked per file.
 */
export class ScratchCatalogue {
  private readonly rules = new Map<string, RuleEntry>();
  private readings = 0;

  /**
   * Whether some rule was still under way (or stuck) when last listed: the tree may lack files
   * that are on the scratch RSE by now.
   */
  get settling(): boolean {
    return [...this.rules.values()].some(entry => !entry.key.startsWith('OK/'));
  }

  /** Whether this is the first reading (whose result is news even when empty). */
  private get first(): boolean {
    return this.readings === 1;
  }

  constructor(private readonly rucio: RucioClient) {}

  /**
   * Reads what changed and returns every claim of the mount. `partly`, when given, gets every
   * claim known so far each time a rule's files have been listed (smallest rules first), so that
   * a lake with one huge dataset shows the others while that one is listed.
   */
  async read(partly?: (claims: Claim[]) => void): Promise<Catalogue> {
    this.readings += 1;
    const account = await this.rucio.whoami();
    const scratch = this.rucio.instance.scratchRse;
    const current: RuleLine[] = [];
    let nextExpiry: number | null = null;
    for await (const rule of this.rucio.lines<RuleLine>('GET', '/rules/', {
      query: { account, rse_expression: scratch }
    })) {
      if (rule.copies !== 1 || rule.locks_ok_cnt === 0) {
        continue;
      }
      const expires = time(rule.expires_at);
      if (!Number.isNaN(expires)) {
        if (expires <= Date.now() || deletedRule(rule)) {
          // Expired or deleted: Rucio's cleaner removes it soon, and its replicas may go any time.
          continue;
        }
        nextExpiry = nextExpiry === null ? expires : Math.min(nextExpiry, expires);
      }
      current.push(rule);
    }
    current.sort((a, b) => a.locks_ok_cnt - b.locks_ok_cnt);
    let listedClaims = 0;
    // Until a rule is listed again, what was listed of it before stands.
    const known = current.map(rule => this.rules.get(rule.id));
    const entries = await inParallel(current, LISTINGS_AT_ONCE, async (rule, index) => {
      const key = `${rule.state}/${rule.locks_ok_cnt}`;
      const before = known[index];
      if (
        before !== undefined &&
        (before.key === key || (rule.state !== 'OK' && Date.now() - before.listedAt < RELIST_MS))
      ) {
        return before;
      }
      const listed = await this.listOrSkip(rule, key);
      listedClaims += listed.count;
      known[index] = listed;
      if (partly) {
        partly(claimsOf(known));
      }
      return listed;
    });
    const gone = [...this.rules.keys()].some(id => !current.some(rule => rule.id === id));
    this.rules.clear();
    current.forEach((rule, index) => this.rules.set(rule.id, entries[index] as RuleEntry));
    return {
      get claims() {
        return claimsOf(entries);
      },
      nextExpiry,
      listed: listedClaims,
      changed: listedClaims > 0 || gone || this.first
    };
  }

  /**
   * Lists a rule's files; a rule whose DID Rucio cannot list (a 4xx: a name without a letter or
   * digit, which its replica listing refuses; a DID deleted meanwhile) is logged and left out
   * until it changes, so that one such DID does not keep every other from the folder. Errors of
   * Rucio itself (unreachable, 5xx) end the reading, which keeps what was listed before.
   */
  private async listOrSkip(rule: RuleLine, key: string): Promise<RuleEntry> {
    try {
      return await this.list(rule, key);
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) {
        throw error;
      }
      log('warn', 'data lake folder leaves out a rule it cannot list', {
        instance: this.rucio.instance.name,
        did: didString(rule),
        reason: error.message
      });
      return ruleEntry(key, [], []);
    }
  }

  private async list(rule: RuleLine, key: string): Promise<RuleEntry> {
    const mtimeMs = time(rule.created_at) || Date.now();
    const did = { scope: rule.scope, name: rule.name };
    const top = [rule.scope, ...rule.name.split('/')];
    const type = (rule.did_type ?? '').toUpperCase();
    const claims: Claim[] = [];
    const datasets: DatasetFiles[] = [];
    if (type === 'FILE') {
      const [file] = await this.replicas(did, mtimeMs);
      if (file) {
        claims.push({ segments: top, owners: top.map(() => undefined), file, mtimeMs });
      }
    } else {
      await this.walk(did, type === 'CONTAINER', top, [], mtimeMs, { claims, datasets }, 0);
    }
    return ruleEntry(key, claims, datasets);
  }

  /**
   * Adds the claims of a collection whose folder is at `segments`: its own folder, then its
   * datasets' files (as one list each) or its children's folders, each below it.
   */
  private async walk(
    did: DidRef,
    isContainer: boolean,
    segments: readonly string[],
    owners: readonly (string | undefined)[],
    mtimeMs: number,
    into: { claims: Claim[]; datasets: DatasetFiles[] },
    depth: number
  ): Promise<void> {
    const levelOwners = [
      ...owners,
      ...segments.slice(owners.length, -1).map(() => undefined),
      didString(did)
    ];
    into.claims.push({ segments, owners: levelOwners, mtimeMs });
    if (!isContainer) {
      const files = await this.replicas(did, mtimeMs);
      into.datasets.push({ segments, owners: levelOwners, mtimeMs, files });
      return;
    }
    if (depth >= MAX_DEPTH) {
      return;
    }
    const children: ChildLine[] = [];
    for await (const child of this.rucio.lines<ChildLine>(
      'GET',
      `${didPath(did.scope, did.name)}/dids`,
      { context: { did: didString(did) } }
    )) {
      children.push(child);
    }
    for (const child of children) {
      const type = (child.type ?? child.did_type ?? '').toUpperCase();
      if (type !== 'CONTAINER' && type !== 'DATASET') {
        continue;
      }
      await this.walk(
        child,
        type === 'CONTAINER',
        [...segments, ...child.name.split('/')],
        levelOwners,
        mtimeMs,
        into,
        depth + 1
      );
    }
  }

  /** The files of a DID that have an available replica on the scratch RSE. */
  private async replicas(did: DidRef, mtimeMs: number): Promise<MountedFile[]> {
    const files: MountedFile[] = [];
    for await (const line of this.rucio.lines<ReplicaLine>('POST', '/replicas/list', {
      body: {
        dids: [{ scope: did.scope, name: did.name }],
        rse_expression: this.rucio.instance.scratchRse,
        all_states: false,
        sort: 'random'
      },
      context: { did: didString(did) }
    })) {
      const pfn = Object.values(line.rses ?? {}).flat()[0];
      const bytes = rucioNumber(line.bytes);
      // A PFN with a . or .. segment cannot be read as itself (see hasDotSegments): not shown,
      // so the paths API says why instead of the folder answering EIO.
      if (pfn === undefined || bytes === null || hasDotSegments(pfn)) {
        continue;
      }
      files.push({
        // join makes one flat string; a template literal makes a cons string, which V8 flattens
        // into a second string once the DID is looked up and keeps both (32 bytes more per file).
        did: [line.scope, line.name].join(':'),
        bytes,
        pfn,
        adler32: line.adler32 ?? null,
        md5: line.md5 ?? null,
        mtimeMs
      });
    }
    return files;
  }
}
