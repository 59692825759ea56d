import type {
  UploadDetail,
  UploadFile,
  UploadJob,
  UploadRequest,
  UploadRse,
  UploadScope,
  UploadTargetsResponse
} from '@dlaas/api';
import { sameAdler32 } from '../adler32.js';
import { filterProblem } from '../api/filters.js';
import { DEFAULT_RULE_LIFETIME } from '../config.js';
import { didString, pathAmbiguity, type Naming } from '../did.js';
import { retryDropped } from '../dropped.js';
import { AppError, badRequest } from '../errors.js';
import { log } from '../log.js';
import { inParallel } from '../parallel.js';
import { didPath, segment, type RequestOptions, type RucioClient } from '../rucio/client.js';
import { rucioNumber } from '../rucio/json.js';
import { collectLocalFiles, type LocalFile } from './local-files.js';
import { UploadJournal, type JournalFile, type JournalJob } from './upload-journal.js';
import {
  StorageDropped,
  StorageTrouble,
  StorageWriter,
  type SentFile,
  type StoredFile
} from './storage-writer.js';

/** Files of one job sent at once. */
export const DEFAULT_PARALLEL_FILES = 3;

/** Most files registered (and attached) in one request; Rucio takes up to 1,000 replicas a call. */
const REGISTER_GROUP = 500;

/**
 * Most characters of `lfn=` parameters in one `lfns2pfns` request: Rucio behind gunicorn refuses
 * a request line longer than 4,094 bytes.
 */
const PFN_QUERY_CHARS = 3000;

/**
 * Metadata keys with a column of their own in Rucio's DID table that an owner may set (those the
 * search filter knows as columns); any other key goes to Rucio's JSON metadata.
 */
const COLUMN_KEYS = [
  'datatype',
  'project',
  'run_number',
  'stream_name',
  'prod_step',
  'version',
  'campaign',
  'task_id',
  'panda_id',
  'lumiblocknr',
  'provenance',
  'phys_group',
  'events'
];

/** Keys Rucio sets itself: an upload may not set them. */
const RUCIO_KEYS = new Set([
  'scope',
  'name',
  'account',
  'did_type',
  'type',
  'bytes',
  'length',
  'adler32',
  'md5',
  'guid',
  'open',
  'monotonic',
  'hidden',
  'obsolete',
  'complete',
  'availability',
  'suppressed',
  'is_new',
  'is_open',
  'created_at',
  'updated_at',
  'accessed_at',
  'closed_at',
  'eol_at',
  'expired_at',
  'deleted_at',
  'purge_replicas',
  'transient',
  'is_archive',
  'constituent',
  'access_cnt',
  'lifetime'
]);

/** Name endings of the RSEs Rucio's generic policy lets any account add replicas to. */
const OPEN_RSE = /(SCRATCHDISK|USERDISK|LOCALGROUPDISK|MOCK)$/;

/** How long the rate of a running job is measured over. */
const RATE_WINDOW_MS = 10_000;

/** Waits between attempts to clean up after a failed job (then the longest, until it is done). */
const SWEEP_DELAYS_MS = [1000, 2000, 5000, 10_000, 30_000, 60_000];

/** The sentence of a job the companion stopped in the middle of. */
const INTERRUPTED =
  'The companion stopped while this upload ran. Retry it to finish: the files already in the lake are kept, the others are sent again.';

/** Options of the upload engine (tests make them small). */
export interface UploadOptions {
  /** Where the jobs are journaled; default {@link defaultUploadsFolder}. */
  readonly folder: string;
  readonly parallelFiles?: number;
  /** The home `~/` stands for. */
  readonly home?: string;
}

/** A job in memory: its journal, and what only a running companion knows. */
interface LiveJob {
  readonly journal: JournalJob;
  /** Bytes sent of the files under way now. */
  readonly sending: Map<string, number>;
  /** The state shown of files under way (`uploading`, `verifying`, `registering`). */
  readonly shown: Map<string, UploadFile['state']>;
  readonly samples: { at: number; bytes: number }[];
  abort: AbortController | null;
  run: Promise<void> | null;
  sweep: NodeJS.Timeout | null;
  /** A round of clean-up under way: a run waits for it, so that the two never touch a file at once. */
  sweeping: Promise<boolean> | null;
}

/** A file whose bytes are checked on the storage, waiting for its group's registration. */
interface Checked {
  readonly file: JournalFile;
  readonly done: () => void;
  readonly failed: (error: unknown) => void;
}

/** What one run of a job shares between its files: PFNs asked for together, registrations. */
interface RunState {
  readonly signal: AbortSignal;
  /** The `lfns2pfns` answer each file's PFN comes from (asked for with the files after it). */
  readonly pfns: Map<string, Promise<Map<string, string> | null>>;
  /** The index in the job's files from which the next PFN request looks for files. */
  pfnCursor: number;
  /** Checked files not yet in a registration request. */
  readonly checked: Checked[];
  /** The registration request under way (one at a time: the next takes all that came meanwhile). */
  registering: Promise<void> | null;
}

interface Limits {
  readonly account: string;
  readonly admin: boolean;
}

/**
 * Uploads ("store back") to one instance: local files and folders into a dataset on an RSE the
 * account may write, in the background, journaled on disk so that a job survives a restart.
 *
 * Order per file (nothing registered without its bytes, no bytes left without a replica):
 * the PFN from Rucio (`lfns2pfns`, operation write, asked for many files at once); journal
 * `uploading`; PUT with the checksums summed on the way; HEAD: the storage must hold the size
 * (and the Adler-32, where it says one) sent; journal `uploaded`; `POST /replicas/`; journal
 * `registered`; attach to the dataset; journal `done`. The last three steps take files in groups:
 * the checked files that came while the previous group's requests ran (see {@link registerGroup}).
 * The dataset (with its metadata) and its rule come before any file,
 * as Rucio's upload client does: each file is covered by the rule the moment it is attached.
 * A file that fails before it is registered has its bytes deleted; when the storage (or Rucio,
 * for a registration whose answer was lost) cannot be asked, the job keeps trying to clean up
 * in the background, and a retry does it first (see {@link settle}).
 */
export class Uploads {
  private readonly jobs = new Map<string, LiveJob>();
  private readonly journal: UploadJournal;
  private readonly writer: StorageWriter;
  private readonly parallel: number;
  private disposed = false;

