/**
 * Data attached to notebooks: which DIDs a notebook uses under which variable names, kept in the
 * notebook's metadata, and the injection of those variables into its kernel — when the kernel is
 * first ready, after every restart or kernel change, and when an attached DID becomes available.
 *
 * Metadata layout (in the `.ipynb` file, so the attachments travel with the notebook):
 *
 * ```json
 * "metadata": {
 *   "dlaas": {
 *     "attachments": [
 *       { "instance": "escape", "did": "user.alice:run1.root", "variable": "run1" }
 *     ]
 *   }
 * }
 * ```
 *
 * `instance` is the dlaas instance name, `did` is `scope:name`, `variable` the variable's name in
 * the kernel. Other keys under `dlaas` are kept as they are. Reading is forgiving: entries that are
 * not objects with three non-empty strings, and second entries for a variable already taken, are
 * ignored (a hand-edited notebook never breaks the panel); a variable that is not a valid name in
 * the kernel's language is reported as failed and never written into code.
 *
 * Only attachments the user agreed to are set in the kernel (see `approvals.ts`): those added in
 * this JupyterLab, and those that came with the notebook once the user chose Allow. Until then
 * such an attachment stands at `needs-approval` and nothing about it reaches the kernel.
 */
import type { Availability, AvailabilityState } from '@dlaas/api';
import type { Kernel, KernelMessage } from '@jupyterlab/services';
import type { TranslationBundle } from '@jupyterlab/translation';
import type { IDisposable } from '@lumino/disposable';
import { Signal, type ISignal } from '@lumino/signaling';
import { splitDid, type DataLakeClient } from '../client';
import { AttachmentApprovals, type IApprovalStore } from './approvals';
import {
  injectionCode,
  kernelLanguage,
  variableNameProblem,
  type InjectedValue,
  type KernelLanguage
} from './kernelCode';

/** The notebook metadata key under which dlaas keeps its data. */
export const METADATA_KEY = 'dlaas';

/** One DID attached to a notebook, as stored in its metadata. */
export interface IAttachment {
  /** The dlaas instance (Rucio deployment) the DID belongs to. */
  readonly instance: string;
  /** `scope:name`. */
  readonly did: string;
  /** The name of the variable that holds its path(s) in the kernel. */
  readonly variable: string;
}

/**
 * Where an attachment's variable stands in the kernel:
 * - `needs-approval`: the attachment came with the notebook (its metadata was written elsewhere)
 *   and is set only once the user allows it ({@link NotebookAttachments.allow});
 * - `waiting`: no kernel yet, or it is restarting;
 * - `injecting`: being looked up and set;
 * - `injected`: the variable holds the path (or paths);
 * - `not-available`: the data is not available (yet); the variable holds a value that fails with
 *   {@link IAttachmentStatus.message} when used;
 * - `failed`: the variable could not be set; see the message.
 */
export type AttachmentState =
  'needs-approval' | 'waiting' | 'injecting' | 'injected' | 'not-available' | 'failed';

/** An attachment with where its variable stands. */
export interface IAttachmentStatus {
  readonly attachment: IAttachment;
  readonly state: AttachmentState;
  /** For `needs-approval`, `waiting`, `not-available` and `failed`: what happened, what to do. */
  readonly message: string | null;
  /** The DID's availability when last looked up, or null. */
  readonly availability: AvailabilityState | null;
  /** For `injected`: the number of paths the variable holds. */
  readonly paths: number | null;
}

/** The attachments of a notebook, read from its metadata; malformed entries are skipped. */
export function readAttachments(metadata: unknown): IAttachment[] {
  if (!Private.isObject(metadata) || !Array.isArray(metadata['attachments'])) {
    return [];
  }
  const seen = new Set<string>();
  const attachments: IAttachment[] = [];
  for (const entry of metadata['attachments'] as unknown[]) {
    if (!Private.isObject(entry)) {
      continue;
    }
    const { instance, did, variable } = entry;
    if (
      !Private.isText(instance) ||
      !Private.isText(did) ||
      !did.includes(':') ||
      !Private.isText(variable) ||
      seen.has(variable)
    ) {
      continue;
    }
    seen.add(variable);
    attachments.push({ instance, did, variable });
  }
  return attachments;
}

