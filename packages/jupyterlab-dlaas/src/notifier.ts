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
 * REPLICATING that turns AVAILABLE or STUCK is reported once, and the active count feeds the
 * status bar.
 */
export class TransferWatcher implements IDisposable {
  /**
   * @param events - the panel's availability events
   * @param report - told of each finished or failed replication
   * @param onActive - told the number of replications in progress whenever it changes
   */
  constructor(
    private readonly events: AvailabilityEvents,
    private readonly report: (outcome: ITransferOutcome) => void,
    private readonly onActive: (count: number) => void
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
    const before = this._states.get(key);
    this._states.set(key, availability.state);
    if (before === 'REPLICATING' && availability.state === 'AVAILABLE') {
      this.report({ availability, outcome: 'available' });
    } else if (before === 'REPLICATING' && availability.state === 'STUCK') {
      this.report({ availability, outcome: 'stuck' });
    }
    const active = [...this._states.values()].filter(state => state === 'REPLICATING').length;
    if (active !== this._active) {
      this._active = active;
      this.onActive(active);
    }
  }

  private _disposed = false;
  private _active = 0;
  private readonly _states = new Map<string, string>();
}
