/**
 * CityHash128 version 1.0.2, the checksum of ClickHouse compressed frames (ClickHouse
 * contrib/cityhash102/src/city.cc, namespace CityHash_v1_0_2; checked in
 * src/Compression/CompressedReadBufferBase.cpp). Later CityHash releases (1.0.3, 1.1) changed the
 * algorithm under the same names, so a generic "CityHash128" library gives different checksums
 * (native-protocol.md §11.3 lists the differences).
 *
 * Speed matters (every frame is hashed), and BigInt is ~50x too slow, so every 64-bit value is a
 * pair of uint32 halves (`xh`, `xl`) and helpers return their result through the module-level
 * registers `RH`/`RL`. The 128-byte main loop is written out by hand with locals only. Input words
 * are read little-endian, as city.cc does on x86 (UNALIGNED_LOAD64 + uint64_in_expected_order).
 */

// k0..k3 and kMul of city.cc v1.0.2, as (high, low) uint32 halves.
const K0H = 0xc3a5c85c, K0L = 0x97cb3127;
const K1H = 0xb492b66f, K1L = 0xbe98f273;
const K2H = 0x9ae16a3b, K2L = 0x2f90404f;
const K3H = 0xc949d7c7, K3L = 0x509e6557;
const KMH = 0x9ddfea08, KML = 0xeb382d69;

const TWO_32 = 4294967296;
// 16-bit halves of the low word of k1, for the inlined multiply.
const K1L0 = K1L & 0xffff, K1L1 = K1L >>> 16;

// Result registers of the helpers below (high and low half of a 64-bit value).
let RH = 0;
let RL = 0;
// The 128-bit result of the last hash: first = low 64 bits, second = high 64 bits.
let OUT_LO_H = 0, OUT_LO_L = 0, OUT_HI_H = 0, OUT_HI_L = 0;

/** Little-endian uint32 at p. */
function f32(d: Uint8Array, p: number): number {
  return (d[p] | (d[p + 1] << 8) | (d[p + 2] << 16) | (d[p + 3] << 24)) >>> 0;
}

/** (ah:al) * (bh:bl) mod 2^64 into RH:RL. All inputs are uint32. */
function mul(ah: number, al: number, bh: number, bl: number): void {
  // High 32 bits of al*bl without losing precision: split bl into 16-bit halves (each partial product < 2^48).
  const carry = Math.floor((al * (bl >>> 16) + Math.floor((al * (bl & 0xffff)) / 65536)) / 65536);
  RL = Math.imul(al, bl) >>> 0;
  RH = (carry + Math.imul(ah, bl) + Math.imul(al, bh)) >>> 0;
}

/** (ah:al) + (bh:bl) mod 2^64 into RH:RL. */
function add(ah: number, al: number, bh: number, bl: number): void {
  const s = al + bl;
  RL = s >>> 0;
  RH = (ah + bh + (s >= TWO_32 ? 1 : 0)) >>> 0;
}

/** Rotate right by s (1..63) into RH:RL (city.cc Rotate / RotateByAtLeast1). */
function rot(h: number, l: number, s: number): void {
  if (s < 32) {
    RL = ((l >>> s) | (h << (32 - s))) >>> 0;
    RH = ((h >>> s) | (l << (32 - s))) >>> 0;
  } else if (s === 32) {
    RL = h;
    RH = l;
  } else {
    const t = s - 32;
    RL = ((h >>> t) | (l << (32 - t))) >>> 0;
    RH = ((l >>> t) | (h << (32 - t))) >>> 0;
  }
}

/** Hash128to64 / HashLen16(u, v) into RH:RL (city.h, kMul = 0x9ddfea08eb382d69). */
function hashLen16(uh: number, ul: number, vh: number, vl: number): void {
  mul((uh ^ vh) >>> 0, (ul ^ vl) >>> 0, KMH, KML);
  const ah = RH;
  const al = (RL ^ (RH >>> 15)) >>> 0; // a ^= a >> 47
  mul((vh ^ ah) >>> 0, (vl ^ al) >>> 0, KMH, KML);
  mul(RH, (RL ^ (RH >>> 15)) >>> 0, KMH, KML);
}

