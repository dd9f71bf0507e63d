import { BlockSummary, sizeBlock, sizeBlockNow, SizerInput } from '../block';
import { ClientCode, ServerCode } from '../codes';
import { decompressFrameInto, FRAME_HEADER_BYTES, readFrameHeader } from '../compression';
import { isNeedMoreData, LimitError, MalformedError, ProtocolError } from '../errors';
import { Reader } from '../io/reader';
import { DEFAULT_LIMITS, Limits } from '../limits';
import {
  Addendum,
  ClientPacket,
  decodeAddendum,
  decodeClientPacket,
  decodeServerPacket,
  ServerPacket,
} from '../packets';
import { MIN_SUPPORTED_REVISION } from '../revision';
import { ByteQueue } from './byte-queue';
import { giveScratch, takeScratch } from './scratch-pool';
import { ConnectionState } from './connection-state';

export type Direction = 'client' | 'server';

/** One packet found in a byte stream, with the exact bytes it occupied. */
export interface FramedPacket {
  /** Packet code; -1 for the handshake addendum, which has none (native-protocol.md §4.3). */
  code: number;
  /** Absolute offsets of the packet in this direction's stream. */
  start: number;
  end: number;
  /** Views of the received chunks covering exactly [start, end): forward them unchanged. */
  chunks: Buffer[];
  /** The decoded packet; for block packets only the code and table name are decoded. */
  packet: ClientPacket | ServerPacket | Addendum;
  /** Block packets: the block's header (BlockInfo, rows, column names and types). */
  block?: BlockSummary;
  /** Block packets: the block was wrapped in compressed frames, and how many. */
  compressed?: boolean;
  frames?: number;
}

export interface FramerOptions {
  /**
   * Verify the CityHash128 checksum of every compressed frame (default true). A relay that
   * forwards frames unchanged may turn it off: the peer that consumes the frames verifies them
   * (CompressedReadBufferBase), as it would behind an L4 proxy; the framer still decompresses
   * (bounds-checked) to find where each block ends.
   */
  verifyChecksums?: boolean;
}

/** Packets whose body (after the table name) is a block (src/Core/Protocol.h). */
const CLIENT_BLOCK_CODES: ReadonlySet<number> = new Set([ClientCode.Data, ClientCode.Scalar]);
const SERVER_BLOCK_CODES: ReadonlySet<number> = new Set([
  ServerCode.Data,
  ServerCode.Totals,
  ServerCode.Extremes,
  ServerCode.Log,
  ServerCode.ProfileEvents,
]);
/**
 * Log and ProfileEvents blocks are written to the raw socket buffer, not the compressed one,
 * below revision 54481 (TCPHandler::initLogsBlockOutput / initProfileEventsBlockOutput;
 * [captured] cli_lz4_logs). Our revision cap is below 54481.
 */
const SERVER_UNCOMPRESSED_BLOCK_CODES: ReadonlySet<number> = new Set([ServerCode.Log, ServerCode.ProfileEvents]);

type Phase = 'packet' | 'block' | 'frames';

const EMPTY = Buffer.alloc(0);
/** A join scratch buffer larger than this (grown by one unusually large packet) is dropped after use. */
const JOIN_SCRATCH_KEEP_BYTES = 4 << 20;
/**
 * Scratch buffers (join and decompression) up to this size stay with the framer between exchanges; larger ones, grown
 * by a bulk result or INSERT, are dropped when the exchange ends (releaseIdleScratch), so that an idle pooled backend
 * connection or client session holds at most a few of these, not the megabytes its last bulk exchange needed.
 */
const SCRATCH_KEEP_IDLE_BYTES = 64 << 10;
/** The one-pass sizer looks at most this far into a block; larger blocks go to the resumable sizer (Framer.sizeNow). */
const SIZE_NOW_MAX_BYTES = 64 << 10;

/**
 * Incremental framer for one direction of a native connection. Feed it chunks split anywhere;
 * it returns each complete packet with the raw chunks it spans. Packets carry no length
 * (native-protocol.md §1), so every byte is parsed: small packets atomically (re-parsed from
 * the packet start only once enough bytes for the failed read have arrived), blocks with the
 * resumable sizer, which never re-reads bytes it has consumed. Work stays linear in the input.
 */
