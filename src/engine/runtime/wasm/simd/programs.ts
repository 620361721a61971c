// The SIMD kernels, written with the assembler in wasm-asm.ts. All pointers and
// sizes are byte offsets/counts into the tfjs heap; all "per channel" kernels
// work on x seen as [rows, C] with C a multiple of 4 (rowBytes = 4·C) and keep
// per-channel partial sums in f32 for blocks of BLOCK_ROWS rows only, then add
// them into float64 accumulators (f32 sums over 10⁵ rows would lose digits).
import { FMIX } from '../../../../shared/random';
import { INDEX_MULTIPLIER } from '../../dropout-mask';
import { block, br, brIf, forLoop, f32, i32, loop, op, v128, type Code, type FnDef } from './wasm-asm';

const BLOCK_ROWS = 64;
const { get, set, tee } = op;

export const addr = (base: number, off: number): Code => [...get(base), ...get(off), ...op.i32add];
export const splat0 = (local: number): Code => [...op.f32c(0), ...op.f32x4splat, ...set(local)];

/** s[g/4 .. g/4+3] (float64) += the four f32 lanes of `acc`; `g` is a byte offset into a row. */
export function flushF64(acc: number, base: number, g: number): Code {
  const a = (): Code => [...get(base), ...get(g), ...op.i32c(1), ...op.i32shl, ...op.i32add];
  return [
    ...a(), ...a(), ...op.v128load(0), ...get(acc), ...op.f64x2promoteLow, ...op.f64x2add, ...op.v128store(0),
    ...a(), ...a(), ...op.v128load(16), ...get(acc), ...get(acc), ...op.highHalfToLow, ...op.f64x2promoteLow,
    ...op.f64x2add, ...op.v128store(16),
  ];
}

/** min(rb + BLOCK_ROWS, rows) into `out`. */
function blockEnd(rb: number, rows: number, out: number): Code {
  const next = (): Code => [...get(rb), ...op.i32c(BLOCK_ROWS), ...op.i32add];
  return [...next(), ...get(rows), ...next(), ...get(rows), ...op.i32ltS, ...op.select, ...set(out)];
}

/**
 * Blocked column loop: for each block of rows and each 4-channel group g,
 * `init` runs, then `step` for every row (local `q` = byte offset of the
 * element from the start of the tensor), then `flush`.
 */
export function columnBlocks(
  L: { rows: number; rowBytes: number; rb: number; rEnd: number; g: number; q: number; qEnd: number },
  init: Code, step: Code, flush: Code,
): Code {
  return forLoop(L.rb, op.i32c(0), L.rows, BLOCK_ROWS,
    blockEnd(L.rb, L.rows, L.rEnd),
    forLoop(L.g, op.i32c(0), L.rowBytes, 16,
      init,
      get(L.rb), get(L.rowBytes), op.i32mul, get(L.g), op.i32add, set(L.q),
      get(L.rEnd), get(L.rowBytes), op.i32mul, get(L.g), op.i32add, set(L.qEnd),
      block(loop(
        get(L.q), get(L.qEnd), op.i32geS, brIf(1),
        step,
        get(L.q), get(L.rowBytes), op.i32add, set(L.q),
        br(0),
      )),
      flush,
    ));
}

/** reluGrad(out, dy, x, bytes): out = x > 0 ? dy : 0 (bytes a multiple of 16). */
export const reluGrad: FnDef = {
  name: 'reluGrad',
  params: [i32, i32, i32, i32],
  locals: [i32, v128],
  body: [
    ...splat0(5),
    ...forLoop(4, op.i32c(0), 3, 16,
      addr(0, 4),
      addr(1, 4), op.v128load(), addr(2, 4), op.v128load(), get(5), op.f32x4gt, op.v128and,
      op.v128store()),
  ],
};

/**
 * dropoutMask(out, bytes, offset, threshold, scale): unit i of out (f32) = scale when
 * fmix32(i·INDEX_MULTIPLIER + offset) ≥ threshold (unsigned), else 0; murmur3's finaliser on four lanes
 * at a time, the same arithmetic as dropout-mask.ts (bytes a multiple of 16).
 */