/** The `dlaas` metadata value holding `attachments`, keeping the other keys of `previous`. */
export function writeAttachments(
  previous: unknown,
  attachments: readonly IAttachment[]
): Record<string, unknown> {
  return {
    ...(Private.isObject(previous) ? previous : {}),
    attachments: attachments.map(({ instance, did, variable }) => ({ instance, did, variable }))
  };
}

/** What {@link NotebookAttachments} uses of a kernel connection. */
export interface IAttachmentsKernel {
  /** The kernel's `kernel_info` reply. */
  readonly info: Promise<{ language_info: { name: string } }>;
  /** Runs code; `done` gives the reply. */
  requestExecute(content: KernelMessage.IExecuteRequestMsg['content']): {
    readonly done: Promise<{ content: { status: string; ename?: string; evalue?: string } }>;
  };
}

/** What {@link NotebookAttachments} uses of a notebook's session context. */
export interface IAttachmentsSessionContext {
  readonly session: { readonly kernel: IAttachmentsKernel | null } | null;
  /** Fulfilled when the session is started. */
  readonly ready: Promise<void>;
  readonly statusChanged: ISignal<unknown, Kernel.Status>;
  readonly kernelChanged: ISignal<unknown, { readonly newValue: IAttachmentsKernel | null }>;
}

/** What {@link NotebookAttachments} uses of a notebook's model. */
export interface IAttachmentsModel {
  getMetadata(key: string): unknown;
  setMetadata(key: string, value: unknown): void;
  readonly metadataChanged: ISignal<unknown, unknown>;
}

/** A notebook, as attachments see it; a `NotebookPanel` is one. */
export interface IAttachableNotebook {
  /** The notebook's model; null until it is created. */
  readonly model: IAttachmentsModel | null;
  readonly sessionContext: IAttachmentsSessionContext;
  /** Its tab's title. */
  readonly title: { readonly label: string };
  /**
   * Its document: where it is saved (agreements to its attachments are kept by path) and when
   * that changes. Without it, agreements last as long as the notebook stays open.
   */
  readonly context?: { readonly path: string; readonly pathChanged: ISignal<unknown, string> };
}

/** Live availability of DIDs, as `AvailabilityEvents` provides it. */
export interface IAvailabilityFeed {
  /** Every availability pushed for a watched DID. */
  readonly changed: ISignal<unknown, Availability>;
  /** Watches a DID until the answer is disposed. */
  watch(instance: string, did: string): IDisposable;
}

/** Options of {@link NotebookAttachments}. */
export interface INotebookAttachmentsOptions {
  notebook: IAttachableNotebook;
  client: DataLakeClient;
  trans: TranslationBundle;
  /** When given, attached DIDs are watched and their variables set again when they change. */
  events?: IAvailabilityFeed | null;
  /**
   * Where the user's agreements to attachments are kept (JupyterLab's `IStateDB`); without it,
   * they last as long as the notebook stays open.
   */
  approvals?: IApprovalStore | null;
}

/** Thrown by {@link NotebookAttachments.attach}, with a sentence for the user. */
export class AttachmentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AttachmentError';
  }
}

/**
 * The data attached to one notebook and its variables in the notebook's kernel. Variables are set
 * when the kernel is first ready, after every restart or change of kernel, when an attached DID's
 * availability changes, and on {@link NotebookAttachments.refresh}.
 */
export class NotebookAttachments implements IDisposable {
  constructor(options: INotebookAttachmentsOptions) {
    this.notebook = options.notebook;
    this._client = options.client;
    this._trans = options.trans;
    this._events = options.events ?? null;
    const context = this.notebook.context;
    this._approvals = new AttachmentApprovals({
      store: options.approvals ?? null,
      path: context?.path ?? null
    });
    context?.pathChanged.connect(this._onPath, this);
    const { sessionContext } = this.notebook;
    sessionContext.statusChanged.connect(this._onStatus, this);
    sessionContext.kernelChanged.connect(this._onKernelChanged, this);
    this.notebook.model?.metadataChanged.connect(this._onMetadata, this);
    this._events?.changed.connect(this._onEvent, this);
    this._watch();
    void this._approvals.ready.then(() => this._emit());
    sessionContext.ready.then(
      () => this._autoInject(),
      () => undefined
    );
  }