export class Framer {
  private readonly queue = new ByteQueue();
  private readonly reader: Reader;
  private readonly input: SizerInput;
  /** Contiguous bytes being parsed, starting at absolute offset bufStart; `pos` is the next byte. */
  private buf: Buffer = Buffer.alloc(0);
  private bufStart = 0;
  private pos = 0;
  /** Absolute number of bytes received. */
  private received = 0;
  /** Do not try to parse before this many bytes have been received. */
  private waitUntil = 0;
  /** Chunks received but not yet merged into `buf`. */
  private pendingChunks: Buffer[] = [];
  /** Two reused buffers that merge() joins chunks into, used in turn (joinIntoScratch). */
  private readonly joinScratch: Buffer[] = [EMPTY, EMPTY];
  private joinTurn = 0;
  /** A packet that ends an exchange was framed during this poll(): drop large scratch buffers if nothing is pending. */
  private exchangeEnded = false;

  private phase: Phase = 'packet';
  private packetStart = 0;
  private current: FramedPacket | null = null;
  private sizer: Generator<void, BlockSummary, void> | null = null;
  /** Decompressed bytes not yet consumed by the block sizer: scratch[tailStart, tailStart + tailLen). */
  private tailStart = 0;
  private tailLen = 0;
  /** Where frames are decompressed; reused (a block's unconsumed tail is moved to its front). */
  private scratch: Buffer = Buffer.alloc(0);
  private decompressedTotal = 0;
  private failed: ProtocolError | null = null;
  /** Work counters: bytes copied to make parse input contiguous, and parse attempts of atomic packets. */
  readonly stats = { copiedBytes: 0, attempts: 0 };
  private readonly verifyChecksums: boolean;
  /** Waiting for the other direction's Hello, not for bytes. */
  private blockedOnState = false;

  constructor(
    readonly direction: Direction,
    readonly state: ConnectionState = new ConnectionState(),
    readonly limits: Limits = DEFAULT_LIMITS,
    readonly options: FramerOptions = {},
  ) {
    this.verifyChecksums = options.verifyChecksums !== false;
    this.reader = new Reader(this.buf, 0, 0, limits);
    this.input = { r: new Reader(this.buf, 0, 0, limits) };
  }

  /** Bytes of scratch buffers this framer holds (joined chunks, decompressed frames): bounded while idle. */
  get scratchBytes(): number {
    return this.joinScratch[0].length + this.joinScratch[1].length + this.scratch.length;
  }

  /** True between packets (nothing partial buffered). */
  get idle(): boolean {
    return this.phase === 'packet' && this.received === this.packetStart;
  }

  /**
   * Add a chunk and return every packet it completes. A ProtocolError is fatal for the stream:
   * it is thrown now and again on every later call.
   */
  push(chunk: Buffer): FramedPacket[] {
    if (this.failed) throw this.failed;
    if (chunk.length > 0) {
      this.queue.push(chunk);
      this.pendingChunks.push(chunk);
      this.received += chunk.length;
    }
    return this.poll();
  }

  /** Try again without new bytes (after the shared ConnectionState changed, e.g. a Hello was seen). */
  poll(): FramedPacket[] {
    if (this.failed) throw this.failed;
    if (this.blockedOnState) {
      this.blockedOnState = false;
      this.waitUntil = 0;
    }
    // One packet per push is the common case: a one-element array made at the end rather than an empty one grown.
    let first: FramedPacket | null = null;
    let more: FramedPacket[] | null = null;
    try {
      while (this.received >= this.waitUntil) {
        this.merge();
        if (this.bufStart + this.pos >= this.received) break;
        const packet = this.step();
        if (packet === null) break;
        if (first === null) first = packet;
        else if (more === null) more = [first, packet];
        else more.push(packet);
      }
    } catch (e) {
      if (e instanceof ProtocolError) this.failed = e;
      throw e;
    }
    if (this.exchangeEnded) this.releaseIdleScratch();
    return more ?? (first === null ? [] : [first]);
  }

