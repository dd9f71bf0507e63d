/**
 * Connect-plus-`SELECT 1` load for the proxy benchmark: every query opens a fresh TCP connection, does the native
 * handshake (Hello → server Hello), sends Query + the empty Data block that ends external tables, reads to
 * EndOfStream and closes. This is what a short-lived script or a driver without a pool does, and what a pooling
 * proxy should make cheaper (the backend handshake and ClickHouse's per-connection set-up are skipped).
 * A raw client (src/protocol encoders + framer) instead of clickhouse-client, whose process start (~30 ms)
 * would dominate the figure.
 *
 * With `tls`, each connection is a TLS connection (node:tls, verifying the server against the given CA), opened
 * with a full handshake every time: no session is offered for resumption, as a driver without a pool does.
 */
import { encodeSimpleQuery } from '../src/pool';
import * as net from 'node:net';
import * as tls from 'node:tls';
import {
  ClientCode,
  ConnectionState,
  encodeClientPacket,
  Framer,
  ServerCode,
  Writer,
  type ServerException,
} from '../src/protocol';

/** clickhouse-client 18.16's revision: the server and the proxy negotiate down to it, as for that client. */
const REVISION = 54412;

/** Query + the empty Data block that ends its external tables (the codec's own encoder). */
function queryBytes(sql: string): Buffer {
  return encodeSimpleQuery(sql, REVISION);
}

function helloBytes(user: string, password: string, database: string): Buffer {
  const w = new Writer(64);
  encodeClientPacket(
    w,
    {
      code: ClientCode.Hello,
      clientName: 'gatehouse-bench',
      versionMajor: 18,
      versionMinor: 16,
      revision: REVISION,
      database,
      user,
      password,
    },
    REVISION,
  );
  return w.toBuffer();
}

/** TLS towards the server: the CA to verify it with (PEM); the name checked is 127.0.0.1 (an IP SAN). */
export interface ClientTls {
  ca: string | Buffer;
}

/** What one connection negotiated, e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384" (null on a plain connection). */
export type TlsDescription = string | null;

/**
 * One connection, one query; resolves with the number of Data rows seen (and what TLS negotiated), rejects on
 * Exception or close.
 */
function oneQuery(port: number, hello: Buffer, query: Buffer, clientTls?: ClientTls): Promise<{ rows: number; tls: TlsDescription }> {
  return new Promise((resolve, reject) => {
    const state = new ConnectionState();
    state.onClientHello(REVISION);
    const framer = new Framer('server', state);
    const socket: net.Socket = clientTls
      ? tls.connect({ host: '127.0.0.1', port, ca: clientTls.ca })
      : net.connect({ host: '127.0.0.1', port });
    socket.setNoDelay(true);
    let phase: 'hello' | 'query' | 'done' = 'hello';
    let rows = 0;
    const finish = (err: Error | null): void => {
      if (phase === 'done') return;
      phase = 'done';
      const negotiated = socket instanceof tls.TLSSocket ? `${socket.getProtocol()} ${socket.getCipher()?.name ?? '?'}` : null;
      socket.destroy();
      if (err) reject(err);
      else resolve({ rows, tls: negotiated });
    };
    // A TLS socket also emits 'connect' (TCP up, handshake not done); the Hello goes out once it is secure.
    socket.on(clientTls ? 'secureConnect' : 'connect', () => socket.write(hello));
    socket.on('error', (e) => finish(e));
    socket.on('close', () => finish(new Error(`connection to ${port} closed early`)));
    socket.on('data', (chunk: Buffer) => {
      let packets;
      try {
        packets = framer.push(chunk);
      } catch (e) {
        finish(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      for (const p of packets) {
        if (p.code === ServerCode.Exception) {
          const ex = p.packet as ServerException;
          finish(new Error(`server exception: ${JSON.stringify(ex, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`));
          return;
        }
        if (phase === 'hello') {
          if (p.code !== ServerCode.Hello) return finish(new Error(`expected Hello, got packet ${p.code}`));
          phase = 'query';
          socket.write(query);
        } else if (p.code === ServerCode.Data) {
          rows += p.block?.rows ?? 0;
        } else if (p.code === ServerCode.EndOfStream) {
          return finish(null);
        }
      }
    });
  });
}

export interface ConnectLoadResult {
  queries: number;
  seconds: number;
  qps: number;
  /** What TLS the last connection negotiated (null: plain TCP). */
  tls: TlsDescription;
}

/**
 * Runs `total` connect-plus-query rounds against 127.0.0.1:port, `concurrency` at a time, and checks each returned
 * exactly one row. Throws on the first failure. `database` goes in the Hello: drivers (Python clickhouse-driver,
 * clickhouse-go) send 'default'; clickhouse-client 18.16 sends '' unless --database is given.
 */
export async function connectPerQuery(
  port: number,
  total: number,
  concurrency: number,
  sql = 'SELECT 1',
  user = 'default',
  password = '',
  database = 'default',
  clientTls?: ClientTls,
): Promise<ConnectLoadResult> {
  const hello = helloBytes(user, password, database);
  const query = queryBytes(sql);
  let started = 0;
  let negotiated: TlsDescription = null;
  const t0 = process.hrtime.bigint();
  const worker = async (): Promise<void> => {
    while (started < total) {
      started++;
      const r = await oneQuery(port, hello, query, clientTls);
      if (r.rows !== 1) throw new Error(`expected 1 row from ${sql}, got ${r.rows}`);
      negotiated = r.tls;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { queries: total, seconds, qps: total / seconds, tls: negotiated };
}