  constructor(
    private readonly rucio: RucioClient,
    private readonly naming: Naming,
    private readonly options: UploadOptions
  ) {
    this.journal = new UploadJournal(options.folder);
    this.writer = new StorageWriter(rucio.instance, rucio.credentials);
    this.parallel = options.parallelFiles ?? DEFAULT_PARALLEL_FILES;
    for (const journal of this.journal.load()) {
      if (journal.instance !== rucio.instance.name) {
        continue;
      }
      const job = this.live(journal);
      if (journal.state === 'running') {
        // The companion stopped while it ran (killed, or the server restarted).
        journal.state = 'interrupted';
        journal.error = INTERRUPTED;
        journal.finishedAt = new Date().toISOString();
        this.save(job);
      }
      if (journal.state !== 'done') {
        this.scheduleSweep(job, 0);
      }
    }
  }

  private live(journal: JournalJob): LiveJob {
    const job: LiveJob = {
      journal,
      sending: new Map(),
      shown: new Map(),
      samples: [],
      abort: null,
      run: null,
      sweep: null,
      sweeping: null
    };
    this.jobs.set(journal.id, job);
    return job;
  }

  // ---------------------------------------------------------------- what may be uploaded where

  private async limits(): Promise<Limits> {
    const account = await this.rucio.whoami();
    if (account === 'root') {
      return { account, admin: true };
    }
    const attributes = await this.rucio.json<{ key?: unknown; value?: unknown }[] | null>(
      'GET',
      `/accounts/${segment(account)}/attr/`
    );
    const admin = (attributes ?? []).some(
      a => a.key === 'admin' && (a.value === true || String(a.value).toLowerCase() === 'true')
    );
    return { account, admin };
  }

  /** The scopes the account may create DIDs in: its own, or all of them for an admin. */
  private async scopes({ account, admin }: Limits): Promise<UploadScope[]> {
    const owned =
      (await this.rucio.json<string[] | null>('GET', `/accounts/${segment(account)}/scopes/`)) ??
      [];
    const all = admin ? ((await this.rucio.json<string[] | null>('GET', '/scopes/')) ?? []) : owned;
    const own = `user.${account}`;
    return [...new Set(all)]
      .sort((a, b) => (a === own ? -1 : b === own ? 1 : a.localeCompare(b)))
      .map(scope => ({ scope, own: scope === own }));
  }

  /**
   * The RSEs the account may upload to: those where Rucio gives it a quota (a limit above 0)
   * and where the generic policy lets it add replicas (RSEs named *SCRATCHDISK, *USERDISK,
   * *LOCALGROUPDISK, *MOCK; any RSE for root and admins), with the limit, usage, and what is
   * left once this companion's unfinished uploads there are counted.
   */
  private async rses({ account, admin }: Limits): Promise<UploadRse[]> {
    const used = new Map<string, number>();
    const usage = (async () => {
      for await (const line of this.rucio.lines<{ rse?: unknown; bytes?: unknown }>(
        'GET',
        `/accounts/${segment(account)}/usage/local`
      )) {
        if (typeof line.rse === 'string') {
          used.set(line.rse, rucioNumber(line.bytes) ?? 0);
        }
      }
    })();
    // The limits and the usage are asked for together.
    const [limitsRead, usageRead] = await Promise.allSettled([
      this.rucio.json<Record<string, unknown> | null>(
        'GET',
        `/accounts/${segment(account)}/limits/local`
      ),
      usage
    ]);
    if (limitsRead.status === 'rejected') {
      throw limitsRead.reason;
    }
    if (usageRead.status === 'rejected') {
      throw usageRead.reason;
    }
    const limits = limitsRead.value ?? {};
    const candidates = Object.entries(limits)
      // Unlimited is Infinity (Rucio writes the bare word, read as Infinity).
      .map(([rse, value]) => ({ rse, limit: typeof value === 'number' ? value : 0 }))
      .filter(({ rse, limit }) => limit > 0 && (admin || OPEN_RSE.test(rse)))
      .sort((a, b) => a.rse.localeCompare(b.rse));
    return Promise.all(
      candidates.map(async ({ rse, limit }) => {
        const info = await this.rucio
          .json<{ availability_write?: unknown } | null>('GET', `/rses/${segment(rse)}`)
          .catch(() => null);
        const usedBytes = used.get(rse) ?? 0;
        const unlimited = !Number.isFinite(limit);
        return {
          rse,
          limitBytes: unlimited ? null : limit,
          usedBytes,
          freeBytes: unlimited ? null : Math.max(0, limit - usedBytes - this.pendingBytes(rse)),
          writable: info?.availability_write !== false
        };
      })
    );
  }

  /** Bytes this companion's unfinished jobs will still add on an RSE (not yet registered). */
  private pendingBytes(rse: string): number {
    let bytes = 0;
    for (const { journal } of this.jobs.values()) {
      if (journal.rse === rse && journal.state === 'running') {
        for (const file of journal.files) {
          if (file.phase !== 'registered' && file.phase !== 'done' && !file.cancelled) {
            bytes += file.bytes;
          }
        }
      }
    }
    return bytes;
  }

  /** `GET .../upload-targets`. */
  async targets(): Promise<UploadTargetsResponse> {
    const limits = await this.limits();
    const [scopes, rses] = await Promise.all([this.scopes(limits), this.rses(limits)]);
    return {
      account: limits.account,
      scopes,
      rses,
      metadataKeys: COLUMN_KEYS,
      defaultLifetimeSeconds: this.rucio.instance.ruleLifetimeSeconds ?? DEFAULT_RULE_LIFETIME
    };
  }

  // ---------------------------------------------------------------- starting a job

