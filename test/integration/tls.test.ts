/**
 * Issue 6, security: TLS on the client side (a secure native port, clickhouse-client --secure) and towards the
 * backends (a TLS-enabled sandbox ClickHouse), with certificates the test makes, and the overall client-connection
 * cap (connections.max). Every proxy is the built CLI with a YAML config, as an operator runs it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { ClientCode, encodeClientPacket, ServerCode, Writer } from '../../src/protocol';
import { canConnect, errorCodeOf, freePort, query, runClient, runProcess, startClickHouse, type ClickHouseServer } from '../helpers';
import { CLICKHOUSE_CLIENT_BIN } from '../helpers/clickhouse-client';
import { makeTestCerts, type TestCerts } from '../helpers/certs';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse';
import { NativeClient } from '../helpers/native-client';

/** Deterministic rows of several types, enough for several blocks and compressed frames. */
const ROWS_SQL =
  "SELECT number, toString(number * 7) AS s, [number, number + 1] AS a, toDate('2020-01-01') + number % 365 AS d " +
  'FROM system.numbers LIMIT 30000';

let certs: TestCerts;
let ch: ClickHouseServer;
let dir: string;
const running: Gatehouse[] = [];

beforeAll(async () => {
  certs = makeTestCerts();
  dir = mkdtempSync(join(tmpdir(), 'gh-tls-'));
  ch = await startClickHouse({ name: 'tls', tls: { certFile: certs.serverCert, keyFile: certs.serverKey } });
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((g) => g.stop()));
});

