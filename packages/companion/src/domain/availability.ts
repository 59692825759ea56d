import type { Availability, LocalPath, Window } from '@dlaas/api';
import { EventEmitter } from 'node:events';
import { DEFAULT_RULE_LIFETIME } from '../config.js';
import { didString, type DidRef } from '../did.js';
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
}

/**
 * "Make available" and its tracking, for one user on one instance. Making a DID available creates
 * at most one rule toward the scratch RSE, whatever the number of concurrent or repeated requests:
 * concurrent calls share one attempt, and an existing rule (from another tab, an earlier session,
 * or a companion restart) is found and reused. One loop polls Rucio for every rule being watched
 * and emits `availability` events, so Rucio's load does not grow with the number of viewers.
 */
export class Availabilities extends EventEmitter<{ availability: [Availability] }> {
  private readonly inFlight = new Map<
    string,
    Promise<{ availability: Availability; created: boolean }>
  >();
  private readonly sizes = new Map<
    string,
    Promise<{ files: number | null; bytes: number | null }>
  >();
  /** Rules being polled; `retryUntil`: keep polling a STUCK rule until then (a retry is on its way). */
  private readonly watched = new Map<string, { did: DidRef; last: string; retryUntil?: number }>();
  private readonly pathWindows = new StreamWindows<LocalPath>();
  private readonly paths: LocalPathSource;
  private timer: NodeJS.Timeout | undefined;
  private interval: number;
  private readonly minInterval: number;
  private readonly maxInterval: number;
  private polling = false;

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
    this.interval = this.minInterval;
  }

  private get scratch(): string {
    return this.rucio.instance.scratchRse;
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

  private size(did: DidRef): Promise<{ files: number | null; bytes: number | null }> {
    const key = didString(did);
    let size = this.sizes.get(key);
    if (!size) {
      size = this.rucio
        .json<{ length?: unknown; bytes?: unknown; type?: string }>(
          'GET',
          didPath(did.scope, did.name),
          {
            query: { dynamic_depth: 'FILE' },
            context: { did: key }
          }
        )
        .then(d => ({
          files: d.type === 'FILE' ? 1 : rucioNumber(d.length),
          bytes: rucioNumber(d.bytes)
        }));
      size.catch(() => this.sizes.delete(key));
      this.sizes.set(key, size);
    }
    return size;
  }

  /** Where the DID stands toward the scratch RSE now. */
  async availability(did: DidRef): Promise<Availability> {
    const [rule, size] = await Promise.all([this.findRule(did), this.size(did)]);
    const availability = availabilityOf(
      this.rucio.instance.name,
      did,
      rule,
      size.files,
      size.bytes
    );
    if (rule && !TERMINAL.has(rule.state)) {
      this.watch(did, rule.id, availability);
    }
    return availability;
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
    const existing = await this.findRule(did);
    if (existing) {
      return { availability: await this.availability(did), created: false };
    }
    const account = await this.rucio.whoami();
    let created = false;
    try {
      await this.rucio.json<string[]>('POST', '/rules/', {
        body: {
          dids: [{ scope: did.scope, name: did.name }],
          account,
          copies: 1,
          rse_expression: this.scratch,
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
    return { availability: await this.availability(did), created };
  }

  /**
   * Asks Rucio to retry the stuck transfers of the DID's rule now: boosts the rule, so that the
   * judge-repairer resubmits its stuck files at once instead of hours later, and watches the rule
   * while it does. A rule that is not stuck is left alone. Rucio's generic policy lets only admins
   * boost rules; where the account may not, the 403 says what the user can do instead.
   */
  async retry(did: DidRef): Promise<Availability> {
    const current = await this.availability(did);
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
    this.watch(did, current.ruleId, current, Date.now() + RETRY_WATCH_MS);
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

  /** A window of the local paths of the DID's files that are on the scratch RSE. */
  localPaths(did: DidRef, offset: number, limit: number): Promise<Window<LocalPath>> {
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
      JSON.stringify([didString(did)]),
      () =>
        mapStream(lines(), replica => ({
          scope: replica.scope,
          name: replica.name,
          path: paths.localPath(replica, Object.values(replica.rses ?? {}).flat()[0], did),
          bytes: rucioNumber(replica.bytes)
        })),
      offset,
      limit
    );
  }

  /** Forgets the cached path list of a DID (its replicas changed). */
  private forgetPaths(did: DidRef): void {
    this.pathWindows.forget(JSON.stringify([didString(did)]));
  }

  private watch(did: DidRef, ruleId: string, current: Availability, retryUntil?: number): void {
    const known = this.watched.get(ruleId);
    this.watched.set(ruleId, {
      did,
      last: known?.last ?? JSON.stringify(current),
      retryUntil: retryUntil ?? known?.retryUntil
    });
    if (!known) {
      this.interval = this.minInterval;
      this.schedule(0);
    }
  }

  private schedule(delay: number): void {
    if (this.timer || this.polling) {
      return;
    }
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
    try {
      for (const [ruleId, entry] of [...this.watched]) {
        try {
          const rule = await this.rucio.json<RucioRule>(
            'GET',
            `/rules/${encodeURIComponent(ruleId)}`
          );
          const size = await this.size(entry.did);
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
            this.emit('availability', availability);
          }
          if (rule.state !== 'STUCK') {
            // The retry has begun (or was not needed): the next STUCK or OK ends the watch.
            entry.retryUntil = undefined;
          }
          const retrying = entry.retryUntil !== undefined && Date.now() < entry.retryUntil;
          if (TERMINAL.has(rule.state) && !retrying) {
            this.watched.delete(ruleId);
          }
        } catch (error) {
          if (error instanceof AppError && error.status === 404) {
            this.watched.delete(ruleId);
            this.emit(
              'availability',
              availabilityOf(this.rucio.instance.name, entry.did, undefined, null, null)
            );
          }
        }
      }
    } finally {
      this.polling = false;
    }
    // Someone just pressed Retry: keep the first interval until the repairer has picked it up.
    const awaitingRetry = [...this.watched.values()].some(e => e.retryUntil !== undefined);
    this.interval =
      changed || awaitingRetry ? this.minInterval : Math.min(this.interval * 2, this.maxInterval);
    if (this.watched.size > 0) {
      this.schedule(this.interval);
    }
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
    this.pathWindows.clear();
    this.removeAllListeners();
  }
}
