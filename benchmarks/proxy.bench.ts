/**
 * Issue 3's benchmark: the same workloads, side by side in one run, against ONE throw-away ClickHouse 18.16 node
 * (a) directly, (b) through HAProxy in TCP mode (the L4 anchor) and (c) through Gatehouse (pass-through
 * credentials, the node as the only backend, default pool settings), in three sections:
 *   - loopback (proxy-rows-loopback.ts): groups `select1`, `bulk`, `connect`;
 *   - remote backend (proxy-rows-remote.ts, group `remote`): ClickHouse behind a latency relay, the proxies beside
 *     the client, so every path pays the same hop;
 *   - TLS backend (proxy-rows-tls.ts, group `tls`): ClickHouse's secure native port.
 *
 * Run: npm run bench:proxy [-- --reps N] [-- --only GROUPS] [-- --threads N] [-- --delay-ms D] [-- --profile DIR] [-- --quick]
 *   --reps N          repetitions of every measurement (default 5; medians are quoted)
 *   --only GROUPS     comma-separated: select1, bulk, connect, remote, tls; `loopback` = select1,bulk,connect,
 *                     `pooling` = connect,remote,tls (the rows where pooling should pay). Default: all.
 *   --delay-ms D      the relay's one-way delay for the remote rows (default 1)
 *   --no-handshake-rtt  do not model the TCP handshake's round trip on connections through the relay
 *   --threads N|auto  HAProxy `nbthread` = Gatehouse `--workers` = N on the loopback and remote rows (default auto:
 *                     one per core, both proxies' own default; the TLS rows always run 1 and 1)
 *   --profile DIR     run the Gatehouse processes under `node --cpu-prof` and print the hottest functions at the end
 *   --quick           a few iterations only (smoke test of the harness, figures meaningless)
 *
 * Every measurement of a repetition runs for all paths back to back (the order rotates between repetitions), so
 * drift on this shared 2-core machine hits the paths alike. The proxy, the load generator, the relay and ClickHouse
 * share the two cores: a proxy's CPU is taken from ClickHouse and from the client.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startClickHouse, type ClickHouseServer } from '../src/sandbox';
import { makeTestCerts, type TestCerts } from '../test/helpers/certs';
import { argValue, loadavg, rssMiB } from './bench-util';
import { formatTop } from './cpuprofile-top';
import type { RowGroup, RunOptions } from './proxy-bench-context';
import { startLoopbackRows } from './proxy-rows-loopback';
import { startRemoteRows } from './proxy-rows-remote';
import { startTlsRows } from './proxy-rows-tls';

const GROUPS = ['select1', 'bulk', 'connect', 'remote', 'tls'] as const;
type Group = (typeof GROUPS)[number];
const ALIASES: Record<string, readonly Group[]> = {
  loopback: ['select1', 'bulk', 'connect'],
  pooling: ['connect', 'remote', 'tls'],
  all: GROUPS,
};

function parseOnly(arg: string | undefined): Set<Group> {
  if (arg === undefined) return new Set(GROUPS);
  const out = new Set<Group>();
  for (const name of arg.split(',').map((s) => s.trim()).filter(Boolean)) {
    const groups = ALIASES[name] ?? (GROUPS.includes(name as Group) ? [name as Group] : null);
    if (!groups) throw new Error(`--only: unknown group "${name}" (groups: ${GROUPS.join(', ')}; aliases: ${Object.keys(ALIASES).join(', ')})`);
    for (const g of groups) out.add(g);
  }
  if (out.size === 0) throw new Error('--only: no group given');
  return out;
}

function parseThreads(arg: string | undefined): number {
  if (arg === undefined || arg === 'auto') return os.availableParallelism();
  const n = Number(arg);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--threads must be a positive integer or auto, got ${arg}`);
  return n;
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const only = parseOnly(argValue('--only'));
  const delayMs = Number(argValue('--delay-ms') ?? 1);
  if (!(delayMs > 0)) throw new Error(`--delay-ms must be > 0, got ${argValue('--delay-ms')}`);
  const handshakeRtt = !process.argv.includes('--no-handshake-rtt');
  const profileArg = argValue('--profile');
  const opts: RunOptions = {
    reps: Number(argValue('--reps') ?? 5),
    quick: process.argv.includes('--quick'),
    dir: fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-bench-proxy-')),
    profileDir: profileArg ? path.resolve(profileArg) : undefined,
    threads: parseThreads(argValue('--threads')),
  };
  let ch: ClickHouseServer | null = null;
  let certs: TestCerts | null = null;
  const groups: RowGroup[] = [];
  try {
    if (only.has('tls')) certs = makeTestCerts();
    ch = await startClickHouse({ name: 'bench', tls: certs ? { certFile: certs.serverCert, keyFile: certs.serverKey } : undefined });
    if (only.has('select1') || only.has('bulk') || only.has('connect')) {
      groups.push(await startLoopbackRows(ch, opts, { select1: only.has('select1'), bulk: only.has('bulk'), connect: only.has('connect') }));
    }
    if (only.has('remote')) groups.push(await startRemoteRows(ch, opts, { delayMs, handshakeRtt }));
    if (only.has('tls') && certs) groups.push(await startTlsRows(ch, certs, opts));

    const cpu = os.cpus();
    console.log(
      `proxy benchmark: ${cpu.length} × ${cpu[0]?.model ?? '?'}, Node ${process.version}, ${opts.reps} repetitions${opts.quick ? ' (QUICK)' : ''}, ` +
        `groups ${[...only].join(',')}, HAProxy nbthread = Gatehouse workers = ${opts.threads} (TLS rows: 1)`,
    );
    console.log(`load average at the start ${loadavg()}`);

    for (const g of groups) await g.warmUp();
    for (let rep = 0; rep < opts.reps; rep++) {
      for (const g of groups) await g.runRepetition(rep);
      console.log(`repetition ${rep + 1}/${opts.reps} done at ${((Date.now() - t0) / 1000).toFixed(0)} s (load average ${loadavg()})`);
    }

    for (const g of groups) {
      console.log('');
      console.log(`## ${g.section.title}`);
      for (const line of await g.notes()) console.log(line);
      console.log('');
      console.log(`Medians of ${opts.reps} repetitions. "speed" ratios: > 1 means Gatehouse is faster.`);
      console.log(g.section.render());
      console.log('');
      console.log(g.section.renderSamples());
      console.log('');
      console.log('CPU per unit of work, from /proc (medians; ticks are 10 ms, so the short rows are coarse):');
      console.log(g.section.renderCpu());
    }
    console.log('');
    console.log(`ClickHouse RSS now ${rssMiB(ch.pid).toFixed(0)} MiB. Total time ${((Date.now() - t0) / 1000).toFixed(0)} s; load average at the end ${loadavg()}.`);
  } finally {
    for (const g of groups.reverse()) await g.stop().catch((e) => console.error(e));
    if (ch) await ch.stop();
    certs?.remove();
    fs.rmSync(opts.dir, { recursive: true, force: true });
  }
  if (opts.profileDir) printProfile(opts.profileDir, t0);
}

/** The profiles this run wrote (one per Gatehouse process), newest first. */
function printProfile(dir: string, since: number): void {
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => path.join(dir, f))
    .filter((f) => fs.statSync(f).mtimeMs >= since)
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  if (files.length === 0) console.log(`no .cpuprofile written in ${dir}`);
  for (const f of files) {
    console.log(`\nGatehouse hottest functions by self time (${f}):`);
    console.log(formatTop(f, 25));
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