  /**
   * Checks an upload and starts it in the background. Refused with a 4xx sentence before any
   * byte moves: names the lake's rules refuse, names that exist in the scope, an RSE the account
   * may not write, a quota too small (with Rucio's numbers), unreadable local files, an empty
   * selection, metadata Rucio cannot keep.
   */
  async start(request: UploadRequest): Promise<UploadDetail> {
    const { scope, dataset, rse } = request;
    const scopeProblem = this.naming.scopeProblem(scope);
    if (scopeProblem !== null) {
      throw badRequest(scopeProblem);
    }
    const datasetProblem =
      this.naming.nameProblem(dataset, false) ?? ambiguity(dataset, 'The dataset name');
    if (datasetProblem !== null) {
      throw badRequest(datasetProblem);
    }
    const metadata = request.metadata ?? {};
    this.checkMetadata(metadata);
    const selection = await collectLocalFiles(request.paths, this.options.home);
    const files = selection.files.map(file => ({
      ...file,
      name: `${dataset}/${file.relativeName}`
    }));
    for (const file of files) {
      const problem =
        this.naming.nameProblem(file.name, false) ??
        ambiguity(file.name, `The name of ${file.path}`);
      if (problem !== null) {
        throw badRequest(
          `${file.path} cannot be uploaded under its name: ${problem} Rename it, or leave it out of the upload.`
        );
      }
    }
    this.checkNotUnderWay(scope, files);
    const limits = await this.limits();
    // Independent questions to Rucio go together; their answers are judged in this order.
    const [scopes, rses] = await Promise.all([this.scopes(limits), this.rses(limits)]);
    if (!scopes.some(s => s.scope === scope)) {
      throw new AppError(
        403,
        'forbidden',
        `Your account ${limits.account} may not create data in the scope "${scope}". Choose one of your scopes: ${scopes.map(s => s.scope).join(', ') || "none (ask the data lake's admins for one)"}.`
      );
    }
    const target = rses.find(r => r.rse === rse);
    if (!target) {
      throw new AppError(
        403,
        'forbidden',
        `Your account ${limits.account} may not upload to "${rse}": Rucio gives it no quota there, or the lake's policy keeps that RSE for its admins. Choose one of: ${rses.map(r => r.rse).join(', ') || "none (ask the data lake's admins for quota on a user or scratch disk)"}.`
      );
    }
    if (!target.writable) {
      throw new AppError(
        503,
        'rse_blocked',
        `${rse} does not accept new data right now (its admins blocked writing). Try again later, or choose another RSE.`
      );
    }
    const [datasetChecked, namesChecked] = await Promise.allSettled([
      this.checkDataset(scope, dataset),
      this.checkNamesAreFree(scope, dataset, files)
    ]);
    if (datasetChecked.status === 'rejected') {
      throw datasetChecked.reason;
    }
    if (namesChecked.status === 'rejected') {
      throw namesChecked.reason;
    }
    const newDataset = datasetChecked.value;
    const needed = files.reduce((sum, f) => sum + f.bytes, 0);
    if (target.limitBytes !== null && target.freeBytes !== null && needed > target.freeBytes) {
      const pending = target.limitBytes - target.usedBytes - target.freeBytes;
      throw new AppError(
        409,
        'quota_exceeded',
        `Your quota on ${rse} cannot hold this upload: it needs ${size(needed)}, and Rucio counts a limit of ${size(target.limitBytes)} with ${size(target.usedBytes)} used${pending > 0 ? ` (and ${size(pending)} for your uploads under way)` : ''}, leaving ${size(target.freeBytes)}. Upload less, let older data expire, or ask the data lake's admins for more quota.`
      );
    }
    const journal: JournalJob = {
      version: 1,
      id: UploadJournal.newId(),
      instance: this.rucio.instance.name,
      account: limits.account,
      scope,
      dataset,
      rse,
      lifetimeSeconds: request.lifetimeSeconds ?? null,
      metadata,
      createdAt: new Date().toISOString(),
      state: 'running',
      finishedAt: null,
      error: null,
      newDataset,
      datasetReady: false,
      skipped: selection.skipped,
      files: files.map(file => journalFile(file))
    };
    // Again, now that nothing is awaited before the job exists: two clicks cannot both pass.
    this.checkNotUnderWay(scope, files);
    const job = this.live(journal);
    this.save(job);
    this.launch(job);
    return this.detail(job);
  }

  /** Refuses names an unfinished job of this companion sends already (a second click, say). */
  private checkNotUnderWay(scope: string, files: readonly { name: string }[]): void {
    const names = new Set(files.map(f => f.name));
    for (const { journal } of this.jobs.values()) {
      if (journal.scope !== scope || journal.state === 'done') {
        continue;
      }
      const shared = journal.files.find(f => f.phase !== 'done' && names.has(f.name));
      if (shared) {
        throw new AppError(
          409,
          'conflict',
          `Your upload into ${journal.scope}:${journal.dataset} (${journal.state}) sends ${journal.scope}:${shared.name} already. Wait for it, retry it, or remove it from the list before uploading those files again.`
        );
      }
    }
  }

  private checkMetadata(metadata: Record<string, string | number | boolean>): void {
    for (const [key, value] of Object.entries(metadata)) {
      if (RUCIO_KEYS.has(key.toLowerCase())) {
        throw badRequest(
          `"${key}" is kept by Rucio itself and cannot be set by an upload. Choose another metadata key.`
        );
      }
      // The same rules as a search filter on the key: a value Rucio could not search by is refused.
      const problem = filterProblem({
        did: 'x:y',
        filters: [[{ key, operator: '=', value }]]
      });
      if (problem !== null) {
        throw badRequest(
          problem
            .replace('This search cannot run', `The metadata "${key}" cannot be set`)
            .replace('Change the filter and search again.', 'Change its value and upload again.')
        );
      }
    }
  }

  /** Whether the dataset is new (true) or an open dataset that takes more files (false). */
  private async checkDataset(scope: string, dataset: string): Promise<boolean> {
    const did = `${scope}:${dataset}`;
    let found: { type?: unknown; open?: unknown } | null;
    try {
      found = await this.rucio.json('GET', didPath(scope, dataset), { context: { did } });
    } catch (error) {
      if (error instanceof AppError && error.code === 'not_found') {
        return true;
      }
      throw error;
    }
    const type = String(found?.type ?? '').toUpperCase();
    if (type !== 'DATASET') {
      throw new AppError(
        409,
        'conflict',
        `${did} exists already, as a ${type.toLowerCase() || 'data identifier'}, not a dataset. Choose another dataset name.`
      );
    }
    if (found?.open === false) {
      throw new AppError(
        409,
        'conflict',
        `The dataset ${did} exists already and is closed, so it takes no more files. Choose a new dataset name.`
      );
    }
    return false;
  }

  /** Refuses names that exist in the scope already (Rucio's DIDs are never replaced). */
  private async checkNamesAreFree(
    scope: string,
    dataset: string,
    files: readonly { name: string; path: string }[]
  ): Promise<void> {
    const wanted = new Map(files.map(f => [f.name, f.path]));
    const taken: string[] = [];
    for await (const line of this.rucio.lines<unknown>(
      'GET',
      `/dids/${segment(scope)}/dids/search`,
      { query: { name: `${dataset}/*`, type: 'all' } }
    )) {
      const name = typeof line === 'string' ? line : (line as { name?: unknown }).name;
      if (typeof name === 'string' && wanted.has(name)) {
        taken.push(name);
      }
    }
    if (taken.length > 0) {
      const first = taken[0] as string;
      throw new AppError(
        409,
        'conflict',
        `${scope}:${first}${taken.length > 1 ? ` and ${taken.length - 1} more of the names` : ''} exist${taken.length > 1 ? '' : 's'} already in the data lake (from ${wanted.get(first)}); data in the lake is never replaced. Choose a new dataset name, or rename the local file${taken.length > 1 ? 's' : ''}.`
      );
    }
  }

