/**
 * The statement at the start of a compressed request body, decoded the way 18.16 decodes it (HTTPHandler.cpp:
 * `Content-Encoding: gzip` or `deflate` through zlib, then ClickHouse's own frames when `decompress=1`), so that a
 * query sent compressed (@clickhouse/client with request compression, curl --data-binary of a gzip file) is routed,
 * checked and cached like a plain one. Only the head is decoded; the bytes read go to the backend unchanged, followed
 * by the rest of the body (bodyWithHead), so the backend still decodes everything itself.
 *
 * Memory: at most `2 × maxTextBytes` of the raw body and of the first stage's output are held (enough for a
 * ClickHouse frame of 1 MiB at the default max_query_bytes), and the decoded text stops at `maxTextBytes`.
 */
import type { Readable } from 'node:stream';
import { createGunzip, createInflate, type Gunzip, type Inflate } from 'node:zlib';
import { decompressFrame, type Limits } from '../protocol';
import { watchBody, type BodyHead } from './body-head';

/** How a request body is encoded: the Content-Encoding 18.16 knows, and ClickHouse frames (`decompress=1`). */
export interface BodyEncoding {
  /** `identity` (none), `gzip`, `deflate` (zlib-wrapped), or `other` (18.16 refuses it with 89: nothing to decode). */
  readonly content: 'identity' | 'gzip' | 'deflate' | 'other';
  /** `decompress=1`: the (content-decoded) body is a sequence of ClickHouse compressed frames. */
  readonly frames: boolean;
}

// Nearly every request's: one shared value rather than an object per request.
const PLAIN: BodyEncoding = Object.freeze({ content: 'identity', frames: false });

/** The body's encoding from its Content-Encoding header (lower-cased, trimmed) and the `decompress` parameter. */
export function bodyEncodingOf(contentEncoding: string, decompress: boolean): BodyEncoding {
  const content = contentEncoding === '' || contentEncoding === 'identity' ? 'identity'
    : contentEncoding === 'gzip' || contentEncoding === 'deflate' ? contentEncoding : 'other';
  return content === 'identity' && !decompress ? PLAIN : { content, frames: decompress };
}

/** Whether the proxy reads the body as it comes (no decoding needed). */
export const isPlain = (e: BodyEncoding): boolean => e.content === 'identity' && !e.frames;

export interface DecodedHead {
  /** The raw bytes read, to forward unchanged before the rest of the body. */
  readonly raw: BodyHead;
  /** The decoded statement's first bytes (up to maxTextBytes), or null when nothing could be decoded. */
  readonly text: string | null;
  /** `text` is the whole decoded body (the body ended and decoded cleanly within the limits). */
  readonly whole: boolean;
}

/** ClickHouse frames, split off and decompressed as their bytes come; stops at the first one larger than `cap`. */
class FrameStage {
  private pending: Buffer = Buffer.alloc(0);
  failed = false;

  constructor(
    private readonly cap: number,
    private readonly limits: Limits,
    private readonly out: (data: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.failed) return;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    try {
      for (;;) {
        // The checksum is the backend's to verify: a frame here is decoded only to read the statement.
        const f = decompressFrame(this.pending, 0, this.pending.length, this.limits, { verifyChecksum: false });
        if (f === null) break;
        this.out(Buffer.from(f.data));
        this.pending = this.pending.subarray(f.frameBytes);
      }
    } catch {
      this.failed = true; // not frames the backend will accept either: it answers the error
      return;
    }
    if (this.pending.length > this.cap) this.failed = true;
  }

  /** Bytes left that are not a whole frame. */
  get leftover(): number {
    return this.pending.length;
  }
}

/**
 * Reads `body` until `maxTextBytes` of the statement are decoded, the raw cap is reached, or the body ends; the stream
 * is left paused after a partial read, for bodyWithHead. Rejects only when the client goes away mid-body.
 */
export function readDecodedHead(body: Readable, enc: BodyEncoding, maxTextBytes: number, limits: Limits): Promise<DecodedHead> {
  const cap = 2 * maxTextBytes;
  return new Promise((resolve, reject) => {
    const rawChunks: Buffer[] = [];
    let rawBytes = 0;
    const text: Buffer[] = [];
    let textBytes = 0;
    let bodyEnded = false;
    let settled = false;
    let zlibFailed = false;
    let stage1Bytes = 0;

    const frames = enc.frames ? new FrameStage(cap, limits, (d) => addText(d)) : null;
    const zlib: Gunzip | Inflate | null = enc.content === 'gzip' ? createGunzip() : enc.content === 'deflate' ? createInflate() : null;

    const decodedText = (): string | null => (textBytes === 0 && (zlibFailed || frames?.failed) ? null : Buffer.concat(text, textBytes).toString('utf8'));
    const finish = (whole: boolean): void => {
      if (settled) return;
      settled = true;
      watch.detach();
      zlib?.destroy();
      resolve({ raw: { head: Buffer.concat(rawChunks, rawBytes), ended: bodyEnded }, text: decodedText(), whole });
    };
    function addText(d: Buffer): void {
      if (textBytes >= maxTextBytes) return;
      const part = d.length > maxTextBytes - textBytes ? d.subarray(0, maxTextBytes - textBytes) : d;
      text.push(part);
      textBytes += part.length;
      if (textBytes >= maxTextBytes) finish(false);
    }
    /** Output of the content decoding (or the raw body): the frames' input, or the text itself. */
    const stage1 = (d: Buffer): void => {
      stage1Bytes += d.length;
      if (frames) frames.push(d);
      else addText(d);
      if (!settled && (stage1Bytes > cap || frames?.failed)) finish(false);
    };
    /** Everything that will come is in: whole when the decoding consumed the body exactly. */
    const decodingDone = (): void => finish(!zlibFailed && !(frames?.failed ?? false) && (frames?.leftover ?? 0) === 0);

    if (zlib) {
      zlib.on('data', (d: Buffer) => stage1(d));
      zlib.once('error', () => {
        zlibFailed = true; // the backend refuses it too (18.16: "inflate failed", 354)
        finish(false);
      });
      zlib.once('end', () => {
        if (bodyEnded) decodingDone();
      });
    }
    /** Reads no more of the body; what zlib was given is still decoded (it runs asynchronously), then it finishes. */
    const stopReading = (): void => {
      watch.stopReading(); // the body goes on: its end is bodyWithHead's to read
      if (zlib) zlib.flush(() => finish(false));
      else finish(false);
    };
    const watch = watchBody(body, {
      data: (chunk) => {
        rawChunks.push(chunk);
        rawBytes += chunk.length;
        if (zlib) zlib.write(chunk);
        else stage1(chunk);
        if (!settled && rawBytes > cap) stopReading();
      },
      end: () => {
        bodyEnded = true;
        if (zlib) zlib.end(); // its 'end' (or 'error') finishes
        else decodingDone();
      },
      error: (e) => {
        if (settled) return;
        settled = true;
        watch.detach();
        zlib?.destroy();
        reject(e);
      },
    });
  });
}