  /** The notebook. */
  readonly notebook: IAttachableNotebook;

  /** The notebook's attachments, from its metadata. */
  get attachments(): IAttachment[] {
    return readAttachments(this.notebook.model?.getMetadata(METADATA_KEY));
  }

  /** Every attachment with where its variable stands. */
  get statuses(): IAttachmentStatus[] {
    return this.attachments.map(attachment => this._statusOf(attachment));
  }

  /** Where the attachment of `variable` stands, or undefined when there is none. */
  status(variable: string): IAttachmentStatus | undefined {
    const attachment = this.attachments.find(a => a.variable === variable);
    return attachment ? this._statusOf(attachment) : undefined;
  }

  /** Emitted with every attachment's status when an attachment or its state changes. */
  get changed(): ISignal<this, IAttachmentStatus[]> {
    return this._changed;
  }

  /**
   * The attachments that came with the notebook and wait for the user to allow them; empty
   * until the user's earlier agreements have been read.
   */
  get pending(): IAttachment[] {
    return this._approvals.isReady
      ? this.attachments.filter(a => !this._approvals.isApproved(a))
      : [];
  }

  /**
   * Emitted with {@link pending} when attachments start waiting for the user to allow them (when
   * the notebook opens, or its metadata changes), once per set of waiting attachments.
   */
  get approvalRequested(): ISignal<this, IAttachment[]> {
    return this._approvalRequested;
  }

  /**
   * Allows attachments waiting for it: they are remembered as agreed for this notebook and their
   * variables are set.
   *
   * @param shown - the attachments the user was shown and allowed (those still in the notebook
   * are agreed to); by default, every one waiting ({@link pending})
   */
  async allow(shown?: readonly IAttachment[]): Promise<void> {
    await this._approvals.ready;
    if (this._disposed) {
      return;
    }
    this._approvals.approve(shown ?? this.pending, this.attachments);
    this._emit();
    return this.inject();
  }

  /** Whether this has been disposed. */
  get isDisposed(): boolean {
    return this._disposed;
  }

  private _statusOf(attachment: IAttachment): IAttachmentStatus {
    if (this._approvals.isReady && !this._approvals.isApproved(attachment)) {
      return {
        attachment,
        state: 'needs-approval',
        message: this._trans.__(
          'This attachment came with the notebook: choose "Allow" to set %1 in the kernel, or "Remove" if you do not want it.',
          attachment.variable
        ),
        availability: null,
        paths: null
      };
    }
    const variable = attachment.variable;
    const known = this._states.get(variable);
    if (known && Private.sameData(known.attachment, attachment)) {
      return known;
    }
    return {
      attachment,
      state: 'waiting',
      message: this.notebook.sessionContext.session?.kernel
        ? null
        : this._trans.__('Start a kernel to get this variable.'),
      availability: null,
      paths: null
    };
  }

  /**
   * The kernel's language (null when dlaas cannot inject into it, or it is unknown) and its name
   * as the kernel gives it: from the kernel's info, waiting for it at most a few seconds, else
   * from the notebook's kernelspec metadata.
   */
  async language(): Promise<{ language: KernelLanguage | null; name: string }> {
    const kernel = this.notebook.sessionContext.session?.kernel ?? null;
    return this._languageOf(kernel, 3000);
  }