  /**
   * After a packet that ends an exchange (the server's EndOfStream or Exception; the client's empty Data block that
   * ends external tables or INSERT data), when no partial packet is pending: scratch buffers larger than
   * SCRATCH_KEEP_IDLE_BYTES go back to the process-wide scratch pool (scratch-pool.ts, bounded) for the next bulk
 * exchange on any connection; this framer keeps no reference to them (`buf`, the readers).
   */
  private releaseIdleScratch(): void {
    this.exchangeEnded = false;
    if (this.phase !== 'packet' || this.bufStart + this.pos < this.received) return;
    this.bufStart += this.pos;
    this.pos = 0;
    this.buf = EMPTY;
    this.reader.reset(EMPTY);
    this.input.r.reset(EMPTY);
    for (let i = 0; i < this.joinScratch.length; i++) {
      if (this.joinScratch[i].length > SCRATCH_KEEP_IDLE_BYTES) {
        giveScratch(this.joinScratch[i]);
        this.joinScratch[i] = EMPTY;
      }
    }
    if (this.scratch.length > SCRATCH_KEEP_IDLE_BYTES) {
      giveScratch(this.scratch);
      this.scratch = EMPTY;
    }
  }

  /**
   * Make `buf` hold the unconsumed bytes contiguously, copying only when a partial item spans
   * chunks. An uncompressed block is measured by the resumable sizer, which can consume any
   * prefix: it gets one chunk at a time, so a large block is never copied. Atomic packets and
   * compressed frames need their whole extent in one buffer: they get every pending chunk.
   */
  private merge(): void {
    if (this.pendingChunks.length === 0) return;
    const tail = this.pos < this.buf.length ? this.buf.subarray(this.pos) : null;
    const newStart = this.bufStart + this.pos;
    const take = this.phase === 'block' ? 1 : this.pendingChunks.length;
    if (!tail && take === 1) {
      this.buf = this.pendingChunks[0];
    } else {
      this.buf = this.joinIntoScratch(tail, take);
      this.stats.copiedBytes += this.buf.length;
    }
    this.pendingChunks = take === this.pendingChunks.length ? [] : this.pendingChunks.slice(take);
    this.bufStart = newStart;
    this.pos = 0;
  }

  /**
   * `tail` followed by the first `take` pending chunks, copied into one of two scratch buffers that are reused
   * (alternately, since `tail` may be a view of the other). A fresh Buffer per merge allocated every compressed
   * frame's size again outside the JS heap (some 8 MB per 1M-row result, which is copied either way). Nothing keeps a
   * view of `buf` past a step: decoded packets copy what they keep (fields.ts), and forwarded bytes are views of
   * the received chunks (ByteQueue), never of this buffer.
   */
  private joinIntoScratch(tail: Buffer | null, take: number): Buffer {
    let size = tail ? tail.length : 0;
    for (let i = 0; i < take; i++) size += this.pendingChunks[i].length;
    const which = this.joinTurn;
    this.joinTurn = 1 - which;
    let target = this.joinScratch[which];
    if (target.length < size) {
      target = takeScratch(Math.max(size, target.length * 2, 64 << 10));
      // One unusually large packet does not leave a buffer of its size behind.
      this.joinScratch[which] = target.length <= JOIN_SCRATCH_KEEP_BYTES ? target : EMPTY;
    }
    let at = 0;
    if (tail) at += tail.copy(target, 0);
    for (let i = 0; i < take; i++) at += this.pendingChunks[i].copy(target, at);
    return target.subarray(0, size);
  }

  /** One step of the state machine: a finished packet, or null when more bytes are needed. */
  private step(): FramedPacket | null {
    if (this.bufStart + this.pos >= this.received) return null;
    switch (this.phase) {
      case 'packet':
        return this.stepPacket();
      case 'block':
        return this.stepBlock();
      case 'frames':
        return this.stepFrames();
    }
  }

  private stepPacket(): FramedPacket | null {
    const r = this.reader;
    r.reset(this.buf, this.pos, this.buf.length);
    r.wantedEnd = 0;
    const start = this.bufStart + this.pos;
    this.stats.attempts++;
    try {
      if (this.direction === 'client') return this.decodeClient(r, start);
      return this.decodeServer(r, start);
    } catch (e) {
      if (isNeedMoreData(e)) {
        // Wait until the read that failed can succeed; never re-parse a large atomic item per chunk.
        this.waitUntil = this.bufStart + Math.max(r.wantedEnd, this.buf.length + 1);
        return null;
      }
      throw e;
    }
  }

