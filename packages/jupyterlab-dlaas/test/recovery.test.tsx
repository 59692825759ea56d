import type { Did, Window } from '@dlaas/api';
import { QueryClient } from '@tanstack/react-query';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import React from 'react';
import { describe, expect, it } from 'vitest';
import type { DataLakeError } from '../src/client';
import { AvailabilityBlock } from '../src/components/Availability';
import { DataLakeView } from '../src/components/DataLakeView';
import { keys, queryDefaults } from '../src/hooks';
import { followTransfers } from '../src/notifier';
import { availability, testContext, type Answer, type ICall, type Routes } from './harness';

/**
 * Rucio away for a while (issue 11): the companion answers 502 `rucio_unreachable` and the panel
 * recovers by itself once it is back. The panel's own retry policy, with short delays.
 */
const UNREACHABLE =
  'lake (http://rucio:443) cannot be reached (connect ECONNREFUSED). Check your network or try again in a minute.';
const DOWN = { status: 502, body: { error: { code: 'rucio_unreachable', message: UNREACHABLE } } };
const TRIES_AGAIN = 'dlaas tries again by itself.';

function recovering(): QueryClient {
  return new QueryClient({
    defaultOptions: { queries: queryDefaults({ firstMs: 20, maxMs: 80 }) }
  });
}

/** A route that answers DOWN its first `failures` times, then `answer`. */
function downFor(failures: number, answer: Answer | ((call: ICall) => Answer)) {
  return (call: ICall): Answer => {
    if (failures-- > 0) {
      return DOWN;
    }
    return typeof answer === 'function' ? answer(call) : answer;
  };
}

const INSTANCE = {
  name: 'lake',
  displayName: 'The lake',
  authMethod: 'userpass',
  scratchRse: 'SCRATCH',
  isDefault: true
};

const signedIn: Routes = {
  'GET api/instances': { instances: [INSTANCE] },
  'GET api/instances/lake/auth': {
    instance: 'lake',
    method: 'userpass',
    signedIn: true,
    account: 'alice'
  }
};

const L0: Did = { scope: 'lofar', name: 'L0', type: 'DATASET', bytes: 2048, length: 2 };

function found(call: ICall): Window<Did> {
  const { offset, limit } = call.body as { offset: number; limit: number };
  return { items: [L0], offset, limit, total: 1, complete: true };
}

function calls(lake: { calls: ICall[] }, path: string): number {
  return lake.calls.filter(c => c.path === path).length;
}

