import type { Availability, ProblemEvent, Window } from '@dlaas/api';
import {
  useMutation,
  useQueries,
  useQuery,
  useQueryClient,
  type DefaultOptions,
  type Query,
  type UseQueryResult
} from '@tanstack/react-query';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { DataLakeError, SearchQuery } from './client';
import { useDataLake } from './context';

/** Rows fetched per window of a long list. */
export const WINDOW_SIZE = 200;

/** How often, and how many times, a window without the list's length asks again for it. */
const COUNT_RETRY_MS = 400;
const COUNT_RETRIES = 5;

/**
 * Windows kept on either side of those in view; windows farther away are let go (their cache
 * goes after {@link WINDOW_GC_MS}), so that scrolling through a million files never holds them
 * all in the browser.
 */
const KEPT_WINDOWS = 5;
const WINDOW_GC_MS = 60_000;

/** When the panel's queries ask again while Rucio cannot be reached: first, and at most (ms). */
export const RECOVERY_FIRST_MS = 5000;
export const RECOVERY_MAX_MS = 30_000;

/** Whether a failure passes by itself: Rucio did not answer the companion (502, 504). */
export function isRucioDown(error: unknown): error is DataLakeError {
  return (error as { code?: unknown } | null)?.code === 'rucio_unreachable';
}

/**
 * How the panel's queries try again. While Rucio cannot be reached they go on asking, every 5 s
 * and then less often, up to every 30 s, so that the panel recovers by itself once Rucio is back
 * (the views say so meanwhile: see {@link failureOf}). A Jupyter server that did not answer is
 * asked twice more (1 s, 2 s); other failures are shown at once.
 */
export function queryDefaults(
  timing: { firstMs?: number; maxMs?: number } = {}
): NonNullable<DefaultOptions['queries']> {
  const first = timing.firstMs ?? RECOVERY_FIRST_MS;
  const max = timing.maxMs ?? RECOVERY_MAX_MS;
  return {
    retry: (count, error) =>
      isRucioDown(error) ||
      (count < 2 && (error as { code?: unknown } | null)?.code === 'unreachable'),
    retryDelay: (count, error) =>
      isRucioDown(error) ? Math.min(first * 2 ** count, max) : Math.min(1000 * 2 ** count, max),
    refetchOnWindowFocus: false
  };
}

/** A failed query, and whether it tries again by itself. */
export interface IFailure {
  /** The failure, whose message is the sentence to show. */
  error: DataLakeError;
  /** True while the query goes on asking by itself (Rucio cannot be reached). */
  retrying: boolean;
}

/**
 * What a query's view shows of its failure: the error it ended with, or, while it keeps asking
 * because Rucio cannot be reached, why its last try failed.
 */
export function failureOf(query: {
  error: DataLakeError | Error | null;
  failureReason: DataLakeError | Error | null;
}): IFailure | null {
  if (query.error) {
    return { error: query.error as DataLakeError, retrying: false };
  }
  return isRucioDown(query.failureReason) ? { error: query.failureReason, retrying: true } : null;
}

/** Query keys, one place for all of them. */
export const keys = {
  instances: () => ['dlaas', 'instances'] as const,
  auth: (instance: string) => ['dlaas', instance, 'auth'] as const,
  scopes: (instance: string) => ['dlaas', instance, 'scopes'] as const,
  search: (instance: string, query: SearchQuery) => ['dlaas', instance, 'search', query] as const,
  children: (instance: string, did: string) => ['dlaas', instance, 'children', did] as const,
  files: (instance: string, did: string) => ['dlaas', instance, 'files', did] as const,
  details: (instance: string, did: string) => ['dlaas', instance, 'details', did] as const,
  availability: (instance: string, did: string) =>
    ['dlaas', instance, 'availability', did] as const,
  paths: (instance: string, did: string) => ['dlaas', instance, 'paths', did] as const
};

/** The configured instances. */
export function useInstances() {
  const { client } = useDataLake();
  return useQuery({ queryKey: keys.instances(), queryFn: () => client.instances() });
}

/** The sign-in state of `instance`, polled while a device sign-in waits for the user. */
export function useAuthStatus(instance: string | null) {
  const { client } = useDataLake();
  return useQuery({
    queryKey: keys.auth(instance ?? ''),
    queryFn: () => client.authStatus(instance ?? ''),
    enabled: instance !== null,
    refetchInterval: query => (query.state.data?.deviceSignIn ? 3000 : false)
  });
}