const dropoutMask: FnDef = (() => {
  const [out, bytes, offset, threshold, scale] = [0, 1, 2, 3, 4];
  const [p, idx, h, mul, four] = [5, 6, 7, 8, 9];
  const splatI = (v: number): Code => [...op.i32c(v | 0), ...op.i32x4splat];
  const xorShift = (k: number): Code => [...get(h), ...get(h), ...op.i32c(k), ...op.i32x4shrU, ...op.v128xor, ...set(h)];
  const mulBy = (c: number): Code => [...get(h), ...splatI(c), ...op.i32x4mul, ...set(h)];
  return {
    name: 'dropoutMask',
    params: [i32, i32, i32, i32, f32],
    locals: [i32, v128, v128, v128, v128],
    body: [
      ...op.i32x4const(0, 1, 2, 3), ...set(idx),
      ...splatI(INDEX_MULTIPLIER), ...set(mul),
      ...splatI(4), ...set(four),
      ...forLoop(p, op.i32c(0), bytes, 16,
        get(idx), get(mul), op.i32x4mul, get(offset), op.i32x4splat, op.i32x4add, set(h),
        xorShift(16), mulBy(FMIX[0]), xorShift(13), mulBy(FMIX[1]), xorShift(16),
        addr(out, p),
        get(h), get(threshold), op.i32x4splat, op.i32x4geU, get(scale), op.f32x4splat, op.v128and,
        op.v128store(),
        get(idx), get(four), op.i32x4add, set(idx)),
    ],
  };
})();

/** colSum(x, rows, rowBytes, s1): s1[c] (f64) += Σ_r x[r, c]. */
const colSum: FnDef = (() => {
  const [x, rows, rowBytes, s1] = [0, 1, 2, 3];
  const L = { rows, rowBytes, rb: 4, rEnd: 5, g: 6, q: 7, qEnd: 8 };
  const acc = 9;
  return {
    name: 'colSum',
    params: [i32, i32, i32, i32],
    locals: [i32, i32, i32, i32, i32, v128],
    body: columnBlocks(L,
      splat0(acc),
      [...addr(x, L.q), ...op.v128load(), ...get(acc), ...op.f32x4add, ...set(acc)],
      flushF64(acc, s1, L.g)),
  };
})();

/** colStats(x, rows, rowBytes, shift, s1, s2): s1 += Σ(x − k), s2 += Σ(x − k)² per channel. */
export const colStats: FnDef = (() => {
  const [x, rows, rowBytes, shift, s1, s2] = [0, 1, 2, 3, 4, 5];
  const L = { rows, rowBytes, rb: 6, rEnd: 7, g: 8, q: 9, qEnd: 10 };
  const [a1, a2, k, d] = [11, 12, 13, 14];
  return {
    name: 'colStats',
    params: [i32, i32, i32, i32, i32, i32],
    locals: [i32, i32, i32, i32, i32, v128, v128, v128, v128],
    body: columnBlocks(L,
      [...splat0(a1), ...splat0(a2), ...addr(shift, L.g), ...op.v128load(), ...set(k)],
      [
        ...addr(x, L.q), ...op.v128load(), ...get(k), ...op.f32x4sub, ...tee(d),
        ...get(a1), ...op.f32x4add, ...set(a1),
        ...get(d), ...get(d), ...op.f32x4mul, ...get(a2), ...op.f32x4add, ...set(a2),
      ],
      [...flushF64(a1, s1, L.g), ...flushF64(a2, s2, L.g)]),
  };
})();

/** bnGradStats(dy, x, mean, rows, rowBytes, s1, s2): s1 += Σdy, s2 += Σdy·(x − mean). */
export const bnGradStats: FnDef = (() => {
  const [dy, x, mean, rows, rowBytes, s1, s2] = [0, 1, 2, 3, 4, 5, 6];
  const L = { rows, rowBytes, rb: 7, rEnd: 8, g: 9, q: 10, qEnd: 11 };
  const [a1, a2, k, d] = [12, 13, 14, 15];
  return {
    name: 'bnGradStats',
    params: [i32, i32, i32, i32, i32, i32, i32],
    locals: [i32, i32, i32, i32, i32, v128, v128, v128, v128],
    body: columnBlocks(L,
      [...splat0(a1), ...splat0(a2), ...addr(mean, L.g), ...op.v128load(), ...set(k)],
      [
        ...addr(dy, L.q), ...op.v128load(), ...tee(d), ...get(a1), ...op.f32x4add, ...set(a1),
        ...get(d), ...addr(x, L.q), ...op.v128load(), ...get(k), ...op.f32x4sub, ...op.f32x4mul,
        ...get(a2), ...op.f32x4add, ...set(a2),
      ],
      [...flushF64(a1, s1, L.g), ...flushF64(a2, s2, L.g)]),
  };
})();

