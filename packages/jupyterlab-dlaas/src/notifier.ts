import type { Availability } from '@dlaas/api';
import type { IDisposable } from '@lumino/disposable';
import type { AvailabilityEvents } from './events';

/** What the user is told when a replication ends. */
export interface ITransferOutcome {
  availability: Availability;
  outcome: 'available' | 'stuck';
}

/**
 * Watches the event stream for replications that end while the panel looks: a DID seen
 * REPLICATING that turns AVAILABLE or STUCK is reported once. (The number under way is
 * {@link AvailabilityEvents.active}.)
 */
export class TransferWatcher implements IDisposable {
  /**
   * @param events - the panel's availability events
   * @param report - told of each finished or failed replication
   */
  constructor(
    private readonly events: AvailabilityEvents,
    private readonly report: (outcome: ITransferOutcome) => void
  ) {
    events.changed.connect(this.onChange, this);
  }

  /** Whether this has been disposed. */
  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Stops watching. Safe to call twice. */
  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this.events.changed.disconnect(this.onChange, this);
  }

  private onChange(_: AvailabilityEvents, availability: Availability): void {
    const key = `${availability.instance}\n${availability.did}`;
    const before = this._replicating.has(key);
    if (availability.state === 'REPLICATING') {
      this._replicating.add(key);
      return;
    }
    this._replicating.delete(key);
    if (before && availability.state === 'AVAILABLE') {
      this.report({ availability, outcome: 'available' });
    } else if (before && availability.state === 'STUCK') {
      this.report({ availability, outcome: 'stuck' });
    }
  }

  private _disposed = false;
  /** DIDs last seen REPLICATING (forgotten when they end). */
  private readonly _replicating = new Set<string>();
}
