/**
 * The HTTP listener: node:http with keep-alive client connections, each request handed to handleRequest. Closing
 * stops accepting, lets requests in flight finish within a deadline, then cuts what is left.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { handleRequest, type HandlerContext } from './handler';

export interface HttpServer {
  readonly host: string;
  readonly port: number;
  close(timeoutMs?: number): Promise<void>;
}

export async function listenHttp(host: string, port: number, ctx: HandlerContext, onClosed: () => Promise<void>): Promise<HttpServer> {
  const server: Server = createServer((req, res) => {
    void handleRequest(req, res, ctx).catch((e: unknown) => {
      ctx.deps.log('warn', 'http: request failed', { error: e instanceof Error ? e.message : String(e) });
      res.destroy();
    });
  });
  // Long queries send nothing for minutes: Node's default request timeout (5 min) would cut them.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  let closing: Promise<void> | null = null;
  return {
    host: addr.address,
    port: addr.port,
    close(timeoutMs = 0) {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        let timer: NodeJS.Timeout | null = null;
        await Promise.race([closed, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
        if (timer) clearTimeout(timer);
        for (const s of sockets) s.destroy();
        await closed;
        await onClosed();
      })();
      return closing;
    },
  };
}