  // ---------------------------------------------------------------- running

  private launch(job: LiveJob): void {
    this.cancelSweep(job);
    const abort = new AbortController();
    job.abort = abort;
    job.samples.length = 0;
    job.run = this.run(job, abort.signal)
      .catch(error => {
        // Every step reports its own failure; this is for what none of them foresaw.
        log('error', 'an upload stopped unexpectedly', {
          instance: this.rucio.instance.name,
          job: job.journal.id,
          error: error instanceof Error ? error.message : String(error)
        });
        this.finish(job, 'failed', sentenceOf(error));
      })
      .finally(() => {
        job.abort = null;
        job.run = null;
      });
  }

  private async run(job: LiveJob, signal: AbortSignal): Promise<void> {
    const { journal } = job;
    await job.sweeping;
    const state: RunState = {
      signal,
      pfns: new Map(),
      pfnCursor: 0,
      checked: [],
      registering: null
    };
    // The first PFNs are asked for while the dataset and its rule are made (nothing is written).
    const firstToSend = journal.files.find(f => f.phase === 'waiting' && !f.cancelled);
    if (firstToSend !== undefined) {
      void this.pfnGroupOf(job, state, firstToSend);
    }
    try {
      await this.prepareDataset(journal);
    } catch (error) {
      if (this.disposed) {
        this.finish(job, 'interrupted', INTERRUPTED);
      } else {
        this.finish(
          job,
          signal.aborted ? 'cancelled' : 'failed',
          signal.aborted ? null : sentenceOf(error)
        );
      }
      return;
    }
    // A file's registration does not hold up its sender: the next file's PUT starts at once.
    const registrations: Promise<void>[] = [];
    const fail = async (file: JournalFile, error: unknown): Promise<void> => {
      job.shown.delete(file.name);
      job.sending.delete(file.name);
      if (signal.aborted) {
        file.cancelled = true;
      } else {
        file.error = sentenceOf(error);
      }
      // Whatever the failure, what was put but not registered goes (or is kept for the sweep).
      await this.settle(journal, file).catch(() => undefined);
      this.saveFiles(job, [file]);
    };
    // Once the storage (or Rucio) stops answering, the files not begun fail at once with that
    // sentence instead of each waiting out the timeout in turn; a retry sends them.
    let silent: string | null = null;
    await inParallel(journal.files, this.parallel, async file => {
      if (file.phase === 'done' || file.cancelled) {
        return;
      }
      if (signal.aborted) {
        file.cancelled = true;
        return;
      }
      if (silent !== null && file.phase === 'waiting') {
        file.error = silent;
        return;
      }
      try {
        await this.sendFile(job, state, file);
        registrations.push(this.register(job, state, file).catch(error => fail(file, error)));
      } catch (error) {
        if (error instanceof AppError && error.status === 504) {
          silent ??= sentenceOf(error);
        }
        await fail(file, error);
      }
    });
    await Promise.all(registrations);
    if (this.disposed) {
      this.finish(job, 'interrupted', INTERRUPTED);
      return;
    }
    if (signal.aborted) {
      this.finish(job, 'cancelled', null);
      return;
    }
    const failed = journal.files.filter(f => f.phase !== 'done');
    if (failed.length === 0) {
      this.finish(job, 'done', null);
      return;
    }
    const first = failed.find(f => f.error !== null)?.error ?? 'A file was not sent.';
    this.finish(
      job,
      'failed',
      `${failed.length} of ${journal.files.length} files were not uploaded. The first reason: ${first} Retry the upload to send them: the files already in the lake are kept.`
    );
  }

  /** Creates the dataset (with its metadata) and its rule, once. */
  private async prepareDataset(journal: JournalJob): Promise<void> {
    if (journal.datasetReady) {
      return;
    }
    const did = `${journal.scope}:${journal.dataset}`;
    const path = didPath(journal.scope, journal.dataset);
    if (journal.newDataset) {
      try {
        await this.send('POST', path, {
          body: { type: 'DATASET' },
          context: { did }
        });
      } catch (error) {
        // Made by an earlier attempt of this job whose answer was lost: Rucio says whose it is.
        if (!(await this.isOwnDataset(journal))) {
          throw error;
        }
      }
    }
    // On a dataset that takes more files too: the user asked for this metadata. The metadata and
    // the rule need only the dataset: they are asked for together.
    const meta =
      Object.keys(journal.metadata).length > 0
        ? this.send('POST', `${path}/meta`, {
            body: { meta: journal.metadata },
            context: { did }
          })
        : Promise.resolve();
    const rule = this.makeRule(journal);
    const [metaDone, ruleDone] = await Promise.allSettled([meta, rule]);
    for (const outcome of [metaDone, ruleDone]) {
      if (outcome.status === 'rejected') {
        throw outcome.reason;
      }
    }
    journal.datasetReady = true;
  }

  /** The account's rule on the dataset toward the RSE (one there already covers these files). */
  private async makeRule(journal: JournalJob): Promise<void> {
    const did = `${journal.scope}:${journal.dataset}`;
    try {
      await this.rucio.json('POST', '/rules/', {
        body: {
          dids: [{ scope: journal.scope, name: journal.dataset }],
          account: journal.account,
          copies: 1,
          rse_expression: journal.rse,
          grouping: 'DATASET',
          lifetime: journal.lifetimeSeconds,
          comment: 'dlaas: uploaded from JupyterLab',
          asynchronous: false
        },
        context: { did, rse: journal.rse }
      });
    } catch (error) {
      // DuplicateRule: the dataset has the account's rule on the RSE already (an earlier attempt,
      // or a dataset that takes more files): it covers these too.
      if (!(error instanceof AppError && error.code === 'conflict')) {
        throw error;
      }
    }
  }

  /** A request whose answer is only its status (Rucio says "Created"). */
  private async send(method: string, path: string, options: RequestOptions): Promise<void> {
    const response = await this.rucio.request(method, path, options);
    await response.text().catch(() => undefined);
  }

