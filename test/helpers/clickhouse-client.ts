/** clickhouse-client (18.16) against a test server, always with stdin given (see runClient). */
import type { Credentials } from '../../src/sandbox';
import { runProcess, type RunResult } from './process';

/** Debian's clickhouse-client. */
export const CLICKHOUSE_CLIENT_BIN = '/usr/bin/clickhouse-client';

/** A statement that clickhouse-client reported as failed. */
export class ClickHouseClientError extends Error {
  constructor(
    readonly result: RunResult,
    /** ClickHouse error number from "Code: N." on stderr; the exit code is only N mod 256. */
    readonly chCode: number | null,
  ) {
    super(`clickhouse-client failed (exit ${result.code}${result.timedOut ? ', timed out' : ''}): ${result.stderr.trim()}`);
    this.name = 'ClickHouseClientError';
  }
}

/** The ClickHouse error number in clickhouse-client's stderr ("Code: 164. DB::Exception: ..."), or null. */
export function errorCodeOf(stderr: string): number | null {
  const m = /Code: (\d+)\./.exec(stderr);
  return m ? Number(m[1]) : null;
}

/**
 * Runs `clickhouse-client --host 127.0.0.1 --port <port> ...args`. stdin is always a pipe with `stdin` or
 * /dev/null: clickhouse-client 18.16 with a terminal-less inherited stdin (or `--help`) can spin forever.
 */
export function runClient(
  port: number,
  args: readonly string[],
  stdin?: string | Buffer,
  timeoutMs = 30_000,
): Promise<RunResult> {
  return runProcess('clickhouse-client', CLICKHOUSE_CLIENT_BIN, ['--host', '127.0.0.1', '--port', String(port), ...args], {
    stdin,
    timeoutMs,
  });
}

/** Runs one statement and returns stdout (TSV); rejects with {@link ClickHouseClientError} on failure. */
export async function query(port: number, sql: string, user?: Credentials, stdin?: string): Promise<string> {
  const auth = user ? ['--user', user.name, '--password', user.password] : [];
  const res = await runClient(port, [...auth, '--query', sql], stdin);
  if (res.code !== 0 || res.timedOut) throw new ClickHouseClientError(res, errorCodeOf(res.stderr));
  return res.stdout;
}
