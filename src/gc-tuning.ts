/**
 * V8 garbage-collector settings for a process that relays query traffic.
 *
 * By default V8 schedules incremental marking as a background task well before the old generation reaches its
 * limit. A proxy relaying a bulk result allocates little on the JS heap (a few hundred KB per 1M-row result) but
 * keeps read buffers and packet views alive across scavenges, and that early start ran a full mark-compact about
 * every second 1M-row result on a heap of 13 MB: ~8.7 ms of CPU per result (28 % of the proxy's CPU on that query,
 * `--trace-gc` and /proc, 100 results at c=1, Node 20; benchmarks/RESULTS.md). Without the task, marking still
 * starts incrementally and concurrently once the old generation reaches its allocation limit, so memory stays
 * bounded and pauses stay short; only the early, speculative start goes (measured: 1 mark-compact per 100 results
 * instead of ~50, no change on `SELECT 1` at c=8 in CPU per query or p99).
 *
 * Unlike the heap-size flags, this one takes effect when set at run time (v8.setFlagsFromString; measured above
 * with the flag set that way, as here). This only changes the default: an operator who chose the flag on the node
 * command line (`node --incremental-marking-task bin/gatehouse.js serve …`; Node refuses it in NODE_OPTIONS) keeps
 * their choice, and cluster workers inherit that command line.
 */
import * as v8 from 'node:v8';

const FLAG = '--no-incremental-marking-task';

export function tuneGarbageCollector(execArgv: readonly string[] = process.execArgv): boolean {
  const chosen = execArgv.some((a) => /^--(no-)?incremental[-_]marking[-_]task\b/.test(a));
  if (chosen) return false;
  v8.setFlagsFromString(FLAG);
  return true;
}
