import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP load balancer for cluster tests: each new connection goes to the first upstream (in this
 * balancer's order) that accepts it. Giving each client its own balancer with a rotated order pins it to
 * one node while that node lives, and sends its reconnects to the next one when it dies: what a real
 * load balancer with health checks does, in 40 lines.
 */
export class TcpBalancer {
  private readonly server: Server;
  private readonly open = new Set<Socket>();
  private upstreams: number[];

  constructor(upstreamUrls: readonly string[]) {
    this.upstreams = upstreamUrls.map((u) => Number(new URL(u).port));
    this.server = createServer((client) => this.route(client));
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  setUpstreams(urls: readonly string[]): void {
    this.upstreams = urls.map((u) => Number(new URL(u).port));
  }

  async close(): Promise<void> {
    for (const s of this.open) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private route(client: Socket, index = 0): void {
    const port = this.upstreams[index];
    if (port === undefined) {
      client.destroy();
      return;
    }
    const upstream = connect(port, '127.0.0.1');
    upstream.once('error', () => {
      upstream.destroy();
      if (!client.destroyed) this.route(client, index + 1);
    });
    upstream.once('connect', () => {
      this.track(client);
      this.track(upstream);
      client.pipe(upstream).pipe(client);
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      client.once('close', end);
      upstream.once('close', end);
      client.on('error', end);
      upstream.on('error', end);
    });
  }

  private track(socket: Socket): void {
    this.open.add(socket);
    socket.once('close', () => this.open.delete(socket));
  }
}
