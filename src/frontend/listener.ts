import { createServer as createPlainServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { ClientSession } from './client-session';
import { exceptionPacket, ProxyErrorCode } from './error-reply';
import type { SessionDeps } from './session-types';

/** The TLS listener: ClickHouse's secure native port (tcp_port_secure, 9440 by convention). PEM contents. */
export interface TlsListenOptions {
  host: string;
  port: number;
  /** Certificate chain and private key presented to clients. */
  cert: Buffer | string;
  key: Buffer | string;
  /** CA bundle: when set, clients must present a certificate it signed (mutual TLS). */
  ca?: Buffer | string;
}

export interface ListenOptions {
  /** The plain listener; null: TLS only (tls.require). */
  plain: { host: string; port: number } | null;
  tls: TlsListenOptions | null;
  /**
   * Open client connections over both listeners together (connections.max); a connection past it gets Exception 202
   * and is closed. null: no cap.
   */
  maxConnections: number | null;
  highWaterMark?: number;
}

export interface Listener {
  /** Address clients connect to: the plain listener's, or the TLS one's when only TLS is served. */
  host: string;
  port: number;
  /** The plain listener's port (null: not opened, tls.require). */
  plainPort: number | null;
  /** The TLS listener's address (null: none). */
  tlsHost: string | null;
  tlsPort: number | null;
  sessions(): number;
  /** Called for every accepted client connection (metrics); not for connections refused by the cap. */
  onConnection: (() => void) | null;
  /** The open client sessions (graceful shutdown closes them as their queries end). */
  openSessions(): ClientSession[];
  /** Stops accepting connections; the open ones go on. Resolves once the listening sockets are closed. */
  stopAccepting(): Promise<void>;
  close(): Promise<void>;
}

/** A TLS client that connects and never finishes its handshake holds a socket only this long. */
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
/** After a refusal: how long the client gets to read the Exception and close before the socket is destroyed. */
const REFUSAL_LINGER_MS = 5_000;

/**
 * The native-protocol listeners: plain and/or TLS, one ClientSession per accepted socket (a TLSSocket is a Socket:
 * sessions do not know which listener they came from). `highWaterMark` is set explicitly (Node 20 defaults to
 * 16 KiB) so backpressure thresholds do not depend on the Node version (style.md §2.6).
 */
export async function listen(opts: ListenOptions, deps: SessionDeps): Promise<Listener> {
  const highWaterMark = opts.highWaterMark ?? 64 * 1024;
  const sessions = new Set<ClientSession>();
  let listener: Listener | null = null;

  /** Refused sockets still lingering (destroyed by close()). */
  const refused = new Set<Socket>();

  const accept = (socket: Socket): void => {
    const max = opts.maxConnections;
    if (max !== null && sessions.size >= max) {
      refused.add(socket);
      socket.once('close', () => refused.delete(socket));
      refuse(socket, max, deps);
      return;
    }
    listener?.onConnection?.();
    const session = new ClientSession(socket, deps);
    sessions.add(session);
    socket.once('close', () => sessions.delete(session));
  };

  const servers: Server[] = [];
  /** Each server's 'close': emitted once it stopped listening and its last connection ended. */
  const closed: Promise<void>[] = [];
  const add = (server: Server): void => {
    servers.push(server);
    closed.push(new Promise<void>((resolve) => server.once('close', () => resolve())));
  };
  // server.close() stops listening at once; its 'close' waits for the connections, which stopAccepting must not.
  const stopAccepting = (): void => {
    for (const s of servers) if (s.listening) s.close();
  };
  let plainPort: number | null = null;
  let tlsPort: number | null = null;
  try {
    if (opts.plain) {
      const server = createPlainServer({ highWaterMark, noDelay: true } as object, accept);
      add(server);
      plainPort = await bind(server, opts.plain.host, opts.plain.port);
    }
    if (opts.tls) {
      const t = opts.tls;
      const mutual = t.ca !== undefined;
      const server = createTlsServer(
        {
          cert: t.cert,
          key: t.key,
          ca: t.ca,
          requestCert: mutual,
          rejectUnauthorized: mutual,
          handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
          highWaterMark,
          noDelay: true,
        } as object,
        (socket: TLSSocket) => accept(socket),
      );
      // A failed handshake (a plain client on the TLS port, a missing or untrusted client certificate) ends that
      // socket only; Node destroys it.
      server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
        deps.log('info', 'TLS handshake with a client failed', { remote: socket.remoteAddress, error: err.code ?? err.message });
      });
      add(server);
      tlsPort = await bind(server, t.host, t.port);
    }
  } catch (e) {
    stopAccepting();
    throw e;
  }
  if (servers.length === 0) throw new Error('listen: neither a plain nor a TLS listener was asked for');

  listener = {
    host: opts.plain ? opts.plain.host : opts.tls!.host,
    port: (plainPort ?? tlsPort)!,
    plainPort,
    tlsHost: opts.tls ? opts.tls.host : null,
    tlsPort,
    sessions: () => sessions.size,
    onConnection: null,
    openSessions: () => [...sessions],
    stopAccepting: () => {
      stopAccepting();
      return Promise.resolve();
    },
    close: async () => {
      stopAccepting();
      for (const s of sessions) s.close();
      for (const s of refused) s.destroy();
      await Promise.all(closed);
    },
  };
  return listener;
}

function bind(server: Server, host: string, port: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as { port: number }).port);
    });
  });
}

/**
 * Over connections.max: the Exception goes out at once (the client reads it as the answer to its Hello), then the
 * write side is ended. Reading goes on until the client closes: closing both sides while its Hello is in flight would
 * answer that Hello with a reset, which can discard the Exception before the client reads it.
 */
function refuse(socket: Socket, max: number, deps: SessionDeps): void {
  deps.log('warn', 'client connection refused: connections.max reached', { remote: socket.remoteAddress, max });
  socket.on('error', () => socket.destroy());
  socket.resume();
  socket.end(
    exceptionPacket({
      chCode: ProxyErrorCode.TOO_MANY_SIMULTANEOUS_QUERIES,
      message: `Gatehouse: too many client connections: the proxy's limit connections.max (${max}) is reached`,
    }),
  );
  setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
}