afterAll(async () => {
  await ch?.stop();
  certs?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

let files = 0;

/** A config file (JSON is YAML). */
function configFile(cfg: Record<string, unknown>): string {
  const file = join(dir, `gatehouse-${++files}.yaml`);
  writeFileSync(file, JSON.stringify(cfg, null, 2));
  return file;
}

/**
 * One process (no workers): connections.max is counted per process, and the ready line is the proxy's own. TLS
 * itself does not care (a worker serves TLS sockets as the primary hands them over).
 */
async function gatehouse(cfg: Record<string, unknown>, extra: string[] = []): Promise<Gatehouse> {
  const gh = await startGatehouse(['--config', configFile({ lifecycle: { workers: 1 }, ...cfg }), ...extra]);
  running.push(gh);
  return gh;
}

/** clickhouse-client's own config: trust `ca` only, verify strictly, optionally present a client certificate. */
function clientConfig(ca: string, client?: { cert: string; key: string }): string {
  const file = join(dir, `client-${++files}.xml`);
  const identity = client ? `<certificateFile>${client.cert}</certificateFile><privateKeyFile>${client.key}</privateKeyFile>` : '';
  writeFileSync(
    file,
    `<config><openSSL><client>
  <caConfig>${ca}</caConfig>
  <loadDefaultCAFile>false</loadDefaultCAFile>
  <verificationMode>strict</verificationMode>
  <disableProtocols>sslv2,sslv3</disableProtocols>
  ${identity}
  <invalidCertificateHandler><name>RejectCertificateHandler</name></invalidCertificateHandler>
</client></openSSL></config>\n`,
  );
  return file;
}

/** `clickhouse-client --secure` (18.16 takes --config-file for its openSSL.client section). */
function secureClient(port: number, config: string, args: string[], stdin = '') {
  return runProcess('clickhouse-client', CLICKHOUSE_CLIENT_BIN, ['--config-file', config, '--secure', '--host', '127.0.0.1', '--port', String(port), ...args], {
    stdin,
    timeoutMs: 30_000,
  });
}

async function secureQuery(port: number, config: string, sql: string, args: string[] = []): Promise<string> {
  const res = await secureClient(port, config, [...args, '--query', sql]);
  if (res.code !== 0 || res.timedOut) throw new Error(`clickhouse-client --secure failed (exit ${res.code}): ${res.stderr}`);
  return res.stdout;
}

const clientTls = (port: number, extra: Record<string, unknown> = {}) => ({
  listen: `127.0.0.1:${port}`,
  cert_file: certs.serverCert,
  key_file: certs.serverKey,
  ...extra,
});

describe('TLS for clients (secure native port)', () => {
  it('clickhouse-client --secure through the proxy gives the same output as direct, with compression on and off', async () => {
    const tlsPort = await freePort();
    const gh = await gatehouse({ writer: `127.0.0.1:${ch.tcpPort}`, tls: clientTls(tlsPort) });
    const cfg = clientConfig(certs.caCert);
    const direct = await query(ch.tcpPort, ROWS_SQL);
    expect(direct.split('\n').length).toBeGreaterThan(30_000);
    for (const compression of ['1', '0']) {
      expect(await secureQuery(tlsPort, cfg, ROWS_SQL, ['--compression', compression])).toBe(direct);
    }
    // An INSERT over TLS (client data in the other direction), read back through the plain port.
    await secureQuery(tlsPort, cfg, 'CREATE TABLE IF NOT EXISTS default.tls_insert (n UInt64, s String) ENGINE = Memory');
    const rows = Array.from({ length: 5000 }, (_, i) => `${i}\tvalue ${i}`).join('\n') + '\n';
    const insert = await secureClient(tlsPort, cfg, ['--query', 'INSERT INTO default.tls_insert FORMAT TSV'], rows);
    expect(insert.stderr).toBe('');
    expect(insert.code).toBe(0);
    expect(await query(gh.port, 'SELECT count(), sum(n) FROM default.tls_insert')).toBe(`5000\t${(4999 * 5000) / 2}\n`);
    // The plain listener serves alongside.
    expect(await query(gh.port, ROWS_SQL)).toBe(direct);
  });

  it('a plain client on the TLS port fails at once, and the proxy keeps serving both ports', async () => {
    const tlsPort = await freePort();
    const gh = await gatehouse({ writer: `127.0.0.1:${ch.tcpPort}`, tls: clientTls(tlsPort) });
    const cfg = clientConfig(certs.caCert);
    const plainOnTls = await runClient(tlsPort, ['--query', 'SELECT 1'], undefined, 20_000);
    expect(plainOnTls.timedOut).toBe(false);
    expect(plainOnTls.code).not.toBe(0);
    // A client trusting another CA refuses the proxy's certificate.
    const untrusted = await secureClient(tlsPort, clientConfig(certs.otherCaCert), ['--query', 'SELECT 1']);
    expect(untrusted.code).not.toBe(0);
    expect(untrusted.stderr).toMatch(/certificate verify failed/);
    expect(await secureQuery(tlsPort, cfg, 'SELECT 1')).toBe('1\n');
    expect(await query(gh.port, 'SELECT 2')).toBe('2\n');
    expect(gh.process.running).toBe(true);
  });

  it('tls.require: true opens no plain port', async () => {
    const [tlsPort, plainPort] = [await freePort(), await freePort()];
    const gh = await gatehouse({ writer: `127.0.0.1:${ch.tcpPort}`, tls: clientTls(tlsPort, { require: true }) }, [
      '--listen',
      `127.0.0.1:${plainPort}`,
    ]);
    // The ready line names the address clients use: the TLS one.
    expect(gh.port).toBe(tlsPort);
    expect(await canConnect(plainPort, 1_000)).toBe(false);
    expect(await secureQuery(tlsPort, clientConfig(certs.caCert), 'SELECT 3')).toBe('3\n');
  });

  it('mutual TLS (tls.ca_file) refuses a client without a certificate and serves one with a certificate', async () => {
    const tlsPort = await freePort();
    await gatehouse({ writer: `127.0.0.1:${ch.tcpPort}`, tls: clientTls(tlsPort, { ca_file: certs.caCert }) });
    const anonymous = await secureClient(tlsPort, clientConfig(certs.caCert), ['--query', 'SELECT 1']);
    expect(anonymous.timedOut).toBe(false);
    expect(anonymous.code).not.toBe(0);
    expect(anonymous.stdout).toBe('');
    const withCert = clientConfig(certs.caCert, { cert: certs.clientCert, key: certs.clientKey });
    expect(await secureQuery(tlsPort, withCert, 'SELECT 4')).toBe('4\n');
  });

  it('a missing certificate file ends start-up with the config key named, no stack trace', async () => {
    const tlsPort = await freePort();
    const missing = join(dir, 'nope.crt');
    await expect(gatehouse({ writer: `127.0.0.1:${ch.tcpPort}`, tls: clientTls(tlsPort, { cert_file: missing }) })).rejects.toThrow(
      /tls\.cert_file: cannot read ".*nope\.crt": no such file/,
    );
    await expect(
      gatehouse({ writer: `127.0.0.1:${ch.tcpPort}`, tls: clientTls(tlsPort, { key_file: certs.clientKey }) }),
    ).rejects.toThrow(/tls\.cert_file: does not match tls\.key_file/);
    try {
      await gatehouse({ writer: `127.0.0.1:${ch.tcpPort}`, backend_tls: { enabled: true, ca_file: certs.serverKey } });
      throw new Error('started');
    } catch (e) {
      const out = (e as Error).message;
      expect(out).toMatch(/backend_tls\.ca_file: ".*server\.key" holds no PEM certificate/);
      expect(out).not.toMatch(/\n\s+at /);
    }
  });
});

describe('TLS towards the backends', () => {
  const writer = () => `127.0.0.1:${ch.tcpSecurePort}`;

  it('proxy → TLS backend works with the right CA, health checks included', async () => {
    const gh = await gatehouse(
      { writer: writer(), backend_tls: { enabled: true, ca_file: certs.caCert }, health: { interval_ms: 200 } },
      ['--admin', '127.0.0.1:0'],
    );
    const direct = await query(ch.tcpPort, ROWS_SQL);
    expect(await query(gh.port, ROWS_SQL)).toBe(direct);
    // The health checker reaches the TLS port too: its checks succeed.
    const status = await waitFor(async () => {
      const s = (await (await fetch(`http://127.0.0.1:${gh.adminPort}/status`)).json()) as { backends: { lastCheckMs: number | null; consecutiveFailures: number; banned: boolean }[] };
      return s.backends[0].lastCheckMs !== null ? s.backends[0] : null;
    });
    expect(status).toMatchObject({ consecutiveFailures: 0, banned: false });
  });

  it('the wrong CA gives a clear TLS error (210/279), counted as a backend failure', async () => {
    const gh = await gatehouse(
      { writer: writer(), backend_tls: { enabled: true, ca_file: certs.otherCaCert }, health: { interval_ms: 200 } },
      ['--admin', '127.0.0.1:0'],
    );
    const res = await runClient(gh.port, ['--query', 'SELECT 1']);
    expect(res.code).not.toBe(0);
    expect([210, 279]).toContain(errorCodeOf(res.stderr));
    expect(res.stderr).toContain('Gatehouse');
    expect(res.stderr).toMatch(/TLS handshake failed: (unable to verify the first certificate|self[- ]signed certificate in certificate chain)/);
    expect(res.stderr).toContain(`writer (${writer()})`);
    const status = await waitFor(async () => {
      const s = (await (await fetch(`http://127.0.0.1:${gh.adminPort}/status`)).json()) as { backends: { consecutiveFailures: number; banReason: string | null }[] };
      return s.backends[0].consecutiveFailures > 0 ? s.backends[0] : null;
    });
    expect(status.consecutiveFailures).toBeGreaterThan(0);
  });

  it('a wrong server name or a plain backend port is refused; insecure_skip_verify accepts any certificate', async () => {
    const wrongName = await gatehouse({ writer: writer(), backend_tls: { enabled: true, ca_file: certs.caCert, server_name: 'db.example.org' } });
    const res = await runClient(wrongName.port, ['--query', 'SELECT 1']);
    expect([210, 279]).toContain(errorCodeOf(res.stderr));
    expect(res.stderr).toMatch(/TLS handshake failed: .*db\.example\.org/);
    // backend_tls pointed at a plain port: the handshake fails, and says so.
    const plainPort = await gatehouse({ writer: `127.0.0.1:${ch.tcpPort}`, backend_tls: { enabled: true, ca_file: certs.caCert } });
    const onPlain = await runClient(plainPort.port, ['--query', 'SELECT 1']);
    expect([210, 279]).toContain(errorCodeOf(onPlain.stderr));
    expect(onPlain.stderr).toContain('TLS handshake failed: wrong version number (ERR_SSL_WRONG_VERSION_NUMBER)');
    const skip = await gatehouse({ writer: writer(), backend_tls: { enabled: true, insecure_skip_verify: true } });
    expect(await query(skip.port, 'SELECT 5')).toBe('5\n');
    // TLS end to end: secure client → proxy → secure backend.
    const tlsPort = await freePort();
    await gatehouse({ writer: writer(), backend_tls: { enabled: true, ca_file: certs.caCert }, tls: clientTls(tlsPort) });
    expect(await secureQuery(tlsPort, clientConfig(certs.caCert), ROWS_SQL)).toBe(await query(ch.tcpPort, ROWS_SQL));
  });
});

describe('connections.max', () => {
  it('counts plain and TLS connections together: the connection past the cap gets 202, the others go on', async () => {
    const tlsPort = await freePort();
    const gh = await gatehouse({ writer: `127.0.0.1:${ch.tcpPort}`, tls: clientTls(tlsPort), connections: { max: 2 } });
    const plain = await NativeClient.open(gh.port);
    plain.hello(54412);
    expect((await plain.next())!.code).toBe(ServerCode.Hello);
    const secure = await openTlsSession(tlsPort, certs.caCert);
    try {
      for (const refused of [
        await runClient(gh.port, ['--query', 'SELECT 1']),
        await secureClient(tlsPort, clientConfig(certs.caCert), ['--query', 'SELECT 1']),
      ]) {
        expect(refused.timedOut).toBe(false);
        expect(errorCodeOf(refused.stderr)).toBe(202);
        expect(refused.stderr).toContain('Gatehouse');
        expect(refused.stderr).toContain('connections.max (2)');
      }
      // The connections under the cap are unaffected.
      plain.query('SELECT 42');
      const packets = await plain.untilEnd();
      expect(packets.map((p) => p.code)).toContain(ServerCode.Data);
      expect(packets.pop()!.code).toBe(ServerCode.EndOfStream);
      expect(secure.destroyed).toBe(false);
      // A slot freed is a slot again.
      plain.close();
      expect(await waitFor(async () => (await runClient(gh.port, ['--query', 'SELECT 7'])).stdout === '7\n' || null)).toBe(true);
    } finally {
      plain.close();
      secure.destroy();
    }
  });
});

/** A TLS client that said Hello and got the proxy's answer: a session the proxy counts. */
async function openTlsSession(port: number, ca: string): Promise<tls.TLSSocket> {
  const socket = tls.connect({ host: '127.0.0.1', port, ca: readFileSync(ca) });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  });
  const w = new Writer();
  const revision = 54412;
  encodeClientPacket(
    w,
    { code: ClientCode.Hello, clientName: 'gatehouse-tls-test', versionMajor: 18, versionMinor: 16, revision, database: '', user: 'default', password: '' },
    revision,
  );
  socket.write(w.toBuffer());
  await new Promise<void>((resolve, reject) => {
    socket.once('data', (d: Buffer) => (d[0] === ServerCode.Hello ? resolve() : reject(new Error(`expected Hello, got packet ${d[0]}`))));
  });
  return socket;
}

/** Polls `probe` until it returns a non-null value (10 s at most). */
async function waitFor<T>(probe: () => Promise<T | null>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}
