import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP proxy on loopback in front of a real server (devlake's Rucio) that counts the requests
 * passing through it, with the time each arrived: the load a client puts on the server, as the
 * server sees it. Bodies and headers pass unchanged, in both directions.
 */
export class CountingProxy {
  private readonly server: Server;
  private readonly target: URL;
  /** Arrival time (ms since the epoch) and `METHOD path` of each request. */
  readonly requests: { at: number; what: string }[] = [];

  constructor(target: string) {
    this.target = new URL(target);
    this.server = createServer((req, res) => {
      this.requests.push({ at: Date.now(), what: `${req.method} ${req.url?.split('?')[0]}` });
      const upstream = request(
        {
          host: this.target.hostname,
          port: this.target.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: this.target.host }
        },
        answer => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        }
      );
      upstream.once('error', () => res.destroy());
      res.once('close', () => upstream.destroy());
      req.pipe(upstream);
    });
  }

  async start(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
  }

  /** `http://127.0.0.1:PORT`. */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Requests that arrived in [from, to). */
  between(from: number, to: number): number {
    return this.requests.filter(r => r.at >= from && r.at < to).length;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}
