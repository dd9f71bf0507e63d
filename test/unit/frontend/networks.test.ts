import * as net from 'node:net';
import { CidrError, NetworkList, parseCidr } from '../../../src/frontend/networks';

describe('parseCidr', () => {
  it.each([
    // input, family, prefix, canonical text
    ['10.0.0.0/8', 4, 8, '10.0.0.0/8'],
    ['10.1.2.3/8', 4, 8, '10.0.0.0/8'], // host bits cleared
    ['192.168.1.7', 4, 32, '192.168.1.7/32'],
    ['0.0.0.0/0', 4, 0, '0.0.0.0/0'],
    ['255.255.255.255/32', 4, 32, '255.255.255.255/32'],
    ['172.16.0.0/12', 4, 12, '172.16.0.0/12'],
    ['::/0', 6, 0, '::/0'],
    ['::1', 6, 128, '::1/128'],
    ['::1/128', 6, 128, '::1/128'],
    ['fd00::/8', 6, 8, 'fd00::/8'],
    ['FD12:3456:789a:1::1/64', 6, 64, 'fd12:3456:789a:1::/64'],
    ['2001:db8:0:0:1:0:0:1/128', 6, 128, '2001:db8::1:0:0:1/128'],
    ['1:2:3:4:5:6:7:8', 6, 128, '1:2:3:4:5:6:7:8/128'],
    ['::ffff:10.0.0.0/104', 6, 104, '::ffff:a00:0/104'],
    ['::ffff:0:0/96', 6, 96, '::ffff:0:0/96'],
    ['fe80::/10', 6, 10, 'fe80::/10'],
  ])('%s', (input, family, prefix, text) => {
    expect(parseCidr(input)).toMatchObject({ family, prefix, text });
  });

  it.each([
    ['', 'not an IPv4 or IPv6 address'],
    ['10.0.0.0/33', 'prefix must be an integer from 0 to 32'],
    ['::/129', 'prefix must be an integer from 0 to 128'],
    ['10.0.0.0/', 'prefix must be an integer from 0 to 32'],
    ['10.0.0.0/-1', 'prefix must be an integer from 0 to 32'],
    ['10.0.0.0/8/8', 'prefix must be an integer from 0 to 32'],
    ['10.0.0.0/ 8', 'prefix must be an integer from 0 to 32'],
    ['10.0.0/8', 'not an IPv4 or IPv6 address'],
    ['10.0.0.256', 'not an IPv4 or IPv6 address'],
    ['010.0.0.1', 'not an IPv4 or IPv6 address'], // leading zero: octal in some parsers
    ['10.0.0.1 ', 'not an IPv4 or IPv6 address'],
    ['localhost', 'not an IPv4 or IPv6 address'],
    ['1:2:3:4:5:6:7', 'not an IPv4 or IPv6 address'],
    ['1:2:3:4:5:6:7:8:9', 'not an IPv4 or IPv6 address'],
    ['1:2:3:4:5:6:7:8::', 'not an IPv4 or IPv6 address'],
    ['1::2::3', 'not an IPv4 or IPv6 address'],
    [':::', 'not an IPv4 or IPv6 address'],
    ['12345::', 'not an IPv4 or IPv6 address'],
    ['g::', 'not an IPv4 or IPv6 address'],
    ['1.2.3.4::', 'not an IPv4 or IPv6 address'],
    ['::1.2.3', 'not an IPv4 or IPv6 address'],
  ])('rejects %j: %s', (input, reason) => {
    let err: unknown;
    try {
      parseCidr(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CidrError);
    expect(err).toMatchObject({ code: 'ERR_BAD_CIDR', message: `invalid network ${JSON.stringify(input)}: ${reason}` });
  });

  it('agrees with node:net on which address strings are valid', () => {
    const samples = ['1::', '::', '::ffff:1.2.3.4', '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', '::1:2:3:4:5:6:7',
      '1:2:3:4:5:6:7::', 'a:b:c:d:e:f:0:1', '1.2.3.4', '256.1.1.1', '1..2.3', 'abcd::12345'];
    for (const s of samples) {
      let ok = true;
      try {
        parseCidr(s);
      } catch {
        ok = false;
      }
      expect([s, ok]).toEqual([s, net.isIP(s) !== 0]);
    }
  });
});

describe('NetworkList.allows', () => {
  const table: [string[], string, boolean][] = [
    [[], '203.0.113.9', true], // empty list: everyone
    [[], 'garbage', true],
    [['127.0.0.1'], '127.0.0.1', true],
    [['127.0.0.1'], '127.0.0.2', false],
    [['127.0.0.1'], '::ffff:127.0.0.1', true], // as a dual-stack Node socket reports it
    [['127.0.0.1'], '::FFFF:7f00:1', true],
    [['127.0.0.1'], '::1', false],
    [['10.0.0.0/8'], '10.255.255.255', true],
    [['10.0.0.0/8'], '11.0.0.0', false],
    [['10.0.0.0/8'], '::ffff:10.20.30.40', true],
    [['10.0.0.0/8'], '::10.20.30.40', false], // IPv4-compatible (deprecated) is not IPv4-mapped
    [['172.16.0.0/12'], '172.31.255.255', true],
    [['172.16.0.0/12'], '172.32.0.0', false],
    [['192.168.1.128/25'], '192.168.1.128', true],
    [['192.168.1.128/25'], '192.168.1.127', false],
    [['0.0.0.0/0'], '198.51.100.1', true],
    [['0.0.0.0/0'], '::ffff:198.51.100.1', true],
    [['0.0.0.0/0'], '2001:db8::1', false], // an IPv4 network never matches native IPv6
    [['::/0'], '2001:db8::1', true],
    [['::/0'], '198.51.100.1', true],
    [['::1'], '::1', true],
    [['::1/128'], '0:0:0:0:0:0:0:1', true],
    [['::1'], '127.0.0.1', false],
    [['fd00::/8'], 'fd12::5', true],
    [['fd00::/8'], 'fe00::5', false],
    [['fe80::/10'], 'febf::1', true],
    [['fe80::/10'], 'fec0::1', false],
    [['fe80::/10'], 'fe80::1%eth0', true], // zone id ignored
    [['2001:db8::/32'], '2001:db8:ffff::1', true],
    [['2001:db8::/32'], '2001:db9::1', false],
    [['::ffff:0:0/96'], '8.8.8.8', true], // all of IPv4, written the IPv6 way
    [['::ffff:10.0.0.0/104'], '10.9.9.9', true],
    [['::ffff:10.0.0.0/104'], '11.9.9.9', false],
    [['10.0.0.0/8', '::1'], '::1', true],
    [['10.0.0.0/8', '::1'], '10.0.0.1', true],
    [['10.0.0.0/8', '::1'], '192.0.2.1', false],
    [['10.0.0.0/8'], '', false], // unparseable (e.g. a destroyed socket's address) is refused
    [['10.0.0.0/8'], 'not-an-ip', false],
  ];
  it.each(table)('%j allows %s: %s', (cidrs, address, expected) => {
    expect(new NetworkList(cidrs).allows(address)).toBe(expected);
  });

  it('matches every prefix length at its boundary (IPv4 /0../32, IPv6 /0../128)', () => {
    for (let p = 0; p <= 32; p++) {
      const list = new NetworkList([`255.255.255.255/${p}`]);
      expect(list.allows('255.255.255.255')).toBe(true);
      if (p > 0) {
        // Flip the last bit inside the prefix: now outside.
        const n = (0xffffffff ^ (1 << (32 - p))) >>> 0;
        const a = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
        expect([p, list.allows(a)]).toEqual([p, false]);
      }
      if (p < 32) {
        // Flip the first bit after the prefix: still inside.
        const n = (0xffffffff ^ (1 << (31 - p))) >>> 0;
        const a = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
        expect([p, list.allows(a)]).toEqual([p, true]);
      }
    }
    const ffff = Array(8).fill('ffff');
    const flip = (bit: number): string => {
      const words = ffff.map((w) => parseInt(w, 16));
      words[bit >> 4] ^= 1 << (15 - (bit & 15));
      return words.map((w) => w.toString(16)).join(':');
    };
    for (let p = 0; p <= 128; p++) {
      const list = new NetworkList([`${ffff.join(':')}/${p}`]);
      expect(list.allows(ffff.join(':'))).toBe(true);
      if (p > 0) expect([p, list.allows(flip(p - 1))]).toEqual([p, false]);
      if (p < 128) expect([p, list.allows(flip(p))]).toEqual([p, true]);
    }
  });

  it('throws CidrError for the first bad entry', () => {
    expect(() => new NetworkList(['10.0.0.0/8', 'nope', '1.2.3.4/99'])).toThrow('invalid network "nope"');
  });

  it('sees the address a real dual-stack socket reports for an IPv4 client', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '::', resolve));
    try {
      const port = (server.address() as net.AddressInfo).port;
      const seen = new Promise<string>((resolve) => server.once('connection', (s) => { resolve(s.remoteAddress ?? ''); s.destroy(); }));
      const client = net.connect(port, '127.0.0.1');
      client.on('error', () => undefined);
      const address = await seen;
      client.destroy();
      expect(address).toBe('::ffff:127.0.0.1');
      expect(new NetworkList(['127.0.0.0/8']).allows(address)).toBe(true);
      expect(new NetworkList(['10.0.0.0/8']).allows(address)).toBe(false);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