  private decodeClient(r: Reader, start: number): FramedPacket | null {
    const st = this.state;
    if (st.addendumPending) {
      const addendum = decodeAddendum(r, st.revision);
      st.addendumPending = false;
      return this.finishAtomic(start, r.pos, -1, addendum);
    }
    const codePos = r.pos;
    const code = r.varUInt();
    if (st.clientRevision === 0 && code !== ClientCode.Hello) {
      // The first packet of a connection is the Hello (TCPHandler::receiveHello); anything else
      // (an HTTP request on the native port, random bytes) is not the native protocol.
      throw new MalformedError(`expected a client Hello, got packet code ${code}`);
    }
    if (code !== ClientCode.Hello && st.revision === 0) {
      // The client may not send anything else before the server's Hello (§2); wait for it.
      this.blockedOnState = true;
      this.waitUntil = this.received + 1;
      return null;
    }
    if (CLIENT_BLOCK_CODES.has(code)) {
      const tableName = r.string();
      return this.startBlock(start, r.pos, { code, tableName } as ClientPacket, st.compression);
    }
    r.pos = codePos;
    const packet = decodeClientPacket(r, st.revision || MIN_SUPPORTED_REVISION);
    if (packet.code === ClientCode.Hello) st.onClientHello(packet.revision);
    else if (packet.code === ClientCode.Query) st.compression = packet.compression;
    return this.finishAtomic(start, r.pos, code, packet);
  }

  private decodeServer(r: Reader, start: number): FramedPacket | null {
    const st = this.state;
    const codePos = r.pos;
    const code = r.varUInt();
    if (SERVER_BLOCK_CODES.has(code)) {
      if (st.revision === 0) throw new MalformedError(`server block packet ${code} before the handshake`);
      const tableName = r.string();
      const compressed = st.compression && !SERVER_UNCOMPRESSED_BLOCK_CODES.has(code);
      return this.startBlock(start, r.pos, { code, tableName } as ServerPacket, compressed);
    }
    r.pos = codePos;
    // Before the Hello, the server's fields are gated by the client's revision (TCPHandler::sendHello).
    const rev = st.revision || st.clientRevision || MIN_SUPPORTED_REVISION;
    const packet = decodeServerPacket(r, rev);
    if (packet.code === ServerCode.Hello) st.onServerHello(packet.revision);
    return this.finishAtomic(start, r.pos, code, packet);
  }

  private startBlock(
    start: number,
    headEnd: number,
    packet: ClientPacket | ServerPacket,
    compressed: boolean,
  ): FramedPacket | null {
    this.current = { code: packet.code, start, end: start, chunks: [], packet, compressed, frames: 0 };
    this.pos = headEnd;
    // Made on the first step that cannot size the block at once (sizeBlockNow).
    this.sizer = null;
    this.tailStart = 0;
    this.tailLen = 0;
    this.decompressedTotal = 0;
    this.phase = compressed ? 'frames' : 'block';
    return this.phase === 'frames' ? this.stepFrames() : this.stepBlock();
  }

  /** Uncompressed block: run the sizer over the raw stream. */
  private stepBlock(): FramedPacket | null {
    const r = this.input.r;
    r.reset(this.buf, this.pos, this.buf.length);
    r.wantedEnd = 0;
    const summary = this.sizeStep(r);
    this.pos = r.pos;
    const size = this.bufStart + this.pos - this.packetStart;
    if (size > this.limits.maxBlockBytes) throw new LimitError('maxBlockBytes', size, this.limits.maxBlockBytes);
    if (summary === null) {
      // The sizer consumes partial runs, so the next chunk is always useful.
      this.waitUntil = this.bufStart + this.buf.length + 1;
      return null;
    }
    return this.finishBlock(summary);
  }

