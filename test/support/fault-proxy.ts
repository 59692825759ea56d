import { once } from 'node:events';
import {
  createConnection,
  createServer,
  type AddressInfo,
  type Server,
  type Socket
} from 'node:net';

/**
 * A TCP proxy on a loopback port in front of a real server (devlake's Rucio, its OpenID provider),
 * that a test can stop and start again: what a client behind it sees of an outage. While stopped,
 * nothing listens on its port (connections are refused, as when the server is down) and the
 * connections that were open are cut; started again, it listens on the same port, so that a
 * client configured with its address reaches the server again without being told anything.
 */
export class FaultProxy {
  private server: Server | undefined;
  private readonly open = new Set<Socket>();
  private accepted = 0;
  private readonly targetHost: string;
  private readonly targetPort: number;
  /** 0 until the first start picks a free port. */
  private port = 0;

  /** A proxy in front of `target` (`http://host:port`); it listens once {@link start}ed. */
  constructor(target: string) {
    const url = new URL(target);
    this.targetHost = url.hostname;
    this.targetPort = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  }

  /** `http://127.0.0.1:PORT`, to put in a configuration in place of the server's address. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Connections accepted so far: more than none shows that a client does go through the proxy. */
  get connections(): number {
    return this.accepted;
  }

  /**
   * Listens: the first time on a free port, afterwards on that same port again. Fails with a
   * sentence if something else took the port meanwhile (the server's return cannot be simulated).
   */
  async start(): Promise<void> {
    if (this.server) {
      return;
    }
    const server = createServer(client => this.pipe(client));
    server.listen(this.port, '127.0.0.1');
    try {
      await once(server, 'listening');
    } catch (error) {
      throw new Error(
        `The fault proxy could not listen on 127.0.0.1:${this.port} again: ${(error as Error).message}`,
        { cause: error }
      );
    }
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stops listening and cuts every open connection: the server is "down" until {@link start}. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) {
      return;
    }
    this.server = undefined;
    const closed = new Promise<void>(resolvePromise => server.close(() => resolvePromise()));
    for (const socket of this.open) {
      socket.destroy();
    }
    this.open.clear();
    await closed;
  }

  private pipe(client: Socket): void {
    this.accepted++;
    const upstream = createConnection(this.targetPort, this.targetHost);
    for (const socket of [client, upstream]) {
      this.open.add(socket);
      socket.once('close', () => this.open.delete(socket));
      // One side failing ends both, as a dropped connection would.
      socket.once('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
