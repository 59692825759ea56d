import type { Availability, ProblemEvent } from '@dlaas/api';
import type { IDisposable } from '@lumino/disposable';
import { Signal, type ISignal } from '@lumino/signaling';

/** What the panel needs of a browser `EventSource`. */
export interface IEventSource {
  /** `EventSource.CLOSED` (2) once the browser has given up on the stream. */
  readonly readyState: number;
  addEventListener(
    type: 'availability' | 'problem' | 'recovered',
    listener: (event: MessageEvent<string>) => void
  ): void;
  addEventListener(type: 'error', listener: () => void): void;
  close(): void;
}

/** `EventSource.CLOSED`. */
const CLOSED = 2;

/** First and longest wait before a stream the browser gave up on is opened again, in ms. */
const RETRY_FIRST_MS = 2000;
const RETRY_MAX_MS = 60_000;

/** Opens an event stream at an absolute URL; `EventSource` in the browser, a stub in tests. */
export type EventSourceFactory = (url: string) => IEventSource;

/** How many DIDs one event stream may watch (the companion's limit). */
const DIDS_PER_STREAM = 200;

/**
 * Live availability of the DIDs the panel shows, pushed by the companion's event stream. Views
 * `watch` the DIDs they show; one stream per instance carries all of them (re-opened when the
 * set changes), so the number of open views never multiplies the companion's work. The browser
 * reconnects a dropped stream by itself; a stream it gives up on (the companion answered with an
 * error, e.g. while JupyterLab restarts) is opened again here, after 2 s and then up to a minute.
 * While the companion's tracker cannot read Rucio, its streams say why ({@link problem}) until it
 * can again.
 */
export class AvailabilityEvents implements IDisposable {
  /**
   * @param url - the absolute URL of the event stream of `dids` on `instance`
   * @param open - opens a stream (defaults to the browser's `EventSource`, with credentials)
   */
  constructor(
    private readonly url: (instance: string, dids: string[]) => string,
    private readonly open: EventSourceFactory = url =>
      new EventSource(url, { withCredentials: true }) as IEventSource
  ) {}

  /** Every availability the companion pushes, first the current one of each watched DID. */
  get changed(): ISignal<this, Availability> {
    return this._changed;
  }

  /** The last availability seen of each watched DID, by `instance` then DID. */
  latest(instance: string, did: string): Availability | undefined {
    return this._latest.get(Private.key(instance, did));
  }

  /** The availabilities last seen, of every watched DID. */
  all(): Availability[] {
    return [...this._latest.values()];
  }

  /**
   * Why the availabilities of `instance` may be out of date now (the companion cannot read Rucio,
   * and keeps trying), or null.
   */
  problem(instance: string): ProblemEvent | null {
    return this._problems.get(instance) ?? null;
  }

  /** Emits the instance whose {@link problem} began or ended. */
  get problemChanged(): ISignal<this, string> {
    return this._problemChanged;
  }

  /** How many watched DIDs are replicating now. */
  get active(): number {
    return this._active;
  }

  /** Emits {@link active} whenever it changes. */
  get activeChanged(): ISignal<this, number> {
    return this._activeChanged;
  }

  /** Whether this has been disposed. */
  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Watches `did` on `instance` until the answer is disposed. */
  watch(instance: string, did: string): IDisposable {
    const key = Private.key(instance, did);
    const watchers = this._watchers.get(instance) ?? new Map<string, number>();
    this._watchers.set(instance, watchers);
    watchers.set(did, (watchers.get(did) ?? 0) + 1);
    if (watchers.get(did) === 1) {
      this.schedule(instance);
    }
    let disposed = false;
    return {
      get isDisposed() {
        return disposed;
      },
      dispose: () => {
        if (disposed) {
          return;
        }
        disposed = true;
        const count = (watchers.get(did) ?? 1) - 1;
        if (count > 0) {
          watchers.set(did, count);
          return;
        }
        watchers.delete(did);
        this._latest.delete(key);
        this.countActive();
        this.schedule(instance);
      }
    };
  }

  /**
   * Keeps watching `did` until its replication ends (AVAILABLE or STUCK), even when no view
   * shows it any more, so that its end can be reported.
   */
  follow(instance: string, did: string): void {
    const key = Private.key(instance, did);
    if (!this._followed.has(key)) {
      this._followed.set(key, this.watch(instance, did));
    }
  }