  /**
   * Attaches `attachment` to the notebook (written to its metadata; save the notebook to keep
   * it). Call {@link inject} to set its variable.
   *
   * @param options.replace - whether to replace an attachment using the same variable
   * @throws AttachmentError when the variable is taken (and `replace` is not set), is not a valid
   * name in the kernel's language, or the notebook is not loaded.
   */
  attach(attachment: IAttachment, options: { replace?: boolean } = {}): void {
    const model = this.notebook.model;
    if (!model) {
      throw new AttachmentError(
        this._trans.__('This notebook is not loaded yet: try again in a moment.')
      );
    }
    const { instance, did, variable } = attachment;
    if (!instance || !did.includes(':')) {
      throw new AttachmentError(
        this._trans.__('"%1" is not a data identifier of the form scope:name.', did)
      );
    }
    // Until the kernel's language is known, a name valid in any of the three languages will do.
    const language = this._language ?? this._metadataLanguage().language;
    const problems = (language ? [language] : (['python', 'r', 'julia'] as const)).map(l =>
      variableNameProblem(l, variable, this._trans)
    );
    if (problems.every(problem => problem !== null)) {
      throw new AttachmentError(problems[0] ?? '');
    }
    const attachments = this.attachments;
    const index = attachments.findIndex(a => a.variable === variable);
    const existing = attachments[index];
    if (existing && !options.replace) {
      throw new AttachmentError(
        Private.sameData(existing, attachment)
          ? this._trans.__('%1 is already attached to this notebook as %2.', did, variable)
          : this._trans.__(
              'The variable %1 already holds %2 in this notebook: choose another name, or remove that attachment first.',
              variable,
              existing.did
            )
      );
    }
    const entry = { instance, did, variable };
    if (existing) {
      attachments[index] = entry;
    } else {
      attachments.push(entry);
    }
    this._states.delete(variable);
    // Added here, by the user: agreed before the metadata says it.
    this._approvals.approve([entry], attachments);
    this._write(attachments);
  }

  /**
   * Removes the attachment of `variable` from the notebook; answers whether there was one. The
   * variable stays in the running kernel until it restarts.
   */
  detach(variable: string): boolean {
    const attachments = this.attachments;
    const remaining = attachments.filter(a => a.variable !== variable);
    if (remaining.length === attachments.length) {
      return false;
    }
    this._states.delete(variable);
    this._approvals.keepOnly(remaining);
    this._write(remaining);
    return true;
  }

  /**
   * Looks every attachment up and sets its variable in the kernel. Calls made while one runs
   * are served by one more run after it.
   */
  inject(): Promise<void> {
    if (this._running) {
      this._again = true;
      return this._running;
    }
    this._running = (async () => {
      try {
        do {
          this._again = false;
          await this._injectAll();
        } while (this._again && !this._disposed);
      } finally {
        this._running = null;
      }
    })();
    return this._running;
  }

  /** Sets every variable again (e.g. after the user made data available). */
  refresh(): Promise<void> {
    return this.inject();
  }

  /**
   * Tells that `did` of `instance` now stands at `state`; its variable is set again when that
   * differs from what it was set from.
   */
  onAvailability(instance: string, did: string, state: AvailabilityState): void {
    const stale = this.statuses.some(
      status =>
        status.attachment.instance === instance &&
        status.attachment.did === did &&
        status.state !== 'needs-approval' &&
        status.state !== 'waiting' &&
        status.state !== 'injecting' &&
        status.availability !== state
    );
    if (stale && this.notebook.sessionContext.session?.kernel) {
      void this.inject();
    }
  }

