/** `npm run demo`: the sandbox cluster with Gatehouse in front of it. */
import { tuneGarbageCollector } from './gc-tuning';
import { loadConfig } from './config';
import { describeCluster, startSandboxCluster } from './sandbox';
import { serve } from './serve';

export interface Demo {
  port: number;
  banner: string;
  stop(): Promise<void>;
}

export async function startDemo(port: number): Promise<Demo> {
  const cluster = await startSandboxCluster({ readers: 2 });
  const { reader, writer } = cluster.users;
  const cfg = loadConfig({
    flags: {
      listen: `127.0.0.1:${port}`,
      writer: `127.0.0.1:${cluster.writer.tcpPort}`,
      reader: cluster.readers.map((r) => `127.0.0.1:${r.tcpPort}`),
      user: ['demo:demo'],
      readUser: `${reader.name}:${reader.password}`,
      writeUser: `${writer.name}:${writer.password}`,
    },
  });
  let running;
  tuneGarbageCollector();
  try {
    running = await serve(cfg);
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  const p = running.proxy.port;
  const banner = [
    '',
    describeCluster(cluster),
    '',
    `Gatehouse is in front of it on 127.0.0.1:${p}: reads go to the readers as ${reader.name}, writes to the writer as ${writer.name}.`,
    'Connect with:',
    `  clickhouse-client --port ${p} --user demo --password demo`,
    `  clickhouse-client --port ${p} --user demo --password demo -q "SELECT name FROM gatehouse_meta.node"   # which node answered`,
    'The nodes do not replicate: a table created through the proxy exists on the writer only.',
    'Ctrl+C stops everything.',
    '',
  ].join('\n');
  return {
    port: p,
    banner,
    async stop() {
      await running.close();
      await cluster.stop();
    },
  };
}
