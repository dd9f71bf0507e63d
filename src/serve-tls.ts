/**
 * The ProxyOptions of `gatehouse serve` that come from the `tls:`, `backend_tls:` and `connections:` sections (part of
 * the composition root). PEM files are read and checked here, once, so that a missing file or a certificate that
 * does not match its key ends start-up with the config key that names it, not with an OpenSSL error later.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ConfigError, parseHostPort, type ConfigIssue, type GatehouseConfig } from './config';
import type { ProxyOptions } from './frontend';

/** What tlsProxyOptions fills in. */
export type TlsProxyOptions = Required<Pick<ProxyOptions, 'tls' | 'backendTls' | 'maxClientConnections'>>;

/** The ProxyOptions fields of the TLS sections and connections.max. Throws ConfigError listing every bad file. */
export function tlsProxyOptions(cfg: GatehouseConfig): TlsProxyOptions {
  const issues: ConfigIssue[] = [];
  const files = new PemFiles(issues);
  let tls: TlsProxyOptions['tls'] = null;
  if (cfg.tls) {
    const t = cfg.tls;
    const cert = files.read('tls.cert_file', t.cert_file);
    const key = files.read('tls.key_file', t.key_file);
    const ca = t.ca_file === undefined ? undefined : files.readCa('tls.ca_file', t.ca_file);
    if (cert && key) files.checkPair('tls.cert_file', 'tls.key_file', cert, key);
    const at = parseHostPort(t.listen, true);
    if (cert && key) tls = { host: at.host, port: at.port, cert, key, ...(ca ? { ca } : {}), only: t.require };
  }
  let backendTls: TlsProxyOptions['backendTls'] = null;
  const b = cfg.backend_tls;
  if (b.enabled) {
    const ca = b.ca_file === undefined ? undefined : files.readCa('backend_tls.ca_file', b.ca_file);
    const cert = b.cert_file === undefined ? undefined : files.read('backend_tls.cert_file', b.cert_file);
    const key = b.key_file === undefined ? undefined : files.read('backend_tls.key_file', b.key_file);
    if (cert && key) files.checkPair('backend_tls.cert_file', 'backend_tls.key_file', cert, key);
    backendTls = {
      ...(ca ? { ca } : {}),
      ...(cert && key ? { cert, key } : {}),
      ...(b.server_name !== undefined ? { servername: b.server_name } : {}),
      rejectUnauthorized: !b.insecure_skip_verify,
    };
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return { tls, backendTls, maxClientConnections: cfg.connections.max ?? null };
}

/** Reads PEM files, recording a problem per config key instead of throwing. */
class PemFiles {
  constructor(private readonly issues: ConfigIssue[]) {}

  read(path: string, file: string): Buffer | null {
    try {
      return readFileSync(file);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : (err.code ?? err.message);
      this.issues.push({ path, message: `cannot read ${JSON.stringify(file)}: ${why}` });
      return null;
    }
  }

  /** A CA bundle: at least one certificate, each one parseable (OpenSSL skips garbage in a CA list silently). */
  readCa(path: string, file: string): Buffer | null {
    const pem = this.read(path, file);
    if (!pem) return null;
    const blocks = pem.toString('utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    if (blocks.length === 0) {
      this.issues.push({ path, message: `${JSON.stringify(file)} holds no PEM certificate` });
      return null;
    }
    for (const block of blocks) {
      try {
        new X509Certificate(block);
      } catch (e) {
        this.issues.push({ path, message: `${JSON.stringify(file)}: a certificate cannot be parsed (${(e as Error).message})` });
        return null;
      }
    }
    return pem;
  }

  /** The certificate and the key each load, and belong together. */
  checkPair(certPath: string, keyPath: string, cert: Buffer, key: Buffer): void {
    const fails = (o: { cert?: Buffer; key?: Buffer }): string | null => {
      try {
        createSecureContext(o);
        return null;
      } catch (e) {
        return (e as Error).message;
      }
    };
    const badCert = fails({ cert });
    if (badCert) this.issues.push({ path: certPath, message: `not a usable PEM certificate (${badCert})` });
    const badKey = fails({ key });
    if (badKey) this.issues.push({ path: keyPath, message: `not a usable PEM private key (${badKey})` });
    const mismatch = badCert || badKey ? null : fails({ cert, key });
    if (mismatch) this.issues.push({ path: certPath, message: `does not match ${keyPath} (${mismatch})` });
  }
}
