/**
 * The proxy benchmark's result tables: a section is a set of paths (direct, HAProxy, one or more Gatehouse
 * variants) measured on the same rows; each row keeps every repetition's sample per path, and the table shows the
 * medians with each Gatehouse variant's ratio to the baselines (direct, HAProxy) and issue 3's verdicts.
 */
import { fmt, median } from './bench-util';

export interface PathSpec {
  key: string;
  label: string;
}

interface Metric {
  label: string;
  unit: string;
  /** Throughput: higher is better; latency and wall time: lower is better. */
  higherIsBetter: boolean;
  /** Connect-per-query rows carry the second target (≥ 1.5× direct). */
  pooling: boolean;
  samples: Map<string, number[]>;
}

/** A per-process CPU cost row: the same unit of work, one column per process measured. */
interface CpuRow {
  label: string;
  unit: string;
  samples: Map<string, number[]>;
}

/** Issue 3's targets: Gatehouse ≥ 0.9× HAProxy on every row, ≥ 1.5× direct on connect-per-query. */
const TARGET_VS_HAPROXY = 0.9;
const TARGET_POOLING_VS_DIRECT = 1.5;

export class Section {
  private readonly metrics = new Map<string, Metric>();
  private readonly cpuRows = new Map<string, CpuRow>();

  /**
   * `candidates` are the Gatehouse paths; `direct` and `haproxy` are the baselines every candidate is compared
   * with. `cpuColumns` name the processes whose CPU per unit of work is booked (see {@link cpu}).
   */
  constructor(
    readonly title: string,
    readonly paths: readonly PathSpec[],
    readonly candidates: readonly string[],
    readonly cpuColumns: readonly PathSpec[],
  ) {}

  /** The row `key`, created on first use; push one sample per path and repetition into `.samples`. */
  sample(key: string, label: string, unit: string, higherIsBetter: boolean, pooling: boolean, path: string, value: number): void {
    let m = this.metrics.get(key);
    if (!m) {
      m = { label, unit, higherIsBetter, pooling, samples: new Map() };
      this.metrics.set(key, m);
    }
    push(m.samples, path, value);
  }

  /** Books `value` (CPU per unit of work) of process column `column` under the row `key`. */
  cpu(key: string, label: string, unit: string, column: string, value: number): void {
    let r = this.cpuRows.get(key);
    if (!r) {
      r = { label, unit, samples: new Map() };
      this.cpuRows.set(key, r);
    }
    push(r.samples, column, value);
  }

  get empty(): boolean {
    return this.metrics.size === 0;
  }

  /**
   * Ratios are "speed" ratios: Gatehouse's throughput over the other's, or the other's time over Gatehouse's, so
   * > 1 always means Gatehouse is faster.
   */
  render(): string {
    const label = (k: string): string => this.paths.find((p) => p.key === k)?.label ?? k;
    const several = this.candidates.length > 1;
    const metrics = [...this.metrics.values()];
    const anyLatency = metrics.some((m) => !m.higherIsBetter);
    const heads = this.candidates.flatMap((c) => {
      const name = several ? label(c) : 'GH';
      return [`${name}/direct (speed)`, `${name}/HAProxy (speed)`, ...(anyLatency ? [`${name}/HAProxy time ratio`] : [])];
    });
    const lines: string[] = [];
    lines.push(`| Row | ${this.paths.map((p) => p.label).join(' | ')} | ${heads.join(' | ')} | targets |`);
    lines.push(`|---|${this.paths.map(() => '---:').join('|')}|${heads.map(() => '---:').join('|')}|---|`);
    for (const m of metrics) {
      const med = (k: string): number => median(m.samples.get(k) ?? []);
      const speed = (g: number, base: number): number => (m.higherIsBetter ? g / base : base / g);
      const cells: string[] = [];
      const verdicts: string[] = [];
      for (const c of this.candidates) {
        const vsDirect = speed(med(c), med('direct'));
        const vsHaproxy = speed(med(c), med('haproxy'));
        cells.push(vsDirect.toFixed(2), vsHaproxy.toFixed(2));
        if (anyLatency) cells.push(m.higherIsBetter ? '' : `${fmt(med(c) / med('haproxy'))}× (lower is better)`);
        const v = [`≥${TARGET_VS_HAPROXY}× HAProxy: ${verdict(vsHaproxy >= TARGET_VS_HAPROXY)}`];
        if (m.pooling) v.push(`≥${TARGET_POOLING_VS_DIRECT}× direct: ${verdict(vsDirect >= TARGET_POOLING_VS_DIRECT)}`);
        verdicts.push((several ? `${label(c)}: ` : '') + v.join('; '));
      }
      const values = this.paths.map((p) => fmt(med(p.key)));
      lines.push(`| ${m.label} (${m.unit}) | ${values.join(' | ')} | ${cells.join(' | ')} | ${verdicts.join(' / ')} |`);
    }
    return lines.join('\n');
  }

  renderSamples(): string {
    const lines: string[] = ['Raw samples (per path, in run order):'];
    for (const m of this.metrics.values()) {
      const parts = this.paths.map((p) => `${p.key} ${(m.samples.get(p.key) ?? []).map(fmt).join(' ')}`);
      lines.push(`  ${m.label} (${m.unit}): ${parts.join(' | ')}`);
    }
    return lines.join('\n');
  }

  /** Per-unit CPU of each process column, with each Gatehouse column over HAProxy's. */
  renderCpu(): string {
    const cols = this.cpuColumns;
    const ratios = this.cpuColumns.filter((c) => this.candidates.includes(c.key) && cols.some((h) => h.key === 'haproxy'));
    const heads = [...cols.map((c) => `${c.label} CPU`), ...ratios.map((c) => `${c.label}/HAProxy`)];
    const lines = [`| Workload | ${heads.join(' | ')} |`, `|---|${heads.map(() => '---:').join('|')}|`];
    for (const r of this.cpuRows.values()) {
      const med = (k: string): number => median(r.samples.get(k) ?? []);
      const cells = [
        ...cols.map((c) => fmt(med(c.key))),
        ...ratios.map((c) => (med('haproxy') > 0 ? `${(med(c.key) / med('haproxy')).toFixed(1)}×` : '—')),
      ];
      lines.push(`| ${r.label} (${r.unit}) | ${cells.join(' | ')} |`);
    }
    return lines.join('\n');
  }
}

function push(m: Map<string, number[]>, key: string, value: number): void {
  const xs = m.get(key);
  if (xs) xs.push(value);
  else m.set(key, [value]);
}

function verdict(ok: boolean): string {
  return ok ? 'met' : 'MISSED';
}
