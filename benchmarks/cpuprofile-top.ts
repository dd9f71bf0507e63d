/**
 * Top functions by self time in a V8 .cpuprofile (what `node --cpu-prof` writes), for the proxy benchmark's
 * `--profile` mode. Run alone: node -r ts-node/register/transpile-only benchmarks/cpuprofile-top.ts FILE [N]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface HotFunction {
  name: string;
  where: string;
  selfMs: number;
  share: number;
}

/** Aggregates self time per function (name + file:line) and returns the `n` largest. */
export function topFunctions(file: string, n = 20): HotFunction[] {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const node of prof.nodes) byId.set(node.id, node);
  const self = new Map<string, { name: string; where: string; us: number }>();
  let total = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    const node = byId.get(prof.samples[i]);
    const dt = prof.timeDeltas[i] ?? 0;
    if (!node) continue;
    total += dt;
    const cf = node.callFrame;
    const where = cf.url ? `${path.basename(cf.url)}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName}|${where}`;
    const entry = self.get(key) ?? { name: cf.functionName || '(anonymous)', where, us: 0 };
    entry.us += dt;
    self.set(key, entry);
  }
  return [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, n)
    .map((e) => ({ name: e.name, where: e.where, selfMs: e.us / 1000, share: total > 0 ? e.us / total : 0 }));
}

export function formatTop(file: string, n = 20): string {
  return topFunctions(file, n)
    .map((f) => `${(f.share * 100).toFixed(1).padStart(5)} %  ${f.selfMs.toFixed(0).padStart(7)} ms  ${f.name}  ${f.where}`)
    .join('\n');
}

if (require.main === module) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: cpuprofile-top.ts FILE [N]');
    process.exit(2);
  }
  console.log(formatTop(file, Number(process.argv[3] ?? 25)));
}
