import type { Availability } from '@dlaas/api';
import type { IDisposable } from '@lumino/disposable';
import type { DataLakeClient } from './client';
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

/**
 * Follows the replications under way on every instance, e.g. started before JupyterLab was
 * reloaded, so that the status bar counts them and their end is reported. Resolves with how many
 * it follows. An instance the user is not signed in to, or that fails, is skipped: the panel
 * says what is wrong with it when it is used.
 */
export async function followTransfers(
  client: DataLakeClient,
  events: AvailabilityEvents
): Promise<number> {
  const { instances } = await client.instances();
  const found = await Promise.all(
    instances.map(instance =>
      client.transfers(instance.name).then(
        ({ transfers }) => transfers,
        () => []
      )
    )
  );
  const transfers = found.flat();
  transfers.forEach(t => events.follow(t.instance, t.did));
  return transfers.length;
}