/** Row loop over [rows, C]: `body` sees `off` (byte offset of the vector) and `g` (offset in the row). */
export function rowsAndGroups(rows: number, rowBytes: number, r: number, g: number, off: number, body: Code): Code {
  return forLoop(r, op.i32c(0), rows, 1,
    forLoop(g, op.i32c(0), rowBytes, 16,
      get(r), get(rowBytes), op.i32mul, get(g), op.i32add, set(off),
      body));
}

/** affine(y, x, scale, shift, rows, rowBytes): y = x·scale[c] + shift[c]. */
export const affine: FnDef = (() => {
  const [y, x, scale, shift, rows, rowBytes] = [0, 1, 2, 3, 4, 5];
  const [r, g, off] = [6, 7, 8];
  return {
    name: 'affine',
    params: [i32, i32, i32, i32, i32, i32],
    locals: [i32, i32, i32],
    body: rowsAndGroups(rows, rowBytes, r, g, off, [
      ...addr(y, off),
      ...addr(x, off), ...op.v128load(), ...addr(scale, g), ...op.v128load(), ...op.f32x4mul,
      ...addr(shift, g), ...op.v128load(), ...op.f32x4add,
      ...op.v128store(),
    ]),
  };
})();

/** bnGradApply(dx, dy, x, k1, k2, k3, rows, rowBytes): dx = dy·k1[c] + x·k2[c] + k3[c]. */
export const bnGradApply: FnDef = (() => {
  const [dx, dy, x, k1, k2, k3, rows, rowBytes] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [r, g, off] = [8, 9, 10];
  return {
    name: 'bnGradApply',
    params: [i32, i32, i32, i32, i32, i32, i32, i32],
    locals: [i32, i32, i32],
    body: rowsAndGroups(rows, rowBytes, r, g, off, [
      ...addr(dx, off),
      ...addr(dy, off), ...op.v128load(), ...addr(k1, g), ...op.v128load(), ...op.f32x4mul,
      ...addr(x, off), ...op.v128load(), ...addr(k2, g), ...op.v128load(), ...op.f32x4mul, ...op.f32x4add,
      ...addr(k3, g), ...op.v128load(), ...op.f32x4add,
      ...op.v128store(),
    ]),
  };
})();

/**
 * adamw(p, g, m, v, out, bytes, β1, β2, 1−β1, 1−β2, 1/bc1, 1/bc2, ε, lr, wd):
 * m, v updated in place; out = p − lr·((m/bc1)/(√(v/bc2)+ε) + wd·p).
 */
export const adamw: FnDef = (() => {
  const [p, g, m, v, out, n] = [0, 1, 2, 3, 4, 5];
  const consts = [6, 7, 8, 9, 10, 11, 12, 13, 14]; // f32 params
  const i = 15;
  const [B1, B2, C1, C2, I1, I2, EPS, LR, WD] = [16, 17, 18, 19, 20, 21, 22, 23, 24];
  const [gi, mi, vi, pi] = [25, 26, 27, 28];
  return {
    name: 'adamw',
    params: [i32, i32, i32, i32, i32, i32, f32, f32, f32, f32, f32, f32, f32, f32, f32],
    locals: [i32, ...new Array<number>(13).fill(v128)] as FnDef['locals'],
    body: [
      ...consts.flatMap((c, k) => [...get(c), ...op.f32x4splat, ...set(B1 + k)]),
      ...forLoop(i, op.i32c(0), n, 16,
        addr(g, i), op.v128load(), set(gi),
        get(B1), addr(m, i), op.v128load(), op.f32x4mul, get(C1), get(gi), op.f32x4mul, op.f32x4add, set(mi),
        get(B2), addr(v, i), op.v128load(), op.f32x4mul, get(C2), get(gi), get(gi), op.f32x4mul, op.f32x4mul,
        op.f32x4add, set(vi),
        addr(m, i), get(mi), op.v128store(),
        addr(v, i), get(vi), op.v128store(),
        addr(p, i), op.v128load(), set(pi),
        addr(out, i),
        get(pi),
        get(mi), get(I1), op.f32x4mul,
        get(vi), get(I2), op.f32x4mul, op.f32x4sqrt, get(EPS), op.f32x4add,
        op.f32x4div,
        get(WD), get(pi), op.f32x4mul, op.f32x4add,
        get(LR), op.f32x4mul,
        op.f32x4sub,
        op.v128store()),
    ],
  };
})();

