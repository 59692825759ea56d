import type { Availability, ProblemEvent } from '@dlaas/api';
import { nullTranslator } from '@jupyterlab/translation';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { render, type RenderResult } from '@testing-library/react';
import React from 'react';
import { DataLakeClient, type Transport } from '../src/client';
import { DataLakeContext, type IDataLakeActions, type IDataLakeContext } from '../src/context';
import { AvailabilityEvents, type IEventSource } from '../src/events';
import { MountProblemNotice } from '../src/notifier';

/** One request the stubbed transport received. */
export interface ICall {
  method: string;
  /** Path below the companion's root, without the query. */
  path: string;
  query: URLSearchParams;
  body: unknown;
  headers: Headers;
}

/** What a route answers: a JSON body (200), `{status, body}`, or a whole `Response` (bytes). */
export type Answer = object;

/** Routes keyed `METHOD path` (path without query); a function sees the call. */
export type Routes = Record<string, Answer | ((call: ICall) => Answer | Promise<Answer>)>;

/**
 * The only stub in the frontend tests: the transport to the companion. Unknown routes answer
 * 404 with the companion's error shape, so a test that forgets one fails loudly.
 */
export function stubTransport(routes: Routes): { transport: Transport; calls: ICall[] } {
  const calls: ICall[] = [];
  const transport: Transport = async (path, init = {}) => {
    const [route = '', search = ''] = path.split('?');
    const call: ICall = {
      method: init.method ?? 'GET',
      path: route,
      query: new URLSearchParams(search),
      body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
      headers: new Headers(init.headers)
    };
    calls.push(call);
    const key = `${call.method} ${route}`;
    if (!(key in routes)) {
      return json(404, { error: { code: 'not_found', message: `no stub for ${key}` } });
    }
    const route_ = routes[key];
    const answer = typeof route_ === 'function' ? await route_(call) : route_;
    if (answer instanceof Response) {
      return answer;
    }
    if (isStatusAnswer(answer)) {
      return json(answer.status, answer.body);
    }
    return json(200, answer);
  };
  return { transport, calls };
}

function isStatusAnswer(answer: unknown): answer is { status: number; body: unknown } {
  return (
    typeof answer === 'object' &&
    answer !== null &&
    'status' in answer &&
    typeof (answer as { status: unknown }).status === 'number' &&
    'body' in answer
  );
}

function json(status: number, body: unknown): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' }
  });
}

/** Event streams opened by the panel, which the test feeds. */
export class FakeStreams {
  readonly opened: {
    url: string;
    closed: boolean;
    push(a: Availability): void;
    /** The companion's tracker cannot read Rucio (`problem`), or can again (null: `recovered`). */
    problem(p: ProblemEvent | null): void;
    /** The browser gives up on the stream (the companion answered with an error). */
    fail(): void;
  }[] = [];

  readonly factory = (url: string): IEventSource => {
    const listeners = new Map<string, ((event: MessageEvent<string>) => void)[]>();
    const on = (type: string) => listeners.get(type) ?? [];
    const onError: (() => void)[] = [];
    let readyState = 1;
    const stream = {
      url,
      closed: false,
      push: (availability: Availability) =>
        on('availability').forEach(l =>
          l(new MessageEvent('availability', { data: JSON.stringify(availability) }))
        ),
      problem: (problem: ProblemEvent | null) => {
        const type = problem ? 'problem' : 'recovered';
        on(type).forEach(l => l(new MessageEvent(type, { data: JSON.stringify(problem ?? {}) })));
      },
      fail: () => {
        readyState = 2;
        stream.closed = true;
        onError.forEach(l => l());
      }
    };
    this.opened.push(stream);
    return {
      get readyState() {
        return readyState;
      },
      addEventListener: (
        type: 'availability' | 'problem' | 'recovered' | 'error',
        listener: never
      ) => {
        if (type === 'error') {
          onError.push(listener);
        } else {
          listeners.set(type, [...on(type), listener]);
        }
      },
      close: () => {
        readyState = 2;
        stream.closed = true;
      }
    };
  };

  /** Streams still open. */
  get open(): {
    url: string;
    push(a: Availability): void;
    problem(p: ProblemEvent | null): void;
    fail(): void;
  }[] {
    return this.opened.filter(s => !s.closed);
  }

  /** Pushes `availability` into every open stream. */
  push(availability: Availability): void {
    this.open.forEach(s => s.push(availability));
  }
}

/**
 * A panel context around the stubbed transport, with fresh caches and recorded actions; queries
 * are not retried unless `queryClient` says otherwise.
 */
export function testContext(
  routes: Routes,
  queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } })
) {
  const { transport, calls } = stubTransport(routes);
  const streams = new FakeStreams();
  const client = new DataLakeClient(transport);
  const events = new AvailabilityEvents(
    (instance, dids) => `http://lab/dlaas/${client.eventsPath(instance, dids)}`,
    streams.factory
  );
  const done: { action: string; args: unknown[] }[] = [];
  const actions: IDataLakeActions = {
    openInFileBrowser: async path => {
      done.push({ action: 'openInFileBrowser', args: [path] });
    },
    copyPath: (text, what) => done.push({ action: 'copyPath', args: [text, what] }),
    addToNotebook: async (instance, did, type) => {
      done.push({ action: 'addToNotebook', args: [instance, did, type] });
    }
  };
  const trans = nullTranslator.load('dlaas');
  const context: IDataLakeContext = {
    client,
    events,
    trans,
    actions,
    mountProblems: new MountProblemNotice(trans)
  };
  const renderIn = (ui: React.ReactElement): RenderResult =>
    render(
      <QueryClientProvider client={queryClient}>
        <DataLakeContext.Provider value={context}>{ui}</DataLakeContext.Provider>
      </QueryClientProvider>
    );
  return { context, calls, streams, done, queryClient, render: renderIn };
}

/** An availability, with sensible defaults. */
export function availability(fields: Partial<Availability> & { did: string }): Availability {
  return {
    instance: 'lake',
    state: 'NOT_AVAILABLE',
    ruleId: null,
    ruleState: null,
    files: { ok: 0, replicating: 0, stuck: 0, total: null },
    totalBytes: null,
    expiresAt: null,
    error: null,
    ...fields
  };
}
