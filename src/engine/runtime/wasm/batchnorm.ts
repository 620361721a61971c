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
import { alloc, byteOffset, f32, Scratch, type BackendWasm, type KernelArgs } from './kernel-utils';
import { simdFor } from './simd';

export const BN_TRAIN_KERNEL = 'AutomlBatchNormTrain';
export const BN_TRAIN_GRAD_KERNEL = 'AutomlBatchNormTrainGrad';

/** Inputs x [..., C], gamma [C], beta [C]; attr epsilon. Outputs y, mean, variance, invstd. */
export function batchNormTrain(args: KernelArgs): TensorInfo[] {
  const backend = args.backend as BackendWasm;
  const { x, gamma, beta } = args.inputs as Record<string, TensorInfo>;
  const eps = (args.attrs as { epsilon: number }).epsilon;
  const C = x.shape[x.shape.length - 1];
  const y = alloc(backend, x.shape);
  const mean = alloc(backend, [C]);
  const variance = alloc(backend, [C]);
  const invstd = alloc(backend, [C]);
  const simd = C % 4 === 0 ? simdFor(backend) : null;
  if (simd !== null) {
    batchNormTrainSimd(backend, simd, x, gamma, beta, eps, y, mean, variance, invstd);
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
  forwardCoefficients(backend, R, s1, s2, null, eps, { gamma, beta, mean, variance, invstd }, scale, shift);
  const yv = f32(backend, y);
  for (let base = 0; base < xv.length; base += C) {
    for (let c = 0; c < C; c++) yv[base + c] = xv[base + c] * scale[c] + shift[c];
  }
  return [y, mean, variance, invstd];
}

/** Inputs dy, x, mean, invstd, gamma. Outputs dx, dgamma, dbeta. */
export function batchNormTrainGrad(args: KernelArgs): TensorInfo[] {
  const backend = args.backend as BackendWasm;
  const { dy, x, mean, invstd, gamma } = args.inputs as Record<string, TensorInfo>;
  const C = x.shape[x.shape.length - 1];
  const dx = alloc(backend, x.shape);
  const dgamma = alloc(backend, [C]);
  const dbeta = alloc(backend, [C]);
  const simd = C % 4 === 0 ? simdFor(backend) : null;
  if (simd !== null) {
    batchNormTrainGradSimd(backend, simd, dy, x, mean, invstd, gamma, dx, dgamma, dbeta);
    return [dx, dgamma, dbeta];
  }
  const xv = f32(backend, x);
  const dyv = f32(backend, dy);
  const R = xv.length / C;
  const sdy = new Float64Array(C);
  const sdyx = new Float64Array(C);
  for (let base = 0; base < xv.length; base += C) {
    for (let c = 0; c < C; c++) {
      const d = dyv[base + c];
      sdy[c] += d;
      sdyx[c] += d * xv[base + c];
    }
  }
  // Σdy·(x − mean) = Σdy·x − mean·Σdy.
  const mv = f32(backend, mean);
  for (let c = 0; c < C; c++) sdyx[c] -= mv[c] * sdy[c];
  // dx = k1·dy + k2·x + k3 per channel.
  const k1 = new Float32Array(C);
  const k2 = new Float32Array(C);
  const k3 = new Float32Array(C);
  gradCoefficients(backend, R, sdy, sdyx, { mean, invstd, gamma, dgamma, dbeta }, k1, k2, k3);
  const dxv = f32(backend, dx);
  for (let base = 0; base < xv.length; base += C) {
    for (let c = 0; c < C; c++) dxv[base + c] = k1[c] * dyv[base + c] + k2[c] * xv[base + c] + k3[c];
  }
  return [dx, dgamma, dbeta];
}

type Simd = NonNullable<ReturnType<typeof simdFor>>;

/**
 * SIMD forward. The sums are taken around k = the first row (the "shifted
 * data" algorithm): var = E[(x−k)²] − E[x−k]² does not cancel catastrophically
 * when |mean| ≫ std.
 */
function batchNormTrainSimd(
  backend: BackendWasm,
  simd: Simd,
  x: TensorInfo,
  gamma: TensorInfo,
  beta: TensorInfo,
  eps: number,
  y: TensorInfo,
  mean: TensorInfo,
  variance: TensorInfo,
  invstd: TensorInfo,
): void {
  const C = x.shape[x.shape.length - 1];
  const R = f32(backend, x).length / C;
  const scratch = new Scratch(backend, Scratch.bytes(8 * C, 8 * C, 4 * C, 4 * C, 4 * C));
  try {
    const [s1At, s1] = scratch.f64(C);
    const [s2At, s2] = scratch.f64(C);
    const [kAt, k] = scratch.f32(C);
    const [scaleAt, scale] = scratch.f32(C);
    const [shiftAt, shift] = scratch.f32(C);
    k.set(f32(backend, x).subarray(0, C));
    simd.colStats(byteOffset(backend, x), R, 4 * C, kAt, s1At, s2At);
    forwardCoefficients(backend, R, s1, s2, k, eps, { gamma, beta, mean, variance, invstd }, scale, shift);
    simd.affine(byteOffset(backend, y), byteOffset(backend, x), scaleAt, shiftAt, R, 4 * C);
  } finally {
    scratch.release();
  }
}

function batchNormTrainGradSimd(
  backend: BackendWasm,
  simd: Simd,
  dy: TensorInfo,
  x: TensorInfo,
  mean: TensorInfo,
  invstd: TensorInfo,
  gamma: TensorInfo,
  dx: TensorInfo,
  dgamma: TensorInfo,
  dbeta: TensorInfo,
): void {
  const C = x.shape[x.shape.length - 1];
  const R = f32(backend, x).length / C;
  const scratch = new Scratch(backend, Scratch.bytes(8 * C, 8 * C, 4 * C, 4 * C, 4 * C));
  try {
    const [s1At, s1] = scratch.f64(C);
    const [s2At, s2] = scratch.f64(C);
    const [k1At, k1] = scratch.f32(C);
    const [k2At, k2] = scratch.f32(C);
    const [k3At, k3] = scratch.f32(C);
    simd.bnGradStats(byteOffset(backend, dy), byteOffset(backend, x), byteOffset(backend, mean), R, 4 * C, s1At, s2At);
    gradCoefficients(backend, R, s1, s2, { mean, invstd, gamma, dgamma, dbeta }, k1, k2, k3);
    simd.bnGradApply(byteOffset(backend, dx), byteOffset(backend, dy), byteOffset(backend, x), k1At, k2At, k3At, R, 4 * C);
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
  t: { gamma: TensorInfo; beta: TensorInfo; mean: TensorInfo; variance: TensorInfo; invstd: TensorInfo },
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
    scale[c] = g[c] * inv;
    shift[c] = b[c] - m * g[c] * inv;
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
