/**
 * Throw-away certificates for the TLS tests, made with the `openssl` CLI in a temp dir: a test CA, a server
 * certificate it signed (SAN 127.0.0.1 and localhost, usable by the proxy and by a sandbox ClickHouse), a client
 * certificate it signed (mutual TLS), and an unrelated "other" CA for the negative cases. RSA 2048 keys: every
 * party here (Node, ClickHouse 18.16's Poco on OpenSSL 3, its client) takes them.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Paths of PEM files. */
export interface TestCerts {
  readonly dir: string;
  /** The CA that signed server and client. */
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** A CA that signed nothing here: trusting only it must fail. */
  readonly otherCaCert: string;
  /** Removes the temp dir. */
  remove(): void;
}

const OPENSSL = 'openssl';
const DAYS = '2';

function openssl(dir: string, args: string[]): void {
  try {
    execFileSync(OPENSSL, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  } catch (e) {
    const err = e as { code?: string; stderr?: Buffer };
    if (err.code === 'ENOENT') throw new Error('openssl not found: install the Debian package `openssl`');
    throw new Error(`openssl ${args[0]} failed: ${err.stderr?.toString() ?? String(e)}`);
  }
}

/** A self-signed CA certificate and key: `<name>.crt`, `<name>.key`. */
function makeCa(dir: string, name: string, cn: string): void {
  openssl(dir, [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', DAYS,
    '-keyout', `${name}.key`, '-out', `${name}.crt`, '-subj', `/CN=${cn}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

/** A leaf certificate signed by `ca`, with the extensions in `ext` (an openssl extfile body). */
function makeLeaf(dir: string, name: string, cn: string, ca: string, ext: string): void {
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
  openssl(dir, [
    'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial',
    '-sha256', '-days', DAYS, '-out', `${name}.crt`, '-extfile', `${name}.ext`,
  ]);
}

/** Makes the CA, server, client and other-CA files in a new temp dir. */
export function makeTestCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-certs-'));
  try {
    makeCa(dir, 'ca', 'Gatehouse Test CA');
    makeCa(dir, 'other-ca', 'Gatehouse Other CA');
    makeLeaf(
      dir,
      'server',
      'localhost',
      'ca',
      'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n' +
        'extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n',
    );
    makeLeaf(
      dir,
      'client',
      'gatehouse-test-client',
      'ca',
      'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n',
    );
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.crt'),
    clientKey: join(dir, 'client.key'),
    otherCaCert: join(dir, 'other-ca.crt'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
