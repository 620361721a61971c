// Element-wise passes of inference (BatchNorm with moving statistics, ReLU, ReLU6, clipping) as
// SIMD loops on the pool's threads (threads.ts), each thread a share of the rows. They are
// memory-bound: one read and one write of the tensor, at close to the memory's bandwidth, where
// tfjs-backend-wasm's FusedBatchNorm is a scalar loop on one thread (about 4 ns an element).
//
// Float arguments travel through the pool's i32 slots as their bits (f32.reinterpret_i32).
import { forLoop, i32, op, v128, type Code, type FnDef } from './wasm-asm';

const { get, set } = op;

/** The f32 whose bits are i32 parameter `p`, splatted into v128 local `v`. */
const splatBits = (p: number, v: number): Code => [...get(p), ...op.f32reinterpret, ...op.f32x4splat, ...set(v)];

/** min(max(value on the stack, lo), hi) with pmax/pmin (NaN passes through, as on the cpu backend). */
const clampTop = (lo: number, hi: number): Code => [...get(lo), ...op.f32x4pmax, ...get(hi), ...op.f32x4pmin];

/**
 * clampRange(x, y, b0, b1, loBits, hiBits): y[i] = min(max(x[i], lo), hi) for the bytes
 * b0 ≤ i < b1 (multiples of 16). In place when x = y.
 */
export const clampRange: FnDef = (() => {
  const [x, y, b0, b1, loB, hiB] = [0, 1, 2, 3, 4, 5];
  const i = 6;
  const [lo, hi] = [7, 8];
  return {
    name: 'clampRange',
    params: [i32, i32, i32, i32, i32, i32],
    locals: [i32, v128, v128],
    body: [
      ...splatBits(loB, lo), ...splatBits(hiB, hi),
      ...forLoop(i, get(b0), b1, 16,
        get(y), get(i), op.i32add,
        get(x), get(i), op.i32add, op.v128load(),
        clampTop(lo, hi),
        op.v128store()),
    ],
  };
})();

/**
 * affineClampRows(x, y, scale, shift, r0, r1, rowBytes, loBits, hiBits):
 * y[r, c] = min(max(x[r, c]·scale[c] + shift[c], lo), hi) for the rows r0 ≤ r < r1 of [rows, C],
 * rowBytes = 4·C (a multiple of 16). In place when x = y.
 */
export const affineClampRows: FnDef = (() => {
  const [x, y, scale, shift, r0, r1, rowBytes, loB, hiB] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [r, g, off] = [9, 10, 11];
  const [lo, hi] = [12, 13];
  return {
    name: 'affineClampRows',
    params: [i32, i32, i32, i32, i32, i32, i32, i32, i32],
    locals: [i32, i32, i32, v128, v128],
    body: [
      ...splatBits(loB, lo), ...splatBits(hiB, hi),
      ...forLoop(r, get(r0), r1, 1,
        forLoop(g, op.i32c(0), rowBytes, 16,
          get(r), get(rowBytes), op.i32mul, get(g), op.i32add, set(off),
          get(y), get(off), op.i32add,
          get(x), get(off), op.i32add, op.v128load(),
          get(scale), get(g), op.i32add, op.v128load(), op.f32x4mul,
          get(shift), get(g), op.i32add, op.v128load(), op.f32x4add,
          clampTop(lo, hi),
          op.v128store())),
    ],
  };
})();

export const ELEMENTWISE_PROGRAMS: FnDef[] = [clampRange, affineClampRows];