/** HashLen0to16 of v1.0.2 into RH:RL. */
function hashLen0to16(d: Uint8Array, s: number, len: number): void {
  if (len > 8) {
    const ah = f32(d, s + 4), al = f32(d, s);
    const bh = f32(d, s + len - 4), bl = f32(d, s + len - 8);
    add(bh, bl, 0, len);
    rot(RH, RL, len);
    hashLen16(ah, al, RH, RL);
    RH = (RH ^ bh) >>> 0;
    RL = (RL ^ bl) >>> 0;
    return;
  }
  if (len >= 4) {
    const a = f32(d, s);
    // len + (a << 3) as a 64-bit value
    const sl = (a << 3) >>> 0;
    add(a >>> 29, sl, 0, len);
    hashLen16(RH, RL, 0, f32(d, s + len - 4));
    return;
  }
  if (len > 0) {
    const y = d[s] + (d[s + (len >>> 1)] << 8);
    const z = len + (d[s + len - 1] << 2);
    mul(0, y, K2H, K2L);
    const yh = RH, yl = RL;
    mul(0, z, K3H, K3L);
    const xh = (yh ^ RH) >>> 0;
    const xl = (yl ^ RL) >>> 0;
    mul(xh, (xl ^ (xh >>> 15)) >>> 0, K2H, K2L);
    return;
  }
  RH = K2H;
  RL = K2L;
}

/** CityMurmur of v1.0.2 (inputs shorter than 128 bytes) into OUT_*. */
function cityMurmur(d: Uint8Array, s: number, len: number, ah: number, al: number, bh: number, bl: number): void {
  let ch: number, cl: number, dh: number, dl: number;
  if (len <= 16) {
    mul(ah, al, K1H, K1L);
    mul(RH, (RL ^ (RH >>> 15)) >>> 0, K1H, K1L); // a = ShiftMix(a * k1) * k1
    ah = RH;
    al = RL;
    hashLen0to16(d, s, len);
    const th = RH, tl = RL;
    mul(bh, bl, K1H, K1L);
    add(RH, RL, th, tl); // c = b * k1 + HashLen0to16(s, len)
    ch = RH;
    cl = RL;
    if (len >= 8) add(ah, al, f32(d, s + 4), f32(d, s));
    else add(ah, al, ch, cl);
    dh = RH;
    dl = (RL ^ (RH >>> 15)) >>> 0;
  } else {
    add(f32(d, s + len - 4), f32(d, s + len - 8), K1H, K1L);
    hashLen16(RH, RL, ah, al);
    ch = RH;
    cl = RL;
    add(ch, cl, f32(d, s + len - 12), f32(d, s + len - 16));
    const th = RH, tl = RL;
    add(bh, bl, 0, len);
    hashLen16(RH, RL, th, tl);
    dh = RH;
    dl = RL;
    add(ah, al, dh, dl);
    ah = RH;
    al = RL;
    let l = len - 16;
    do {
      mul(f32(d, s + 4), f32(d, s), K1H, K1L);
      mul(RH, (RL ^ (RH >>> 15)) >>> 0, K1H, K1L);
      mul((ah ^ RH) >>> 0, (al ^ RL) >>> 0, K1H, K1L);
      ah = RH;
      al = RL;
      bh = (bh ^ ah) >>> 0;
      bl = (bl ^ al) >>> 0;
      mul(f32(d, s + 12), f32(d, s + 8), K1H, K1L);
      mul(RH, (RL ^ (RH >>> 15)) >>> 0, K1H, K1L);
      mul((ch ^ RH) >>> 0, (cl ^ RL) >>> 0, K1H, K1L);
      ch = RH;
      cl = RL;
      dh = (dh ^ ch) >>> 0;
      dl = (dl ^ cl) >>> 0;
      s += 16;
      l -= 16;
    } while (l > 0);
  }
  hashLen16(ah, al, ch, cl);
  ah = RH;
  al = RL;
  hashLen16(dh, dl, bh, bl);
  bh = RH;
  bl = RL;
  OUT_LO_H = (ah ^ bh) >>> 0;
  OUT_LO_L = (al ^ bl) >>> 0;
  hashLen16(bh, bl, ah, al);
  OUT_HI_H = RH;
  OUT_HI_L = RL;
}

