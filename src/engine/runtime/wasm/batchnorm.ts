// Fused BatchNorm (training mode) kernels for the wasm backend.
//
// tfjs-layers computes a training-mode BatchNorm as moments() + batchNorm() and
// differentiates that graph op by op: about 25 full passes over the activation
// per layer (sub, mul, square, mean, tile, sum, addN, ...). These two kernels do
// the same mathematics in 2 + 2 passes, channels last, x seen as [R, C]:
//   forward:  per-channel sums (float64) → mean, biased variance, 1/√(var+ε);
//             y = x·(γ·invstd) + (β − mean·γ·invstd)
//   backward: Σdy, Σdy·x per channel → dβ = Σdy, dγ = invstd·(Σdy·x − mean·Σdy);
//             dx = γ·invstd·(dy − dβ/R − x̂·dγ/R), x̂ = (x − mean)·invstd
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { alloc, byteOffset, f32, Scratch, sizeOf, type BackendWasm, type KernelArgs } from './kernel-utils';
import { f32Bits } from './conv-forward';
import { partsFor, poolFor, runSplit } from './split';
import type { SimdPool } from './simd/threads';

export const BN_TRAIN_KERNEL = 'AutomlBatchNormTrain';
export const BN_TRAIN_GRAD_KERNEL = 'AutomlBatchNormTrainGrad';

/**
 * Inputs x [..., C], gamma [C], beta [C]; attrs epsilon, relu (optional: y = max(0, BN(x)), the
 * ReLU that follows the BatchNorm fused into its pass). Outputs y, mean, variance, invstd.
 */
export function batchNormTrain(args: KernelArgs): TensorInfo[] {
  const backend = args.backend as BackendWasm;
  const { x, gamma, beta } = args.inputs as Record<string, TensorInfo>;
  const { epsilon: eps, relu } = args.attrs as { epsilon: number; relu?: boolean };
  const C = x.shape[x.shape.length - 1];
  const y = alloc(backend, x.shape);
  const mean = alloc(backend, [C]);
  const variance = alloc(backend, [C]);
  const invstd = alloc(backend, [C]);
  const t = { gamma, beta, mean, variance, invstd };
  const pool = C % 4 === 0 ? poolFor(backend) : null;
  if (pool !== null) {
    batchNormTrainSimd(backend, pool, x, t, eps, Boolean(relu), y);
    return [y, mean, variance, invstd];
  }
  const xv = f32(backend, x);
  const R = xv.length / C;
  const s1 = new Float64Array(C);
  const s2 = new Float64Array(C);
  for (let base = 0; base < xv.length; base += C) {
    for (let c = 0; c < C; c++) {
      const v = xv[base + c];
      s1[c] += v;
      s2[c] += v * v;
    }
  }
  const scale = new Float32Array(C);
  const shift = new Float32Array(C);
  forwardCoefficients(backend, R, s1, s2, null, eps, t, scale, shift);
  const yv = f32(backend, y);
  const lo = relu ? 0 : -Infinity;
  for (let base = 0; base < xv.length; base += C) {
    for (let c = 0; c < C; c++) yv[base + c] = Math.max(lo, Math.fround(xv[base + c] * scale[c]) + shift[c]);
  }
  return [y, mean, variance, invstd];
}

/**
 * Inputs dy, x, mean, invstd, gamma (and beta with attr relu: the gradient of max(0, BN(x)), the
 * ReLU's mask recomputed from x). Outputs dx, dgamma, dbeta.
 */
export function batchNormTrainGrad(args: KernelArgs): TensorInfo[] {
  const backend = args.backend as BackendWasm;
  const { dy, x, mean, invstd, gamma, beta } = args.inputs as Record<string, TensorInfo>;
  const relu = Boolean((args.attrs as { relu?: boolean } | undefined)?.relu);
  if (relu && beta === undefined) throw new Error(`${BN_TRAIN_GRAD_KERNEL}: the fused ReLU needs beta`);
  const C = x.shape[x.shape.length - 1];
  const dx = alloc(backend, x.shape);
  const dgamma = alloc(backend, [C]);
  const dbeta = alloc(backend, [C]);
  const t = { mean, invstd, gamma, dgamma, dbeta };
  // The ReLU's mask: x·scale + shift > 0, with the forward pass's f32 coefficients.
  const mask = relu ? reluCoefficients(backend, mean, invstd, gamma, beta) : null;
  const pool = C % 4 === 0 ? poolFor(backend) : null;
  if (pool !== null) {
    batchNormTrainGradSimd(backend, pool, { dy, x, dx }, t, mask);
    return [dx, dgamma, dbeta];
  }
  const xv = f32(backend, x);
  const dyv = f32(backend, dy);
  const R = xv.length / C;
  const d = mask === null ? dyv : new Float32Array(dyv.length);
  if (mask !== null) {
    for (let base = 0; base < xv.length; base += C) {
      for (let c = 0; c < C; c++) d[base + c] = Math.fround(xv[base + c] * mask.scale[c]) + mask.shift[c] > 0 ? dyv[base + c] : 0;
    }
  }
  const sdy = new Float64Array(C);
  const sdyx = new Float64Array(C);
  for (let base = 0; base < xv.length; base += C) {
    for (let c = 0; c < C; c++) {
      sdy[c] += d[base + c];
      sdyx[c] += d[base + c] * xv[base + c];
    }
  }
  // Σdy·(x − mean) = Σdy·x − mean·Σdy.
  const mv = f32(backend, mean);
  for (let c = 0; c < C; c++) sdyx[c] -= mv[c] * sdy[c];
  // dx = k1·dy + k2·x + k3 per channel.
  const k1 = new Float32Array(C);
  const k2 = new Float32Array(C);
  const k3 = new Float32Array(C);
  gradCoefficients(backend, R, sdy, sdyx, t, k1, k2, k3);
  const dxv = f32(backend, dx);
  for (let base = 0; base < xv.length; base += C) {
    for (let c = 0; c < C; c++) dxv[base + c] = k1[c] * d[base + c] + k2[c] * xv[base + c] + k3[c];
  }
  return [dx, dgamma, dbeta];
}

