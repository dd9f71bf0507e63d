/**
 * The `gatehouse` command: parse flags, start, stop. No logic lives here (see src/sandbox, and later src/frontend).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { describeCluster, describeClusterJson, startSandboxCluster, type ClickHouseLogLevel } from '../src/sandbox';

const LOG_LEVELS: readonly ClickHouseLogLevel[] = ['none', 'fatal', 'error', 'warning', 'information', 'debug', 'trace'];

/** package.json's version, found from both bin/ (ts-node) and dist/bin/ (built). */
function packageVersion(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'gatehouse' && pkg.version) return pkg.version;
    }
    if (path.dirname(dir) === dir) return '0.0.0';
  }
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 16) throw new InvalidArgumentError('expected an integer from 1 to 16');
  return n;
}

function logLevel(value: string): ClickHouseLogLevel {
  const level = LOG_LEVELS.find((l) => l === value);
  if (!level) throw new InvalidArgumentError(`expected one of ${LOG_LEVELS.join(', ')}`);
  return level;
}

/** Resolves on the first SIGINT/SIGTERM (handlers are installed at once, so Ctrl+C during start-up is caught). */
function untilSignal(): { received: Promise<NodeJS.Signals>; dispose(): void } {
  let resolveSignal: (s: NodeJS.Signals) => void = () => undefined;
  const received = new Promise<NodeJS.Signals>((resolve) => (resolveSignal = resolve));
  const onSignal = (s: NodeJS.Signals): void => resolveSignal(s);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Child processes are unref'd (so tests cannot hang on them); this keeps the command alive until a signal.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  return {
    received,
    dispose(): void {
      clearInterval(keepAlive);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

interface SandboxFlags {
  readers: number;
  logLevel: ClickHouseLogLevel;
  json?: boolean;
}

async function sandboxCommand(flags: SandboxFlags): Promise<void> {
  const signal = untilSignal();
  const startedAt = Date.now();
  const cluster = await startSandboxCluster({ readers: flags.readers, logLevel: flags.logLevel });
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(describeClusterJson(cluster))}\n`);
  } else {
    process.stdout.write(`${describeCluster(cluster)}\n\nStarted in ${Date.now() - startedAt} ms. Ctrl+C stops everything.\n`);
  }
  const nodeDied = Promise.race(cluster.nodes.map((n) => n.exited.then(() => n.name)));
  const outcome = await Promise.race([signal.received.then((s) => ({ signal: s })), nodeDied.then((name) => ({ name }))]);
  if ('name' in outcome) process.stderr.write(`node ${outcome.name} exited unexpectedly; stopping the sandbox\n`);
  await cluster.stop();
  signal.dispose();
  if (!flags.json) process.stdout.write('Sandbox stopped.\n');
  process.exitCode = 'name' in outcome ? 1 : 0;
}

/** Builds the command tree (exported for tests). */
export function buildProgram(): Command {
  const program = new Command('gatehouse')
    .description('ClickHouse native-protocol proxy: routes reads to replicas and writes to the writer, with pooling and a result cache')
    .version(packageVersion(), '-V, --version');

  program
    .command('sandbox')
    .description('start a throw-away ClickHouse cluster (one writer, readers) on loopback; Ctrl+C stops it')
    .option('--readers <n>', 'number of reader nodes', positiveInt, 2)
    .option('--log-level <level>', `server log level (${LOG_LEVELS.join(', ')})`, logLevel, 'warning' as ClickHouseLogLevel)
    .option('--json', 'print one JSON line with ports and users instead of the text summary')
    .action(sandboxCommand);

  // The `serve` command (the proxy itself, in front of the sandbox for `npm run demo`) is registered here next.
  return program;
}

if (require.main === module) {
  buildProgram()
    .parseAsync(process.argv)
    .catch((e: unknown) => {
      process.stderr.write(`gatehouse: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    });
}