/** CityHash128WithSeed of v1.0.2 over d[s, s+len) into OUT_*. */
function cityHash128WithSeed(d: Uint8Array, s: number, len: number, xh: number, xl: number, yh: number, yl: number): void {
  if (len < 128) {
    cityMurmur(d, s, len, xh, xl, yh, yl);
    return;
  }
  const end = s + len;
  // z = len * k1
  mul(0, len, K1H, K1L);
  let zh = RH, zl = RL;
  // v.first = Rotate(y ^ k1, 49) * k1 + Fetch64(s)
  rot((yh ^ K1H) >>> 0, (yl ^ K1L) >>> 0, 49);
  mul(RH, RL, K1H, K1L);
  add(RH, RL, f32(d, s + 4), f32(d, s));
  let v1h = RH, v1l = RL;
  // v.second = Rotate(v.first, 42) * k1 + Fetch64(s + 8)
  rot(v1h, v1l, 42);
  mul(RH, RL, K1H, K1L);
  add(RH, RL, f32(d, s + 12), f32(d, s + 8));
  let v2h = RH, v2l = RL;
  // w.first = Rotate(y + z, 35) * k1 + x
  add(yh, yl, zh, zl);
  rot(RH, RL, 35);
  mul(RH, RL, K1H, K1L);
  add(RH, RL, xh, xl);
  let w1h = RH, w1l = RL;
  // w.second = Rotate(x + Fetch64(s + 88), 53) * k1
  add(xh, xl, f32(d, s + 92), f32(d, s + 88));
  rot(RH, RL, 53);
  mul(RH, RL, K1H, K1L);
  let w2h = RH, w2l = RL;

  // The main loop, 64 bytes per iteration (city.cc unrolls it twice per 128 bytes; same thing).
  // Inlined by hand and kept in signed int32 (`| 0`) so that V8 stays in 32-bit registers:
  // additions carry through an unsigned compare, rotations swap halves, and the multiply by k1
  // takes the high half of the 32x32 product from 16-bit partial products.
  const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
  let o = s;
  let n = len;
  let half = 0;
  xh |= 0; xl |= 0; yh |= 0; yl |= 0; zh |= 0; zl |= 0;
  v1h |= 0; v1l |= 0; v2h |= 0; v2l |= 0; w1h |= 0; w1l |= 0; w2h |= 0; w2l |= 0;
  let t = 0, u = 0, hh = 0, hl = 0, th = 0, tl = 0, a0 = 0, a1 = 0, p00 = 0, p01 = 0, p10 = 0, mid = 0;
  let ah = 0, al = 0, bh = 0, bl = 0, ch = 0, cl = 0, sah = 0, sal = 0, sbh = 0, sbl = 0;
  let wh = 0, wl = 0, x1h = 0, x1l = 0, x2h = 0, x2l = 0, x3h = 0, x3l = 0;
  for (;;) {
    // x = Rotate(x + y + v.first + Fetch64(s + 16), 37) * k1
    t = ((xl) + (yl)) | 0; hh = ((xh) + (yh) + ((t >>> 0) < ((xl) >>> 0) ? 1 : 0)) | 0; hl = t;
    t = ((hl) + (v1l)) | 0; hh = ((hh) + (v1h) + ((t >>> 0) < ((hl) >>> 0) ? 1 : 0)) | 0; hl = t;
    tl = dv.getInt32(o + 16, true); th = dv.getInt32(o + 20, true);
    t = ((hl) + (tl)) | 0; hh = ((hh) + (th) + ((t >>> 0) < ((hl) >>> 0) ? 1 : 0)) | 0; hl = t;
    u = (hh >>> 5) | (hl << 27); hh = (hl >>> 5) | (hh << 27); hl = u;
    a0 = hl & 0xffff; a1 = hl >>> 16;
    p00 = Math.imul(a0, K1L0); p01 = Math.imul(a0, K1L1); p10 = Math.imul(a1, K1L0);
    mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
    xh = (Math.imul(a1, K1L1) + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16) + Math.imul(hh, K1L) + Math.imul(hl, K1H)) | 0;
    xl = Math.imul(hl, K1L);
    // y = Rotate(y + v.second + Fetch64(s + 48), 42) * k1
    t = ((yl) + (v2l)) | 0; hh = ((yh) + (v2h) + ((t >>> 0) < ((yl) >>> 0) ? 1 : 0)) | 0; hl = t;
    tl = dv.getInt32(o + 48, true); th = dv.getInt32(o + 52, true);
    t = ((hl) + (tl)) | 0; hh = ((hh) + (th) + ((t >>> 0) < ((hl) >>> 0) ? 1 : 0)) | 0; hl = t;
    u = (hh >>> 10) | (hl << 22); hh = (hl >>> 10) | (hh << 22); hl = u;
    a0 = hl & 0xffff; a1 = hl >>> 16;
    p00 = Math.imul(a0, K1L0); p01 = Math.imul(a0, K1L1); p10 = Math.imul(a1, K1L0);
    mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
    yh = (Math.imul(a1, K1L1) + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16) + Math.imul(hh, K1L) + Math.imul(hl, K1H)) | 0;
    yl = Math.imul(hl, K1L);
    // x ^= w.second; y ^= v.first; z = Rotate(z ^ w.first, 33)
    xh ^= w2h; xl ^= w2l; yh ^= v1h; yl ^= v1l;
    th = zh ^ w1h; tl = zl ^ w1l;
    u = (th >>> 1) | (tl << 31); zh = (tl >>> 1) | (th << 31); zl = u;
    // v = WeakHashLen32WithSeeds(s, v.second * k1, x + w.first)
    a0 = v2l & 0xffff; a1 = v2l >>> 16;
    p00 = Math.imul(a0, K1L0); p01 = Math.imul(a0, K1L1); p10 = Math.imul(a1, K1L0);
    mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
    sah = (Math.imul(a1, K1L1) + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16) + Math.imul(v2h, K1L) + Math.imul(v2l, K1H)) | 0;
    sal = Math.imul(v2l, K1L);
    t = ((xl) + (w1l)) | 0; sbh = ((xh) + (w1h) + ((t >>> 0) < ((xl) >>> 0) ? 1 : 0)) | 0; sbl = t;
    wl = dv.getInt32(o + 0, true); wh = dv.getInt32(o + 4, true);
    x1l = dv.getInt32(o + 8, true); x1h = dv.getInt32(o + 12, true);
    x2l = dv.getInt32(o + 16, true); x2h = dv.getInt32(o + 20, true);
    x3l = dv.getInt32(o + 24, true); x3h = dv.getInt32(o + 28, true);
    t = ((sal) + (wl)) | 0; ah = ((sah) + (wh) + ((t >>> 0) < ((sal) >>> 0) ? 1 : 0)) | 0; al = t;
    t = ((sbl) + (al)) | 0; hh = ((sbh) + (ah) + ((t >>> 0) < ((sbl) >>> 0) ? 1 : 0)) | 0; hl = t;
    t = ((hl) + (x3l)) | 0; hh = ((hh) + (x3h) + ((t >>> 0) < ((hl) >>> 0) ? 1 : 0)) | 0; hl = t;
    u = (hl >>> 21) | (hh << 11); bh = (hh >>> 21) | (hl << 11); bl = u;
    ch = ah; cl = al;
    t = ((al) + (x1l)) | 0; ah = ((ah) + (x1h) + ((t >>> 0) < ((al) >>> 0) ? 1 : 0)) | 0; al = t;
    t = ((al) + (x2l)) | 0; ah = ((ah) + (x2h) + ((t >>> 0) < ((al) >>> 0) ? 1 : 0)) | 0; al = t;
    u = (ah >>> 12) | (al << 20); hh = (al >>> 12) | (ah << 20); hl = u;
    t = ((bl) + (hl)) | 0; bh = ((bh) + (hh) + ((t >>> 0) < ((bl) >>> 0) ? 1 : 0)) | 0; bl = t;
    t = ((al) + (x3l)) | 0; v1h = ((ah) + (x3h) + ((t >>> 0) < ((al) >>> 0) ? 1 : 0)) | 0; v1l = t;
    t = ((bl) + (cl)) | 0; v2h = ((bh) + (ch) + ((t >>> 0) < ((bl) >>> 0) ? 1 : 0)) | 0; v2l = t;
    // w = WeakHashLen32WithSeeds(s + 32, z + w.second, y)
    t = ((zl) + (w2l)) | 0; sah = ((zh) + (w2h) + ((t >>> 0) < ((zl) >>> 0) ? 1 : 0)) | 0; sal = t;
    wl = dv.getInt32(o + 32, true); wh = dv.getInt32(o + 36, true);
    x1l = dv.getInt32(o + 40, true); x1h = dv.getInt32(o + 44, true);
    x2l = dv.getInt32(o + 48, true); x2h = dv.getInt32(o + 52, true);
    x3l = dv.getInt32(o + 56, true); x3h = dv.getInt32(o + 60, true);
    t = ((sal) + (wl)) | 0; ah = ((sah) + (wh) + ((t >>> 0) < ((sal) >>> 0) ? 1 : 0)) | 0; al = t;
    t = ((yl) + (al)) | 0; hh = ((yh) + (ah) + ((t >>> 0) < ((yl) >>> 0) ? 1 : 0)) | 0; hl = t;
    t = ((hl) + (x3l)) | 0; hh = ((hh) + (x3h) + ((t >>> 0) < ((hl) >>> 0) ? 1 : 0)) | 0; hl = t;
    u = (hl >>> 21) | (hh << 11); bh = (hh >>> 21) | (hl << 11); bl = u;
    ch = ah; cl = al;
    t = ((al) + (x1l)) | 0; ah = ((ah) + (x1h) + ((t >>> 0) < ((al) >>> 0) ? 1 : 0)) | 0; al = t;
    t = ((al) + (x2l)) | 0; ah = ((ah) + (x2h) + ((t >>> 0) < ((al) >>> 0) ? 1 : 0)) | 0; al = t;
    u = (ah >>> 12) | (al << 20); hh = (al >>> 12) | (ah << 20); hl = u;
    t = ((bl) + (hl)) | 0; bh = ((bh) + (hh) + ((t >>> 0) < ((bl) >>> 0) ? 1 : 0)) | 0; bl = t;
    t = ((al) + (x3l)) | 0; w1h = ((ah) + (x3h) + ((t >>> 0) < ((al) >>> 0) ? 1 : 0)) | 0; w1l = t;
    t = ((bl) + (cl)) | 0; w2h = ((bh) + (ch) + ((t >>> 0) < ((bl) >>> 0) ? 1 : 0)) | 0; w2l = t;
    // swap(z, x)
    t = zh; zh = xh; xh = t; t = zl; zl = xl; xl = t;

    o += 64;
    // city.cc checks the remaining length only after each pair of 64-byte half-rounds
    half ^= 1;
    if (half === 0) {
      n -= 128;
      if (n < 128) break;
    }
  }
  xh >>>= 0; xl >>>= 0; yh >>>= 0; yl >>>= 0; zh >>>= 0; zl >>>= 0;
  v1h >>>= 0; v1l >>>= 0; v2h >>>= 0; v2l >>>= 0; w1h >>>= 0; w1l >>>= 0; w2h >>>= 0; w2l >>>= 0;

  // y += Rotate(w.first, 37) * k0 + z
  rot(w1h, w1l, 37);
  mul(RH, RL, K0H, K0L);
  add(RH, RL, zh, zl);
  add(yh, yl, RH, RL);
  yh = RH; yl = RL;
  // x += Rotate(v.first + z, 49) * k0
  add(v1h, v1l, zh, zl);
  rot(RH, RL, 49);
  mul(RH, RL, K0H, K0L);
  add(xh, xl, RH, RL);
  xh = RH; xl = RL;

  // Up to 4 chunks of 32 bytes from the end of the input.
  for (let done = 0; done < n; ) {
    done += 32;
    // y = Rotate(y - x, 42) * k0 + v.second   (y - x = y + ~x + 1)
    add(yh, yl, ~xh >>> 0, ~xl >>> 0);
    add(RH, RL, 0, 1);
    rot(RH, RL, 42);
    mul(RH, RL, K0H, K0L);
    add(RH, RL, v2h, v2l);
    yh = RH; yl = RL;
    // w.first += Fetch64(tail + 16)
    const p = end - done;
    add(w1h, w1l, f32(d, p + 20), f32(d, p + 16));
    w1h = RH; w1l = RL;
    // x = Rotate(x, 49) * k0 + w.first
    rot(xh, xl, 49);
    mul(RH, RL, K0H, K0L);
    add(RH, RL, w1h, w1l);
    xh = RH; xl = RL;
    // w.first += v.first
    add(w1h, w1l, v1h, v1l);
    w1h = RH; w1l = RL;
    // v = WeakHashLen32WithSeeds(tail, v.first, v.second)
    weakHashLen32WithSeeds(d, p, v1h, v1l, v2h, v2l);
    v1h = OUT_LO_H; v1l = OUT_LO_L; v2h = OUT_HI_H; v2l = OUT_HI_L;
  }

  // x = HashLen16(x, v.first); y = HashLen16(y, w.first)
  hashLen16(xh, xl, v1h, v1l);
  xh = RH; xl = RL;
  hashLen16(yh, yl, w1h, w1l);
  yh = RH; yl = RL;
  // first = HashLen16(x + v.second, w.second) + y; second = HashLen16(x + w.second, y + v.second)
  add(xh, xl, v2h, v2l);
  hashLen16(RH, RL, w2h, w2l);
  add(RH, RL, yh, yl);
  const loH = RH, loL = RL;
  add(yh, yl, v2h, v2l);
  const th2 = RH, tl2 = RL;
  add(xh, xl, w2h, w2l);
  hashLen16(RH, RL, th2, tl2);
  OUT_HI_H = RH; OUT_HI_L = RL;
  OUT_LO_H = loH; OUT_LO_L = loL;
}

