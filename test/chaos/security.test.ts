/**
 * Issue 8, security: wrong passwords (516), disallowed networks (195), read-only users (164), brute-force limiting
 * (login_limit), TLS required mode (tls.require: the plain port is never opened), and that no secret in play (the
 * proxy users' passwords, the backend identities' passwords, the guesses an attacker sent) appears in the proxy's
 * stdout/stderr, /metrics, /status or anything sent to a client.
 */
import { randomUUID } from 'node:crypto';
import * as tls from 'node:tls';
import { ServerCode } from '../../src/protocol';
import { canConnect, freePort, startSandboxCluster, type SandboxCluster } from '../helpers';
import { makeTestCerts, type TestCerts } from '../helpers/certs';
import { assertRecovered, loggedIn, rawExchange, runNative, sleep, startChaosProxy, type ChaosProxy } from './harness';
import { rawHello } from './hello';
import { record } from './results';

const SERVER_REVISION = 54412;
/** Random per run, so a hit in the grep can only come from this run's traffic. */
const SECRETS = {
  app: `app-pw-${randomUUID()}`,
  ro: `ro-pw-${randomUUID()}`,
  net: `net-pw-${randomUUID()}`,
};
const GUESSES = Array.from({ length: 6 }, (_, i) => `guess-${i}-${randomUUID()}`);
const ENV = { GH_CHAOS_APP: SECRETS.app, GH_CHAOS_RO: SECRETS.ro, GH_CHAOS_NET: SECRETS.net };
const BLOCK_MS = 3_000;

let cluster: SandboxCluster;
let certs: TestCerts;
let proxy: ChaosProxy;
let tlsProxy: ChaosProxy | null = null;
/** Every byte any client of these tests received from a proxy. */
const received: Buffer[] = [];

const users = [
  { name: 'app', password_env: 'GH_CHAOS_APP' },
  { name: 'ro', password_env: 'GH_CHAOS_RO', readonly: true },
  { name: 'net', password_env: 'GH_CHAOS_NET', networks: ['10.0.0.0/8'] },
];

beforeAll(async () => {
  certs = makeTestCerts();
  cluster = await startSandboxCluster({ readers: 1 });
  proxy = await startChaosProxy(
    {
      writer: `127.0.0.1:${cluster.writer.tcpPort}`,
      readers: cluster.readers.map((r) => `127.0.0.1:${r.tcpPort}`),
      users,
      read_user: cluster.users.reader,
      write_user: cluster.users.writer,
      login_limit: { max_failures: 3, window_ms: 60_000, block_ms: BLOCK_MS },
      // The chattiest level: a secret that leaks anywhere in the logs leaks here.
      log_level: 'debug',
    },
    { user: 'app', password: SECRETS.app },
    ENV,
  );
}, 60_000);

afterAll(async () => {
  await tlsProxy?.stop();
  await proxy?.stop();
  await cluster?.stop();
  certs?.remove();
});

/** A Hello as `user`/`password`: the first packet's kind and Exception code, every byte kept for the grep. */
async function login(port: number, user: string, password: string): Promise<{ answer: 'hello' | 'exception' | 'closed'; code?: number; text: string }> {
  const out = await rawExchange(port, [rawHello({ revision: SERVER_REVISION, user, password })], { waitMs: 2_000 });
  received.push(out.bytes);
  if (out.bytes.length === 0) return { answer: 'closed', text: '' };
  if (out.bytes[0] === ServerCode.Hello) return { answer: 'hello', text: '' };
  // Exception: code Int32 LE after the packet code (native-protocol.md, server Exception).
  return { answer: 'exception', code: out.bytes.readInt32LE(1), text: out.bytes.toString('latin1') };
}

async function queryAs(user: string, password: string, sql: string) {
  const c = await loggedIn(proxy.gh.port, user, password);
  try {
    const r = await runNative(c, sql);
    received.push(Buffer.from(r.message ?? ''));
    return r;
  } finally {
    c.close();
  }
}

it('wrong password and unknown user: 516, without saying which part was wrong', async () => {
  const wrong = await login(proxy.gh.port, 'app', GUESSES[0]);
  const unknown = await login(proxy.gh.port, 'nobody', GUESSES[1]);
  record('security-516', { wrong: wrong.code, unknown: unknown.code });
  expect(wrong).toMatchObject({ answer: 'exception', code: 516 });
  expect(unknown).toMatchObject({ answer: 'exception', code: 516 });
  // Both failures are the same message (nothing tells a guesser that the user exists).
  const reason = (t: string) => /Authentication failed[^\u0000]*/.exec(t)?.[0];
  expect(reason(wrong.text)).toBe('Authentication failed: password is incorrect or there is no user with such name');
  expect(reason(unknown.text)).toBe(reason(wrong.text));
  // Let the two failures age out of this test's way: the block is per address.
  await sleep(100);
});

it('a user outside its networks: 195 even with the right password', async () => {
  const r = await login(proxy.gh.port, 'net', SECRETS.net);
  record('security-195', { code: r.code });
  expect(r).toMatchObject({ answer: 'exception', code: 195 });
});