  /** Whether the job's dataset exists as an open dataset made by the job's account. */
  private async isOwnDataset(journal: JournalJob): Promise<boolean> {
    const found = await this.rucio
      .json<{ type?: unknown; account?: unknown; open?: unknown } | null>(
        'GET',
        didPath(journal.scope, journal.dataset)
      )
      .catch(() => null);
    return (
      String(found?.type ?? '').toUpperCase() === 'DATASET' &&
      found?.account === journal.account &&
      found.open !== false
    );
  }

  /**
   * One file, from wherever it stands to checked on the storage (`uploaded`), or as far as an
   * earlier attempt took it (`registered`); {@link register} takes it on from there.
   */
  private async sendFile(job: LiveJob, state: RunState, file: JournalFile): Promise<void> {
    const { journal } = job;
    const { signal } = state;
    file.error = null;
    await this.settle(journal, file);
    if (file.phase === 'waiting') {
      const pfn = await this.pfnFor(job, state, file);
      job.shown.set(file.name, 'uploading');
      file.phase = 'uploading';
      file.pfn = pfn;
      file.adler32 = null;
      file.md5 = null;
      this.saveFiles(job, [file]);
      // A connection the storage drops is tried again (the PUT sends the whole file anew).
      const dropped = (error: unknown): boolean => error instanceof StorageDropped;
      const send = (): Promise<SentFile> =>
        retryDropped(
          () => {
            job.sending.set(file.name, 0);
            return this.writer.put(
              pfn,
              file.path,
              file.bytes,
              bytes => {
                job.sending.set(file.name, (job.sending.get(file.name) ?? 0) + bytes);
                this.sample(job);
              },
              signal
            );
          },
          dropped,
          signal
        );
      const check = (): Promise<StoredFile | null> =>
        retryDropped(() => this.writer.head(pfn), dropped, signal);
      const holds = (stored: StoredFile | null, sent: SentFile): boolean =>
        stored !== null &&
        stored.bytes === sent.bytes &&
        (stored.adler32 === null || sameAdler32(stored.adler32, sent.adler32));
      /**
       * The file goes once more (once per file) after a storage that answered the PUT with a
       * server error, or answered it but holds nothing or other bytes (devlake's XRootD 5.5.3
       * did both, about one file in a thousand under load).
       */
      let resent = false;
      const again = (reason: string): void => {
        resent = true;
        log('warn', 'the storage did not take the file; sending it again', {
          instance: journal.instance,
          rse: journal.rse,
          did: `${journal.scope}:${file.name}`,
          reason
        });
        job.shown.set(file.name, 'uploading');
      };
      let sent: SentFile;
      try {
        sent = await send();
      } catch (error) {
        if (!(error instanceof StorageTrouble) || signal.aborted) {
          throw error;
        }
        again(error.message);
        sent = await send();
      }
      job.shown.set(file.name, 'verifying');
      let stored = await check();
      if (!holds(stored, sent) && !resent) {
        again(stored === null ? 'it holds nothing' : `it holds ${stored.bytes} bytes`);
        sent = await send();
        job.shown.set(file.name, 'verifying');
        stored = await check();
      }
      if (!holds(stored, sent)) {
        throw new AppError(
          502,
          'rucio_error',
          `The storage of ${journal.rse} does not hold what was sent for ${file.path} (${stored === null ? 'no file' : `${stored.bytes} bytes${stored.adler32 ? `, Adler-32 ${stored.adler32}` : ''}`} where ${sent.bytes} bytes, Adler-32 ${sent.adler32} were sent; the file was sent twice). Retry the upload; if it persists, tell the data lake's admins.`
        );
      }
      file.adler32 = sent.adler32;
      file.md5 = sent.md5;
      file.phase = 'uploaded';
      this.saveFiles(job, [file]);
    }
    job.shown.set(file.name, 'registering');
  }

  /**
   * Registers and attaches a checked file with the others checked meanwhile: settles when the
   * file is `done`, fails with the file's own reason. One group at a time: the files checked
   * while a group's requests run make the next group (no timer: a lone file goes at once).
   */
  private register(job: LiveJob, state: RunState, file: JournalFile): Promise<void> {
    const settled = new Promise<void>((done, failed) => {
      state.checked.push({ file, done, failed });
    });
    this.nextGroup(job, state);
    return settled;
  }

  private nextGroup(job: LiveJob, state: RunState): void {
    if (state.registering !== null || state.checked.length === 0) {
      return;
    }
    const group = state.checked.splice(0, REGISTER_GROUP);
    state.registering = this.registerGroup(job, state.signal, group).finally(() => {
      state.registering = null;
      this.nextGroup(job, state);
    });
  }

  /**
   * One group: `POST /replicas/` of its `uploaded` files (journal `registered`), then one
   * attachment of all of them to the dataset (journal `done`). Rucio registers a group all or
   * nothing: when the request fails, Rucio is asked which replicas it has, and the others are
   * registered one by one, so one file's fault fails that file only (and a lost answer is no
   * fault). A failed attachment is done again file by file. Never rejects: each file hears its own
   * outcome.
   */
  private async registerGroup(
    job: LiveJob,
    signal: AbortSignal,
    group: readonly Checked[]
  ): Promise<void> {
    const { journal } = job;
    if (signal.aborted) {
      for (const entry of group) {
        entry.failed(signal.reason);
      }
      return;
    }
    const failed = new Set<Checked>();
    const fail = (entry: Checked, error: unknown): void => {
      failed.add(entry);
      entry.failed(error);
    };
    const unregistered = group.filter(e => e.file.phase === 'uploaded');
    if (unregistered.length > 0) {
      try {
        await this.registerReplicas(journal, unregistered);
        for (const entry of unregistered) {
          entry.file.phase = 'registered';
        }
      } catch (error) {
        if (unregistered.length === 1) {
          // As for any failed file: its settling asks Rucio whether the replica is there.
          fail(unregistered[0] as Checked, error);
        } else {
          await this.registerOneByOne(journal, unregistered, error, fail);
        }
      }
      this.saveFiles(
        job,
        unregistered.map(e => e.file)
      );
    }
    const attachable = group.filter(e => !failed.has(e) && e.file.phase === 'registered');
    if (attachable.length > 0) {
      try {
        await this.send('POST', `${didPath(journal.scope, journal.dataset)}/dids`, {
          body: { dids: attachable.map(e => ({ scope: journal.scope, name: e.file.name })) },
          context: { did: `${journal.scope}:${journal.dataset}` }
        });
      } catch {
        // One of them attached already (a lost answer), or one refused: file by file, as before.
        await Promise.all(
          attachable.map(entry =>
            this.attach(journal, entry.file).catch((error: unknown) => fail(entry, error))
          )
        );
      }
    }
    for (const entry of attachable) {
      if (!failed.has(entry)) {
        entry.file.phase = 'done';
        job.shown.delete(entry.file.name);
        job.sending.delete(entry.file.name);
      }
    }
    this.saveFiles(
      job,
      attachable.map(e => e.file)
    );
    for (const entry of attachable) {
      if (!failed.has(entry)) {
        entry.done();
      }
    }
  }

