/**
 * The `gatehouse` command: parse flags, start, stop. No logic lives here (see src/sandbox, and later src/frontend).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { ConfigError, loadConfig, type FlagValues } from '../src/config';
import { describeCluster, describeClusterJson, startSandboxCluster, type ClickHouseLogLevel } from '../src/sandbox';
import { runServe } from '../src/serve-main';
import { startDemo } from '../src/demo';
import { checkConfig } from '../src/config';

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

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

async function serveCommand(flags: FlagValues): Promise<void> {
  // Loading, signals (SIGHUP reload, SIGTERM/SIGINT graceful stop) and workers live in src/serve-main.ts.
  process.exitCode = await runServe(flags);
}

/** Validates FILE as `serve --config FILE` would and prints the effective configuration, secrets masked. */
function checkConfigCommand(file: string): void {
  const result = checkConfig(file, process.env);
  if (result.exitCode === 0) process.stdout.write(result.stdout);
  else process.stderr.write(result.stderr);
  process.exitCode = result.exitCode;
}

async function demoCommand(opts: { port: string }): Promise<void> {
  const signal = untilSignal();
  const demo = await startDemo(Number(opts.port));
  process.stdout.write(demo.banner);
  await signal.received;
  await demo.stop();
  signal.dispose();
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

  program
    .command('serve')
    .description('run the proxy: clients connect to --listen as to ClickHouse; flags override the config file')
    .option('--config <file>', 'YAML config file (every flag has a key there)')
    .option('--listen <host:port>', 'native-protocol listener (config: listen; default 127.0.0.1:9000)')
    .option('--writer <host:port>', 'the writer backend (config: writer)')
    .option('--reader <host:port>', 'a reader backend; repeat for several; none = reads go to the writer (config: readers)', collect)
    .option('--user <name:password>', 'a proxy user clients log in as; repeatable (config: users)', collect)
    .option('--read-user <name[:password]>', 'backend identity for reads (config: read_user)')
    .option('--write-user <name[:password]>', 'backend identity for writes (config: write_user)')
    .option('--admin <host:port>', 'admin HTTP server: /health and /metrics (config: admin)')
    .option(
      '--redis <url>',
      'result cache in Redis, redis://[:password@]host:port[/db]; turns the cache on (config: cache.redis.url, ' +
        'cache.store, cache.enabled; a password here is visible to ps: prefer cache.redis.url_env)',
    )
    .option('--http <host:port>', 'the ClickHouse HTTP interface on a second port (config: http.listen)')
    .option('--workers <n>', 'worker processes sharing the ports, a number or auto = one per core (config: lifecycle.workers; default auto)')
    .option('--cache-ttl <seconds>', 'result cache TTL; turns the cache on (config: cache.ttl_seconds, cache.enabled; default 60)')
    .action(serveCommand);

  program
    .command('check-config')
    .description(
      'validate a config file as `serve --config FILE` would (exit 2 listing every problem) and print the effective ' +
        'configuration, secrets masked; takes no serve flags',
    )
    .argument('<file>', 'YAML config file')
    .allowExcessArguments(false) // one file: a second argument is a mistake, not something to ignore
    .action(checkConfigCommand);

  program
    .command('demo')
    .description('start a sandbox cluster (1 writer, 2 readers) and the proxy in front of it; Ctrl+C stops everything')
    .option('--port <port>', 'proxy port (0 = any free port)', '9000')
    .action(demoCommand);

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
