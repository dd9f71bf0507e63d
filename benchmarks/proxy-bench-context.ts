/**
 * What every group of the proxy benchmark's rows shares: the run's options, the temp dir, the table section it
 * fills, and `measured`, which runs one measurement on one path and books the CPU that the processes on that path
 * (the proxy, the relay, ClickHouse) spent per unit of work.
 */
import type { Section } from './bench-table';
import { treeCpuSeconds } from './bench-util';

export interface RunOptions {
  reps: number;
  quick: boolean;
  dir: string;
  profileDir: string | undefined;
  /**
   * HAProxy's `nbthread` and Gatehouse's `--workers` on the loopback and remote rows (the TLS rows run one each):
   * each proxy gets the same number of threads of execution. Default: the number of cores, both proxies' own default.
   */
  threads: number;
}

/** A unit of work to book CPU against: `units` of them in this measurement, shown as `perUnit` × seconds each. */
export interface CpuSpec {
  key: string;
  label: string;
  unit: string;
  perUnit: number;
  units: number;
}

/**
 * The processes whose CPU is booked while path `p` is measured: column key → pid. The proxy of the path goes in
 * its own column (`p`), the others in `<name>@<p>` columns (e.g. `ch@direct`), so the table shows, say, how much
 * ClickHouse spends per connection on each path.
 */
export type Watched = (p: string) => Record<string, number>;

export async function measured<T>(section: Section, watched: Watched, p: string, cpu: CpuSpec, fn: () => Promise<T>): Promise<T> {
  const pids = watched(p);
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, treeCpuSeconds(pid)]));
  const out = await fn();
  for (const [k, pid] of Object.entries(pids)) {
    section.cpu(cpu.key, cpu.label, cpu.unit, k, ((treeCpuSeconds(pid) - before[k]) * cpu.perUnit) / cpu.units);
  }
  return out;
}

/** Runs `fn` on every path, in an order rotated by repetition, so that no path is always first after a switch. */
export async function eachPath(paths: readonly string[], rep: number, fn: (p: string) => Promise<void>): Promise<void> {
  for (let i = 0; i < paths.length; i++) await fn(paths[(i + rep) % paths.length]);
}

/** A group of rows: started once, warmed up, run once per repetition, described and stopped. */
export interface RowGroup {
  readonly section: Section;
  warmUp(): Promise<void>;
  runRepetition(rep: number): Promise<void>;
  /** Lines printed after the section's tables (what the paths are, what the figures include). */
  notes(): Promise<string[]>;
  stop(): Promise<void>;
}
