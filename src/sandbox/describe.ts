/** Human-readable and JSON descriptions of a running sandbox cluster (printed by `gatehouse sandbox`). */
import type { SandboxCluster } from './cluster';
import { NODE_MARKER_TABLE } from './cluster';

/** Machine-readable summary: one JSON object, for scripts that start the sandbox. */
export interface SandboxDescription {
  readonly nodes: readonly { name: string; tcpPort: number; httpPort: number; pid: number; dir: string }[];
  readonly users: SandboxCluster['users'];
}

/** The summary behind `gatehouse sandbox --json`. */
export function describeClusterJson(c: SandboxCluster): SandboxDescription {
  return {
    nodes: c.nodes.map((n) => ({ name: n.name, tcpPort: n.tcpPort, httpPort: n.httpPort, pid: n.pid, dir: n.dir })),
    users: c.users,
  };
}

/** How to connect to each node, and the accounts, as printed by `gatehouse sandbox`. */
export function describeCluster(c: SandboxCluster): string {
  const { reader, writer } = c.users;
  const lines = [
    `Gatehouse sandbox: ${c.nodes.length} ClickHouse servers on 127.0.0.1 (independent: no replication between them)`,
    '',
    ...c.nodes.map(
      (n) =>
        `  ${n.name.padEnd(8)} clickhouse-client --host 127.0.0.1 --port ${n.tcpPort}    ` +
        `(HTTP ${n.httpPort}, pid ${n.pid}, dir ${n.dir})`,
    ),
    '',
    'Users on every node:',
    '  default     no password, full access',
    `  ${writer.name.padEnd(11)} --user ${writer.name} --password ${writer.password}   read and write`,
    `  ${reader.name.padEnd(11)} --user ${reader.name} --password ${reader.password}   readonly=2 (reads only; settings allowed)`,
    '',
    'Which node answered:',
    `  clickhouse-client --port ${c.readers[0]?.tcpPort ?? c.writer.tcpPort} --user ${reader.name} ` +
      `--password ${reader.password} --query "SELECT name FROM ${NODE_MARKER_TABLE}"`,
  ];
  return lines.join('\n');
}
