/**
 * The least a Node.js proxy can do, as a yardstick for Gatehouse (benchmarks/floor.bench.ts): it parses nothing, pools
 * nothing, routes nothing. Run in a process of its own:
 *
 *   node node-floor-relay.js tcp  --target PORT   # every client connection piped to a new connection to PORT
 *   node node-floor-relay.js http --target PORT   # node:http server; each request's body read, then sent to PORT
 *                                                 # over undici keep-alive connections (dispatch API, no body
 *                                                 # stream), the answer written straight into the response
 *
 * Prints "floor relay listening on 127.0.0.1:P" once listening. Loopback only; stops when its parent closes stdin.
 * The `tcp` mode does strictly less than any native-protocol proxy (no framing); the `http` mode does what a minimal
 * HTTP reverse proxy in Node must (parse the request, read the SQL, relay the answer with backpressure).
 */
import * as http from 'node:http';
import * as net from 'node:net';
import { Pool } from 'undici';

const mode = process.argv[2];
const targetIdx = process.argv.indexOf('--target');
const target = Number(process.argv[targetIdx + 1]);
if ((mode !== 'tcp' && mode !== 'http') || targetIdx < 0 || !Number.isInteger(target)) {
  process.stderr.write('usage: node-floor-relay (tcp|http) --target PORT\n');
  process.exit(2);
}

function tcpRelay(): net.Server {
  return net.createServer({ noDelay: true }, (client) => {
    const backend = net.connect({ host: '127.0.0.1', port: target, noDelay: true });
    client.pipe(backend);
    backend.pipe(client);
    const close = (): void => {
      client.destroy();
      backend.destroy();
    };
    client.on('error', close).on('close', close);
    backend.on('error', close).on('close', close);
  });
}

/** Hop-by-hop headers a reverse proxy must not forward (RFC 9110 §7.6.1), in lower case. */
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-connection']);

function httpRelay(): http.Server {
  const pool = new Pool(`http://127.0.0.1:${target}`, { connections: 64, pipelining: 1 });
  return http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const headers: string[] = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const k = req.rawHeaders[i].toLowerCase();
        if (!HOP.has(k) && k !== 'host' && k !== 'content-length') headers.push(req.rawHeaders[i], req.rawHeaders[i + 1]);
      }
      pool.dispatch(
        { path: req.url ?? '/', method: (req.method ?? 'GET') as 'POST', headers, body: Buffer.concat(parts) },
        {
          onConnect: () => undefined,
          onHeaders: (status: number, raw: Buffer[], resume: () => void): boolean => {
            const out: string[] = [];
            for (let i = 0; i < raw.length; i += 2) {
              const k = raw[i].toString('latin1');
              if (!HOP.has(k.toLowerCase())) out.push(k, raw[i + 1].toString('latin1'));
            }
            res.writeHead(status, out);
            res.on('drain', resume);
            return true;
          },
          onData: (chunk: Buffer): boolean => res.write(chunk),
          onComplete: () => res.end(),
          onError: () => res.destroy(),
        },
      );
    });
  });
}

const server: net.Server = mode === 'tcp' ? tcpRelay() : httpRelay();
server.listen(0, '127.0.0.1', () => {
  const addr = server.address() as net.AddressInfo;
  process.stdout.write(`floor relay listening on 127.0.0.1:${addr.port}\n`);
});
process.stdin.on('end', () => process.exit(0)).resume();
