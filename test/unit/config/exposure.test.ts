/** The exposure rule (no clear text or pass-through listener on the network by accident) and the TLS cross-checks. */
import { configSchema, type GatehouseConfigInput } from '../../../src/config';

const USERS = {
  users: [{ name: 'app', password_env: 'APP_PASSWORD' }],
  read_user: { name: 'ro' },
  write_user: { name: 'rw' },
};
const TLS = { cert_file: '/etc/gatehouse/server.crt', key_file: '/etc/gatehouse/server.key' };

/** `path: message` for each issue, or [] when the configuration is valid. */
function issues(cfg: Omit<GatehouseConfigInput, 'writer'>): string[] {
  const r = configSchema.safeParse({ writer: 'ch:9000', ...cfg });
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

const notLoopback = (host: string): string =>
  `listen: ${host} is not a loopback address: serve it with tls (tls.require: true) or set allow_insecure_listen: true`;
const NEEDS_USERS = 'users: a listener on a non-loopback address needs proxy users (or allow_insecure_listen: true)';

describe('listeners on loopback are always allowed', () => {
  it.each(['127.0.0.1:9000', '127.3.2.1:0', 'localhost:9000', 'LOCALHOST:9000', '[::1]:9000', '[0:0:0:0:0:0:0:1]:9000', '[::ffff:127.0.0.1]:9000'])(
    '%s, without TLS or users',
    (listen) => {
      expect(issues({ listen })).toEqual([]);
    },
  );
});

describe('a listener on the network', () => {
  it.each([
    ['0.0.0.0', '0.0.0.0:9000'],
    ['::', '[::]:9000'],
    ['10.1.2.3', '10.1.2.3:9000'],
    ['::ffff:10.0.0.1', '[::ffff:10.0.0.1]:9000'],
    // A name is resolved at listen time; only localhost is known to be loopback.
    ['127.example.com', '127.example.com:9000'],
    ['db-proxy', 'db-proxy:9000'],
  ])('%s in clear text is refused, even with users', (host, listen) => {
    expect(issues({ listen, ...USERS })).toEqual([notLoopback(host)]);
  });

  it('in clear text and without users gets both reasons', () => {
    expect(issues({ listen: '0.0.0.0:9000' })).toEqual([notLoopback('0.0.0.0'), NEEDS_USERS]);
  });

  it('is allowed when TLS is the only way in (tls.require) and there are users', () => {
    expect(issues({ listen: '0.0.0.0:9000', tls: { ...TLS, listen: '0.0.0.0:9440', require: true }, ...USERS })).toEqual([]);
  });

  it('is allowed for TLS beside a plain listener kept on loopback (local tools keep using 9000)', () => {
    expect(issues({ tls: { ...TLS, listen: '0.0.0.0:9440' }, ...USERS })).toEqual([]);
  });

  it('over TLS still needs users: pass-through would let anyone try any backend account', () => {
    expect(issues({ tls: { ...TLS, listen: '[::]:9440' } })).toEqual([NEEDS_USERS]);
  });

  it('a plain listener on the network is refused even when a TLS one exists', () => {
    expect(issues({ listen: '0.0.0.0:9000', tls: { ...TLS, listen: '0.0.0.0:9440' }, ...USERS })).toEqual([notLoopback('0.0.0.0')]);
  });

  it('is allowed in clear text and pass-through when allow_insecure_listen says so', () => {
    expect(issues({ listen: '0.0.0.0:9000', allow_insecure_listen: true })).toEqual([]);
  });
});

describe('TLS cross-checks', () => {
  it('the TLS listener must not take the plain or the admin port', () => {
    expect(issues({ tls: { ...TLS, listen: '127.0.0.1:9000' } })).toEqual(['tls.listen: must differ from listen (127.0.0.1:9000)']);
    expect(issues({ admin: '127.0.0.1:9440', tls: TLS })).toEqual(['tls.listen: must differ from admin (127.0.0.1:9440)']);
  });

  it('with tls.require the plain port is not opened, so it may be the same number', () => {
    expect(issues({ tls: { ...TLS, listen: '127.0.0.1:9000', require: true } })).toEqual([]);
  });

  it('port 0 (any free port) never clashes', () => {
    expect(issues({ listen: '127.0.0.1:0', tls: { ...TLS, listen: '127.0.0.1:0' } })).toEqual([]);
  });

  it('backend TLS keys without enabled: true are refused (the links would stay in clear text)', () => {
    expect(issues({ backend_tls: { insecure_skip_verify: true } })).toEqual([
      'backend_tls.enabled: must be true when insecure_skip_verify is set (backend connections are not encrypted otherwise)',
    ]);
  });

  it('a client certificate needs its key, and the key its certificate', () => {
    expect(issues({ backend_tls: { enabled: true, key_file: 'k.pem' } })).toEqual([
      'backend_tls.cert_file: required when backend_tls.key_file is set',
    ]);
  });

  it('accepts backend TLS with the system CAs, a CA file, or no verification', () => {
    expect(issues({ backend_tls: { enabled: true } })).toEqual([]);
    expect(issues({ backend_tls: { enabled: true, ca_file: 'ca.pem', cert_file: 'c.pem', key_file: 'k.pem', server_name: 'ch' } })).toEqual([]);
    expect(issues({ backend_tls: { enabled: true, insecure_skip_verify: true } })).toEqual([]);
  });
});
