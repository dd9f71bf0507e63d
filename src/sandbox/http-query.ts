/**
 * Minimal ClickHouse HTTP client for setting up sandbox nodes (markers, fixtures) without spawning
 * clickhouse-client. Not part of the proxy: the proxy speaks the native protocol.
 */
import * as http from 'node:http';

/** User name and password of a ClickHouse account. */
export interface Credentials {
  readonly name: string;
  readonly password: string;
}

/** A query refused by the server; `chCode` is ClickHouse's error number parsed from "Code: N." */
export class ClickHouseHttpError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly chCode: number | null,
  ) {
    super(message);
    this.name = 'ClickHouseHttpError';
  }
}

/** Runs one statement over HTTP on 127.0.0.1:httpPort and returns the response body (TSV by default). */
export function httpQuery(httpPort: number, sql: string, user?: Credentials, timeoutMs = 30_000): Promise<string> {
  const params = new URLSearchParams();
  if (user) {
    // URL parameters: 18.16 predates the X-ClickHouse-User/Key headers.
    params.set('user', user.name);
    params.set('password', user.password);
  }
  const qs = params.toString();
  return new Promise((resolve, reject) => {
    const req = http.request(
      // agent: false: no keep-alive (the server closes idle HTTP connections after 3 s; a reused one can hang up).
      { host: '127.0.0.1', port: httpPort, method: 'POST', path: qs ? `/?${qs}` : '/', timeout: timeoutMs, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status === 200) return resolve(body);
          const m = /Code: (\d+)/.exec(body);
          reject(new ClickHouseHttpError(body.trim(), status, m ? Number(m[1]) : null));
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`HTTP query timed out after ${timeoutMs} ms: ${sql}`)));
    req.on('error', reject);
    req.end(sql);
  });
}

/** Resolves true when GET /ping answers "Ok.". */
export function httpPing(httpPort: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port: httpPort, path: '/ping', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(res.statusCode === 200 && body.startsWith('Ok.')));
      res.on('error', () => resolve(false));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}
