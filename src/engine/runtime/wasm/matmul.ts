// BatchMatMul for the wasm backend. The stock kernel only reaches XNNPACK when
// there is no transpose and the batch is 1; otherwise it runs a scalar loop
// (~1–2 GFLOP/s). Dense-layer gradients always transpose one side, so we
// transpose explicitly (cheap, memory-bound) and then take the fast path, per
// batch matrix when the product is batched.
//
// XNNPACK packs its "weights" operand (b) again whenever b is a new tensor,
// which in training it always is (new weights every step, new gradients):
// ~4–9 ns a weight, more than the product itself for a dense layer at batch 64
// (64×3136 · 3136×128: packing 3.8 ms, product 1.3 ms). A single product whose output
// (or transposed output) has a multiple of 8 columns therefore goes to the project's SIMD
// loop, a 1×1 convolution of M pixels whose packing is a plain copy (conv-forward.ts), when
// that has a fused multiply-add. Otherwise a single product may
// be computed transposed, outᵀ = bᵀ·aᵀ, when packing aᵀ (K·M) and the moves
// cost less than packing b (K·N): the dense layer's input gradient
// dY·Wᵀ then packs dYᵀ (K·M = 128·64) instead of Wᵀ (128·3136).
import { broadcast_util, type TensorInfo } from '@tensorflow/tfjs-core';
import { alloc, free, sizeOf, transpose, xnnMatMulInto, withShape, type BackendWasm, type KernelArgs } from './kernel-utils';
import { subTensorView, disposeView } from './views';
import { transpose2d, transpose2dNs } from './layout';
import { forwardTiles, matMulByTiles } from './conv-forward';

/** Nanoseconds per weight XNNPACK takes to pack a new "weights" operand (measured 4–9 on 2 cores). */
const PACK_NS = 6;

/** Nanoseconds per weight the project's SIMD product takes to pack its right operand (a SIMD copy or transpose). */
const TILE_PACK_NS = 0.3;

/**
 * Whether out[M, N] = a·b is cheaper as outᵀ = bᵀ·aᵀ: packing K·M instead of
 * K·N weights, at the price of the transposes the two ways need. `tiles`: for the
 * project's SIMD product, which packs either layout of its right operand by the same copy.
 */
export function multiplyTransposed(M: number, K: number, N: number, transposeA: boolean, transposeB: boolean, tiles = false): boolean {
  if (tiles) {
    // a must be [M, K] row-major (aᵀ: [N, K]); the packing reads either layout of the other.
    const direct = TILE_PACK_NS * K * N + (transposeA ? transpose2dNs(K, M) : 0);
    const swapped = TILE_PACK_NS * K * M + (transposeB ? 0 : transpose2dNs(K, N)) + transpose2dNs(N, M);
    return swapped < direct;
  }
  const direct = PACK_NS * K * N + (transposeA ? transpose2dNs(K, M) : 0) + (transposeB ? transpose2dNs(N, K) : 0);
  const swapped = PACK_NS * K * M + (transposeA ? 0 : transpose2dNs(M, K)) + (transposeB ? 0 : transpose2dNs(K, N)) + transpose2dNs(N, M);
  return swapped < direct;
}

/**
 * A single product by the project's SIMD loop (conv-forward.ts), computed directly or
 * transposed (see multiplyTransposed); null when the loop does not apply.
 */
export function matMulByTilesEitherWay(
  backend: BackendWasm,
  a: TensorInfo,
  b: TensorInfo,
  M: number,
  K: number,
  N: number,
  transposeA: boolean,
  transposeB: boolean,
  opts: { anyBuild?: boolean; maxParts?: number; swap?: boolean } = {},
): TensorInfo | null {
  const swap = opts.swap ?? multiplyTransposed(M, K, N, transposeA, transposeB, true);
  // Decided before any transpose: where the loop does not apply, XNNPACK's path makes its own.
  if (forwardTiles(backend, swap ? M : N, opts.anyBuild) === null) return null;
  if (!swap) {
    const aN = transposeA ? transpose2d(backend, a, K, M) : a;
    const out = matMulByTiles(backend, aN, b, M, K, N, transposeB, opts);
    if (aN !== a) free(backend, aN);
    return out;
  }
  // outᵀ [N, M] = bᵀ [N, K] · aᵀ, aᵀ packed from a ([M, K] is aᵀ stored transposed).
  const bT = transposeB ? b : transpose2d(backend, b, K, N);
  const outT = matMulByTiles(backend, bT, a, N, K, M, !transposeA, opts);
  if (bT !== b) free(backend, bT);
  if (outT === null) return null;
  const out = transpose2d(backend, outT, N, M);
  free(backend, outT);
  out.shape = [M, N];
  return out;
}

