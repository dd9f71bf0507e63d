/**
 * The sandbox cluster: one writer and N readers (default two), each an independent ClickHouse 18.16 server.
 * There is no replication between them (18.16 replication needs ZooKeeper): tests that need the same table on every
 * node create it on each. Every node says who it is twice: `display_name` (sent in the server Hello) and a row in
 * `gatehouse_meta.node`, so `SELECT name FROM gatehouse_meta.node` tells which node answered.
 */
import type { ClickHouseLogLevel } from './clickhouse-config';
import { startClickHouse, type ClickHouseServer } from './clickhouse';
import { httpQuery, type Credentials } from './http-query';

/** Default sandbox accounts (loopback only; the sandbox is throw-away). */
export const SANDBOX_USERS = {
  reader: { name: 'gh_reader', password: 'gh_reader_pass' },
  writer: { name: 'gh_writer', password: 'gh_writer_pass' },
} as const satisfies Record<string, Credentials>;

/** Database and table holding each node's marker row. */
export const NODE_MARKER_TABLE = 'gatehouse_meta.node';

/** Options for {@link startSandboxCluster}. */
export interface SandboxClusterOptions {
  /** Number of readers. Default 2. */
  readonly readers?: number;
  /** Server log level. Default 'warning'. */
  readonly logLevel?: ClickHouseLogLevel;
  /** Raw XML appended to every node's config.xml. */
  readonly extraConfigXml?: string;
}

/** A running sandbox cluster. */
export interface SandboxCluster {
  readonly writer: ClickHouseServer;
  readonly readers: readonly ClickHouseServer[];
  /** writer first, then the readers. */
  readonly nodes: readonly ClickHouseServer[];
  readonly users: { readonly reader: Credentials; readonly writer: Credentials };
  /** Stops every node and removes their dirs. Idempotent. */
  stop(): Promise<void>;
}

/** Creates the marker database/table on a node and stores its name (idempotent, survives restarts: TinyLog). */
export async function writeNodeMarker(node: ClickHouseServer): Promise<void> {
  await httpQuery(node.httpPort, 'CREATE DATABASE IF NOT EXISTS gatehouse_meta');
  await httpQuery(node.httpPort, `CREATE TABLE IF NOT EXISTS ${NODE_MARKER_TABLE} (name String) ENGINE = TinyLog`);
  const existing = await httpQuery(node.httpPort, `SELECT count() FROM ${NODE_MARKER_TABLE}`);
  if (existing.trim() === '0') {
    // node names are ours ([a-z0-9]), so quoting is safe
    await httpQuery(node.httpPort, `INSERT INTO ${NODE_MARKER_TABLE} VALUES ('${node.name}')`);
  }
}

/** Starts the writer and the readers in parallel, writes their markers, and resolves when all answer. */
export async function startSandboxCluster(opts: SandboxClusterOptions = {}): Promise<SandboxCluster> {
  const readerCount = opts.readers ?? 2;
  const names = ['writer', ...Array.from({ length: readerCount }, (_, i) => `reader${i + 1}`)];
  const users = [
    { ...SANDBOX_USERS.reader, readonly: true },
    { ...SANDBOX_USERS.writer, readonly: false },
  ];
  const started = await Promise.allSettled(
    names.map(async (name) => {
      const node = await startClickHouse({
        name,
        users,
        logLevel: opts.logLevel,
        extraConfigXml: opts.extraConfigXml,
      });
      try {
        await writeNodeMarker(node);
      } catch (e) {
        await node.stop();
        throw e;
      }
      return node;
    }),
  );
  const nodes = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason));
  }
  const [writer, ...readers] = nodes;
  if (!writer) throw new Error('sandbox cluster: no writer started');
  return {
    writer,
    readers,
    nodes,
    users: { reader: SANDBOX_USERS.reader, writer: SANDBOX_USERS.writer },
    async stop(): Promise<void> {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}