/**
 * sgd(p, g, buf, out, bytes, lr, μ, wd, a, b): buf = μ·buf + g (in place);
 * d = a·g + b·buf (a=1, b=μ: Nesterov; a=0, b=1: plain); out = p − lr·(d + wd·p).
 */
export const sgd: FnDef = (() => {
  const [p, g, buf, out, n] = [0, 1, 2, 3, 4];
  const consts = [5, 6, 7, 8, 9];
  const i = 10;
  const [LR, MU, WD, A, B] = [11, 12, 13, 14, 15];
  const [gi, bi, pi] = [16, 17, 18];
  return {
    name: 'sgd',
    params: [i32, i32, i32, i32, i32, f32, f32, f32, f32, f32],
    locals: [i32, ...new Array<number>(8).fill(v128)] as FnDef['locals'],
    body: [
      ...consts.flatMap((c, k) => [...get(c), ...op.f32x4splat, ...set(LR + k)]),
      ...forLoop(i, op.i32c(0), n, 16,
        addr(g, i), op.v128load(), set(gi),
        get(MU), addr(buf, i), op.v128load(), op.f32x4mul, get(gi), op.f32x4add, set(bi),
        addr(buf, i), get(bi), op.v128store(),
        addr(p, i), op.v128load(), set(pi),
        addr(out, i),
        get(pi),
        get(A), get(gi), op.f32x4mul, get(B), get(bi), op.f32x4mul, op.f32x4add,
        get(WD), get(pi), op.f32x4mul, op.f32x4add,
        get(LR), op.f32x4mul,
        op.f32x4sub,
        op.v128store()),
    ],
  };
})();

/**
 * maxPoolGrad2x2(dx, x, dy, B, H, W, rowBytesC, dyH, dyW): the whole 2×2 windows, stride 2,
 * top/left padding 0 (OH = ⌊H/2⌋, OW = ⌊W/2⌋ of them; dy is [B, dyH, dyW, C], which may hold
 * one more row and column for 'same' padding: those partial windows are the caller's); dy goes
 * to the first maximum of each window in row-major order (the cpu backend's rule). Cells
 * outside every whole window are not written. rowBytesC = 4·C.
 */
export const maxPoolGrad2x2: FnDef = (() => {
  const [dx, x, dy, B, H, W, c4, dyH, dyW] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [b, oh, ow, g, OH, OW, rowB, r0, xo, dyo] = [9, 10, 11, 12, 13, 14, 15, 16, 17, 18];
  const [va, vb, vc, vd, m, ea, eb, ec, gv, t] = [19, 20, 21, 22, 23, 24, 25, 26, 27, 28];
  const at = (base: number, extra: Code): Code => [...get(base), ...get(xo), ...op.i32add, ...extra, ...op.i32add];
  const zero = op.i32c(0);
  const c4v = get(c4);
  const rowBv = get(rowB);
  const rowC4 = [...get(rowB), ...get(c4), ...op.i32add];
  return {
    name: 'maxPoolGrad2x2',
    params: [i32, i32, i32, i32, i32, i32, i32, i32, i32],
    locals: [i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, v128, v128, v128, v128, v128, v128, v128, v128, v128, v128],
    body: [
      ...get(H), ...op.i32c(1), 0x75 /* i32.shr_s */, ...set(OH),
      ...get(W), ...op.i32c(1), 0x75, ...set(OW),
      ...get(W), ...get(c4), ...op.i32mul, ...set(rowB),
      ...forLoop(b, op.i32c(0), B, 1,
        forLoop(oh, op.i32c(0), OH, 1,
          // r0: byte offset of input row 2·oh of image b; dyo: of output row oh.
          get(b), get(H), op.i32mul, get(oh), op.i32c(1), op.i32shl, op.i32add, get(rowB), op.i32mul, set(r0),
          get(b), get(dyH), op.i32mul, get(oh), op.i32add, get(dyW), op.i32mul, get(c4), op.i32mul, set(dyo),
          forLoop(ow, op.i32c(0), OW, 1,
            forLoop(g, op.i32c(0), c4, 16,
              get(r0), get(ow), op.i32c(1), op.i32shl, get(c4), op.i32mul, op.i32add, get(g), op.i32add, set(xo),
              at(x, zero), op.v128load(), set(va),
              at(x, c4v), op.v128load(), set(vb),
              at(x, rowBv), op.v128load(), set(vc),
              at(x, rowC4), op.v128load(), set(vd),
              get(va), get(vb), op.f32x4max, get(vc), get(vd), op.f32x4max, op.f32x4max, set(m),
              get(va), get(m), op.f32x4eq, set(ea),
              get(vb), get(m), op.f32x4eq, get(ea), op.v128andnot, set(eb),
              get(ea), get(eb), op.v128or, set(t),
              get(vc), get(m), op.f32x4eq, get(t), op.v128andnot, set(ec),
              get(t), get(ec), op.v128or, set(t),
              get(dy), get(dyo), op.i32add, get(ow), get(c4), op.i32mul, op.i32add, get(g), op.i32add, op.v128load(), set(gv),
              at(dx, zero), get(gv), get(ea), op.v128and, op.v128store(),
              at(dx, c4v), get(gv), get(eb), op.v128and, op.v128store(),
              at(dx, rowBv), get(gv), get(ec), op.v128and, op.v128store(),
              at(dx, rowC4), get(gv), get(t), op.v128andnot, op.v128store()))),
      ),
    ],
  };
})();

