/**
 * Issue 3's original rows, everything on loopback: one ClickHouse 18.16 node reached (a) directly, (b) through
 * HAProxy in TCP mode and (c) through Gatehouse (pass-through credentials, the node as the only backend, default
 * pool settings). Groups: `select1` (clickhouse-benchmark SELECT 1 at c=1, 8, 32), `bulk` (1M-row results,
 * a clickhouse-client download and INSERT), `connect` (connect + SELECT 1 per connection, Hello database 'default'
 * and '').
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { httpQuery, type ClickHouseServer } from '../src/sandbox';
import { Section } from './bench-table';
import { clickhouseBenchmark, rssMiB, run } from './bench-util';
import { connectPerQuery } from './connect-per-query';
import { eachPath, measured, type RowGroup, type RunOptions, type Watched } from './proxy-bench-context';
import { startGatehouse, startHaproxy, type Started, type StartedGatehouse } from './proxy-processes';

const CLIENT_BIN = '/usr/bin/clickhouse-client';
const PATHS = ['direct', 'haproxy', 'gatehouse'] as const;

/** Hello databases measured: drivers (Python clickhouse-driver) send 'default'; clickhouse-client 18.16 sends ''. */
export const HELLO_DATABASES = [
  ['default', "Hello database 'default'"],
  ['', "Hello database ''"],
] as const;

export interface LoopbackGroups {
  select1: boolean;
  bulk: boolean;
  connect: boolean;
}

async function clientProbe(port: number): Promise<boolean> {
  const r = await run(CLIENT_BIN, ['--host', '127.0.0.1', '--port', String(port), '--query', 'SELECT 1']);
  return r.code === 0;
}

function writeInsertFile(file: string, rows: number): void {
  const fd = fs.openSync(file, 'w');
  const batch = 100_000;
  for (let start = 0; start < rows; start += batch) {
    let s = '';
    for (let i = start; i < Math.min(rows, start + batch); i++) s += `${i}\tuser-${i % 10_000}-${i}\n`;
    fs.writeSync(fd, s);
  }
  fs.closeSync(fd);
}

