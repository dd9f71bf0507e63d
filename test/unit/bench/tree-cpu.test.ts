import { spawn } from 'node:child_process';
import { cpuSeconds, treeCpuSeconds } from '../../../benchmarks/bench-util';

describe('treeCpuSeconds', () => {
  it("counts a running child's CPU, which the parent's own /proc figures do not", async () => {
    // A child that burns about half a second of CPU, then waits to be killed (still running when measured).
    const child = spawn(process.execPath, ['-e', 'const t = Date.now(); while (Date.now() - t < 600); setInterval(() => {}, 1000);'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 1_000));
      const own = cpuSeconds(process.pid);
      const tree = treeCpuSeconds(process.pid);
      const childOnly = cpuSeconds(child.pid!);
      expect(childOnly).toBeGreaterThan(0.3);
      expect(tree).toBeGreaterThanOrEqual(own + childOnly - 0.02);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
