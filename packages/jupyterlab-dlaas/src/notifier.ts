import type { Availability, Instance } from '@dlaas/api';
import { Notification } from '@jupyterlab/apputils';
import type { TranslationBundle } from '@jupyterlab/translation';
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
 * Says why an instance's data lake folder could not be mounted (the companion's sentence in
 * `paths.problem`: no /dev/fuse, say, and what an admin can do), as a warning notification, once
 * per instance for as long as it lives: the sidebar holds one for the JupyterLab session and
 * hands it every list of instances it reads.
 */
export class MountProblemNotice {
  constructor(private readonly trans: TranslationBundle) {}

  /** Shows the problem of each of `instances` that has one not shown before. */
  check(instances: readonly Instance[]): void {
    for (const instance of instances) {
      const problem = instance.paths?.problem;
      if (!problem || this._shown.has(instance.name)) {
        continue;
      }
      this._shown.add(instance.name);
      // With several instances, the sentence says which one it is about.
      const message =
        instances.length > 1 ? this.trans.__('%1: %2', instance.displayName, problem) : problem;
      Notification.warning(message, { autoClose: false });
    }
  }

  /** Names of the instances whose problem has been shown. */
  private readonly _shown = new Set<string>();
}

/** When {@link followTransfers} asks again while the companion or Rucio cannot be reached (ms). */
const FOLLOW_FIRST_MS = 5000;
const FOLLOW_MAX_MS = 60_000;

/**
 * Follows the replications under way on every instance, e.g. started before JupyterLab was
 * reloaded, so that the status bar counts them and their end is reported. Resolves with how many
 * it follows, once every instance has answered. While the companion (JupyterLab restarting) or an
 * instance's Rucio cannot be reached, it asks again later, after 5 s and then less often, up to
 * every minute, until `events` is disposed. An instance the user is not signed in to, or that
 * fails otherwise, is skipped: the panel says what is wrong with it when it is used.
 */
export async function followTransfers(
  client: DataLakeClient,
  events: AvailabilityEvents,
  timing: { firstMs?: number; maxMs?: number } = {}
): Promise<number> {
  let delay = timing.firstMs ?? FOLLOW_FIRST_MS;
  const later = async (): Promise<boolean> => {
    await new Promise(resolve => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, timing.maxMs ?? FOLLOW_MAX_MS);
    return !events.isDisposed;
  };
  let instances: string[] | undefined;
  while (instances === undefined) {
    try {
      instances = (await client.instances()).instances.map(instance => instance.name);
    } catch (error) {
      if (!Private.passes(error) || !(await later())) {
        return 0;
      }
    }
  }
  let followed = 0;
  let pending = instances;
  while (pending.length > 0) {
    const failed: string[] = [];
    await Promise.all(
      pending.map(instance =>
        client.transfers(instance).then(
          ({ transfers }) => {
            transfers.forEach(t => events.follow(t.instance, t.did));
            followed += transfers.length;
          },
          (error: unknown) => {
            if (Private.passes(error)) {
              failed.push(instance);
            }
          }
        )
      )
    );
    pending = failed;
    if (pending.length > 0 && !(await later())) {
      break;
    }
  }
  return followed;
}

namespace Private {
  /** Whether a failure may pass by itself: no answer from the companion, or from Rucio. */
  export function passes(error: unknown): boolean {
    const code = (error as { code?: unknown } | null)?.code;
    return code === 'unreachable' || code === 'rucio_unreachable';
  }
}