export async function startLoopbackRows(ch: ClickHouseServer, opts: RunOptions, groups: LoopbackGroups): Promise<RowGroup> {
  const { quick, dir } = opts;
  const SELECT1_ITER = quick ? 200 : 2000;
  const M1_ITER_C1 = quick ? 2 : 10;
  const M1_ITER_C4 = quick ? 4 : 16;
  const DOWNLOAD_ROWS = quick ? 1_000_000 : 10_000_000;
  const INSERT_ROWS = quick ? 200_000 : 2_000_000;
  const CONNECT_SEQ = quick ? 100 : 600;
  const CONNECT_C8 = quick ? 200 : 1500;
  const SQL_1M = 'SELECT number, toString(number) FROM numbers(1000000)';
  const SQL_DOWNLOAD = `SELECT number, toString(number) FROM numbers(${DOWNLOAD_ROWS}) FORMAT Native`;

  let haproxy: Started | null = null;
  let gatehouse: StartedGatehouse | null = null;
  const stop = async (): Promise<void> => {
    if (gatehouse) await gatehouse.proc.terminate('SIGTERM', 10_000);
    if (haproxy) await haproxy.proc.terminate('SIGTERM', 5_000);
  };
  try {
    // The INSERT goes to a Null table: the figure is transport and parsing, not MergeTree.
    if (groups.bulk) await httpQuery(ch.httpPort, 'CREATE TABLE IF NOT EXISTS default.bench_insert (n UInt64, s String) ENGINE = Null');
    haproxy = await startHaproxy(dir, 'loopback', ch.tcpPort, clientProbe, opts.threads);
    gatehouse = await startGatehouse(dir, 'loopback', ['--writer', `127.0.0.1:${ch.tcpPort}`], null, opts.profileDir, opts.threads);
  } catch (e) {
    await stop();
    throw e;
  }
  const gh = gatehouse;
  const ha = haproxy;
  const ports: Record<string, number> = { direct: ch.tcpPort, haproxy: ha.port, gatehouse: gh.port };
  const watched: Watched = (p) => ({
    ...(p === 'haproxy' ? { haproxy: ha.proc.pid } : p === 'gatehouse' ? { gatehouse: gh.proc.pid } : {}),
    [`ch@${p}`]: ch.pid,
  });
  const section = new Section(
    'Loopback',
    [
      { key: 'direct', label: 'direct' },
      { key: 'haproxy', label: 'HAProxy' },
      { key: 'gatehouse', label: 'Gatehouse' },
    ],
    ['gatehouse'],
    [
      { key: 'haproxy', label: 'HAProxy' },
      { key: 'gatehouse', label: 'Gatehouse' },
      { key: 'ch@direct', label: 'ClickHouse (direct)' },
      { key: 'ch@haproxy', label: 'ClickHouse (via HAProxy)' },
      { key: 'ch@gatehouse', label: 'ClickHouse (via Gatehouse)' },
    ],
  );

  const insertFile = path.join(dir, 'insert.tsv');
  if (groups.bulk) writeInsertFile(insertFile, INSERT_ROWS);

  const clientDownload = async (port: number): Promise<{ seconds: number; bytes: number }> => {
    const res = await run(CLIENT_BIN, ['--host', '127.0.0.1', '--port', String(port), '--query', SQL_DOWNLOAD], {
      keepStdout: false,
      timeoutMs: 300_000,
    });
    if (res.code !== 0) throw new Error(`download on port ${port} failed (exit ${res.code}): ${res.stderr.slice(-1000)}`);
    return { seconds: res.seconds, bytes: res.stdoutBytes };
  };
  const clientInsert = async (port: number): Promise<number> => {
    const res = await run(CLIENT_BIN, ['--host', '127.0.0.1', '--port', String(port), '--query', 'INSERT INTO bench_insert FORMAT TSV'], {
      stdin: { file: insertFile },
      timeoutMs: 300_000,
    });
    if (res.code !== 0) throw new Error(`insert on port ${port} failed (exit ${res.code}): ${res.stderr.slice(-1000)}`);
    return res.seconds;
  };

  let downloadBytes = -1;
  return {
    section,
    async warmUp() {
      // JIT the proxy, open pooled backend connections, warm ClickHouse's caches, on every path alike. A fresh
      // Gatehouse reaches its steady `SELECT 1` rate after ~5 000 queries (V8 optimising the hot path: measured
      // 1 558 QPS at c=1 in its first 3 s, 1 650–1 870 after, RESULTS.md "Fifth session"); 300 left the first
      // repetition's c=1 row measuring a cold proxy.
      for (const p of PATHS) {
        if (groups.select1) await clickhouseBenchmark(ports[p], 'SELECT 1', quick ? 300 : 6000, 8, dir);
        if (groups.bulk) await clickhouseBenchmark(ports[p], SQL_1M, 2, 1, dir);
        await connectPerQuery(ports[p], 100, 8);
      }
    },
    async runRepetition(rep) {
      const each = (fn: (p: string) => Promise<void>): Promise<void> => eachPath(PATHS, rep, fn);
      if (groups.select1) {
        for (const c of [1, 8, 32]) {
          await each(async (p) => {
            const cpu = { key: `s1-${c}`, label: `SELECT 1, c=${c}`, unit: 'µs/query', perUnit: 1e6, units: SELECT1_ITER };
            const f = await measured(section, watched, p, cpu, () => clickhouseBenchmark(ports[p], 'SELECT 1', SELECT1_ITER, c, dir));
            section.sample(`s1-qps-${c}`, `SELECT 1, c=${c}, QPS`, 'queries/s', true, false, p, f.qps);
            section.sample(`s1-p50-${c}`, `SELECT 1, c=${c}, p50`, 'ms', false, false, p, f.p50ms);
            section.sample(`s1-p99-${c}`, `SELECT 1, c=${c}, p99`, 'ms', false, false, p, f.p99ms);
          });
        }
      }
      if (groups.bulk) {
        for (const [c, iters] of [
          [1, M1_ITER_C1],
          [4, M1_ITER_C4],
        ] as const) {
          await each(async (p) => {
            const cpu = { key: `m1-${c}`, label: `1M rows, c=${c}`, unit: 'ms/query', perUnit: 1e3, units: iters };
            const f = await measured(section, watched, p, cpu, () => clickhouseBenchmark(ports[p], SQL_1M, iters, c, dir));
            section.sample(`m1-qps-${c}`, `1M rows, c=${c}, QPS`, 'queries/s', true, false, p, f.qps);
            section.sample(`m1-mib-${c}`, `1M rows, c=${c}, result`, 'MiB/s', true, false, p, f.resultMiBps);
          });
        }
        await each(async (p) => {
          const cpu = { key: 'dl', label: `${DOWNLOAD_ROWS / 1e6}M-row download`, unit: 'ms/run', perUnit: 1e3, units: 1 };
          const r = await measured(section, watched, p, cpu, () => clientDownload(ports[p]));
          if (downloadBytes < 0) downloadBytes = r.bytes;
          else if (r.bytes !== downloadBytes) throw new Error(`download via ${p}: ${r.bytes} bytes, expected ${downloadBytes}`);
          section.sample('dl-s', `${DOWNLOAD_ROWS / 1e6}M-row clickhouse-client download (Native), wall`, 's', false, false, p, r.seconds);
          section.sample('dl-mb', `${DOWNLOAD_ROWS / 1e6}M-row download, output`, 'MB/s', true, false, p, r.bytes / r.seconds / 1e6);
        });
        await each(async (p) => {
          const cpu = { key: 'ins', label: `${INSERT_ROWS / 1e6}M-row INSERT`, unit: 'ms/run', perUnit: 1e3, units: 1 };
          const s = await measured(section, watched, p, cpu, () => clientInsert(ports[p]));
          section.sample('ins-s', `${INSERT_ROWS / 1e6}M-row INSERT FORMAT TSV (clickhouse-client), wall`, 's', false, false, p, s);
        });
      }
      if (groups.connect) {
        // Gatehouse treats the two Hello databases differently (a named database is checked on a backend).
        for (const [db, dbLabel] of HELLO_DATABASES) {
          for (const [c, n] of [
            [1, CONNECT_SEQ],
            [8, CONNECT_C8],
          ] as const) {
            await each(async (p) => {
              const key = `cpq-${c}-${db || 'empty'}`;
              const label = `connect + SELECT 1 per connection, ${c === 1 ? 'sequential' : `c=${c}`}, ${dbLabel}`;
              const cpu = { key, label, unit: 'µs/connection', perUnit: 1e6, units: n };
              const r = await measured(section, watched, p, cpu, () => connectPerQuery(ports[p], n, c, 'SELECT 1', 'default', '', db));
              section.sample(key, label, 'queries/s', true, true, p, r.qps);
            });
          }
        }
      }
    },
    async notes() {
      return [
        `ClickHouse 18.16 on :${ch.tcpPort}, HAProxy on :${ha.port}, Gatehouse on :${gh.port} (pid ${gh.proc.pid}, RSS now ${rssMiB(gh.proc.pid).toFixed(0)} MiB).`,
        ...(downloadBytes > 0 ? [`Download output: ${downloadBytes} bytes on every path.`] : []),
      ];
    },
    stop,
  };
}
