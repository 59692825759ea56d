/**
 * Which of a notebook's attachments the user agreed to have set in its kernel: a trusted-notebook
 * rule in the spirit of Jupyter's notebook trust, for the `dlaas` metadata.
 *
 * A notebook's metadata can be written anywhere: by whoever shared or published it. Its
 * attachments decide which variables of the kernel dlaas sets, so an attachment is set only when
 * the user agreed to it in this JupyterLab:
 * - an attachment the user adds here (the "Add to notebook" command, which calls
 *   `NotebookAttachments.attach`) counts as agreed;
 * - one that arrives with the notebook waits until the user chooses Allow, once per notebook
 *   (Allow agrees to every attachment waiting at that moment).
 *
 * What is agreed is each exact (instance, DID, variable) triple, per notebook path, kept in
 * JupyterLab's state database (`IStateDB`: the user's workspace on the Jupyter server, not the
 * browser, so one browser shared by several hub users mixes nothing). So:
 * - a changed attachment (a new variable, another DID or instance for a variable) is asked about
 *   again, while the unchanged ones stay set;
 * - the notebook stays agreed through the user's own saves and reloads, as a notebook Jupyter
 *   signed on save stays trusted, and through a rename or "Save As" in this JupyterLab (the
 *   agreement follows the path);
 * - a copy made elsewhere, or the same file at another path, is asked about again;
 * - every change the user makes here (attach, detach, Allow) stores the agreed triples that are
 *   still in the notebook, so a removed attachment put back by someone else is asked about again.
 *
 * The triples are stored as they are rather than hashed: the state database is the user's own, and
 * an exact comparison has no collisions. Without a state database (or a path), agreements last
 * as long as the notebook stays open.
 */
import type { ReadonlyPartialJSONValue } from '@lumino/coreutils';
import type { IAttachment } from './attachments';

/** Where agreed attachments are kept; JupyterLab's `IStateDB` is one. */
export interface IApprovalStore {
  fetch(id: string): Promise<ReadonlyPartialJSONValue | undefined>;
  save(id: string, value: ReadonlyPartialJSONValue): Promise<void>;
  remove(id: string): Promise<void>;
}

/** The state database key under which the agreed attachments of the notebook at `path` are kept. */
export function approvalKey(path: string): string {
  return `dlaas-approved-attachments:${path}`;
}

/** The agreed attachments of one notebook. */
export class AttachmentApprovals {
  /**
   * @param options.store - where agreements are kept; null keeps them in memory only
   * @param options.path - the notebook's path; null keeps them in memory only
   */
  constructor(options: { store: IApprovalStore | null; path: string | null }) {
    this._store = options.store;
    this._path = options.path;
    this.ready = this._load();
    // Nothing is written before the stored agreements have been read.
    this._writing = this.ready;
  }

  /** Settles when the stored agreements have been read (or could not be); never rejects. */
  readonly ready: Promise<void>;

  /** Whether the stored agreements have been read. */
  get isReady(): boolean {
    return this._ready;
  }

  /** Whether the user agreed to `attachment` being set in this notebook's kernel. */
  isApproved(attachment: IAttachment): boolean {
    return this._approved.has(Private.key(attachment));
  }

  /**
   * Agrees to `attachments`, keeps only the agreements to `current` (the notebook's attachments
   * now) and stores them.
   */
  approve(attachments: readonly IAttachment[], current: readonly IAttachment[]): void {
    attachments.forEach(a => this._approved.add(Private.key(a)));
    this.keepOnly(current);
  }

  /** Forgets the agreements to anything but `current` and stores the rest. */
  keepOnly(current: readonly IAttachment[]): void {
    this._current = new Set(current.map(Private.key));
    this._prune();
    this._persist();
  }

  /** The notebook is now at `path` (renamed or saved as): the agreements follow it. */
  moveTo(path: string): void {
    const previous = this._path;
    if (previous === path) {
      return;
    }
    this._path = path;
    if (previous !== null) {
      this._queue(store => store.remove(approvalKey(previous)));
    }
    this._persist();
  }

  private async _load(): Promise<void> {
    const store = this._store;
    const path = this._path;
    if (store && path !== null) {
      try {
        Private.entries(await store.fetch(approvalKey(path))).forEach(key =>
          this._approved.add(key)
        );
      } catch {
        // Unreadable state: nothing counts as agreed, and the user is asked again.
      }
    }
    this._ready = true;
    // What changed here while the store was read (an agreement, a removal, a rename) applies to
    // what it held too.
    if (this._current || this._path !== path) {
      this._prune();
      this._persist();
    }
  }

  /** Forgets the agreements to attachments the notebook no longer had at the last change here. */
  private _prune(): void {
    const current = this._current;
    for (const key of this._approved) {
      if (current && !current.has(key)) {
        this._approved.delete(key);
      }
    }
  }

  /** Stores the agreements, once the stored ones have been read. */
  private _persist(): void {
    if (!this._ready) {
      return;
    }
    const path = this._path;
    if (path === null) {
      return;
    }
    const attachments = [...this._approved].sort().map(key => JSON.parse(key) as string[]);
    this._queue(store =>
      attachments.length === 0
        ? store.remove(approvalKey(path))
        : store.save(approvalKey(path), { attachments })
    );
  }

  /** Runs `write` after the writes before it, so that the last one wins. */
  private _queue(write: (store: IApprovalStore) => Promise<void>): void {
    const store = this._store;
    if (!store) {
      return;
    }
    // A failed write leaves agreements that last as long as the notebook stays open; the next
    // time, the user is asked again.
    this._writing = this._writing.then(() => write(store)).catch(() => undefined);
  }

  private readonly _store: IApprovalStore | null;
  private _path: string | null;
  private readonly _approved = new Set<string>();
  private _ready = false;
  /** The notebook's attachments at the last change made here; null before any. */
  private _current: Set<string> | null = null;
  private _writing: Promise<void>;
}

namespace Private {
  /** One attachment as a comparable string: its triple as JSON. */
  export function key(attachment: IAttachment): string {
    return JSON.stringify([attachment.instance, attachment.did, attachment.variable]);
  }

  /** The keys of a stored value: `{ attachments: [[instance, did, variable], ...] }`. */
  export function entries(value: unknown): string[] {
    if (typeof value !== 'object' || value === null || !('attachments' in value)) {
      return [];
    }
    const list = (value as { attachments: unknown }).attachments;
    if (!Array.isArray(list)) {
      return [];
    }
    return list.flatMap((entry: unknown) =>
      Array.isArray(entry) &&
      entry.length === 3 &&
      entry.every((part: unknown) => typeof part === 'string')
        ? [JSON.stringify(entry)]
        : []
    );
  }
}
