/**
 * "TLS backend" rows (issue 3, RESULTS.md "Why" point 5): ClickHouse 18.16 serving its secure native port
 * (tcp_port_secure) with a certificate from test/helpers/certs.ts (RSA 2048, signed by a throw-away CA), all on
 * loopback. Connect + SELECT 1 per connection, sequential and c=8, Hello database 'default' and '':
 *   direct:                client —TLS→ ClickHouse, a full TLS handshake per connection
 *   HAProxy:               client —TLS→ HAProxy (mode tcp, passthrough) → ClickHouse: TLS end to end
 *   Gatehouse (plain):     client —plain→ Gatehouse —pooled TLS (backend_tls)→ ClickHouse
 *   Gatehouse (TLS client): client —TLS→ Gatehouse's `tls:` listener (same certificate) —pooled TLS→ ClickHouse
 */
import * as fs from 'node:fs';
import { freePort, type ClickHouseServer } from '../src/sandbox';
import type { TestCerts } from '../test/helpers/certs';
import { Section } from './bench-table';
import { connectPerQuery, type ClientTls, type TlsDescription } from './connect-per-query';
import { eachPath, measured, type RowGroup, type RunOptions, type Watched } from './proxy-bench-context';
import { HELLO_DATABASES } from './proxy-rows-loopback';
import { startGatehouse, startHaproxy, type Started, type StartedGatehouse } from './proxy-processes';

const PATHS = ['direct', 'haproxy', 'gatehouse', 'gatehouse-tls'] as const;

export async function startTlsRows(ch: ClickHouseServer, certs: TestCerts, opts: RunOptions): Promise<RowGroup> {
  const { quick, dir } = opts;
  // A full TLS handshake (RSA 2048) costs ms of CPU on these 2 cores: ~1-3 s per measurement.
  const CONNECT_SEQ = quick ? 50 : 150;
  const CONNECT_C8 = quick ? 100 : 400;
  if (ch.tcpSecurePort === null) throw new Error('the TLS rows need ClickHouse started with tls');
  const securePort = ch.tcpSecurePort;
  const clientTls: ClientTls = { ca: fs.readFileSync(certs.caCert) };

  let haproxy: Started | null = null;
  let gatehouse: StartedGatehouse | null = null;
  const stop = async (): Promise<void> => {
    if (gatehouse) await gatehouse.proc.terminate('SIGTERM', 10_000);
    if (haproxy) await haproxy.proc.terminate('SIGTERM', 5_000);
  };
  try {
    // One thread and one worker here whatever --threads says (Gatehouse's cluster mode does not report a TLS port).
    haproxy = await startHaproxy(dir, 'tls', securePort, async (port) => (await connectPerQuery(port, 1, 1, 'SELECT 1', 'default', '', '', clientTls)).tls !== null, 1);
    const tlsListen = `127.0.0.1:${await freePort()}`;
    gatehouse = await startGatehouse(
      dir,
      'tls',
      [],
      {
        writer: `127.0.0.1:${securePort}`,
        backend_tls: { enabled: true, ca_file: certs.caCert },
        tls: { listen: tlsListen, cert_file: certs.serverCert, key_file: certs.serverKey },
      },
      opts.profileDir,
    );
    if (gatehouse.tlsPort === null) throw new Error('gatehouse (tls) did not report its TLS port');
  } catch (e) {
    await stop();
    throw e;
  }
  const ha = haproxy;
  const gh = gatehouse;
  const target: Record<string, { port: number; tls?: ClientTls }> = {
    direct: { port: securePort, tls: clientTls },
    haproxy: { port: ha.port, tls: clientTls },
    gatehouse: { port: gh.port },
    'gatehouse-tls': { port: gh.tlsPort!, tls: clientTls },
  };
  const watched: Watched = (p) => ({
    ...(p === 'haproxy' ? { haproxy: ha.proc.pid } : p.startsWith('gatehouse') ? { [p]: gh.proc.pid } : {}),
    [`ch@${p}`]: ch.pid,
  });
  const section = new Section(
    'TLS backend (ClickHouse tcp_port_secure, loopback)',
    [
      { key: 'direct', label: 'direct TLS' },
      { key: 'haproxy', label: 'HAProxy (TLS passthrough)' },
      { key: 'gatehouse', label: 'Gatehouse (plain client)' },
      { key: 'gatehouse-tls', label: 'Gatehouse (TLS client)' },
    ],
    ['gatehouse', 'gatehouse-tls'],
    [
      { key: 'haproxy', label: 'HAProxy' },
      { key: 'gatehouse', label: 'Gatehouse (plain client)' },
      { key: 'gatehouse-tls', label: 'Gatehouse (TLS client)' },
      { key: 'ch@direct', label: 'ClickHouse (direct)' },
      { key: 'ch@haproxy', label: 'ClickHouse (via HAProxy)' },
      { key: 'ch@gatehouse', label: 'ClickHouse (via Gatehouse, plain client)' },
      { key: 'ch@gatehouse-tls', label: 'ClickHouse (via Gatehouse, TLS client)' },
    ],
  );
  const negotiated = new Map<string, TlsDescription>();

  return {
    section,
    async warmUp() {
      for (const p of PATHS) await connectPerQuery(target[p].port, 50, 8, 'SELECT 1', 'default', '', 'default', target[p].tls);
    },
    async runRepetition(rep) {
      for (const [db, dbLabel] of HELLO_DATABASES) {
        for (const [c, n] of [
          [1, CONNECT_SEQ],
          [8, CONNECT_C8],
        ] as const) {
          await eachPath(PATHS, rep, async (p) => {
            const key = `tcpq-${c}-${db || 'empty'}`;
            const label = `TLS: connect + SELECT 1 per connection, ${c === 1 ? 'sequential' : `c=${c}`}, ${dbLabel}`;
            const cpu = { key, label, unit: 'µs/connection', perUnit: 1e6, units: n };
            const { port, tls } = target[p];
            const r = await measured(section, watched, p, cpu, () => connectPerQuery(port, n, c, 'SELECT 1', 'default', '', db, tls));
            negotiated.set(p, r.tls);
            section.sample(key, label, 'queries/s', true, true, p, r.qps);
          });
        }
      }
    },
    async notes() {
      const seen = PATHS.map((p) => `${p}: ${negotiated.get(p) ?? 'plain TCP'}`).join('; ');
      return [
        `ClickHouse secure port :${securePort}; HAProxy :${ha.port} (mode tcp to the secure port); Gatehouse (pid ${gh.proc.pid}) plain :${gh.port} and TLS :${gh.tlsPort}, backend_tls to the secure port.`,
        `The client's TLS, as negotiated: ${seen}. Certificates: RSA 2048 (test/helpers/certs.ts); every client connection ` +
          'does a full handshake (no session resumption), as a driver without a pool does.',
        'In the "Gatehouse (plain client)" column the client → Gatehouse leg is PLAINTEXT loopback (a proxy beside the ' +
          'application, only its link to ClickHouse encrypted); "Gatehouse (TLS client)" encrypts both legs, like the other two paths.',
      ];
    },
    stop,
  };
}