  /** Stops following the notebook and its kernel. Safe to call twice. */
  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._watches.forEach(watch => watch.dispose());
    this._watches.clear();
    this._events?.changed.disconnect(this._onEvent, this);
    this.notebook.sessionContext.statusChanged.disconnect(this._onStatus, this);
    this.notebook.sessionContext.kernelChanged.disconnect(this._onKernelChanged, this);
    this.notebook.model?.metadataChanged.disconnect(this._onMetadata, this);
    this.notebook.context?.pathChanged.disconnect(this._onPath, this);
    Signal.clearData(this);
  }

  private _onPath(_: unknown, path: string): void {
    this._approvals.moveTo(path);
  }

  private _write(attachments: IAttachment[]): void {
    const model = this.notebook.model;
    model?.setMetadata(
      METADATA_KEY,
      writeAttachments(model.getMetadata(METADATA_KEY), attachments)
    );
    // The model emits metadataChanged, which updates the watches and tells the views; a model
    // that does not (or not synchronously) still gets both here.
    this._onMetadata();
  }

  private _onMetadata(): void {
    if (this._disposed) {
      return;
    }
    this._watch();
    this._emit();
  }

  /** Watches the attached DIDs (and only them) when a feed of availabilities is given. */
  private _watch(): void {
    if (!this._events) {
      return;
    }
    const wanted = new Set(this.attachments.map(a => Private.key(a.instance, a.did)));
    for (const [key, watch] of this._watches) {
      if (!wanted.has(key)) {
        watch.dispose();
        this._watches.delete(key);
      }
    }
    for (const attachment of this.attachments) {
      const key = Private.key(attachment.instance, attachment.did);
      if (!this._watches.has(key)) {
        this._watches.set(key, this._events.watch(attachment.instance, attachment.did));
      }
    }
  }

  private _onEvent(_: unknown, availability: Availability): void {
    this.onAvailability(availability.instance, availability.did, availability.state);
  }

  private _onStatus(_: unknown, status: Kernel.Status): void {
    if (status === 'restarting' || status === 'autorestarting') {
      if (!this._restarting) {
        this._restarting = true;
        this._epoch++;
        this._injectedInto = null;
        this._setAll(
          'waiting',
          this._trans.__('The kernel is restarting; the variable is set again when it is ready.')
        );
        // JupyterLab clears its kernel's message queue right after it reports "restarting", then
        // queues what is sent until the restarted kernel answers. Sent after that clearing, the
        // last code set goes first, before cells run with the restart ("Restart Kernel and Run
        // All Cells"); the full injection once the kernel is idle brings the values up to date.
        const kernel = this.notebook.sessionContext.session?.kernel ?? null;
        queueMicrotask(() => this._replay(kernel));
      }
    } else if (status === 'idle' && this._restarting) {
      this._restarting = false;
      void this._autoInject();
    } else if (status === 'dead') {
      this._epoch++;
      this._injectedInto = null;
      this._setAll(
        'waiting',
        this._trans.__('The kernel is dead: restart it to get this variable.')
      );
    }
  }

  private _onKernelChanged(
    _: unknown,
    args: { readonly newValue: IAttachmentsKernel | null }
  ): void {
    this._restarting = false;
    this._epoch++;
    this._injectedInto = null;
    // The new kernel may speak another language.
    this._lastCode.clear();
    const kernel = args.newValue;
    if (!kernel) {
      this._setAll('waiting', this._trans.__('Start a kernel to get this variable.'));
      return;
    }
    this._setAll('waiting', null);
    kernel.info.then(
      () => this._autoInject(),
      () => this._autoInject()
    );
  }

  /** Sends `kernel` the code that last set each attachment's variable; answers are not awaited. */
  private _replay(kernel: IAttachmentsKernel | null): void {
    if (this._disposed || !kernel) {
      return;
    }
    for (const attachment of this.attachments) {
      const last = this._lastCode.get(attachment.variable);
      if (
        last &&
        Private.sameData(last.attachment, attachment) &&
        this._approvals.isApproved(attachment)
      ) {
        void kernel.requestExecute(Private.silently(last.code)).done.catch(() => undefined);
      }
    }
  }

  /** Injects unless the current kernel already got the variables since it last (re)started. */
  private _autoInject(): Promise<void> | undefined {
    const kernel = this.notebook.sessionContext.session?.kernel ?? null;
    if (this._disposed || this._restarting || !kernel || kernel === this._injectedInto) {
      return undefined;
    }
    return this.inject();
  }

  private async _injectAll(): Promise<void> {
    await this._approvals.ready;
    if (this._disposed) {
      return;
    }
    const kernel = this.notebook.sessionContext.session?.kernel ?? null;
    // Nothing of an attachment the user did not agree to reaches the kernel.
    const attachments = this._agreed();
    if (!kernel) {
      this._setAll('waiting', this._trans.__('Start a kernel to get this variable.'));
      return;
    }
    this._injectedInto = kernel;
    if (attachments.length === 0) {
      return;
    }
    const epoch = this._epoch;
    this._setAll('injecting', null);
    const { language, name } = await this._languageOf(kernel, null);
    if (epoch !== this._epoch || this._disposed) {
      return;
    }
    this._language = language;
    if (!language) {
      const message = this._trans.__(
        "dlaas can inject variables into Python, R and Julia kernels; this notebook's kernel is %1.",
        name || this._trans.__('of an unknown language')
      );
      attachments.forEach(a => this._set(a, { state: 'failed', message }));
      return;
    }
    await Promise.all(attachments.map(a => this._injectOne(kernel, language, a, epoch)));
  }

  private async _injectOne(
    kernel: IAttachmentsKernel,
    language: KernelLanguage,
    attachment: IAttachment,
    epoch: number
  ): Promise<void> {
    const current = (): boolean =>
      epoch === this._epoch &&
      !this._disposed &&
      this._agreed().some(
        a => a.variable === attachment.variable && Private.sameData(a, attachment)
      );
    const problem = variableNameProblem(language, attachment.variable, this._trans);
    if (problem) {
      this._set(attachment, { state: 'failed', message: problem });
      return;
    }
    let resolved: { value: InjectedValue; availability: AvailabilityState };
    try {
      resolved = await this._resolve(attachment);
    } catch (error) {
      if (current()) {
        this._set(attachment, {
          state: 'failed',
          message: this._trans.__(
            'Could not look up %1: %2',
            attachment.did,
            (error as Error).message
          )
        });
      }
      return;
    }
    if (!current()) {
      return;
    }
    const { value, availability } = resolved;
    const code = injectionCode(language, attachment.variable, value);
    let reply: Awaited<ReturnType<IAttachmentsKernel['requestExecute']>['done']>;
    try {
      reply = await kernel.requestExecute(Private.silently(code)).done;
    } catch (error) {
      if (current()) {
        this._set(attachment, {
          state: 'failed',
          availability,
          message: this._trans.__(
            'The kernel did not set %1 (%2): use "Inject again".',
            attachment.variable,
            (error as Error).message || String(error)
          )
        });
      }
      return;
    }
    if (!current()) {
      return;
    }
    const { content } = reply;
    if (content.status !== 'ok') {
      this._set(attachment, {
        state: 'failed',
        availability,
        message:
          content.status === 'error'
            ? this._trans.__(
                'The kernel could not set %1: %2: %3',
                attachment.variable,
                content.ename ?? '',
                content.evalue ?? ''
              )
            : this._trans.__(
                'The kernel did not set %1: it was busy or interrupted. Use "Inject again".',
                attachment.variable
              )
      });
      return;
    }
    this._lastCode.set(attachment.variable, { attachment, code });
    if (value.kind === 'unavailable') {
      this._set(attachment, { state: 'not-available', availability, message: value.message });
    } else {
      this._set(attachment, {
        state: 'injected',
        availability,
        paths: value.kind === 'file' ? 1 : value.paths.length
      });
    }
  }

  /** What the variable of `attachment` is to hold, from the data lake. */
  private async _resolve(
    attachment: IAttachment
  ): Promise<{ value: InjectedValue; availability: AvailabilityState }> {
    const { instance, did } = attachment;
    const availability = await this._client.availability(instance, did);
    const unavailable = (message: string) => ({
      value: { kind: 'unavailable' as const, did, state: availability.state, message },
      availability: availability.state
    });
    switch (availability.state) {
      case 'NOT_AVAILABLE':
        return unavailable(
          this._trans.__(
            '%1 is not available yet: make it available in the Data Lake panel, and this variable will be set when it is.',
            did
          )
        );
      case 'REPLICATING':
        return unavailable(
          this._trans.__(
            '%1 is not available yet: it is being copied to the scratch disk, and this variable will be set when it is done.',
            did
          )
        );
      case 'STUCK':
        return unavailable(
          this._trans.__(
            '%1 could not be made available (%2): see the Data Lake panel.',
            did,
            availability.error ?? this._trans.__('the copy to the scratch disk is stuck')
          )
        );
      case 'AVAILABLE':
        break;
    }
    const paths = await this._client.allLocalPaths(instance, did);
    const withoutPath = paths.filter(p => p.path === null).length;
    // A file whose own name keeps it from having a path (a ".." segment): the companion's reason.
    const problem = paths.find(p => p.path === null && p.problem)?.problem;
    if (problem) {
      return unavailable(problem);
    }
    if (withoutPath > 0) {
      return unavailable(
        this._trans._n(
          '%2 is available, but %1 of its files has no local path in this Jupyter server: ask your hub admin to configure the path of the scratch disk in dlaas.',
          '%2 is available, but %1 of its files have no local path in this Jupyter server: ask your hub admin to configure the path of the scratch disk in dlaas.',
          withoutPath,
          did
        )
      );
    }
    // A file's only path is its own; DIDs are unique within Rucio, so no collection can hold a
    // single file of its own scope and name.
    const { scope, name } = splitDid(did);
    const local = paths.flatMap(p => (p.path === null ? [] : [p.path]));
    const only = paths.length === 1 ? paths[0] : undefined;
    const value: InjectedValue =
      only?.path && only.scope === scope && only.name === name
        ? { kind: 'file', path: only.path }
        : { kind: 'collection', paths: local };
    return { value, availability: 'AVAILABLE' };
  }

  /**
   * The kernel's language and its name: from the kernel's info (waiting at most `wait`
   * milliseconds when given), else from the notebook's metadata.
   */
  private async _languageOf(
    kernel: IAttachmentsKernel | null,
    wait: number | null
  ): Promise<{ language: KernelLanguage | null; name: string }> {
    if (kernel) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        const info = await (wait === null
          ? kernel.info
          : Promise.race([
              kernel.info,
              new Promise<null>(resolve => {
                timer = setTimeout(() => resolve(null), wait);
              })
            ]));
        const name = info?.language_info.name;
        if (name) {
          return { language: kernelLanguage(name), name };
        }
      } catch {
        // No kernel info: the notebook's metadata says which language it was written for.
      } finally {
        clearTimeout(timer);
      }
    }
    return this._metadataLanguage();
  }

  private _metadataLanguage(): { language: KernelLanguage | null; name: string } {
    const model = this.notebook.model;
    const spec = model?.getMetadata('kernelspec');
    const info = model?.getMetadata('language_info');
    const name =
      (Private.isObject(spec) && Private.isText(spec['language']) && spec['language']) ||
      (Private.isObject(info) && Private.isText(info['name']) && info['name']) ||
      '';
    return { language: kernelLanguage(name), name };
  }

  /** The attachments the user agreed to. */
  private _agreed(): IAttachment[] {
    return this.attachments.filter(a => this._approvals.isApproved(a));
  }

  private _setAll(state: AttachmentState, message: string | null): void {
    this._agreed().forEach(attachment => {
      const known = this._states.get(attachment.variable);
      this._set(attachment, {
        state,
        message,
        availability:
          known && Private.sameData(known.attachment, attachment) ? known.availability : null
      });
    });
  }

  private _set(
    attachment: IAttachment,
    fields: Pick<IAttachmentStatus, 'state'> & Partial<IAttachmentStatus>
  ): void {
    this._states.set(attachment.variable, {
      attachment,
      message: null,
      availability: null,
      paths: null,
      ...fields
    });
    this._emit();
  }

  private _emit(): void {
    if (this._disposed) {
      return;
    }
    this._changed.emit(this.statuses);
    const pending = this.pending;
    const key = JSON.stringify(pending.map(a => [a.instance, a.did, a.variable]));
    if (key !== this._requested) {
      this._requested = key;
      if (pending.length > 0) {
        this._approvalRequested.emit(pending);
      }
    }
  }

  private readonly _client: DataLakeClient;
  private readonly _trans: TranslationBundle;
  private readonly _events: IAvailabilityFeed | null;
  private readonly _states = new Map<string, IAttachmentStatus>();
  private readonly _watches = new Map<string, IDisposable>();
  /** The code that last set each variable, by variable: sent again first on a restart. */
  private readonly _lastCode = new Map<string, { attachment: IAttachment; code: string }>();
  private readonly _changed = new Signal<this, IAttachmentStatus[]>(this);
  private readonly _approvalRequested = new Signal<this, IAttachment[]>(this);
  private readonly _approvals: AttachmentApprovals;
  /** The waiting attachments last asked about, as JSON; approvalRequested is not repeated. */
  private _requested = '[]';
  private _language: KernelLanguage | null = null;
  private _running: Promise<void> | null = null;
  private _again = false;
  private _restarting = false;
  /** Changes when the kernel restarts or is replaced; results of an earlier epoch are dropped. */
  private _epoch = 0;
  private _injectedInto: IAttachmentsKernel | null = null;
  private _disposed = false;
}