describe('the panel while Rucio cannot be reached', () => {
  it('when the scopes and a search fail because Rucio is away, then the panel says so and that it tries again by itself, and shows them once Rucio is back, with no click', async () => {
    const lake = testContext(
      {
        ...signedIn,
        'GET api/instances/lake/scopes': downFor(2, { scopes: ['lofar'] }),
        'POST api/instances/lake/search': downFor(3, found)
      },
      recovering()
    );
    lake.render(<DataLakeView searchDelay={10} />);
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toBe(`${UNREACHABLE} ${TRIES_AGAIN}`);
    expect(screen.queryByRole('button', { name: 'Try again' })).toBeNull();
    // Back: the scopes show, the sentence goes.
    expect(
      await within(await screen.findByRole('list', { name: 'Scopes' })).findByRole('button', {
        name: 'lofar'
      })
    ).toBeTruthy();
    expect(screen.queryByRole('alert')).toBeNull();

    await userEvent.type(screen.getByRole('searchbox'), 'lofar:L*');
    expect((await screen.findByRole('alert')).textContent).toBe(`${UNREACHABLE} ${TRIES_AGAIN}`);
    // Not "Searching…" meanwhile: the count says nothing while the sentence shows.
    expect(screen.getByRole('status').textContent).toBe('');
    const list = await screen.findByRole('listbox', { name: 'Search results' });
    await waitFor(() => expect(within(list).getAllByRole('option')).toHaveLength(1));
    expect(screen.queryByRole('alert')).toBeNull();
    expect(screen.getByRole('status').textContent).toBe('1 item');
    expect(calls(lake, 'api/instances/lake/scopes')).toBe(3);
    expect(calls(lake, 'api/instances/lake/search')).toBe(4);
  });

  it('when a DID’s details fail because Rucio is away, then they show by themselves once it is back', async () => {
    const lake = testContext(
      {
        ...signedIn,
        'GET api/instances/lake/scopes': { scopes: ['lofar'] },
        'POST api/instances/lake/search': found,
        'GET api/instances/lake/did': downFor(2, {
          did: L0,
          metadata: {},
          replicas: [],
          rules: []
        }),
        'GET api/instances/lake/availability': availability({ did: 'lofar:L0' }),
        'GET api/instances/lake/downloads': { downloads: [] }
      },
      recovering()
    );
    lake.render(<DataLakeView searchDelay={10} />);
    await userEvent.type(await screen.findByRole('searchbox'), 'lofar:L*');
    await userEvent.click(await screen.findByRole('option', { name: /^lofar:L0/ }));
    const details = await screen.findByRole('region', { name: 'Details' });
    expect((await within(details).findByRole('alert')).textContent).toBe(
      `${UNREACHABLE} ${TRIES_AGAIN}`
    );
    expect(within(details).queryByText('Loading details…')).toBeNull();
    expect(await within(details).findByRole('button', { name: 'Make available' })).toBeTruthy();
    expect(within(details).queryByRole('alert')).toBeNull();
    expect(calls(lake, 'api/instances/lake/did')).toBe(3);
  });

  it('when a failure is not Rucio being away, then it shows at once with Try again, and is not asked again by itself', async () => {
    const broken =
      'lake answered with an error (500). Try again; if it persists, tell the data lake’s admins.';
    const lake = testContext(
      {
        ...signedIn,
        'GET api/instances/lake/scopes': {
          status: 502,
          body: { error: { code: 'rucio_error', message: broken } }
        }
      },
      recovering()
    );
    lake.render(<DataLakeView searchDelay={10} />);
    expect((await screen.findByRole('alert')).textContent).toBe(broken);
    expect(screen.getByRole('button', { name: 'Try again' })).toBeTruthy();
    // The query ended in its error: no retry waits.
    expect(lake.queryClient.getQueryState(keys.scopes('lake'))).toMatchObject({
      status: 'error',
      fetchStatus: 'idle'
    });
    expect(calls(lake, 'api/instances/lake/scopes')).toBe(1);
  });

  it('when the panel’s own policy is asked, then Rucio being away is retried for ever, after 5 s and then up to every 30 s, and a silent Jupyter server twice', () => {
    const { retry, retryDelay } = queryDefaults();
    const down = { code: 'rucio_unreachable' } as DataLakeError;
    const silent = { code: 'unreachable' } as DataLakeError;
    const refused = { code: 'forbidden' } as DataLakeError;
    if (typeof retry !== 'function' || typeof retryDelay !== 'function') {
      throw new Error('the policy is a function of the failure');
    }
    expect([0, 1, 2, 3, 4, 100].map(n => retryDelay(n, down))).toEqual([
      5000, 10_000, 20_000, 30_000, 30_000, 30_000
    ]);
    expect([0, 1, 100].map(n => retry(n, down))).toEqual([true, true, true]);
    expect([0, 1, 2].map(n => retry(n, silent))).toEqual([true, true, false]);
    expect(retry(0, refused)).toBe(false);
  });
});