/** WeakHashLen32WithSeeds(s, a, b) of city.cc into OUT_LO (first) and OUT_HI (second). */
function weakHashLen32WithSeeds(d: Uint8Array, s: number, ah: number, al: number, bh: number, bl: number): void {
  // a += w
  add(ah, al, f32(d, s + 4), f32(d, s));
  ah = RH; al = RL;
  const zh = f32(d, s + 28), zl = f32(d, s + 24);
  // b = Rotate(b + a + z, 21)
  add(bh, bl, ah, al);
  add(RH, RL, zh, zl);
  rot(RH, RL, 21);
  bh = RH; bl = RL;
  const ch = ah, cl = al;
  add(ah, al, f32(d, s + 12), f32(d, s + 8));
  add(RH, RL, f32(d, s + 20), f32(d, s + 16));
  ah = RH; al = RL;
  rot(ah, al, 44);
  add(bh, bl, RH, RL);
  bh = RH; bl = RL;
  add(ah, al, zh, zl);
  OUT_LO_H = RH; OUT_LO_L = RL;
  add(bh, bl, ch, cl);
  OUT_HI_H = RH; OUT_HI_L = RL;
}

/** CityHash128 (v1.0.2) over data[start, end) into OUT_*. */
function hashRange(d: Uint8Array, start: number, end: number): void {
  const len = end - start;
  if (len >= 16) {
    cityHash128WithSeed(
      d, start + 16, len - 16,
      (f32(d, start + 4) ^ K3H) >>> 0, (f32(d, start) ^ K3L) >>> 0,
      f32(d, start + 12), f32(d, start + 8),
    );
  } else if (len >= 8) {
    // seed = (Fetch64(s) ^ (len * k0), Fetch64(s + len - 8) ^ k1), over an empty input
    mul(0, len, K0H, K0L);
    cityHash128WithSeed(
      d, start, 0,
      (f32(d, start + 4) ^ RH) >>> 0, (f32(d, start) ^ RL) >>> 0,
      (f32(d, end - 4) ^ K1H) >>> 0, (f32(d, end - 8) ^ K1L) >>> 0,
    );
  } else {
    cityHash128WithSeed(d, start, len, K0H, K0L, K1H, K1L);
  }
}