/** The scopes the user can see on `instance`. */
export function useScopes(instance: string | null, enabled: boolean) {
  const { client } = useDataLake();
  return useQuery({
    queryKey: keys.scopes(instance ?? ''),
    queryFn: () => client.scopes(instance ?? ''),
    enabled: instance !== null && enabled,
    staleTime: 5 * 60_000
  });
}

/** One DID in detail. */
export function useDetails(instance: string, did: string | null) {
  const { client } = useDataLake();
  return useQuery({
    queryKey: keys.details(instance, did ?? ''),
    queryFn: () => client.details(instance, did ?? ''),
    enabled: did !== null
  });
}

/** A long list read window by window, as the view scrolls. */
export interface IWindowedList<T> {
  /** Rows to draw: the known items, plus one "loading" row while more may follow. */
  count: number;
  /** How many items the list has, once known. */
  total: number | null;
  /** Whether the companion has read the whole list. */
  complete: boolean;
  /** The item at `index`, when its window has arrived. */
  item(index: number): T | undefined;
  /** Asks for the windows covering rows `start` to `end`. */
  show(start: number, end: number): void;
  /** The first failure, with the sentence to show. */
  error: DataLakeError | null;
  /** Whether that failure passes by itself: the list keeps asking (Rucio cannot be reached). */
  retrying: boolean;
  /** Asks again for the windows that failed. */
  retry(): void;
  /** Whether the first window is still on its way. */
  isLoading: boolean;
}

/**
 * A long list (search results, children, files) fetched in windows of {@link WINDOW_SIZE} rows,
 * only those the view shows: the first rows come at once, and a 100,000-file dataset never sits
 * whole in the browser.
 */
export function useWindowedList<T>(
  key: readonly unknown[],
  fetchWindow: (offset: number, limit: number) => Promise<Window<T>>,
  enabled = true
): IWindowedList<T> {
  const keyText = JSON.stringify(key);
  const [wanted, setWanted] = useState<{ key: string; windows: number[] }>({
    key: keyText,
    windows: [0]
  });
  const windows = wanted.key === keyText ? wanted.windows : [0];
  // How far the list is known to reach, also once the windows at its end are let go.
  const reach = useRef({ key: keyText, end: 0, complete: false, total: null as number | null });
  if (reach.current.key !== keyText) {
    reach.current = { key: keyText, end: 0, complete: false, total: null };
  }
  const results = useQueries({
    queries: windows.map(index => ({
      queryKey: [...key, 'window', index],
      queryFn: () => fetchWindow(index * WINDOW_SIZE, WINDOW_SIZE),
      enabled,
      staleTime: 60_000,
      gcTime: WINDOW_GC_MS,
      // The companion counts a list only once its first window is served (a dataset's files by
      // Rucio's count, search results and children by reading on, up to 10,000): ask again (it
      // answers from its cache) so that the length, the scroll bar and End are right before the
      // user scrolls. Lists longer than the companion counts stop asking after a while.
      refetchInterval: (query: Query<Window<T>, Error, Window<T>, readonly unknown[]>) => {
        const data = query.state.data;
        return data &&
          data.total === null &&
          !data.complete &&
          query.state.dataUpdateCount <= COUNT_RETRIES
          ? COUNT_RETRY_MS
          : false;
      }
    }))
  });
  const show = useCallback(
    (start: number, end: number) => {
      const first = Math.floor(Math.max(0, start) / WINDOW_SIZE);
      const last = Math.floor(Math.max(0, end) / WINDOW_SIZE);
      setWanted(previous => {
        const current = previous.key === keyText ? previous.windows : [0];
        // Window 0 stays: it carries the list's length.
        const kept = current.filter(
          index => index === 0 || (index >= first - KEPT_WINDOWS && index <= last + KEPT_WINDOWS)
        );
        const missing: number[] = [];
        for (let index = first; index <= last; index++) {
          if (!kept.includes(index)) {
            missing.push(index);
          }
        }
        return missing.length === 0 && kept.length === current.length && previous.key === keyText
          ? previous
          : { key: keyText, windows: [...kept, ...missing] };
      });
    },
    [keyText]
  );
  const loaded = new Map<number, Window<T>>();
  let failure: IFailure | null = null;
  for (const [i, result] of results.entries()) {
    const index = windows[i];
    if (result.data && index !== undefined) {
      loaded.set(index, result.data);
    }
    failure ??= failureOf(result);
  }
  const error = failure?.error ?? null;
  let total: number | null = null;
  let complete = false;
  let end = 0;
  for (const window of loaded.values()) {
    total = window.total ?? total;
    end = Math.max(end, window.offset + window.items.length);
    if (window.items.length < window.limit) {
      complete = true;
      total ??= window.offset + window.items.length;
    }
    complete ||= window.complete && window.total !== null && end >= window.total;
  }
  // Windows let go keep counting: the scroll bar must not shrink when the user scrolls back.
  const known = reach.current;
  known.end = Math.max(known.end, end);
  known.total = total ?? known.total;
  known.complete ||= complete;
  ({ end, total, complete } = known);
  const count = total ?? (complete ? end : end + 1);
  return {
    count: error && end === 0 ? 0 : count,
    total,
    complete: complete || total !== null,
    item: index => loaded.get(Math.floor(index / WINDOW_SIZE))?.items[index % WINDOW_SIZE],
    show,
    error,
    retrying: failure?.retrying ?? false,
    retry: () => results.forEach(result => result.error && void result.refetch()),
    isLoading: (results[0]?.isLoading ?? false) && error === null
  };
}