/**
 * copyRows(dst, src, n1, n2, rowBytes, dstStride1, dstStride2, srcStride1, srcStride2):
 * for i < n1, j < n2: copy rowBytes (multiple of 16) from src + i·srcStride1 +
 * j·srcStride2 to dst + i·dstStride1 + j·dstStride2. Permutes that keep the
 * innermost axis (e.g. [B, HW, C] → [HW, B, C]), strided scatters, interleaves.
 */
const copyRows: FnDef = (() => {
  const [dst, src, n1, n2, rowBytes, ds1, ds2, ss1, ss2] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [i, j, k, d, s] = [9, 10, 11, 12, 13];
  return {
    name: 'copyRows',
    params: [i32, i32, i32, i32, i32, i32, i32, i32, i32],
    locals: [i32, i32, i32, i32, i32],
    body: forLoop(i, op.i32c(0), n1, 1,
      forLoop(j, op.i32c(0), n2, 1,
        get(dst), get(i), get(ds1), op.i32mul, op.i32add, get(j), get(ds2), op.i32mul, op.i32add, set(d),
        get(src), get(i), get(ss1), op.i32mul, op.i32add, get(j), get(ss2), op.i32mul, op.i32add, set(s),
        forLoop(k, op.i32c(0), rowBytes, 16,
          get(d), get(k), op.i32add,
          get(s), get(k), op.i32add, op.v128load(),
          op.v128store()))),
  };
})();

/**
 * transposeOuterInner(dst, src, A, M, C): [A, M, C] → [C, M, A] for A, C
 * multiples of 4, with 4×4 register transposes; tiles of 16 along A so that
 * each destination cache line is written whole.
 */
