import type { Availability, LocalPath, ProblemEvent, Window } from '@dlaas/api';
import { EventEmitter } from 'node:events';
import { DEFAULT_RULE_LIFETIME } from '../config.js';
import { didString, pathAmbiguity, type DidRef } from '../did.js';
import { AppError } from '../errors.js';
import { didPath, type RucioClient } from '../rucio/client.js';
import { rucioDate, rucioNumber } from '../rucio/json.js';
import type { RucioRule } from './browse.js';
import { PathResolver, type LocalPathSource } from './paths.js';
import { mapStream, StreamWindows } from './windows.js';

/** A replica line of `POST /replicas/list`. */
interface ReplicaLine {
  scope: string;
  name: string;
  bytes?: unknown;
  rses?: Record<string, string[]>;
  states?: Record<string, string>;
}

const TERMINAL = new Set(['OK', 'STUCK']);

/** The most replications `transfers()` lists. */
const MAX_TRANSFERS = 1000;

/** How long the tracker watches a stuck rule after a retry for the repairer to pick it up. */
const RETRY_WATCH_MS = 5 * 60_000;

/** A DID's file count and bytes, and whether it is an open collection (files may still be added). */
interface Size {
  readonly files: number | null;
  readonly bytes: number | null;
  readonly open: boolean;
}

/** A rule the tracker polls. */
interface Watched {
  readonly did: DidRef;
  /** The availability last emitted (or answered), as JSON. */
  last: string;
  /** Keep polling a STUCK rule until then: a retry is on its way. */
  retryUntil: number | undefined;
  /** The DID is an open collection: its rule may leave OK again when files are attached. */
  open: boolean;
  /** When someone last asked the DID's availability. */
  askedAt: number;
}

/** Availability from Rucio's rule. */
export function availabilityOf(
  instance: string,
  did: DidRef,
  rule: RucioRule | undefined,
  totalFiles: number | null,
  totalBytes: number | null
): Availability {
  if (!rule) {
    return {
      instance,
      did: didString(did),
      state: 'NOT_AVAILABLE',
      ruleId: null,
      ruleState: null,
      files: { ok: 0, replicating: 0, stuck: 0, total: totalFiles },
      totalBytes,
      expiresAt: null,
      error: null
    };
  }
  const state =
    rule.state === 'OK' ? 'AVAILABLE' : rule.state === 'STUCK' ? 'STUCK' : 'REPLICATING';
  return {
    instance,
    did: didString(did),
    state,
    ruleId: rule.id,
    ruleState: rule.state,
    files: {
      ok: rule.locks_ok_cnt,
      replicating: rule.locks_replicating_cnt,
      stuck: rule.locks_stuck_cnt,
      total: totalFiles
    },
    totalBytes,
    expiresAt: rucioDate(rule.expires_at),
    error: state === 'STUCK' ? (rule.error ?? 'Rucio gave no reason.') : null
  };
}

/** Options of {@link Availabilities}. */
export interface AvailabilityOptions {
  /** First poll interval of the tracker, in ms (it backs off to `maxIntervalMs` while nothing changes). */
  readonly intervalMs?: number;
  readonly maxIntervalMs?: number;
  /**
   * Open collections (files may still be attached): how old, in ms, their file counts and path
   * lists may be when served, and how often the rule of one that someone follows is read again
   * even once OK (default 3000).
   */
  readonly openRefreshMs?: number;
  /** How long, in ms, asking for an open collection's availability keeps it followed (default 60 s). */
  readonly interestMs?: number;
}