  /** `POST /replicas/` of checked files, with the sizes and checksums the PUT summed. */
  private async registerReplicas(journal: JournalJob, entries: readonly Checked[]): Promise<void> {
    const only = entries.length === 1 ? (entries[0] as Checked).file.name : undefined;
    await this.send('POST', '/replicas/', {
      body: {
        rse: journal.rse,
        files: entries.map(({ file }) => ({
          scope: journal.scope,
          name: file.name,
          bytes: file.bytes,
          adler32: file.adler32,
          md5: file.md5
        }))
      },
      context: {
        ...(only === undefined ? {} : { did: `${journal.scope}:${only}` }),
        rse: journal.rse
      }
    });
  }

  /** After a group's registration failed: what Rucio has is registered, the others one by one. */
  private async registerOneByOne(
    journal: JournalJob,
    entries: readonly Checked[],
    groupError: unknown,
    fail: (entry: Checked, error: unknown) => void
  ): Promise<void> {
    let there: Set<string>;
    try {
      there = await this.replicasThere(
        journal,
        entries.map(e => e.file.name)
      );
    } catch {
      // Rucio cannot say: each file is settled (or left for the sweep) as after any failure.
      for (const entry of entries) {
        fail(entry, groupError);
      }
      return;
    }
    await inParallel(entries, this.parallel, async entry => {
      if (there.has(entry.file.name)) {
        entry.file.phase = 'registered';
        return;
      }
      try {
        await this.registerReplicas(journal, [entry]);
        entry.file.phase = 'registered';
      } catch (error) {
        fail(entry, error);
      }
    });
  }

  /**
   * The PFN of a file about to be sent: from its group's `lfns2pfns` answer (see
   * {@link pfnGroupOf}), else (a PFN that is not HTTP, or a group request that failed) asked for
   * alone, as {@link pfnOf} does.
   */
  private async pfnFor(job: LiveJob, state: RunState, file: JournalFile): Promise<string> {
    const pfns = await this.pfnGroupOf(job, state, file);
    return pfns?.get(file.name) ?? this.pfnOf(job.journal, file);
  }

  /**
   * The `lfns2pfns` answer that holds a file's PFN. The first file that needs one asks Rucio for
   * it and for the next waiting files of the job in the same request (as many as fit its URL), so
   * a job of many small files costs a PFN request per few dozen files, not per file. Null when
   * that request failed: each file then asks alone when its turn comes.
   */
  private pfnGroupOf(
    job: LiveJob,
    state: RunState,
    file: JournalFile
  ): Promise<Map<string, string> | null> {
    const known = state.pfns.get(file.name);
    if (known !== undefined) {
      return known;
    }
    const { journal } = job;
    const batch = [file];
    let chars = encodeURIComponent(`${journal.scope}:${file.name}`).length;
    const files = journal.files;
    for (; state.pfnCursor < files.length; state.pfnCursor++) {
      const next = files[state.pfnCursor] as JournalFile;
      if (
        next === file ||
        next.phase !== 'waiting' ||
        next.cancelled ||
        state.pfns.has(next.name)
      ) {
        continue;
      }
      const length = encodeURIComponent(`${journal.scope}:${next.name}`).length + 5;
      if (chars + length > PFN_QUERY_CHARS) {
        break;
      }
      chars += length;
      batch.push(next);
    }
    const group = this.pfnsOf(
      journal,
      batch.map(f => f.name)
    ).catch(() => null);
    for (const member of batch) {
      state.pfns.set(member.name, group);
    }
    return group;
  }

  /**
   * HTTP PFNs of several files in one `lfns2pfns` request (the RSE's preferred write protocol).
   * A file whose PFN is not HTTP or WebDAV is left out: {@link pfnOf} tries the other schemes.
   */
  private async pfnsOf(
    journal: JournalJob,
    names: readonly string[]
  ): Promise<Map<string, string>> {
    const lfns = names.map(name => `${journal.scope}:${name}`);
    const answer = await this.rucio.json<Record<string, unknown> | null>(
      'GET',
      `/rses/${segment(journal.rse)}/lfns2pfns`,
      {
        query: { lfn: lfns, operation: 'write' },
        context: { ...(lfns.length === 1 ? { did: lfns[0] } : {}), rse: journal.rse }
      }
    );
    const pfns = new Map<string, string>();
    names.forEach((name, index) => {
      const pfn = answer?.[lfns[index] as string];
      if (typeof pfn === 'string' && /^(https?|davs?):\/\//.test(pfn)) {
        pfns.set(name, pfn);
      }
    });
    return pfns;
  }

  /**
   * Where the file's bytes go on the RSE, from Rucio (operation write): the RSE's preferred write
   * protocol, or, when that is not HTTP (an XRootD `root://` first, say), its WebDAV or HTTP one.
   */
  private async pfnOf(journal: JournalJob, file: JournalFile): Promise<string> {
    const lfn = `${journal.scope}:${file.name}`;
    let named: string | undefined;
    for (const scheme of [undefined, 'davs', 'https', 'http']) {
      const answer = await this.rucio
        .json<Record<string, unknown> | null>('GET', `/rses/${segment(journal.rse)}/lfns2pfns`, {
          query: { lfn, operation: 'write', scheme },
          context: { did: lfn, rse: journal.rse }
        })
        .catch((error: unknown) => {
          // The preferred protocol must answer; a scheme the RSE does not have is no answer.
          if (scheme === undefined) {
            throw error;
          }
          return null;
        });
      const pfn = answer?.[lfn];
      if (typeof pfn === 'string' && /^(https?|davs?):\/\//.test(pfn)) {
        return pfn;
      }
      named ??= typeof pfn === 'string' ? pfn.split(':')[0] : undefined;
    }
    throw new AppError(
      502,
      'not_configured',
      `${journal.rse} has no storage address dlaas can write over HTTP or WebDAV (Rucio names ${named ?? 'none'}). Choose another RSE, or tell the data lake's admins.`
    );
  }