/** What {@link NotebookAttachmentsManager} uses of a notebook tracker. */
export interface IAttachableNotebookTracker<T extends IAttachableNotebook> {
  readonly currentWidget: T | null;
  readonly currentChanged: ISignal<unknown, T | null>;
  readonly widgetAdded: ISignal<unknown, T>;
  forEach(fn: (notebook: T) => void): void;
}

/** Options of {@link NotebookAttachmentsManager}. */
export interface INotebookAttachmentsManagerOptions<T extends IAttachableNotebook> {
  /** The notebooks; JupyterLab's `INotebookTracker`. */
  tracker: IAttachableNotebookTracker<T>;
  client: DataLakeClient;
  trans: TranslationBundle;
  /** Live availabilities, so that variables are set again when data becomes available. */
  events?: IAvailabilityFeed | null;
  /** Where the user's agreements to attachments are kept: JupyterLab's `IStateDB`. */
  approvals?: IApprovalStore | null;
}

/**
 * One {@link NotebookAttachments} per open notebook, created when the notebook opens and
 * disposed with it.
 */
export class NotebookAttachmentsManager<
  T extends IAttachableNotebook & { readonly disposed: ISignal<unknown, unknown> } =
    IAttachableNotebook & { readonly disposed: ISignal<unknown, unknown> }
