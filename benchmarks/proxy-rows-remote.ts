/**
 * "Remote backend" rows (issue 3, RESULTS.md "Why" point 5): ClickHouse one network hop away, the proxy next to
 * the client, as an operator deploys a pooler near the application. Every path pays the same hop, through one
 * latency relay (benchmarks/latency-relay.ts) in front of ClickHouse:
 *   direct:    client → relay → ClickHouse
 *   HAProxy:   client → HAProxy → relay → ClickHouse (one relay connection per client connection)
 *   Gatehouse: client → Gatehouse → relay → ClickHouse (pooled backend connections through the relay)
 * Rows: connect + SELECT 1 per connection (sequential and c=8, Hello database 'default' and ''), and SELECT 1 at
 * c=1 on a kept connection (clickhouse-benchmark), which shows what the hop costs per query.
 */
import type { ClickHouseServer } from '../src/sandbox';
import { Section } from './bench-table';
import { clickhouseBenchmark, fmt, median, run } from './bench-util';
import { connectPerQuery } from './connect-per-query';
import type { HoldStats } from './latency-relay';
import { eachPath, measured, type RowGroup, type RunOptions, type Watched } from './proxy-bench-context';
import { HELLO_DATABASES } from './proxy-rows-loopback';
import { startGatehouse, startHaproxy, startRelayProcess, type RelayProcess, type Started, type StartedGatehouse } from './proxy-processes';

const PATHS = ['direct', 'haproxy', 'gatehouse'] as const;

export interface RemoteOptions {
  /** One-way delay the relay adds per chunk, ms. */
  delayMs: number;
  /** Model the TCP handshake's round trip on every new connection through the relay. */
  handshakeRtt: boolean;
}