const transposeOuterInner: FnDef = (() => {
  const [dst, src, A, M, C] = [0, 1, 2, 3, 4];
  const [a0, m, c, a, aEnd, s, d, rowS, colD, t] = [5, 6, 7, 8, 9, 10, 11, 12, 13, 14];
  const [r0, r1, r2, r3, t0, t1, t2, t3] = [15, 16, 17, 18, 19, 20, 21, 22];
  const at = (base: number, k: number): Code => [...get(base), ...(k === 0 ? [] : [...get(t), ...op.i32c(k), ...op.i32mul, ...op.i32add])];
  return {
    name: 'transposeOuterInner',
    params: [i32, i32, i32, i32, i32],
    locals: [i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, v128, v128, v128, v128, v128, v128, v128, v128],
    body: [
      // rowS: bytes between src rows a and a+1 (M·C·4); colD: between dst rows c and c+1 (M·A·4).
      ...get(M), ...get(C), ...op.i32mul, ...op.i32c(2), ...op.i32shl, ...set(rowS),
      ...get(M), ...get(A), ...op.i32mul, ...op.i32c(2), ...op.i32shl, ...set(colD),
      ...forLoop(a0, op.i32c(0), A, 16,
        get(a0), op.i32c(16), op.i32add, get(A), get(a0), op.i32c(16), op.i32add, get(A), op.i32ltS, op.select, set(aEnd),
        forLoop(m, op.i32c(0), M, 1,
          forLoop(c, op.i32c(0), C, 4,
            forLoop(a, get(a0), aEnd, 4,
              // s = src + ((a·M + m)·C + c)·4 ; d = dst + ((c·M + m)·A + a)·4
              get(src), get(a), get(M), op.i32mul, get(m), op.i32add, get(C), op.i32mul, get(c), op.i32add,
              op.i32c(2), op.i32shl, op.i32add, set(s),
              get(dst), get(c), get(M), op.i32mul, get(m), op.i32add, get(A), op.i32mul, get(a), op.i32add,
              op.i32c(2), op.i32shl, op.i32add, set(d),
              get(rowS), set(t),
              at(s, 0), op.v128load(), set(r0),
              at(s, 1), op.v128load(), set(r1),
              at(s, 2), op.v128load(), set(r2),
              at(s, 3), op.v128load(), set(r3),
              get(r0), get(r1), op.shuffle32(0, 4, 1, 5), set(t0),
              get(r0), get(r1), op.shuffle32(2, 6, 3, 7), set(t1),
              get(r2), get(r3), op.shuffle32(0, 4, 1, 5), set(t2),
              get(r2), get(r3), op.shuffle32(2, 6, 3, 7), set(t3),
              get(colD), set(t),
              at(d, 0), get(t0), get(t2), op.shuffle32(0, 1, 4, 5), op.v128store(),
              at(d, 1), get(t0), get(t2), op.shuffle32(2, 3, 6, 7), op.v128store(),
              at(d, 2), get(t1), get(t3), op.shuffle32(0, 1, 4, 5), op.v128store(),
              at(d, 3), get(t1), get(t3), op.shuffle32(2, 3, 6, 7), op.v128store())))),
    ],
  };
})();

/**
 * The filter gradients written as one loop over (image, output row, filter tap):
 *
 * depthwiseFilterGrad(x, dy, acc, B, H, W, C4, OH, OW, KH, KW, sh, dh, top, sw, dw, left, owRange):
 * channel multiplier 1, C4 = 4·C (multiple of 16). acc (float64 [KH, KW, C]) +=
 * Σ x[b, oh·sh + kh·dh − top, ow·sw + kw·dw − left, c] · dy[b, oh, ow, c].
 *
 * broadcastFilterGrad(x, dy, acc, B, H, W, C4, OH, OW, KH, KW, sh, dh, top, sw, dw, left, owRange, Cin):
 * an ordinary convolution with few input channels (the first layer), C4 = 4·Cout
 * (multiple of 16). acc (float64 [KH, KW, Cin, Cout]) += Σ x[b, ih, iw, ci] · dy[b, oh, ow, co]:
 * each input value is splatted across four output channels.
 *
 * owRange (i32 [KW][2]) holds the valid [owLo, owHi) for each kw. The sum over
 * one output row stays in a register, then goes to float64.
 */
