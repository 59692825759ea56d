import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FaultProxy } from './fault-proxy.js';

/** What a {@link FaultControl} can be asked to do with its proxy. */
export type FaultAction = 'stop' | 'start';

const ACTIONS: readonly FaultAction[] = ['stop', 'start'];

/**
 * A small HTTP endpoint on its own loopback port through which another process (a Playwright
 * worker, while global-setup holds the proxy) stops and starts a {@link FaultProxy}:
 * `POST /stop` and `POST /start` answer 204 once done. It holds no secret and listens on
 * 127.0.0.1 only.
 */
export class FaultControl {
  private constructor(
    private readonly server: Server,
    /** `http://127.0.0.1:PORT`, for {@link controlFault}. */
    readonly url: string
  ) {}

  /** Listens on a free loopback port, for `proxy`. */
  static async start(proxy: FaultProxy): Promise<FaultControl> {
    const server = createServer((request, response) => {
      void answer(proxy, request, response);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    return new FaultControl(server, `http://127.0.0.1:${port}`);
  }

  /** Stops listening (the proxy stays as it is); safe to call twice. */
  async close(): Promise<void> {
    if (!this.server.listening) {
      return;
    }
    const closed = new Promise<void>(resolvePromise => this.server.close(() => resolvePromise()));
    this.server.closeAllConnections();
    await closed;
  }
}

async function answer(
  proxy: FaultProxy,
  request: IncomingMessage,
  response: ServerResponse
): Promise<void> {
  const action = ACTIONS.find(a => request.url === `/${a}`);
  const reply = (status: number, sentence?: string, headers: Record<string, string> = {}) => {
    response.writeHead(status, sentence ? { ...headers, 'Content-Type': 'text/plain' } : headers);
    response.end(sentence);
  };
  if (action === undefined) {
    reply(404, `No control at ${request.url}: use POST /stop or POST /start.`);
    return;
  }
  if (request.method !== 'POST') {
    reply(405, `Use POST /${action}.`, { Allow: 'POST' });
    return;
  }
  try {
    await (action === 'stop' ? proxy.stop() : proxy.start());
    reply(204);
  } catch (error) {
    // Starting again fails when another process took the proxy's port meanwhile.
    reply(409, (error as Error).message);
  }
}

/**
 * Asks the {@link FaultControl} at `url` to stop its proxy (the server behind it is then
 * unreachable for its clients) or to start it again; resolves once that is done.
 */
export async function controlFault(url: string, action: FaultAction): Promise<void> {
  const response = await fetch(`${url}/${action}`, { method: 'POST' });
  if (response.status !== 204) {
    throw new Error(
      `The fault proxy's control at ${url} could not ${action} it: ${response.status} ${await response.text()}`
    );
  }
}
