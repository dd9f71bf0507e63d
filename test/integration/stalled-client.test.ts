/**
 * streaming.max_paused_ms: a client that stops reading its result is closed and its backend query cancelled, so it
 * cannot hold a backend connection forever (issue 8 finding); in a shared (cached) execution it is dropped and the
 * other clients get the whole result.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PROXY_MAX_REVISION, ServerCode, type FramedPacket } from '../../src/protocol';
import { startSandboxCluster, type SandboxCluster } from '../helpers';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse';
import { NativeClient } from '../helpers/native-client';
import { until } from '../helpers/poll';

let cluster: SandboxCluster;
let tmpDir: string;
let gh: Gatehouse;

const BIG = "SELECT number, toString(number) AS s FROM numbers(30000000) WHERE 'stall' != ''";

async function open(): Promise<NativeClient> {
  const c = await NativeClient.open(gh.port);
  c.hello(PROXY_MAX_REVISION);
  expect((await c.next())?.code).toBe(ServerCode.Hello);
  c.addendumIfNeeded();
  return c;
}

async function busyConnections(): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${gh.adminPort}/status`);
  const status = (await res.json()) as { pools: { busy: number }[] };
  return status.pools.reduce((n, p) => n + p.busy, 0);
}


const rows = (packets: FramedPacket[]) => packets.reduce((n, p) => n + (p.code === ServerCode.Data && p.block ? p.block.rows : 0), 0);

beforeAll(async () => {
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-stall-'));
  cluster = await startSandboxCluster({ readers: 1 });
  const file = path.join(tmpDir, 's.yaml');
  fs.writeFileSync(
    file,
    [
      `writer: "127.0.0.1:${cluster.writer.tcpPort}"`,
      `readers: ["127.0.0.1:${cluster.readers[0]!.tcpPort}"]`,
      'admin: "127.0.0.1:0"',
      'streaming: { max_paused_ms: 1000 }',
      'cache: { enabled: true, ttl_seconds: 60, max_entry_bytes: 1048576 }',
    ].join('\n'),
  );
  gh = await startGatehouse(['--config', file]);
}, 120_000);

afterAll(async () => {
  await gh?.stop();
  await cluster?.stop();
  fs.rmSync(tmpDir, { recursive: true, force: true });
});

describe('streaming.max_paused_ms', () => {
  it('closes a client that stopped reading and frees its backend connection', async () => {
    const c = await open();
    c.socket.pause(); // never reads again
    c.query(`${BIG} /* gatehouse: no_cache */`);
    await until(async () => (await busyConnections()) > 0, 5_000, 'the query to start');
    await until(async () => (await busyConnections()) === 0, 15_000, 'the backend connection to be freed');
    expect(gh.output()).toContain('closing a client that stopped reading its result');
    const other = await open();
    other.query('SELECT 40 + 2');
    expect((await other.untilEnd()).at(-1)!.code).toBe(ServerCode.EndOfStream);
    other.close();
    c.close();
  }, 60_000);

  it('drops a stalled client of a shared execution; the other client gets the whole result', async () => {
    const reader = await open();
    const staller = await open();
    staller.socket.pause();
    staller.query(BIG);
    await new Promise((r) => setTimeout(r, 50));
    reader.query(BIG); // joins the same execution
    const packets = await reader.untilEnd(60_000);
    expect(packets.at(-1)!.code).toBe(ServerCode.EndOfStream);
    expect(rows(packets)).toBe(30_000_000);
    await until(async () => (await busyConnections()) === 0, 15_000, 'the backend connection to be freed');
    reader.close();
    staller.close();
  }, 90_000);
});
