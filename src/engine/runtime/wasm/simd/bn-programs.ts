// Training passes of a BatchNorm followed by a ReLU, fused (batchnorm.ts): the ReLU's mask is
// recomputed from the BatchNorm's input, x·scale[c] + shift[c] > 0, so the backward pass reads dy
// and x once each, as the plain BatchNorm gradient does, instead of a ReLU gradient pass first.
// Layout and conventions as in programs.ts: x seen as [rows, C], rowBytes = 4·C (a multiple of 16),
// per-channel partial sums in f32 for blocks of rows, added into float64.
import { addr, columnBlocks, flushF64, rowsAndGroups, splat0 } from './programs';
import { forLoop, i32, op, v128, type Code, type FnDef } from './wasm-asm';

const { get, set, tee } = op;

/** dy where x·scale + shift > 0, else 0; `g` is the byte offset in the row, `q` of the element. */
const maskedDy = (dy: number, x: number, scale: number, shift: number, g: number, q: number, zero: number): Code => [
  ...addr(dy, q), ...op.v128load(),
  ...addr(x, q), ...op.v128load(), ...addr(scale, g), ...op.v128load(), ...op.f32x4mul,
  ...addr(shift, g), ...op.v128load(), ...op.f32x4add, ...get(zero), ...op.f32x4gt,
  ...op.v128and,
];

/**
 * bnReluGradStats(dy, x, mean, scale, shift, rows, rowBytes, s1, s2): with d = the ReLU's
 * gradient (dy where x·scale + shift > 0), s1 += Σd, s2 += Σd·(x − mean) per channel (float64).
 */
export const bnReluGradStats: FnDef = (() => {
  const [dy, x, mean, scale, shift, rows, rowBytes, s1, s2] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const L = { rows, rowBytes, rb: 9, rEnd: 10, g: 11, q: 12, qEnd: 13 };
  const [a1, a2, k, d, zero] = [14, 15, 16, 17, 18];
  return {
    name: 'bnReluGradStats',
    params: [i32, i32, i32, i32, i32, i32, i32, i32, i32],
    locals: [i32, i32, i32, i32, i32, v128, v128, v128, v128, v128],
    body: [
      ...splat0(zero),
      ...columnBlocks(L,
        [...splat0(a1), ...splat0(a2), ...addr(mean, L.g), ...op.v128load(), ...set(k)],
        [
          ...maskedDy(dy, x, scale, shift, L.g, L.q, zero), ...tee(d), ...get(a1), ...op.f32x4add, ...set(a1),
          ...get(d), ...addr(x, L.q), ...op.v128load(), ...get(k), ...op.f32x4sub, ...op.f32x4mul,
          ...get(a2), ...op.f32x4add, ...set(a2),
        ],
        [...flushF64(a1, s1, L.g), ...flushF64(a2, s2, L.g)]),
    ],
  };
})();

/**
 * bnReluGradApply(dx, dy, x, k1, k2, k3, scale, shift, rows, rowBytes):
 * dx = d·k1[c] + x·k2[c] + k3[c], d = dy where x·scale + shift > 0, else 0.
 */
export const bnReluGradApply: FnDef = (() => {
  const [dx, dy, x, k1, k2, k3, scale, shift, rows, rowBytes] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const [r, g, off, zero] = [10, 11, 12, 13];
  return {
    name: 'bnReluGradApply',
    params: [i32, i32, i32, i32, i32, i32, i32, i32, i32, i32],
    locals: [i32, i32, i32, v128],
    body: [
      ...splat0(zero),
      ...rowsAndGroups(rows, rowBytes, r, g, off, [
        ...addr(dx, off),
        ...maskedDy(dy, x, scale, shift, g, off, zero), ...addr(k1, g), ...op.v128load(), ...op.f32x4mul,
        ...addr(x, off), ...op.v128load(), ...addr(k2, g), ...op.v128load(), ...op.f32x4mul, ...op.f32x4add,
        ...addr(k3, g), ...op.v128load(), ...op.f32x4add,
        ...op.v128store(),
      ]),
    ],
  };
})();

/** addRange(a, b, out, b0, b1): out = a + b for the bytes b0 ≤ i < b1 (multiples of 16). */
export const addRange: FnDef = (() => {
  const [a, b, out, b0, b1] = [0, 1, 2, 3, 4];
  const i = 5;
  return {
    name: 'addRange',
    params: [i32, i32, i32, i32, i32],
    locals: [i32],
    body: forLoop(i, get(b0), b1, 16,
      addr(out, i), addr(a, i), op.v128load(), addr(b, i), op.v128load(), op.f32x4add, op.v128store()),
  };
})();

/**
 * maxPool2x2(x, y, B, H, W, rowBytesC, OH, OW): y[b, oh, ow, c] = the maximum of the whole 2×2
 * window at (2·oh, 2·ow), for oh < ⌊H/2⌋, ow < ⌊W/2⌋; y is [B, OH, OW, C] and may hold one more
 * row and column ('same' padding: those partial windows are the caller's). rowBytesC = 4·C.
 */
export const maxPool2x2: FnDef = (() => {
  const [x, y, B, H, W, c4, OH, OW] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [b, oh, ow, g, wholeH, wholeW, rowB, xo, yo] = [8, 9, 10, 11, 12, 13, 14, 15, 16];
  const at = (extra: Code): Code => [...get(x), ...get(xo), ...op.i32add, ...extra, ...op.i32add];
  return {
    name: 'maxPool2x2',
    params: [i32, i32, i32, i32, i32, i32, i32, i32],
    locals: [i32, i32, i32, i32, i32, i32, i32, i32, i32],
    body: [
      ...get(H), ...op.i32c(1), 0x75 /* i32.shr_s */, ...set(wholeH),
      ...get(W), ...op.i32c(1), 0x75, ...set(wholeW),
      ...get(W), ...get(c4), ...op.i32mul, ...set(rowB),
      ...forLoop(b, op.i32c(0), B, 1,
        forLoop(oh, op.i32c(0), wholeH, 1,
          forLoop(ow, op.i32c(0), wholeW, 1,
            // xo: byte offset of input pixel (b, 2·oh, 2·ow); yo: of output pixel (b, oh, ow).
            get(b), get(H), op.i32mul, get(oh), op.i32c(1), op.i32shl, op.i32add, get(rowB), op.i32mul,
            get(ow), op.i32c(1), op.i32shl, get(c4), op.i32mul, op.i32add, set(xo),
            get(b), get(OH), op.i32mul, get(oh), op.i32add, get(OW), op.i32mul, get(ow), op.i32add, get(c4), op.i32mul,
            get(y), op.i32add, set(yo),
            forLoop(g, op.i32c(0), c4, 16,
              get(yo), get(g), op.i32add,
              at(get(g)), op.v128load(), at([...get(g), ...get(c4), ...op.i32add]), op.v128load(), op.f32x4max,
              at([...get(g), ...get(rowB), ...op.i32add]), op.v128load(),
              at([...get(g), ...get(rowB), ...op.i32add, ...get(c4), ...op.i32add]), op.v128load(), op.f32x4max,
              op.f32x4max,
              op.v128store())))),
    ],
  };
})();