  /** Closes every stream. Safe to call twice. */
  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._timers.forEach(timer => clearTimeout(timer));
    this._streams.forEach(streams => streams.forEach(stream => stream.close()));
    this._streams.clear();
    Signal.clearData(this);
  }

  /** Re-opens `instance`'s streams after `delay` ms, once for a burst of watch changes. */
  private schedule(instance: string, delay = 50): void {
    if (this._disposed || this._timers.has(instance)) {
      return;
    }
    this._timers.set(
      instance,
      setTimeout(() => {
        this._timers.delete(instance);
        this.reopen(instance);
      }, delay)
    );
  }

  /** A stream of `instance` was given up on: open them again later, waiting longer each time. */
  private retryLater(instance: string): void {
    const delay = this._retryDelay.get(instance) ?? RETRY_FIRST_MS;
    this._retryDelay.set(instance, Math.min(delay * 2, RETRY_MAX_MS));
    this.schedule(instance, delay);
  }

  private reopen(instance: string): void {
    this._streams.get(instance)?.forEach(stream => stream.close());
    const dids = [...(this._watchers.get(instance)?.keys() ?? [])].sort();
    const streams: IEventSource[] = [];
    for (let i = 0; i < dids.length; i += DIDS_PER_STREAM) {
      const stream = this.open(this.url(instance, dids.slice(i, i + DIDS_PER_STREAM)));
      stream.addEventListener('availability', event => this.receive(instance, event.data));
      stream.addEventListener('problem', event => this.setProblem(instance, event.data));
      stream.addEventListener('recovered', () => this.setProblem(instance, null));
      stream.addEventListener('error', () => {
        if (stream.readyState === CLOSED && this._streams.get(instance)?.includes(stream)) {
          this.retryLater(instance);
        }
      });
      streams.push(stream);
    }
    this._streams.set(instance, streams);
    if (streams.length === 0) {
      this.setProblem(instance, null);
    }
  }

  /** The problem a stream of `instance` reported (its JSON), or its end (null). */
  private setProblem(instance: string, data: string | null): void {
    let problem: ProblemEvent | null = null;
    if (data !== null) {
      try {
        problem = JSON.parse(data) as ProblemEvent;
      } catch {
        return;
      }
      if (typeof problem?.message !== 'string') {
        return;
      }
    }
    const before = this._problems.get(instance);
    if (problem === null ? before === undefined : before?.message === problem.message) {
      return;
    }
    if (problem === null) {
      this._problems.delete(instance);
    } else {
      this._problems.set(instance, problem);
    }
    this._problemChanged.emit(instance);
  }

  private receive(instance: string, data: string): void {
    let availability: Availability;
    try {
      availability = JSON.parse(data) as Availability;
    } catch {
      return;
    }
    const watched = this._watchers.get(instance)?.has(availability.did) ?? false;
    if (!watched || availability.instance !== instance) {
      return;
    }
    this._retryDelay.delete(instance);
    // The companion read it from Rucio: whatever kept it from doing so is over.
    this.setProblem(instance, null);
    const key = Private.key(instance, availability.did);
    this._latest.set(key, availability);
    this.countActive();
    this._changed.emit(availability);
    if (availability.state === 'AVAILABLE' || availability.state === 'STUCK') {
      this._followed.get(key)?.dispose();
      this._followed.delete(key);
    }
  }

  private countActive(): void {
    const active = this.all().filter(a => a.state === 'REPLICATING').length;
    if (active !== this._active) {
      this._active = active;
      this._activeChanged.emit(active);
    }
  }

  private _disposed = false;
  private _active = 0;
  private readonly _activeChanged = new Signal<this, number>(this);
  private readonly _retryDelay = new Map<string, number>();
  private readonly _problems = new Map<string, ProblemEvent>();
  private readonly _problemChanged = new Signal<this, string>(this);
  private readonly _changed = new Signal<this, Availability>(this);
  private readonly _watchers = new Map<string, Map<string, number>>();
  private readonly _streams = new Map<string, IEventSource[]>();
  private readonly _timers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly _latest = new Map<string, Availability>();
  private readonly _followed = new Map<string, IDisposable>();
}

namespace Private {
  export function key(instance: string, did: string): string {
    return `${instance}\n${did}`;
  }
}