  /** Attaches a registered file to the dataset; one attached by an earlier attempt is fine. */
  private async attach(journal: JournalJob, file: JournalFile): Promise<void> {
    const did = `${journal.scope}:${journal.dataset}`;
    try {
      await this.send('POST', `${didPath(journal.scope, journal.dataset)}/dids`, {
        body: { dids: [{ scope: journal.scope, name: file.name }] },
        context: { did }
      });
    } catch (error) {
      // An earlier attempt attached it and its answer was lost: Rucio's parents of the file say so.
      const parents = this.rucio.lines<{ scope?: unknown; name?: unknown }>(
        'GET',
        `${didPath(journal.scope, file.name)}/parents`
      );
      for await (const parent of parents) {
        if (parent.scope === journal.scope && parent.name === journal.dataset) {
          return;
        }
      }
      throw error;
    }
  }

  /**
   * Brings a file that stopped between steps to a clean state: `uploading` (the storage may hold
   * part of it) → its bytes deleted, `waiting`; `uploaded` → Rucio is asked whether the replica
   * was registered (`registered`), else its bytes are deleted (`waiting`). Throws when the
   * storage or Rucio cannot be asked; the file then stays as it is.
   */
  private async settle(journal: JournalJob, file: JournalFile): Promise<void> {
    if (file.phase === 'uploaded') {
      file.phase = (await this.hasReplica(journal, file)) ? 'registered' : 'uploading';
    }
    if (file.phase === 'uploading') {
      await this.writer.remove(file.pfn ?? (await this.pfnOf(journal, file)));
      file.phase = 'waiting';
    }
  }

  private async hasReplica(journal: JournalJob, file: JournalFile): Promise<boolean> {
    return (await this.replicasThere(journal, [file.name])).has(file.name);
  }

  /** Which of the names have a replica (in any state) on the job's RSE, in one listing. */
  private async replicasThere(journal: JournalJob, names: readonly string[]): Promise<Set<string>> {
    const wanted = new Set(names);
    const there = new Set<string>();
    for await (const line of this.rucio.lines<{
      scope?: unknown;
      name?: unknown;
      rses?: Record<string, unknown>;
    }>('POST', '/replicas/list', {
      body: {
        dids: names.map(name => ({ scope: journal.scope, name })),
        all_states: true,
        rse_expression: journal.rse,
        sort: 'random'
      }
    })) {
      if (
        typeof line.name === 'string' &&
        wanted.has(line.name) &&
        (line.scope === undefined || line.scope === journal.scope) &&
        journal.rse in (line.rses ?? {})
      ) {
        there.add(line.name);
      }
    }
    return there;
  }

  private finish(job: LiveJob, state: JournalJob['state'], error: string | null): void {
    const { journal } = job;
    journal.state = state;
    journal.error =
      state === 'cancelled' ? 'You cancelled this upload. Retry it to finish it.' : error;
    journal.finishedAt = new Date().toISOString();
    job.shown.clear();
    job.sending.clear();
    this.save(job);
    log(state === 'done' ? 'info' : 'warn', 'upload ended', {
      instance: journal.instance,
      job: journal.id,
      did: `${journal.scope}:${journal.dataset}`,
      state,
      files: journal.files.length
    });
    if (state !== 'done') {
      this.scheduleSweep(job, 0);
    }
  }

  // ---------------------------------------------------------------- cleaning up after failures

  private unsettled(journal: JournalJob): JournalFile[] {
    return journal.files.filter(f => f.phase === 'uploading' || f.phase === 'uploaded');
  }

  /**
   * Cleans up after a job that did not finish (see {@link settle}), again and again with growing
   * waits while something cannot be reached, until every file is clean or the job runs again.
   */
  private scheduleSweep(job: LiveJob, attempt: number): void {
    this.cancelSweep(job);
    if (this.disposed || this.unsettled(job.journal).length === 0) {
      return;
    }
    const delay =
      attempt === 0
        ? 0
        : (SWEEP_DELAYS_MS[Math.min(attempt, SWEEP_DELAYS_MS.length) - 1] as number);
    job.sweep = setTimeout(() => {
      job.sweep = null;
      void this.sweep(job).then(clean => {
        if (!clean && job.run === null && this.jobs.has(job.journal.id)) {
          this.scheduleSweep(job, attempt + 1);
        }
      });
    }, delay);
    job.sweep.unref();
  }

  private cancelSweep(job: LiveJob): void {
    if (job.sweep !== null) {
      clearTimeout(job.sweep);
      job.sweep = null;
    }
  }

  /** One round of clean-up; true when nothing is left to clean. */
  private sweep(job: LiveJob): Promise<boolean> {
    if (job.run !== null) {
      return Promise.resolve(true);
    }
    job.sweeping ??= (async () => {
      let clean = true;
      // A few at a time: a job of many small files leaves several files half-done at once.
      await inParallel(this.unsettled(job.journal), this.parallel, async file => {
        try {
          await this.settle(job.journal, file);
        } catch {
          clean = false;
        }
      });
      this.save(job);
      return clean;
    })().finally(() => {
      job.sweeping = null;
    });
    return job.sweeping;
  }

  // ---------------------------------------------------------------- the API's other verbs

  private job(id: string): LiveJob {
    const job = this.jobs.get(id);
    if (!job) {
      throw new AppError(
        404,
        'not_found',
        `There is no upload "${id.slice(0, 40)}" on ${this.rucio.instance.name}. It may have been forgotten; list the uploads to see those there are.`
      );
    }
    return job;
  }

  /** The jobs, newest first. */
  list(): UploadJob[] {
    return [...this.jobs.values()]
      .sort((a, b) => b.journal.createdAt.localeCompare(a.journal.createdAt))
      .map(job => this.view(job));
  }

  /** One job with a window of its files. */
  get(id: string, offset?: number, limit?: number): UploadDetail {
    return this.detail(this.job(id), offset, limit);
  }

  /** Stops a running job: transfers under way are broken off and their bytes deleted. */
  async cancel(id: string): Promise<UploadDetail> {
    const job = this.job(id);
    if (job.run !== null) {
      job.abort?.abort(new AppError(409, 'conflict', 'You cancelled this upload.'));
      await job.run;
    }
    return this.detail(job);
  }