function tapFilterGrad(broadcast: boolean): FnDef {
  const [x, dy, acc, B, H, W, C4, OH, OW, KH, KW, sh, dh, top, sw, dw, left, owr, Cin] =
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18];
  const nParams = broadcast ? 19 : 18;
  const I32_LOCALS = 16;
  const [b, oh, kh, kw, ih, owLo, owHi, g, xp, dp, ow, xstep, accp, ci, col, gEnd4] =
    Array.from({ length: I32_LOCALS }, (_, i) => nParams + i);
  const acc4 = [0, 1, 2, 3].map((i) => nParams + I32_LOCALS + i);
  const xv = nParams + I32_LOCALS + 4;
  // Bytes per input pixel: the channel row (depthwise) or Cin floats (broadcast).
  const xPixel: Code = broadcast ? [...get(Cin), ...op.i32c(2), ...op.i32shl] : get(C4);
  // Filter tap slot (before ×C4): kh·KW + kw, times Cin plus ci when broadcasting.
  const tap: Code = broadcast
    ? [...get(kh), ...get(KW), ...op.i32mul, ...get(kw), ...op.i32add, ...get(Cin), ...op.i32mul, ...get(ci), ...op.i32add]
    : [...get(kh), ...get(KW), ...op.i32mul, ...get(kw), ...op.i32add];
  const xLoad = (lane: number): Code =>
    broadcast ? [...get(xp), ...op.f32load(), ...op.f32x4splat] : [...get(xp), ...op.v128load(16 * lane)];
  // `lanes` groups of four channels per pass: independent sums, so the adds
  // do not wait on each other (and a broadcast input value is loaded once).
  const groups = (lanes: number, from: Code, end: number): Code => forLoop(g, from, end, 16 * lanes,
    ...acc4.slice(0, lanes).map((a) => splat0(a)),
    // xp = x + ((b·H + ih)·W + owLo·sw + kw·dw − left)·pixel + (g or ci·4)
    get(col), xPixel, op.i32mul, get(x), op.i32add,
    broadcast ? [...get(ci), ...op.i32c(2), ...op.i32shl] : get(g), op.i32add, set(xp),
    // dp = dy + ((b·OH + oh)·OW + owLo)·C4 + g
    get(dy), get(b), get(OH), op.i32mul, get(oh), op.i32add, get(OW), op.i32mul, get(owLo), op.i32add,
    get(C4), op.i32mul, op.i32add, get(g), op.i32add, set(dp),
    forLoop(ow, get(owLo), owHi, 1,
      broadcast ? [...xLoad(0), ...set(xv)] : [],
      ...acc4.slice(0, lanes).map((a, l): Code => [
        ...(broadcast ? get(xv) : xLoad(l)),
        ...get(dp), ...op.v128load(16 * l), ...op.f32x4mul, ...get(a), ...op.f32x4add, ...set(a)]),
      get(xp), get(xstep), op.i32add, set(xp),
      get(dp), get(C4), op.i32add, set(dp)),
    // float64 slots: acc + (tap·C4 + g + 16·lane)·2
    tap, get(C4), op.i32mul, get(g), op.i32add, set(accp),
    ...acc4.slice(0, lanes).map((a, l): Code => [
      ...(l === 0 ? [] : [...get(accp), ...op.i32c(16), ...op.i32add, ...set(accp)]),
      ...flushF64(a, acc, accp)]));
  // Passes of four groups while they fit, then single groups: g carries over.
  const perRow = (): Code => [
    ...groups(4, op.i32c(0), gEnd4),
    ...groups(1, get(g), C4),
  ];
  return {
    name: broadcast ? 'broadcastFilterGrad' : 'depthwiseFilterGrad',
    params: new Array<number>(nParams).fill(i32) as FnDef['params'],
    locals: [...new Array<number>(I32_LOCALS).fill(i32), v128, v128, v128, v128, v128] as FnDef['locals'],
    body: [
      ...get(sw), ...xPixel, ...op.i32mul, ...set(xstep),
      ...get(C4), ...op.i32c(48), ...op.i32sub, ...set(gEnd4), // passes of four groups start below C4 − 48
      ...forLoop(b, op.i32c(0), B, 1,
        forLoop(oh, op.i32c(0), OH, 1,
          forLoop(kh, op.i32c(0), KH, 1,
            get(oh), get(sh), op.i32mul, get(kh), get(dh), op.i32mul, op.i32add, get(top), op.i32sub, set(ih),
            block(
              get(ih), op.i32c(0), op.i32ltS, get(ih), get(H), op.i32geS, op.i32or, brIf(0),
              forLoop(kw, op.i32c(0), KW, 1,
                get(owr), get(kw), op.i32c(3), op.i32shl, op.i32add, op.i32load(0), set(owLo),
                get(owr), get(kw), op.i32c(3), op.i32shl, op.i32add, op.i32load(4), set(owHi),
                // col = (b·H + ih)·W + owLo·sw + kw·dw − left: the first input pixel of the row
                get(b), get(H), op.i32mul, get(ih), op.i32add, get(W), op.i32mul,
                get(owLo), get(sw), op.i32mul, op.i32add, get(kw), get(dw), op.i32mul, op.i32add, get(left), op.i32sub,
                set(col),
                broadcast ? forLoop(ci, op.i32c(0), Cin, 1, perRow()) : perRow()))))),
    ],
  };
}

export const depthwiseFilterGrad = tapFilterGrad(false);
export const broadcastFilterGrad = tapFilterGrad(true);

// The calling thread's module (simdFor): the passes that are not split between threads. The
// training passes and the filter gradients run on the pool's module (conv-programs.ts).
export const PROGRAMS: FnDef[] = [dropoutMask, colSum, copyRows, transposeOuterInner];
