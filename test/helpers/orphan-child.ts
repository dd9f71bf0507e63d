/**
 * Child process for the harness test's clean-up checks (run with ts-node, not a test itself).
 * Starts a Redis, prints `{"pid":..,"port":..}` and then, by argv[2]:
 *   exit  - calls process.exit(0) without stopping it (the registry's exit hook must kill it);
 *   hang  - waits to be SIGKILLed (only the global teardown's pid-file sweep can clean up then).
 */
import { startRedis } from './servers';

async function main(): Promise<void> {
  const redis = await startRedis();
  process.stdout.write(`${JSON.stringify({ pid: redis.pid, port: redis.port, dir: redis.dir })}\n`);
  if (process.argv[2] === 'exit') process.exit(0);
  setInterval(() => undefined, 1 << 30);
}

void main();