  /** Compressed block: whole frames from the raw stream, decompressed and fed to the sizer. */
  private stepFrames(): FramedPacket | null {
    for (;;) {
      const header = readFrameHeader(this.buf, this.pos, this.buf.length, this.limits);
      if (header === null) {
        this.waitUntil = this.bufStart + this.pos + FRAME_HEADER_BYTES;
        return null;
      }
      if (this.pos + header.frameBytes > this.buf.length) {
        this.waitUntil = this.bufStart + this.pos + header.frameBytes;
        return null;
      }
      // Decompress into the scratch buffer right after the bytes the sizer left unconsumed
      // (moved to its front): no allocation per frame, and the sizer sees one contiguous run.
      if (this.decompressedTotal + header.decompressedBytes > this.limits.maxBlockBytes) {
        throw new LimitError('maxBlockBytes', this.decompressedTotal + header.decompressedBytes, this.limits.maxBlockBytes);
      }
      // Offsets, not views: no object per frame on this path (it runs for every compressed block).
      const tailLen = this.tailLen;
      const needed = tailLen + header.decompressedBytes;
      if (this.scratch.length < needed) {
        const grown = takeScratch(Math.max(needed, this.scratch.length * 2, SCRATCH_KEEP_IDLE_BYTES));
        if (tailLen > 0) this.scratch.copy(grown, 0, this.tailStart, this.tailStart + tailLen);
        this.scratch = grown;
      } else if (tailLen > 0 && this.tailStart !== 0) {
        this.scratch.copyWithin(0, this.tailStart, this.tailStart + tailLen);
        this.stats.copiedBytes += tailLen;
      }
      this.tailStart = 0;
      decompressFrameInto(this.buf, this.pos, header, this.verifyChecksums, this.scratch, tailLen);
      this.pos += header.frameBytes;
      this.current!.frames!++;
      this.decompressedTotal += header.decompressedBytes;
      const r = this.input.r;
      r.reset(this.scratch, 0, needed);
      const summary = this.sizeStep(r);
      if (summary !== null) {
        // A block is flushed at its end (CompressedWriteBuffer::next in NativeWriter's caller), so
        // no frame holds bytes of two packets ([captured] cli_lz4_large_select).
        if (r.pos !== needed) throw new MalformedError('compressed frame holds bytes past the end of its block');
        this.tailLen = 0;
        return this.finishBlock(summary);
      }
      this.tailStart = r.pos;
      this.tailLen = needed - r.pos;
      if (this.bufStart + this.pos >= this.received) {
        this.waitUntil = this.received + 1;
        return null;
      }
    }
  }

  /**
   * Sizes what `r` holds of the current block: the one-pass sizer while it can, else the resumable one. The block's
   * summary once it has ended, null while more bytes are needed.
   */
  private sizeStep(r: Reader): BlockSummary | null {
    const now = this.sizeNow(r);
    if (now !== null) return now;
    const res = this.sizer!.next();
    return res.done ? (res.value as BlockSummary) : null;
  }

  /**
   * The block sized in one pass when it is small and whole at hand (sizeBlockNow), else null with the resumable sizer
   * made (once per block). Only before the sizer exists, and over at most SIZE_NOW_MAX_BYTES of it: a block that turns
   * out to continue past the bytes at hand is sized again from its start by the sizer, so the wasted pass stays small.
   */
  private sizeNow(r: Reader): BlockSummary | null {
    if (this.sizer !== null) return null;
    const end = r.end;
    r.end = Math.min(end, r.pos + SIZE_NOW_MAX_BYTES);
    const now = sizeBlockNow(r, this.state.revision, this.limits);
    r.end = end;
    r.wantedEnd = 0;
    if (now !== null) return now;
    this.sizer = sizeBlock(this.input, this.state.revision, this.limits);
    return null;
  }

  private finishBlock(summary: BlockSummary): FramedPacket {
    // Keep a scratch buffer of usual frame size; give back one grown by an unusually large frame.
    if (this.scratch.length > 8 << 20) this.scratch = Buffer.alloc(0);
    const p = this.current!;
    // The client's empty Data block ends its external tables or its INSERT data (native-protocol.md §9).
    if (this.direction === 'client' && summary.rows === 0) this.exchangeEnded = true;
    p.block = summary;
    p.end = this.bufStart + this.pos;
    p.chunks = this.queue.take(p.start, p.end);
    this.current = null;
    this.sizer = null;
    this.phase = 'packet';
    this.packetStart = p.end;
    this.waitUntil = 0;
    return p;
  }

  private finishAtomic(start: number, endInBuf: number, code: number, packet: FramedPacket['packet']): FramedPacket {
    this.pos = endInBuf;
    const end = this.bufStart + endInBuf;
    this.packetStart = end;
    this.waitUntil = 0;
    if (this.direction === 'server' && (code === ServerCode.EndOfStream || code === ServerCode.Exception)) this.exchangeEnded = true;
    return { code, start, end, chunks: this.queue.take(start, end), packet };
  }
}