export function batchMatMul(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const a = args.inputs.a!;
  const b = args.inputs.b!;
  const transposeA = Boolean(args.attrs?.transposeA);
  const transposeB = Boolean(args.attrs?.transposeB);
  if (a.dtype !== 'float32' || b.dtype !== 'float32') {
    throw new Error('BatchMatMul supports float32 only on wasm');
  }
  const ra = a.shape.length;
  const rb = b.shape.length;
  const M = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const K = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const Kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
  const N = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (K !== Kb) {
    throw new Error(`Error in matMul: inner shapes (${K}) and (${Kb}) of Tensors with shapes ${a.shape} and ${b.shape} must match.`);
  }
  const batchA = sizeOf(a.shape.slice(0, -2));
  const batchB = sizeOf(b.shape.slice(0, -2));
  const outer = broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batch = Math.max(batchA, batchB);
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) {
    throw new Error(`BatchMatMul: batch dimensions ${batchA} and ${batchB} do not broadcast`);
  }

  if (batch === 1) {
    const out = matMulByTilesEitherWay(backend, a, b, M, K, N, transposeA, transposeB);
    if (out !== null) {
      out.shape = [...outer, M, N];
      return out;
    }
  }
  if (batch === 1 && multiplyTransposed(M, K, N, transposeA, transposeB)) {
    // outᵀ [N, M] = bᵀ [N, K] · aᵀ [K, M]; a stored transposed is aᵀ already, likewise b.
    const bT = transposeB ? b : transpose2d(backend, b, K, N);
    const aT = transposeA ? a : transpose2d(backend, a, M, K);
    const outT = alloc(backend, [N, M]);
    xnnMatMulInto(backend, bT, aT, N, K, M, outT);
    if (bT !== b) free(backend, bT);
    if (aT !== a) free(backend, aT);
    const out = transpose2d(backend, outT, N, M);
    free(backend, outT);
    out.shape = [...outer, M, N];
    return out;
  }

  // Bring both operands to [batch, M, K] and [batch, K, N] row-major.
  const a3 = withShape(a, transposeA ? [batchA, K, M] : [batchA, M, K]);
  const b3 = withShape(b, transposeB ? [batchB, N, K] : [batchB, K, N]);
  const flip = (t: TensorInfo, n: number, rows: number, cols: number): TensorInfo =>
    n === 1 ? transpose2d(backend, t, rows, cols) : transpose(backend, t, [0, 2, 1]);
  const aN = transposeA ? flip(a3, batchA, K, M) : a3;
  const bN = transposeB ? flip(b3, batchB, N, K) : b3;

  const out = alloc(backend, [batch, M, N]);
  if (batch === 1) {
    xnnMatMulInto(backend, aN, bN, M, K, N, out);
  } else {
    for (let i = 0; i < batch; i++) {
      const av = subTensorView(backend, aN, batchA === 1 ? 0 : i * M * K, [M, K]);
      const bv = subTensorView(backend, bN, batchB === 1 ? 0 : i * K * N, [K, N]);
      const ov = subTensorView(backend, out, i * M * N, [M, N]);
      xnnMatMulInto(backend, av, bv, M, K, N, ov);
      disposeView(backend, av);
      disposeView(backend, bv);
      disposeView(backend, ov);
    }
  }
  if (aN !== a3) free(backend, aN);
  if (bN !== b3) free(backend, bN);
  out.shape = [...outer, M, N];
  return out;
}