it('a read-only user: reads pass, INSERT, CREATE, DROP and OPTIMIZE get 164 from the proxy', async () => {
  expect((await queryAs('ro', SECRETS.ro, 'SELECT 5')).rows.map(Number)).toEqual([5]);
  const codes: number[] = [];
  for (const sql of ['CREATE TABLE default.ro_t (x UInt8) ENGINE = Memory', 'INSERT INTO default.ro_t VALUES (1)', 'DROP TABLE default.ro_t', 'OPTIMIZE TABLE gatehouse_meta.node']) {
    codes.push((await queryAs('ro', SECRETS.ro, sql)).error ?? 0);
  }
  record('security-164', { codes });
  expect(codes).toEqual([164, 164, 164, 164]);
});

it('brute force: past login_limit.max_failures the address is blocked, even for the right password, then let in again', async () => {
  const t0 = Date.now();
  const attempts: (number | undefined)[] = [];
  for (const g of GUESSES.slice(2)) attempts.push((await login(proxy.gh.port, 'app', g)).code);
  const rightWhileBlocked = await login(proxy.gh.port, 'app', SECRETS.app);
  expect(rightWhileBlocked).toMatchObject({ answer: 'exception', code: 516 });
  expect(rightWhileBlocked.text).toMatch(/too many failed logins/);
  await sleep(BLOCK_MS + 500);
  const after = await login(proxy.gh.port, 'app', SECRETS.app);
  record('security-login-limit', { attempts, rightWhileBlocked: rightWhileBlocked.code, letInAfterMs: Date.now() - t0, after: after.answer });
  expect(attempts.every((c) => c === 516)).toBe(true);
  expect(after.answer).toBe('hello');
  expect(proxy.gh.output()).toMatch(/failed logins: address blocked/);
  await assertRecovered(proxy);
}, 30_000);

it('tls.require: the plain port is never opened; TLS clients are served, wrong passwords still get 516', async () => {
  const [tlsPort, plainPort] = [await freePort(), await freePort()];
  tlsProxy = await startChaosProxy(
    {
      listen: `127.0.0.1:${plainPort}`,
      writer: `127.0.0.1:${cluster.writer.tcpPort}`,
      users,
      read_user: cluster.users.reader,
      write_user: cluster.users.writer,
      tls: { listen: `127.0.0.1:${tlsPort}`, cert_file: certs.serverCert, key_file: certs.serverKey, require: true },
      log_level: 'debug',
    },
    { user: 'app', password: SECRETS.app },
    ENV,
  );
  expect(tlsProxy.gh.port).toBe(tlsPort);
  expect(await canConnect(plainPort, 1_000)).toBe(false);
  // A plain client on the TLS port gets no native-protocol answer.
  const plain = await rawExchange(tlsPort, [rawHello({ revision: SERVER_REVISION, user: 'app', password: SECRETS.app })], { waitMs: 2_000 });
  expect(plain.bytes.includes(Buffer.from('Gatehouse'))).toBe(false);
  const overTls = async (password: string): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const s = tls.connect({ port: tlsPort, host: '127.0.0.1', ca: [require('node:fs').readFileSync(certs.caCert)] }, () => s.write(rawHello({ revision: SERVER_REVISION, user: 'app', password })));
      const got: Buffer[] = [];
      s.on('data', (d) => {
        got.push(d);
        s.end();
      });
      s.on('error', reject);
      s.on('close', () => resolve(Buffer.concat(got)));
      setTimeout(() => s.destroy(), 5_000).unref();
    });
  const good = await overTls(SECRETS.app);
  const bad = await overTls(GUESSES[5]);
  received.push(good, bad);
  record('security-tls-require', { plainPortOpen: false, plainClientGotAnswer: plain.bytes.length > 0, good: good[0], bad: bad.length ? bad.readInt32LE(1) : null });
  expect(good[0]).toBe(ServerCode.Hello);
  expect(bad[0]).toBe(ServerCode.Exception);
  expect(bad.readInt32LE(1)).toBe(516);
}, 30_000);

it('no password appears in logs, /metrics, /status or anything sent to clients', async () => {
  const places: Record<string, string> = {};
  for (const [name, p] of [['proxy', proxy], ['tls-proxy', tlsProxy]] as const) {
    if (!p) continue;
    places[`${name} stdout+stderr`] = p.gh.output();
    places[`${name} /metrics`] = await p.gh.metrics();
    places[`${name} /status`] = await (await fetch(`http://127.0.0.1:${p.gh.adminPort}/status`)).text();
  }
  places['bytes sent to clients'] = Buffer.concat(received).toString('latin1');
  const secrets = [...Object.values(SECRETS), ...GUESSES, cluster.users.reader.password, cluster.users.writer.password];
  const hits: string[] = [];
  for (const [where, text] of Object.entries(places)) {
    for (const s of secrets) if (text.includes(s)) hits.push(`${where} holds ${s.slice(0, 6)}…`);
  }
  record('security-secret-grep', { places: Object.fromEntries(Object.entries(places).map(([k, v]) => [k, v.length])), secrets: secrets.length, hits });
  // The logs did say something (the grep is not vacuous).
  expect(places['proxy stdout+stderr']).toMatch(/failed logins/);
  expect(hits).toEqual([]);
});