/** scale = γ·invstd, shift = β − mean·scale (f32): the forward pass's y = x·scale + shift. */
function reluCoefficients(
  backend: BackendWasm,
  mean: TensorInfo,
  invstd: TensorInfo,
  gamma: TensorInfo,
  beta: TensorInfo,
): { scale: Float32Array; shift: Float32Array } {
  const [m, iv, g, b] = [mean, invstd, gamma, beta].map((u) => f32(backend, u));
  const scale = new Float32Array(m.length);
  const shift = new Float32Array(m.length);
  for (let c = 0; c < m.length; c++) {
    scale[c] = g[c] * iv[c];
    shift[c] = b[c] - m[c] * g[c] * iv[c];
  }
  return { scale, shift };
}

/** Per-thread float64 sums s1, s2 of C channels for `parts` shares: their byte offsets, and the totals. */
function partialSums(scratch: Scratch, parts: number, C: number): { at: Array<[number, number]>; total: () => [Float64Array, Float64Array] } {
  const views: Array<[Float64Array, Float64Array]> = [];
  const at: Array<[number, number]> = [];
  for (let p = 0; p < parts; p++) {
    const [a1, v1] = scratch.f64(C);
    const [a2, v2] = scratch.f64(C);
    at.push([a1, a2]);
    views.push([v1, v2]);
  }
  return {
    at,
    total: () => {
      const [s1, s2] = views[0];
      for (let p = 1; p < parts; p++) {
        for (let c = 0; c < C; c++) {
          s1[c] += views[p][0][c];
          s2[c] += views[p][1][c];
        }
      }
      return [s1, s2];
    },
  };
}

type ForwardTensors = { gamma: TensorInfo; beta: TensorInfo; mean: TensorInfo; variance: TensorInfo; invstd: TensorInfo };

/**
 * SIMD forward on the pool's threads, each a share of the rows. The sums are taken around
 * k = the first row (the "shifted data" algorithm): var = E[(x−k)²] − E[x−k]² does not cancel
 * catastrophically when |mean| ≫ std.
 */
function batchNormTrainSimd(backend: BackendWasm, pool: SimdPool, x: TensorInfo, t: ForwardTensors, eps: number, relu: boolean, y: TensorInfo): void {
  const C = x.shape[x.shape.length - 1];
  const n = sizeOf(x.shape);
  const R = n / C;
  const parts = partsFor(pool, R, n);
  const scratch = new Scratch(backend, Scratch.bytes(...new Array<number>(2 * parts).fill(8 * C), 4 * C, 4 * C, 4 * C));
  try {
    const sums = partialSums(scratch, parts, C);
    const [kAt, k] = scratch.f32(C);
    const [scaleAt, scale] = scratch.f32(C);
    const [shiftAt, shift] = scratch.f32(C);
    const xAt = byteOffset(backend, x);
    k.set(f32(backend, x).subarray(0, C));
    runSplit(pool, 'colStats', parts, R, (r0, r1, p) => [xAt + 4 * C * r0, r1 - r0, 4 * C, kAt, ...sums.at[p]]);
    const [s1, s2] = sums.total();
    forwardCoefficients(backend, R, s1, s2, k, eps, t, scale, shift);
    const [lo, hi] = [f32Bits(relu ? 0 : -Infinity), f32Bits(Infinity)];
    runSplit(pool, 'affineClampRows', parts, R, (r0, r1) => [xAt, byteOffset(backend, y), scaleAt, shiftAt, r0, r1, 4 * C, lo, hi]);
  } finally {
    scratch.release();
  }
}

type GradTensors = { mean: TensorInfo; invstd: TensorInfo; gamma: TensorInfo; dgamma: TensorInfo; dbeta: TensorInfo };