/**
 * "Make available" and its tracking, for one user on one instance. Making a DID available creates
 * at most one rule toward the scratch RSE, whatever the number of concurrent or repeated requests:
 * concurrent calls share one attempt, and an existing rule (from another tab, an earlier session,
 * or a companion restart) is found and reused. One loop polls Rucio for every rule being watched
 * and emits `availability` events, so Rucio's load does not grow with the number of viewers;
 * concurrent questions about one DID share one look-up.
 *
 * Open collections (a user's own dataset while they work on it) change under a rule that was OK:
 * a file attached makes the rule replicate again. Their file counts and path lists are therefore
 * reused for a few seconds only (closed ones are kept), and while someone follows one (an event
 * stream, or a question in the last minute) its rule is read every few seconds even once OK, so
 * that counts, state and paths follow within seconds.
 */
export class Availabilities extends EventEmitter<{
  availability: [Availability];
  /** The tracker cannot read Rucio (once per outage), or can again (null). */
  problem: [ProblemEvent | null];
}> {
  private readonly inFlight = new Map<
    string,
    Promise<{ availability: Availability; created: boolean }>
  >();
  /** Look-ups under way, shared by concurrent questions about one DID. */
  private readonly lookups = new Map<string, Promise<Availability>>();
  /** Sizes by DID; an open collection's expires (`expiresAt`), a closed one's is kept. */
  private readonly sizes = new Map<string, { size: Promise<Size>; expiresAt: number }>();
  /** Rules being polled, by rule id. */
  private readonly watched = new Map<string, Watched>();
  /** Event streams following each DID. */
  private readonly followers = new Map<string, number>();
  private readonly pathWindows = new StreamWindows<LocalPath>();
  /** When each held path list began to be read from Rucio. */
  private readonly pathsReadAt = new Map<string, number>();
  private readonly paths: LocalPathSource;
  private timer: NodeJS.Timeout | undefined;
  /** When the timer fires. */
  private due = 0;
  private interval: number;
  private readonly minInterval: number;
  private readonly maxInterval: number;
  private readonly openRefresh: number;
  private readonly interestMs: number;
  private polling = false;
  /** Why the tracker's last round could read no rule from Rucio, until one round can. */
  private trouble: ProblemEvent | null = null;

  constructor(
    private readonly rucio: RucioClient,
    options: AvailabilityOptions = {},
    paths?: LocalPathSource
  ) {
    super();
    // Every open event stream of every tab listens here: there is no sensible upper bound.
    this.setMaxListeners(0);
    this.paths = paths ?? new PathResolver(rucio.instance.paths);
    this.minInterval = options.intervalMs ?? 2000;
    this.maxInterval = options.maxIntervalMs ?? 30_000;
    this.openRefresh = options.openRefreshMs ?? 3000;
    this.interestMs = options.interestMs ?? 60_000;
    this.interval = this.minInterval;
  }

  private get scratch(): string {
    const { scratchRse, name, displayName } = this.rucio.instance;
    if (scratchRse === undefined) {
      throw new AppError(
        409,
        'conflict',
        `${displayName ?? name} has no scratch storage to make data available on: download the data instead.`
      );
    }
    return scratchRse;
  }

  /** Our rule for the DID toward the scratch RSE, if one exists. */
  private async findRule(did: DidRef): Promise<RucioRule | undefined> {
    const account = await this.rucio.whoami();
    for await (const rule of this.rucio.lines<RucioRule>(
      'GET',
      `${didPath(did.scope, did.name)}/rules`,
      { context: { did: didString(did) } }
    )) {
      if (rule.account === account && rule.rse_expression === this.scratch && rule.copies === 1) {
        return rule;
      }
    }
    return undefined;
  }

  /**
   * The DID's file count and bytes, and whether it is open. A closed DID's are read once; an open
   * collection's are read again once older than `openRefreshMs`, or than ten times what counting
   * took (Rucio counts an open collection's files anew each time: a big one is not recounted
   * back to back).
   */
  private size(did: DidRef): Promise<Size> {
    const key = didString(did);
    const cached = this.sizes.get(key);
    if (cached && Date.now() < cached.expiresAt) {
      return cached.size;
    }
    const started = Date.now();
    const entry = {
      size: this.rucio
        .json<{ length?: unknown; bytes?: unknown; type?: string; open?: unknown } | null>(
          'GET',
          didPath(did.scope, did.name),
          {
            query: { dynamic_depth: 'FILE' },
            context: { did: key }
          }
        )
        .then(answer => {
          // An empty answer (no JSON) counts as a DID Rucio says nothing about.
          const d = answer ?? {};
          const size: Size = {
            files: d.type === 'FILE' ? 1 : rucioNumber(d.length),
            bytes: rucioNumber(d.bytes),
            open: d.type !== 'FILE' && d.open === true
          };
          if (size.open) {
            const took = Date.now() - started;
            entry.expiresAt = Date.now() + Math.max(this.openRefresh, 10 * took);
          }
          return size;
        }),
      // Shared while it is being read.
      expiresAt: Infinity
    };
    entry.size.catch(() => {
      if (this.sizes.get(key) === entry) {
        this.sizes.delete(key);
      }
    });
    this.sizes.set(key, entry);
    return entry.size;
  }

  /**
   * Where the DID stands toward the scratch RSE now. Concurrent questions about one DID (many
   * event streams opening at once) share one look-up.
   */
  availability(did: DidRef): Promise<Availability> {
    const key = didString(did);
    let lookup = this.lookups.get(key);
    if (!lookup) {
      lookup = this.lookUp(did).finally(() => this.lookups.delete(key));
      this.lookups.set(key, lookup);
    }
    return lookup;
  }

  /**
   * Reads the DID's rule and size from Rucio (not shared: after a change the caller needs an
   * answer from after it), and has the tracker watch a rule that is under way, or any rule of an
   * open collection (someone is looking at it).
   */
  private async lookUp(did: DidRef): Promise<Availability> {
    const [rule, size] = await Promise.all([this.findRule(did), this.size(did)]);
    const availability = availabilityOf(
      this.rucio.instance.name,
      did,
      rule,
      size.files,
      size.bytes
    );
    if (rule && (!TERMINAL.has(rule.state) || size.open)) {
      this.watch(did, rule.id, availability, { open: size.open, asked: true });
    }
    await this.localPathsFor(availability, did);
    return availability;
  }

  /**
   * Once a DID is AVAILABLE, waits until its files have their local paths (the data lake folder
   * lists what Rucio has on the scratch RSE now), so that whoever is told AVAILABLE finds them.
   */
  private async localPathsFor(availability: Availability, did: DidRef): Promise<void> {
    if (availability.state === 'AVAILABLE') {
      await this.paths.prepare(did);
    }
  }

  /**
   * Calls `listener` with every change the tracker sees of one of `dids`, until the returned
   * function is called. While someone follows an open collection, its rule is read every few
   * seconds even once OK (see {@link AvailabilityOptions.openRefreshMs}); ask
   * {@link availability} first, which starts the watch.
   */
  follow(dids: readonly DidRef[], listener: (availability: Availability) => void): () => void {
    const keys = new Set(dids.map(didString));
    for (const key of keys) {
      this.followers.set(key, (this.followers.get(key) ?? 0) + 1);
    }
    const onChange = (availability: Availability): void => {
      if (keys.has(availability.did)) {
        listener(availability);
      }
    };
    this.on('availability', onChange);
    let following = true;
    return () => {
      if (!following) {
        return;
      }
      following = false;
      this.off('availability', onChange);
      for (const key of keys) {
        const count = (this.followers.get(key) ?? 1) - 1;
        if (count > 0) {
          this.followers.set(key, count);
        } else {
          this.followers.delete(key);
        }
      }
    };
  }

  /**
   * Makes the DID available on the scratch RSE: creates one rule with the configured lifetime, or
   * reuses the existing one. Resolves with the availability and whether this call created the rule.
   */
  makeAvailable(did: DidRef): Promise<{ availability: Availability; created: boolean }> {
    const key = didString(did);
    const running = this.inFlight.get(key);
    if (running) {
      // Joiners share the attempt; only its starter reports the rule as created by it.
      return running.then(result => ({ ...result, created: false }));
    }
    const attempt = this.createOrReuse(did).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, attempt);
    return attempt;
  }

  private async createOrReuse(
    did: DidRef
  ): Promise<{ availability: Availability; created: boolean }> {
    // An instance in download mode has none: refused before anything is asked of Rucio.
    const scratch = this.scratch;
    const existing = await this.findRule(did);
    if (existing) {
      return { availability: await this.lookUp(did), created: false };
    }
    const account = await this.rucio.whoami();
    let created = false;
    try {
      await this.rucio.json<string[]>('POST', '/rules/', {
        body: {
          dids: [{ scope: did.scope, name: did.name }],
          account,
          copies: 1,
          rse_expression: scratch,
          grouping: 'DATASET',
          lifetime: this.rucio.instance.ruleLifetimeSeconds ?? DEFAULT_RULE_LIFETIME,
          comment: 'dlaas: made available from JupyterLab',
          asynchronous: false
        },
        context: { did: didString(did), rse: this.scratch }
      });
      created = true;
    } catch (error) {
      // Another companion (another pod, a restart) created it between our look-up and our POST.
      if (!(error instanceof AppError && error.code === 'conflict')) {
        throw error;
      }
    }
    return { availability: await this.lookUp(did), created };
  }

  /**
   * Asks Rucio to retry the stuck transfers of the DID's rule now: boosts the rule, so that the
   * judge-repairer resubmits its stuck files at once instead of hours later, and watches the rule
   * while it does. A rule that is not stuck is left alone. Rucio's generic policy lets only admins
   * boost rules; where the account may not, the 403 says what the user can do instead.
   */
  async retry(did: DidRef): Promise<Availability> {
    const current = await this.lookUp(did);
    if (current.state === 'NOT_AVAILABLE' || current.ruleId === null) {
      throw new AppError(
        409,
        'conflict',
        `"${current.did}" has not been made available yet, so there is nothing to retry. Make it available first.`
      );
    }
    if (current.state !== 'STUCK') {
      return current;
    }
    try {
      await this.rucio.json('PUT', `/rules/${encodeURIComponent(current.ruleId)}`, {
        body: { options: { boost_rule: true } },
        context: { did: current.did }
      });
    } catch (error) {
      if (error instanceof AppError && error.code === 'forbidden') {
        throw new AppError(
          403,
          'forbidden',
          `${this.rucio.instance.name} lets only its admins retry a rule, so "${current.did}" cannot be retried from here. Rucio retries stuck transfers by itself (after 30 minutes, then every few hours); if it stays stuck, send the data lake's admins the rule id ${current.ruleId} and the reason shown.`
        );
      }
      throw error;
    }
    this.watch(did, current.ruleId, current, { retryUntil: Date.now() + RETRY_WATCH_MS });
    return current;
  }

  /**
   * The user's rules toward the scratch RSE that are replicating now (at most
   * {@link MAX_TRANSFERS}), e.g. for a JupyterLab that was reloaded meanwhile to count and follow
   * them. One Rucio request; file totals are not looked up (the events carry them).
   */
  async transfers(): Promise<Availability[]> {
    const account = await this.rucio.whoami();
    const found: Availability[] = [];
    for await (const rule of this.rucio.lines<RucioRule>('GET', '/rules/', {
      // Rucio's filter takes the state's one-letter code (R), not its name (a 500 otherwise).
      query: { account, rse_expression: this.scratch, state: 'R' }
    })) {
      if (rule.copies === 1) {
        found.push(availabilityOf(this.rucio.instance.name, rule, rule, null, null));
      }
      if (found.length >= MAX_TRANSFERS) {
        break;
      }
    }
    return found;
  }

  /**
   * A window of the local paths of the DID's files that are on the scratch RSE. An open
   * collection's list is read afresh for a first window once the held one is older than
   * `openRefreshMs`; later windows go on reading the held list, so that its pages fit together
   * (Rucio lists replicas in random order).
   */
  async localPaths(did: DidRef, offset: number, limit: number): Promise<Window<LocalPath>> {
    const key = JSON.stringify([didString(did)]);
    const readAt = this.pathsReadAt.get(key);
    if (offset === 0 && readAt !== undefined && Date.now() - readAt >= this.openRefresh) {
      if ((await this.size(did)).open) {
        this.forgetPaths(did);
      }
    }
    const paths = this.paths;
    const rucio = this.rucio;
    const scratch = this.scratch;
    async function* lines(): AsyncGenerator<ReplicaLine> {
      await paths.prepare(did);
      yield* rucio.lines<ReplicaLine>('POST', '/replicas/list', {
        body: {
          dids: [{ scope: did.scope, name: did.name }],
          rse_expression: scratch,
          all_states: false,
          sort: 'random'
        },
        context: { did: didString(did) }
      });
    }
    return this.pathWindows.window(
      key,
      () => {
        this.pathsReadAt.set(key, Date.now());
        return mapStream(lines(), replica => {
          const entry: LocalPath = {
            scope: replica.scope,
            name: replica.name,
            path: paths.localPath(replica, Object.values(replica.rses ?? {}).flat()[0], did),
            bytes: rucioNumber(replica.bytes)
          };
          const ambiguity = entry.path === null ? pathAmbiguity(replica.name) : null;
          if (ambiguity !== null) {
            entry.problem = `${replica.scope}:${replica.name} has no local path: ${ambiguity}, so it would be another file's path. Ask its owner for a copy under a plain name.`;
          }
          return entry;
        });
      },
      offset,
      limit
    );
  }

  /** Forgets the cached path list of a DID (its replicas changed). */
  private forgetPaths(did: DidRef): void {
    const key = JSON.stringify([didString(did)]);
    this.pathWindows.forget(key);
    this.pathsReadAt.delete(key);
  }

  /**
   * Has the tracker poll the rule. A rule under way (or being retried) is read at once; an OK
   * rule of an open collection that someone looks at, within `openRefreshMs`.
   */
  private watch(
    did: DidRef,
    ruleId: string,
    current: Availability,
    options: { retryUntil?: number; open?: boolean; asked?: boolean } = {}
  ): void {
    // Updated in place: a poll under way holds the entry and records what it emits there.
    let entry = this.watched.get(ruleId);
    const known = entry !== undefined;
    if (!entry) {
      entry = {
        did,
        last: JSON.stringify(current),
        retryUntil: undefined,
        open: false,
        askedAt: 0
      };
      this.watched.set(ruleId, entry);
    }
    entry.retryUntil = options.retryUntil ?? entry.retryUntil;
    entry.open = options.open ?? entry.open;
    if (options.asked) {
      entry.askedAt = Date.now();
    }
    const settled =
      current.ruleState !== null &&
      TERMINAL.has(current.ruleState) &&
      entry.retryUntil === undefined;
    if (!known && !settled) {
      this.interval = this.minInterval;
      this.schedule(0);
    } else if (this.following(entry)) {
      this.schedule(this.openRefresh);
    }
  }

  /** Whether an open collection's rule is being looked at: followed, or asked about lately. */
  private following(entry: Watched): boolean {
    return (
      entry.open &&
      ((this.followers.get(didString(entry.did)) ?? 0) > 0 ||
        Date.now() - entry.askedAt < this.interestMs)
    );
  }

  /** Polls in `delay` ms, or sooner if a poll is due sooner already. */
  private schedule(delay: number): void {
    if (this.polling) {
      // The round under way schedules the next one when it ends.
      return;
    }
    const due = Date.now() + delay;
    if (this.timer) {
      if (this.due <= due) {
        return;
      }
      clearTimeout(this.timer);
    }
    this.due = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.poll();
    }, delay);
    this.timer.unref();
  }

  /** One round of the tracker: one `GET /rules/{id}` per watched rule, then back off if idle. */
  private async poll(): Promise<void> {
    this.polling = true;
    let changed = false;
    // Whether Rucio answered about some rule this round, and the first failure when it did not.
    let reached = false;
    let failure: ProblemEvent | undefined;
    try {
      for (const [ruleId, entry] of [...this.watched]) {
        try {
          const rule = await this.rucio.json<RucioRule>(
            'GET',
            `/rules/${encodeURIComponent(ruleId)}`
          );
          const size = await this.size(entry.did);
          reached = true;
          entry.open = size.open;
          const availability = availabilityOf(
            this.rucio.instance.name,
            entry.did,
            rule,
            size.files,
            size.bytes
          );
          const text = JSON.stringify(availability);
          if (text !== entry.last) {
            entry.last = text;
            changed = true;
            this.forgetPaths(entry.did);
            await this.localPathsFor(availability, entry.did);
            this.emit('availability', availability);
          }
          if (rule.state !== 'STUCK') {
            // The retry has begun (or was not needed): the next STUCK or OK ends the watch.
            entry.retryUntil = undefined;
          }
          const retrying = entry.retryUntil !== undefined && Date.now() < entry.retryUntil;
          // An open collection someone looks at may get files, and its rule leave OK, any time.
          if (TERMINAL.has(rule.state) && !retrying && !this.following(entry)) {
            this.watched.delete(ruleId);
          }
        } catch (error) {
          if (error instanceof AppError && error.status === 404) {
            reached = true;
            this.watched.delete(ruleId);
            this.emit(
              'availability',
              availabilityOf(this.rucio.instance.name, entry.did, undefined, null, null)
            );
            continue;
          }
          // Kept watched: the next rounds (backing off) pick the rule up once Rucio answers.
          failure ??= this.problemOf(error);
          if (error instanceof AppError && error.code === 'rucio_unreachable') {
            // The other rules cannot be read either: not one more timeout per rule this round.
            break;
          }
        }
      }
    } finally {
      this.polling = false;
    }
    if (reached) {
      this.report(null);
    } else if (failure) {
      this.report(failure);
    }
    // Someone just pressed Retry: keep the first interval until the repairer has picked it up.
    const awaitingRetry = [...this.watched.values()].some(e => e.retryUntil !== undefined);
    this.interval =
      changed || awaitingRetry ? this.minInterval : Math.min(this.interval * 2, this.maxInterval);
    const followingOpen = [...this.watched.values()].some(e => this.following(e));
    if (this.watched.size > 0) {
      this.schedule(followingOpen ? Math.min(this.interval, this.openRefresh) : this.interval);
    }
  }

  /** Why the tracker cannot read Rucio now (its sentence), or null when it can. */
  get problem(): ProblemEvent | null {
    return this.trouble;
  }

  /** Emits `problem` when an outage begins or ends; not again while it lasts. */
  private report(problem: ProblemEvent | null): void {
    if ((problem === null) === (this.trouble === null)) {
      return;
    }
    this.trouble = problem;
    this.emit('problem', problem);
  }

  /** The sentence for a failed round: the companion's own, or one for an unexpected failure. */
  private problemOf(error: unknown): ProblemEvent {
    if (error instanceof AppError) {
      return { code: error.code, message: error.message };
    }
    return {
      code: 'internal',
      // Not the unexpected error's own text: it is not written for users and may name internals.
      message: `The companion could not follow your replications on ${this.rucio.instance.name} because of an unexpected error. It keeps trying; if this stays, tell your hub admin.`
    };
  }

  /** Rules the tracker watches now. */
  get watchedRules(): number {
    return this.watched.size;
  }

  /** Stops the tracker and closes held streams. */
  dispose(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.watched.clear();
    this.followers.clear();
    this.pathWindows.clear();
    this.pathsReadAt.clear();
    this.removeAllListeners();
  }
}