describe('the availability block while the tracker cannot reach Rucio', () => {
  it('when an open stream says the tracker cannot read Rucio, then the block shows its sentence until the stream says it can again', async () => {
    const replicating = availability({
      did: 'lofar:L0',
      state: 'REPLICATING',
      ruleId: 'r1',
      files: { ok: 1, replicating: 1, stuck: 0, total: 2 }
    });
    const lake = testContext({ 'GET api/instances/lake/availability': replicating });
    lake.render(
      <AvailabilityBlock instance="lake" did="lofar:L0" type="DATASET" scratchRse="SCRATCH" />
    );
    const block = await screen.findByRole('region', { name: 'Availability' });
    await within(block).findByRole('progressbar', { name: 'Replication progress' });
    await waitFor(() => expect(lake.streams.open).toHaveLength(1));
    expect(within(block).queryByRole('alert')).toBeNull();

    lake.streams.push(replicating);
    lake.streams.open[0]?.problem({ code: 'rucio_unreachable', message: UNREACHABLE });
    expect((await within(block).findByRole('alert')).textContent).toBe(
      `${UNREACHABLE} ${TRIES_AGAIN}`
    );
    // What was known stays shown meanwhile.
    expect(within(block).getByRole('progressbar', { name: 'Replication progress' })).toBeTruthy();

    lake.streams.open[0]?.problem(null);
    await waitFor(() => expect(within(block).queryByRole('alert')).toBeNull());

    // Again, and this time the replication's next step ends it: the companion read Rucio.
    lake.streams.open[0]?.problem({ code: 'rucio_unreachable', message: UNREACHABLE });
    await within(block).findByRole('alert');
    lake.streams.push({
      ...replicating,
      state: 'AVAILABLE',
      files: { ...replicating.files, ok: 2 }
    });
    await waitFor(() => expect(within(block).queryByRole('alert')).toBeNull());
    lake.context.events.dispose();
  });
});

describe('replications under way at start-up, while the companion or Rucio is away', () => {
  it('when the companion and then Rucio cannot be reached at start, then the replications are followed once they can; an instance not signed in is asked once', async () => {
    const running = availability({ did: 'lofar:L1', state: 'REPLICATING', ruleId: 'r1' });
    let companionDown = 1;
    const lake = testContext({
      // JupyterLab restarting: its answer is not the companion's.
      'GET api/instances': () =>
        companionDown-- > 0
          ? { status: 503, body: {} }
          : {
              instances: [
                { name: 'lake', displayName: 'Lake', authMethod: 'userpass', scratchRse: 'S' },
                { name: 'other', displayName: 'Other', authMethod: 'device', scratchRse: 'S' }
              ]
            },
      'GET api/instances/lake/transfers': downFor(2, { transfers: [running] }),
      'GET api/instances/other/transfers': {
        status: 401,
        body: { error: { code: 'not_signed_in', message: 'Sign in to other.' } }
      }
    });
    expect(
      await followTransfers(lake.context.client, lake.context.events, { firstMs: 10, maxMs: 40 })
    ).toBe(1);
    await waitFor(() =>
      expect(lake.streams.open.map(s => s.url)).toEqual([
        'http://lab/dlaas/api/instances/lake/events?did=lofar%3AL1'
      ])
    );
    expect(calls(lake, 'api/instances')).toBe(2);
    expect(calls(lake, 'api/instances/lake/transfers')).toBe(3);
    expect(calls(lake, 'api/instances/other/transfers')).toBe(1);
    lake.context.events.dispose();
  });

  it('when the events are disposed while Rucio is away, then it stops asking', async () => {
    const lake = testContext({
      'GET api/instances': {
        instances: [{ name: 'lake', displayName: 'Lake', authMethod: 'userpass', scratchRse: 'S' }]
      },
      'GET api/instances/lake/transfers': DOWN
    });
    const following = followTransfers(lake.context.client, lake.context.events, { firstMs: 10 });
    await waitFor(() => expect(calls(lake, 'api/instances/lake/transfers')).toBeGreaterThan(1));
    lake.context.events.dispose();
    const asked = calls(lake, 'api/instances/lake/transfers');
    expect(await following).toBe(0);
    expect(calls(lake, 'api/instances/lake/transfers')).toBe(asked);
  });
});