  /** Runs a job that failed, was cancelled or was interrupted again, from where it stopped. */
  retry(id: string): UploadDetail {
    const job = this.job(id);
    const { journal } = job;
    if (job.run !== null) {
      return this.detail(job);
    }
    if (journal.state === 'done') {
      throw new AppError(409, 'conflict', 'This upload is done; there is nothing to retry.');
    }
    for (const file of journal.files) {
      file.cancelled = false;
      file.error = null;
    }
    journal.state = 'running';
    journal.error = null;
    journal.finishedAt = null;
    this.save(job);
    this.launch(job);
    return this.detail(job);
  }

  /**
   * Forgets a job that is not running. What it left half-done is cleaned up first; when the
   * storage or Rucio cannot be asked, the job is kept and the 409 says so.
   */
  async forget(id: string): Promise<void> {
    const job = this.job(id);
    if (job.run !== null) {
      throw new AppError(
        409,
        'conflict',
        'This upload is still running. Cancel it first, then remove it from the list.'
      );
    }
    if (!(await this.sweep(job))) {
      throw new AppError(
        409,
        'conflict',
        'Parts of files this upload sent could not be removed from the storage yet (it cannot be reached). dlaas keeps trying; remove the upload from the list once the storage answers again.'
      );
    }
    this.cancelSweep(job);
    this.jobs.delete(id);
    this.journal.remove(id);
  }

  /** Stops the jobs (the companion stops): they show as interrupted at the next start. */
  async dispose(): Promise<void> {
    this.disposed = true;
    const running = [...this.jobs.values()].filter(j => j.run !== null);
    for (const job of this.jobs.values()) {
      this.cancelSweep(job);
    }
    for (const job of running) {
      job.abort?.abort(new Error('the companion stops'));
    }
    await Promise.all([
      ...running.map(j => j.run),
      ...[...this.jobs.values()].map(j => j.sweeping)
    ]);
    this.writer.close();
  }

  // ---------------------------------------------------------------- progress

  private save(job: LiveJob): void {
    this.write(() => this.journal.save(job.journal));
  }

  /** Saves the state of some of a job's files (a line each in the journal's log). */
  private saveFiles(job: LiveJob, files: readonly JournalFile[]): void {
    if (files.length > 0) {
      this.write(() => this.journal.saveFiles(job.journal, files));
    }
  }

  private write(saving: () => void): void {
    try {
      saving();
    } catch (error) {
      log('error', 'the upload journal could not be written', {
        folder: this.journal.folder,
        reason: (error as Error).message
      });
    }
  }

  private sample(job: LiveJob): void {
    const now = Date.now();
    const last = job.samples[job.samples.length - 1];
    if (last !== undefined && now - last.at < 250) {
      return;
    }
    job.samples.push({ at: now, bytes: this.bytesDone(job) });
    while (job.samples.length > 2 && now - (job.samples[0] as { at: number }).at > RATE_WINDOW_MS) {
      job.samples.shift();
    }
  }

  private bytesDone(job: LiveJob): number {
    let bytes = 0;
    for (const file of job.journal.files) {
      if (file.phase === 'uploaded' || file.phase === 'registered' || file.phase === 'done') {
        bytes += file.bytes;
      } else {
        bytes += job.sending.get(file.name) ?? 0;
      }
    }
    return bytes;
  }

  private view(job: LiveJob): UploadJob {
    const { journal } = job;
    const running = job.run !== null;
    const done = this.bytesDone(job);
    const total = journal.files.reduce((sum, f) => sum + f.bytes, 0);
    let rate = 0;
    const first = job.samples[0];
    if (running && first !== undefined && Date.now() - first.at >= 500) {
      rate = Math.max(0, (done - first.bytes) / ((Date.now() - first.at) / 1000));
    }
    const view: UploadJob = {
      id: journal.id,
      instance: journal.instance,
      account: journal.account,
      scope: journal.scope,
      dataset: journal.dataset,
      did: didString({ scope: journal.scope, name: journal.dataset }),
      rse: journal.rse,
      lifetimeSeconds: journal.lifetimeSeconds,
      metadata: journal.metadata,
      state: journal.state,
      createdAt: journal.createdAt,
      finishedAt: journal.finishedAt,
      filesTotal: journal.files.length,
      filesDone: journal.files.filter(f => f.phase === 'done').length,
      filesFailed: journal.files.filter(f => f.error !== null).length,
      bytesTotal: total,
      bytesDone: done,
      bytesPerSecond: Math.round(rate),
      secondsLeft: rate > 0 ? Math.ceil((total - done) / rate) : null,
      skipped: journal.skipped
    };
    if (journal.error !== null) {
      view.error = journal.error;
    }
    return view;
  }

  /** A job and a window of its files. */
  private detail(job: LiveJob, offset = 0, limit = 1000): UploadDetail {
    const files = job.journal.files;
    return {
      upload: this.view(job),
      files: {
        items: files.slice(offset, offset + limit).map(file => this.fileView(job, file)),
        offset,
        limit,
        total: files.length,
        complete: true
      }
    };
  }

  private fileView(job: LiveJob, file: JournalFile): UploadFile {
    const finished =
      file.phase === 'uploaded' || file.phase === 'registered' || file.phase === 'done';
    const state: UploadFile['state'] =
      file.phase === 'done'
        ? 'done'
        : file.error !== null
          ? 'failed'
          : file.cancelled
            ? 'cancelled'
            : (job.shown.get(file.name) ?? 'waiting');
    return {
      path: file.path,
      name: file.name,
      bytesTotal: file.bytes,
      bytesDone: finished ? file.bytes : (job.sending.get(file.name) ?? 0),
      state,
      adler32: file.adler32,
      md5: file.md5,
      error: file.error,
      leftover: file.phase === 'uploading' || file.phase === 'uploaded' ? job.run === null : false
    };
  }
}

function journalFile(file: LocalFile & { name: string }): JournalFile {
  return {
    path: file.path,
    name: file.name,
    bytes: file.bytes,
    phase: 'waiting',
    pfn: null,
    adler32: null,
    md5: null,
    error: null,
    cancelled: false
  };
}

function ambiguity(name: string, what: string): string | null {
  const problem = pathAmbiguity(name);
  return problem === null ? null : `${what} "${name.slice(0, 80)}" cannot be used: ${problem}.`;
}

/** The sentence of an error for the job's list (never a stack trace). */
function sentenceOf(error: unknown): string {
  if (error instanceof AppError) {
    return error.message;
  }
  return 'Something went wrong in the data lake companion during the upload. Retry it; if it persists, restart your server.';
}

/** Bytes as people read them, with Rucio's exact number. */
function size(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0
    ? `${bytes} bytes`
    : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]} (${bytes.toLocaleString('en')} bytes)`;
}
