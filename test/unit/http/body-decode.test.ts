/**
 * body-decode.ts: the statement at the head of a compressed HTTP body (gzip, deflate, ClickHouse frames, both), read
 * without losing or changing a byte of the body, and within its memory bounds whatever the body holds.
 */
import { PassThrough, Readable } from 'node:stream';
import { deflateSync, gzipSync } from 'node:zlib';
import { bodyEncodingOf, isPlain, readDecodedHead, type BodyEncoding } from '../../../src/http/body-decode';
import { bodyWithHead } from '../../../src/http/body-head';
import { CompressionMethod, encodeFrame, encodeFrames } from '../../../src/protocol';
import { DEFAULT_LIMITS } from '../../../src/protocol/limits';

const GZIP: BodyEncoding = { content: 'gzip', frames: false };
const FRAMES: BodyEncoding = { content: 'identity', frames: true };

/** A body stream that delivers `bytes` in chunks of `chunk` bytes, then ends (or stays open when `open`). */
function bodyOf(bytes: Buffer, chunk = 1000, open = false): PassThrough {
  const s = new PassThrough();
  for (let i = 0; i < bytes.length; i += chunk) s.write(bytes.subarray(i, i + chunk));
  if (!open) s.end();
  return s;
}

async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c);
  return Buffer.concat(parts);
}

describe('bodyEncodingOf', () => {
  it.each([
    ['', false, { content: 'identity', frames: false }],
    ['identity', true, { content: 'identity', frames: true }],
    ['gzip', false, { content: 'gzip', frames: false }],
    ['deflate', true, { content: 'deflate', frames: true }],
    // 18.16 refuses these (89): nothing to decode.
    ['br', false, { content: 'other', frames: false }],
    ['x-gzip', false, { content: 'other', frames: false }],
  ] as const)('%j, decompress=%s', (header, decompress, expected) => {
    expect(bodyEncodingOf(header, decompress)).toEqual(expected);
    expect(isPlain(expected)).toBe(header === '' && !decompress);
  });
});