export async function startRemoteRows(ch: ClickHouseServer, opts: RunOptions, remote: RemoteOptions): Promise<RowGroup> {
  const { quick, dir } = opts;
  // Sized for ~1-3 s per measurement at 1 ms each way (a fresh connection costs 3 round trips).
  const CONNECT_SEQ = quick ? 50 : 200;
  const CONNECT_C8 = quick ? 100 : 600;
  const SELECT1_ITER = quick ? 100 : 500;

  let relay: RelayProcess | null = null;
  let haproxy: Started | null = null;
  let gatehouse: StartedGatehouse | null = null;
  const stop = async (): Promise<void> => {
    if (gatehouse) await gatehouse.proc.terminate('SIGTERM', 10_000);
    if (haproxy) await haproxy.proc.terminate('SIGTERM', 5_000);
    if (relay) await relay.proc.terminate('SIGTERM', 5_000);
  };
  try {
    relay = await startRelayProcess(ch.tcpPort, remote.delayMs, remote.handshakeRtt);
    const relayPort = relay.port;
    const probe = async (port: number): Promise<boolean> =>
      (await run('/usr/bin/clickhouse-client', ['--host', '127.0.0.1', '--port', String(port), '--query', 'SELECT 1'])).code === 0;
    haproxy = await startHaproxy(dir, 'remote', relayPort, probe, opts.threads);
    gatehouse = await startGatehouse(dir, 'remote', ['--writer', `127.0.0.1:${relayPort}`], null, opts.profileDir, opts.threads);
  } catch (e) {
    await stop();
    throw e;
  }
  const rl = relay;
  const ha = haproxy;
  const gh = gatehouse;
  const ports: Record<string, number> = { direct: rl.port, haproxy: ha.port, gatehouse: gh.port };
  const watched: Watched = (p) => ({
    ...(p === 'haproxy' ? { haproxy: ha.proc.pid } : p === 'gatehouse' ? { gatehouse: gh.proc.pid } : {}),
    [`relay@${p}`]: rl.proc.pid,
    [`ch@${p}`]: ch.pid,
  });
  const hop = `${remote.delayMs} ms each way${remote.handshakeRtt ? ' + TCP handshake round trip' : ''}`;
  const section = new Section(
    `Remote backend (every path through a relay: ${hop})`,
    [
      { key: 'direct', label: 'direct via relay' },
      { key: 'haproxy', label: 'HAProxy → relay' },
      { key: 'gatehouse', label: 'Gatehouse → relay' },
    ],
    ['gatehouse'],
    [
      { key: 'haproxy', label: 'HAProxy' },
      { key: 'gatehouse', label: 'Gatehouse' },
      { key: 'relay@direct', label: 'relay (direct)' },
      { key: 'relay@haproxy', label: 'relay (via HAProxy)' },
      { key: 'relay@gatehouse', label: 'relay (via Gatehouse)' },
      { key: 'ch@direct', label: 'ClickHouse (direct)' },
      { key: 'ch@haproxy', label: 'ClickHouse (via HAProxy)' },
      { key: 'ch@gatehouse', label: 'ClickHouse (via Gatehouse)' },
    ],
  );

  /** Achieved relay holds, one entry per measurement, per path. */
  const holds = new Map<string, HoldStats[]>(PATHS.map((p) => [p, []]));
  const withHolds = async <T>(p: string, fn: () => Promise<T>): Promise<T> => {
    await rl.stats(); // reset
    const out = await fn();
    holds.get(p)!.push(await rl.stats());
    return out;
  };

  return {
    section,
    async warmUp() {
      for (const p of PATHS) {
        await connectPerQuery(ports[p], 50, 8);
        await clickhouseBenchmark(ports[p], 'SELECT 1', 100, 1, dir);
      }
    },
    async runRepetition(rep) {
      const each = (fn: (p: string) => Promise<void>): Promise<void> => eachPath(PATHS, rep, fn);
      for (const [db, dbLabel] of HELLO_DATABASES) {
        for (const [c, n] of [
          [1, CONNECT_SEQ],
          [8, CONNECT_C8],
        ] as const) {
          await each(async (p) => {
            const key = `rcpq-${c}-${db || 'empty'}`;
            const label = `remote: connect + SELECT 1 per connection, ${c === 1 ? 'sequential' : `c=${c}`}, ${dbLabel}`;
            const cpu = { key, label, unit: 'µs/connection', perUnit: 1e6, units: n };
            const r = await withHolds(p, () => measured(section, watched, p, cpu, () => connectPerQuery(ports[p], n, c, 'SELECT 1', 'default', '', db)));
            section.sample(key, label, 'queries/s', true, true, p, r.qps);
          });
        }
      }
      await each(async (p) => {
        const cpu = { key: 'rs1', label: 'remote: SELECT 1, c=1, kept connection', unit: 'µs/query', perUnit: 1e6, units: SELECT1_ITER };
        const f = await withHolds(p, () => measured(section, watched, p, cpu, () => clickhouseBenchmark(ports[p], 'SELECT 1', SELECT1_ITER, 1, dir)));
        section.sample('rs1-qps', 'remote: SELECT 1, c=1, kept connection, QPS', 'queries/s', true, false, p, f.qps);
        section.sample('rs1-p50', 'remote: SELECT 1, c=1, kept connection, p50', 'ms', false, false, p, f.p50ms);
      });
    },
    async notes() {
      const holdLine = PATHS.map((p) => {
        const hs = holds.get(p)!.filter((h) => h.chunks > 0);
        return `${p} p50 ${fmt(median(hs.map((h) => h.p50Ms)))} / p99 ${fmt(median(hs.map((h) => h.p99Ms)))} / max ${fmt(Math.max(...hs.map((h) => h.maxMs)))}`;
      });
      return [
        `Relay (pid ${rl.proc.pid}) on :${rl.port} in front of ClickHouse :${ch.tcpPort}; HAProxy :${ha.port} and Gatehouse :${gh.port} (pid ${gh.proc.pid}) both reach ClickHouse through it.`,
        `Each chunk is held ${remote.delayMs} ms from its arrival in each direction (chunks overlap: latency, no throughput cap)` +
          (remote.handshakeRtt
            ? `; a new connection's first bytes also wait one round trip (${2 * remote.delayMs} ms), as behind a real TCP handshake. So a fresh ` +
              'direct connection costs 3 round trips (TCP, Hello, query) and a pooled query through Gatehouse 1.'
            : '.'),
        `Achieved hold per chunk, ms (medians over measurements of each measurement's p50 / p99; worst single chunk): ${holdLine.join('; ')}.`,
        'The relay is a Node process on the same 2 cores: its CPU per chunk is in the figure of every path alike, but its ' +
          'CPU per *connection* (accept + a connect upstream) is paid per client connection by direct and HAProxy and only ' +
          'per pooled connection by Gatehouse; on a real network that CPU would not be on this machine. The "relay" CPU ' +
          'columns below show the size of that difference.',
      ];
    },
    stop,
  };
}
