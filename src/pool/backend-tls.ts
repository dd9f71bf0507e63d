/** TLS connections to backends (backend_tls): the socket, and its failures as readable text. */
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { BackendTarget, BackendTlsOptions } from './backend-types';

/**
 * A TLS failure as one readable line with its code: certificate errors have a readable message ("self-signed
 * certificate in certificate chain"); OpenSSL's own errors keep the readable part in `reason` ("wrong version
 * number"), their message being OpenSSL's raw error line.
 */
export function tlsFailure(err: NodeJS.ErrnoException & { reason?: unknown }): string {
  const openssl = err.code?.startsWith('ERR_SSL_') && typeof err.reason === 'string' && err.reason !== '';
  const text = openssl ? String(err.reason) : err.message.trim();
  return err.code && !text.includes(err.code) ? `${text} (${err.code})` : text;
}

/** One secure context per options object: the CA bundle and key are parsed once, not on every connect. */
const secureContexts = new WeakMap<BackendTlsOptions, tls.SecureContext>();

export function secureContextFor(o: BackendTlsOptions): tls.SecureContext {
  let ctx = secureContexts.get(o);
  if (!ctx) {
    ctx = tls.createSecureContext({ ca: o.ca, cert: o.cert, key: o.key });
    secureContexts.set(o, ctx);
  }
  return ctx;
}

/**
 * A TLS connection to a backend. Without `servername`, the certificate is checked against the target's host (an IP
 * address against the certificate's IP SANs); SNI is only sent for a host name (RFC 6066 §3 forbids IP literals).
 */
export function connectTls(target: BackendTarget, o: BackendTlsOptions): tls.TLSSocket {
  const servername = o.servername ?? (net.isIP(target.host) ? undefined : target.host);
  return tls.connect({
    host: target.host,
    port: target.port,
    secureContext: secureContextFor(o),
    servername,
    // Node checks the certificate against `servername`, else `host`.
    rejectUnauthorized: o.rejectUnauthorized,
  });
}