> implements IDisposable {
  constructor(options: INotebookAttachmentsManagerOptions<T>) {
    this._options = options;
    const { tracker } = options;
    tracker.forEach(notebook => this.get(notebook));
    tracker.widgetAdded.connect(this._onAdded, this);
    tracker.currentChanged.connect(this._onCurrent, this);
  }

  /** The attachments of `notebook`, created on first use. */
  get(notebook: T): NotebookAttachments {
    let attachments = this._byNotebook.get(notebook);
    if (!attachments) {
      attachments = new NotebookAttachments({
        notebook,
        client: this._options.client,
        trans: this._options.trans,
        events: this._options.events ?? null,
        approvals: this._options.approvals ?? null
      });
      this._byNotebook.set(notebook, attachments);
      notebook.disposed.connect(this._onDisposed, this);
    }
    return attachments;
  }

  /** The attachments of the current notebook, or null when there is none. */
  get current(): NotebookAttachments | null {
    const notebook = this._options.tracker.currentWidget;
    return notebook ? this.get(notebook) : null;
  }

  /** Emitted when the current notebook changes. */
  get currentChanged(): ISignal<this, NotebookAttachments | null> {
    return this._currentChanged;
  }

  /** Whether this has been disposed. */
  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Disposes every notebook's attachments. Safe to call twice. */
  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    const { tracker } = this._options;
    tracker.widgetAdded.disconnect(this._onAdded, this);
    tracker.currentChanged.disconnect(this._onCurrent, this);
    for (const [notebook, attachments] of this._byNotebook) {
      notebook.disposed.disconnect(this._onDisposed, this);
      attachments.dispose();
    }
    this._byNotebook.clear();
    Signal.clearData(this);
  }

  private _onAdded(_: unknown, notebook: T): void {
    this.get(notebook);
  }

  private _onCurrent(): void {
    this._currentChanged.emit(this.current);
  }

  private _onDisposed(notebook: unknown): void {
    const attachments = this._byNotebook.get(notebook as T);
    attachments?.dispose();
    this._byNotebook.delete(notebook as T);
  }

  private readonly _options: INotebookAttachmentsManagerOptions<T>;
  private readonly _byNotebook = new Map<T, NotebookAttachments>();
  private readonly _currentChanged = new Signal<this, NotebookAttachments | null>(this);
  private _disposed = false;
}

namespace Private {
  /** An execute request that leaves no trace in the notebook or its history. */
  export function silently(code: string): KernelMessage.IExecuteRequestMsg['content'] {
    return {
      code,
      silent: true,
      store_history: false,
      allow_stdin: false,
      // A failure here must not cancel the cells the user has queued.
      stop_on_error: false
    };
  }

  export function isObject(value: unknown): value is Record<string, unknown> {
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  }

  export function isText(value: unknown): value is string {
    return typeof value === 'string' && value.trim() !== '' && value.length <= 1000;
  }

  export function sameData(a: IAttachment, b: IAttachment): boolean {
    return a.instance === b.instance && a.did === b.did;
  }

  export function key(instance: string, did: string): string {
    return `${instance}\n${did}`;
  }
}
