/** Debian's Python 3 with python3-clickhouse-driver (0.2.5), the reference Python client for our tests. */
import { runProcess, type RunResult } from './process';

/** Not the pyenv python on PATH: only Debian's interpreter sees /usr/lib/python3/dist-packages. */
export const DEBIAN_PYTHON = '/usr/bin/python3';

/**
 * Runs `script` with Debian's python3. `env` is added to a clean-ish environment (PYTHONPATH/PYTHONHOME and pyenv
 * variables removed). Resolves with the exit code and output; never rejects on a non-zero exit.
 */
export function runPython(script: string, env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): Promise<RunResult> {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'PYTHONPATH' || k === 'PYTHONHOME' || k.startsWith('PYENV')) continue;
    base[k] = v;
  }
  return runProcess('python3', DEBIAN_PYTHON, ['-c', script], {
    env: { ...base, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1', ...env },
    timeoutMs,
  });
}