/** SIMD backward on the pool's threads; with `mask`, the gradient of the fused ReLU first. */
function batchNormTrainGradSimd(
  backend: BackendWasm,
  pool: SimdPool,
  io: { dy: TensorInfo; x: TensorInfo; dx: TensorInfo },
  t: GradTensors,
  mask: { scale: Float32Array; shift: Float32Array } | null,
): void {
  const C = io.x.shape[io.x.shape.length - 1];
  const n = sizeOf(io.x.shape);
  const R = n / C;
  const parts = partsFor(pool, R, n);
  const scratch = new Scratch(backend, Scratch.bytes(...new Array<number>(2 * parts).fill(8 * C), 4 * C, 4 * C, 4 * C, 4 * C, 4 * C));
  try {
    const sums = partialSums(scratch, parts, C);
    const [k1At, k1] = scratch.f32(C);
    const [k2At, k2] = scratch.f32(C);
    const [k3At, k3] = scratch.f32(C);
    const [scaleAt, scale] = scratch.f32(C);
    const [shiftAt, shift] = scratch.f32(C);
    const masked: number[] = [];
    if (mask !== null) {
      scale.set(mask.scale);
      shift.set(mask.shift);
      masked.push(scaleAt, shiftAt);
    }
    const [dyAt, xAt, dxAt, meanAt] = [io.dy, io.x, io.dx, t.mean].map((u) => byteOffset(backend, u));
    const rowB = 4 * C;
    runSplit(pool, mask === null ? 'bnGradStats' : 'bnReluGradStats', parts, R, (r0, r1, p) => [
      dyAt + rowB * r0,
      xAt + rowB * r0,
      meanAt,
      ...masked,
      r1 - r0,
      rowB,
      ...sums.at[p],
    ]);
    const [s1, s2] = sums.total();
    gradCoefficients(backend, R, s1, s2, t, k1, k2, k3);
    runSplit(pool, mask === null ? 'bnGradApply' : 'bnReluGradApply', parts, R, (r0, r1) => [
      dxAt + rowB * r0,
      dyAt + rowB * r0,
      xAt + rowB * r0,
      k1At,
      k2At,
      k3At,
      ...masked,
      r1 - r0,
      rowB,
    ]);
  } finally {
    scratch.release();
  }
}

/**
 * Per channel, from the sums over R rows of x − k and (x − k)² (k: a shift per channel, or
 * none): mean, biased variance and 1/√(var+ε) into their tensors, and y = x·scale + shift.
 */
function forwardCoefficients(
  backend: BackendWasm,
  R: number,
  s1: ArrayLike<number>,
  s2: ArrayLike<number>,
  k: ArrayLike<number> | null,
  eps: number,
  t: ForwardTensors,
  scale: Float32Array,
  shift: Float32Array,
): void {
  const mv = f32(backend, t.mean);
  const vv = f32(backend, t.variance);
  const iv = f32(backend, t.invstd);
  const g = f32(backend, t.gamma);
  const b = f32(backend, t.beta);
  for (let c = 0; c < scale.length; c++) {
    const d = s1[c] / R;
    const m = (k ? k[c] : 0) + d;
    const v = Math.max(0, s2[c] / R - d * d);
    const inv = 1 / Math.sqrt(v + eps);
    mv[c] = m;
    vv[c] = v;
    iv[c] = inv;
    // From the stored f32 mean and invstd, as reluCoefficients computes them for the gradient
    // of a fused ReLU: both passes then see the same sign of x·scale + shift.
    scale[c] = g[c] * iv[c];
    shift[c] = b[c] - mv[c] * g[c] * iv[c];
  }
}

/**
 * Per channel, from Σdy and Σdy·(x − mean): dβ and dγ into their tensors, and the
 * coefficients of dx = k1·dy + k2·x + k3.
 */
function gradCoefficients(
  backend: BackendWasm,
  R: number,
  sdy: ArrayLike<number>,
  sdyxc: ArrayLike<number>,
  t: { mean: TensorInfo; invstd: TensorInfo; gamma: TensorInfo; dgamma: TensorInfo; dbeta: TensorInfo },
  k1: Float32Array,
  k2: Float32Array,
  k3: Float32Array,
): void {
  const mv = f32(backend, t.mean);
  const iv = f32(backend, t.invstd);
  const g = f32(backend, t.gamma);
  const dg = f32(backend, t.dgamma);
  const db = f32(backend, t.dbeta);
  for (let c = 0; c < k1.length; c++) {
    const inv = iv[c];
    const dBeta = sdy[c];
    const dGamma = inv * sdyxc[c];
    db[c] = dBeta;
    dg[c] = dGamma;
    const a = g[c] * inv;
    const b2 = (-a * inv * dGamma) / R;
    k1[c] = a;
    k2[c] = b2;
    k3[c] = (-a * dBeta) / R - b2 * mv[c];
  }
}
