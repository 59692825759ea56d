import type { Availability } from '@dlaas/api';

/** An `availability` event as it arrived, and when (`performance.now()`). */
export interface ReceivedEvent {
  readonly availability: Availability;
  readonly at: number;
}

/**
 * The companion's event stream of some DIDs, read as the panel's `EventSource` reads it: the
 * `availability` events are collected as they come, and a test waits for the one it expects. An
 * answer other than 200 (the companion could not read the first availabilities) is kept as
 * `status` and `body`.
 */
export class EventStream {
  /** Every `availability` event so far. */
  readonly events: ReceivedEvent[] = [];
  private readonly controller = new AbortController();
  private finished = false;
  private failure: unknown;
  private readonly waiting = new Set<() => void>();

  private constructor(
    /** The HTTP status of the answer. */
    readonly status: number,
    /** The answer's body when it is not a stream (an error answer, parsed as JSON if it is). */
    readonly body: unknown
  ) {}

  /**
   * Opens the stream at `url`; fails if no headers come within `timeoutMs` (the companion must
   * answer, with events or with an error, in bounded time).
   */
  static async open(
    url: string,
    headers: Record<string, string> = {},
    timeoutMs = 30_000
  ): Promise<EventStream> {
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new Error(`no answer from ${url} within ${timeoutMs} ms`)),
      timeoutMs
    );
    let response: Response;
    try {
      // jupyter-server-proxy streams chunk by chunk only for this Accept header (EventSource's).
      response = await fetch(url, {
        headers: { ...headers, Accept: 'text/event-stream' },
        signal: controller.signal
      });
    } finally {
      clearTimeout(timer);
    }
    if (response.status !== 200 || !response.body) {
      const text = await response.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // Not JSON: kept as text.
      }
      const stream = new EventStream(response.status, body);
      stream.finished = true;
      return stream;
    }
    const stream = new EventStream(200, undefined);
    stream.controller.signal.addEventListener('abort', () => controller.abort());
    void stream.read(response.body);
    return stream;
  }

  /** Whether the stream has ended (or was never one). */
  get isEnded(): boolean {
    return this.finished;
  }

  /**
   * The first event (already received or still to come) that `matches`; fails with the events
   * seen when none has come within `timeoutMs` or the stream ends first.
   */
  async until(
    matches: (availability: Availability) => boolean,
    timeoutMs: number,
    what = 'the expected event'
  ): Promise<ReceivedEvent> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(e => matches(e.availability));
      if (found) {
        return found;
      }
      const left = deadline - performance.now();
      if (this.finished || left <= 0) {
        const seen = this.events.map(e => `${e.availability.did} ${e.availability.state}`);
        throw new Error(
          `${what} did not come ${this.finished ? 'before the stream ended' : `within ${timeoutMs} ms`} (seen: ${seen.join(', ') || 'nothing'})`,
          { cause: this.failure }
        );
      }
      await this.nextChange(left);
    }
  }

  /** Resolves once the stream has ended (the companion went away); fails after `timeoutMs`. */
  async ended(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!this.finished) {
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new Error(`the event stream was still open after ${timeoutMs} ms`);
      }
      await this.nextChange(left);
    }
  }

  /** Closes the stream, as a view that goes away does. */
  close(): void {
    this.controller.abort();
  }

  /** Waits for the next event or the end of the stream, at most `ms`. */
  private nextChange(ms: number): Promise<void> {
    return new Promise<void>(resolvePromise => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiting.delete(done);
        resolvePromise();
      };
      const timer = setTimeout(done, ms);
      this.waiting.add(done);
    });
  }

  private wakeAll(): void {
    [...this.waiting].forEach(wake => wake());
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let text = '';
    try {
      for await (const chunk of body) {
        text += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = text.indexOf('\n\n')) >= 0) {
          const block = text.slice(0, end);
          text = text.slice(end + 2);
          const data = /^event: availability\ndata: (.*)$/m.exec(block)?.[1];
          if (data !== undefined) {
            this.events.push({
              availability: JSON.parse(data) as Availability,
              at: performance.now()
            });
            this.wakeAll();
          }
        }
      }
    } catch (error) {
      this.failure = error;
    } finally {
      this.finished = true;
      this.wakeAll();
    }
  }
}