/**
 * A DID's availability on the scratch RSE, kept live by the companion's event stream while the
 * view shows it.
 */
export function useAvailability(
  instance: string,
  did: string | null
): UseQueryResult<Availability, DataLakeError> {
  const { client, events } = useDataLake();
  const queryClient = useQueryClient();
  const query = useQuery<Availability, DataLakeError>({
    queryKey: keys.availability(instance, did ?? ''),
    queryFn: () => client.availability(instance, did ?? ''),
    enabled: did !== null
  });
  useEffect(() => {
    if (did === null) {
      return;
    }
    const watch = events.watch(instance, did);
    const onChange = (_: unknown, availability: Availability): void => {
      if (availability.instance === instance && availability.did === did) {
        queryClient.setQueryData(keys.availability(instance, did), availability);
      }
    };
    events.changed.connect(onChange);
    return () => {
      events.changed.disconnect(onChange);
      watch.dispose();
    };
  }, [events, queryClient, instance, did]);
  return query;
}

/**
 * Why the availabilities shown of `instance` may be out of date (the companion cannot read Rucio
 * and keeps trying), as its event stream says, or null.
 */
export function useLakeProblem(instance: string): ProblemEvent | null {
  const { events } = useDataLake();
  const [problem, setProblem] = useState(() => events.problem(instance));
  useEffect(() => {
    const onChange = (): void => setProblem(events.problem(instance));
    onChange();
    events.problemChanged.connect(onChange);
    return () => {
      events.problemChanged.disconnect(onChange);
    };
  }, [events, instance]);
  return problem;
}

/** Makes a DID available: one click, one rule (reused when it exists). */
export function useMakeAvailable(instance: string) {
  const { client, events } = useDataLake();
  const queryClient = useQueryClient();
  return useMutation<Availability, DataLakeError, string>({
    mutationFn: async did => (await client.makeAvailable(instance, did)).availability,
    onSuccess: availability => {
      queryClient.setQueryData(keys.availability(instance, availability.did), availability);
      if (availability.state === 'REPLICATING') {
        events.follow(instance, availability.did);
      }
      void queryClient.invalidateQueries({ queryKey: keys.details(instance, availability.did) });
    }
  });
}

/** Retries a stuck DID: Rucio resubmits its stuck transfers now; the view follows them. */
export function useRetry(instance: string) {
  const { client } = useDataLake();
  const queryClient = useQueryClient();
  return useMutation<Availability, DataLakeError, string>({
    mutationFn: did => client.retry(instance, did),
    onSuccess: availability => {
      queryClient.setQueryData(keys.availability(instance, availability.did), availability);
    }
  });
}

/** Every local path of an available DID. */
export function useLocalPaths(instance: string, did: string, enabled: boolean) {
  const { client } = useDataLake();
  return useQuery({
    queryKey: keys.paths(instance, did),
    queryFn: () => client.allLocalPaths(instance, did),
    enabled
  });
}

/** `value`, once it has stopped changing for `delay` ms. */
export function useDebounced<T>(value: T, delay: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), delay);
    return () => clearTimeout(timer);
  }, [value, delay]);
  return settled;
}

/** False until `delay` milliseconds after the component mounted, then true. */
export function useElapsed(delay: number): boolean {
  const [elapsed, setElapsed] = useState(delay <= 0);
  useEffect(() => {
    const timer = setTimeout(() => setElapsed(true), delay);
    return () => clearTimeout(timer);
  }, [delay]);
  return elapsed;
}

/** A stable copy of `value` while its JSON stays the same. */
export function useStable<T>(value: T): T {
  const text = JSON.stringify(value);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  return useMemo(() => value, [text]);
}