describe('readDecodedHead', () => {
  const sql = 'SELECT name FROM gatehouse_meta.node WHERE 1';

  it.each<[string, BodyEncoding, Buffer]>([
    ['gzip', GZIP, gzipSync(sql)],
    ['deflate', { content: 'deflate', frames: false }, deflateSync(sql)],
    ['LZ4 frames', FRAMES, encodeFrame(Buffer.from(sql), CompressionMethod.LZ4)],
    ['ZSTD frames', FRAMES, encodeFrame(Buffer.from(sql), CompressionMethod.ZSTD)],
    ['gzip of frames', { content: 'gzip', frames: true }, gzipSync(encodeFrame(Buffer.from(sql), CompressionMethod.LZ4))],
  ])('%s: the whole statement, and the raw bytes as sent', async (_name, enc, body) => {
    const d = await readDecodedHead(bodyOf(body, 7), enc, 1 << 20, DEFAULT_LIMITS);
    expect(d.text).toBe(sql);
    expect(d.whole).toBe(true);
    expect(d.raw.ended).toBe(true);
    expect(d.raw.head.equals(body)).toBe(true);
  });

  it('stops at maxTextBytes of statement; the rest of the body follows the head unchanged', async () => {
    const text = `INSERT INTO t FORMAT TSV\n${Array.from({ length: 50_000 }, (_, i) => `${i}\tv${i}`).join('\n')}`;
    const body = gzipSync(text);
    const stream = bodyOf(body, 512);
    const d = await readDecodedHead(stream, GZIP, 4096, DEFAULT_LIMITS);
    expect(d.text).toBe(text.slice(0, 4096));
    expect(d.whole).toBe(false);
    expect(d.raw.ended).toBe(false);
    expect(d.raw.head.length).toBeLessThan(body.length);
    expect((await collect(bodyWithHead(d.raw, stream))).equals(body)).toBe(true);
  });

  it('frames: several, decoded in order up to maxTextBytes; the rest follows unchanged', async () => {
    const text = 'SELECT 1 FORMAT TSV\n' + 'x'.repeat(300_000);
    const body = Buffer.concat(encodeFrames(Buffer.from(text), CompressionMethod.LZ4, 65_536));
    const stream = bodyOf(body, 4096);
    const d = await readDecodedHead(stream, FRAMES, 100_000, DEFAULT_LIMITS);
    expect(d.text).toBe(text.slice(0, 100_000));
    expect((await collect(bodyWithHead(d.raw, stream))).equals(body)).toBe(true);
  });

  it('a highly compressible body (a "zip bomb") is decoded no further than maxTextBytes', async () => {
    const bomb = gzipSync(Buffer.alloc(50 << 20, 0x41)); // 50 MiB of 'A' in ~50 KB
    const stream = bodyOf(bomb, 16_384);
    const d = await readDecodedHead(stream, GZIP, 64 * 1024, DEFAULT_LIMITS);
    expect(d.text?.length).toBe(64 * 1024);
    expect(d.whole).toBe(false);
    expect(d.raw.head.length).toBeLessThanOrEqual(bomb.length);
    expect((await collect(bodyWithHead(d.raw, stream))).equals(bomb)).toBe(true);
  });

  it('reads at most 2 × maxTextBytes of a body that decodes to nothing (a frame larger than that)', async () => {
    const big = encodeFrame(Buffer.alloc(200_000, 1), CompressionMethod.None);
    const stream = bodyOf(big, 1024, true);
    const d = await readDecodedHead(stream, FRAMES, 10_000, DEFAULT_LIMITS);
    expect(d.text).toBeNull();
    expect(d.whole).toBe(false);
    expect(d.raw.head.length).toBeLessThanOrEqual(2 * 10_000 + 1024);
    stream.end();
    expect((await collect(bodyWithHead(d.raw, stream))).equals(big)).toBe(true);
  });

  it('a body that is not what it claims: nothing decoded is null, what was decoded before the damage is kept', async () => {
    const notGzip = Buffer.from('SELECT 1');
    const d1 = await readDecodedHead(bodyOf(notGzip), GZIP, 1 << 20, DEFAULT_LIMITS);
    expect([d1.text, d1.whole]).toEqual([null, false]);
    expect(d1.raw.head.equals(notGzip)).toBe(true);

    const truncated = gzipSync('SELECT 42 FROM system.one').subarray(0, -6);
    const d2 = await readDecodedHead(bodyOf(truncated), GZIP, 1 << 20, DEFAULT_LIMITS);
    expect(d2.whole).toBe(false); // the stream ended early: not the whole statement, so never cached
    expect(d2.raw.head.equals(truncated)).toBe(true);

    const badFrame = Buffer.from(encodeFrame(Buffer.from(sql), CompressionMethod.LZ4));
    badFrame[16] = 0x55; // unknown method byte
    const d3 = await readDecodedHead(bodyOf(badFrame), FRAMES, 1 << 20, DEFAULT_LIMITS);
    expect([d3.text, d3.whole]).toEqual([null, false]);

    const halfFrame = encodeFrame(Buffer.from(sql), CompressionMethod.LZ4).subarray(0, 30);
    const d4 = await readDecodedHead(bodyOf(halfFrame), FRAMES, 1 << 20, DEFAULT_LIMITS);
    expect(d4.whole).toBe(false);
  });

  it('an empty body is an empty statement, whole', async () => {
    const d = await readDecodedHead(bodyOf(gzipSync('')), GZIP, 1024, DEFAULT_LIMITS);
    expect([d.text, d.whole]).toEqual(['', true]);
  });

  it('rejects when the client goes away mid-body', async () => {
    const s = new PassThrough();
    s.write(gzipSync('SELECT 1').subarray(0, 5));
    const p = readDecodedHead(s, GZIP, 1024, DEFAULT_LIMITS);
    setImmediate(() => s.destroy());
    await expect(p).rejects.toThrow('client closed the connection before sending the whole body');
  });

  it('works on a Readable that is not a PassThrough (Readable.from)', async () => {
    const d = await readDecodedHead(Readable.from([gzipSync(sql)]), GZIP, 1024, DEFAULT_LIMITS);
    expect(d.text).toBe(sql);
  });
});