function checkRange(data: Uint8Array, start: number, end: number): void {
  if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end && end <= data.length)) {
    throw new RangeError(`cityHash128: bad range [${start}, ${end}) of ${data.length} bytes`);
  }
}

/** CityHash128 v1.0.2 of data[start, end) as two unsigned 64-bit halves (for tests and tools; not the hot path). */
export function cityHash128(data: Uint8Array, start = 0, end = data.length): { lo: bigint; hi: bigint } {
  checkRange(data, start, end);
  hashRange(data, start, end);
  return {
    lo: (BigInt(OUT_LO_H) << 32n) | BigInt(OUT_LO_L),
    hi: (BigInt(OUT_HI_H) << 32n) | BigInt(OUT_HI_L),
  };
}

/** Writes the 16 checksum bytes of data[start, end) as they appear in a frame: low 64 bits LE, then high 64 bits LE. */
export function cityHash128Into(data: Uint8Array, start: number, end: number, out: Uint8Array, outOffset: number): void {
  checkRange(data, start, end);
  hashRange(data, start, end);
  writeU32(out, outOffset, OUT_LO_L);
  writeU32(out, outOffset + 4, OUT_LO_H);
  writeU32(out, outOffset + 8, OUT_HI_L);
  writeU32(out, outOffset + 12, OUT_HI_H);
}

/** True when CityHash128 v1.0.2 of frame[start, end) equals the 16 bytes at expected[expectedOffset]. */
export function checksumMatches(
  frame: Uint8Array,
  start: number,
  end: number,
  expected: Uint8Array,
  expectedOffset: number,
): boolean {
  checkRange(frame, start, end);
  hashRange(frame, start, end);
  return (
    f32(expected, expectedOffset) === OUT_LO_L &&
    f32(expected, expectedOffset + 4) === OUT_LO_H &&
    f32(expected, expectedOffset + 8) === OUT_HI_L &&
    f32(expected, expectedOffset + 12) === OUT_HI_H
  );
}

function writeU32(out: Uint8Array, p: number, v: number): void {
  out[p] = v & 0xff;
  out[p + 1] = (v >>> 8) & 0xff;
  out[p + 2] = (v >>> 16) & 0xff;
  out[p + 3] = v >>> 24;
}
