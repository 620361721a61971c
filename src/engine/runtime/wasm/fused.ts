// Project-only fused kernels for the wasm backend. Each replaces a chain of
// memory-bound tf ops (each a full pass over the data plus an allocation and
// the engine's per-op overhead) with one SIMD pass over the heap, split between the pool's threads
// (plain JS loops without SIMD).
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { ADAMW_KERNEL, SGD_KERNEL } from '../optimizer-update';
import { alloc, byteOffset, f32, type BackendWasm, type KernelArgs } from './kernel-utils';
import { f32Bits } from './conv-forward';
import { partsFor, poolFor, runSplit } from './split';

/**
 * AdamW step. Inputs param, grad, m, v; m and v are updated IN PLACE (they are
 * the optimizer's private state); returns the new parameter tensor.
 */
function adamwUpdate(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { param, grad, m, v } = args.inputs as Record<string, TensorInfo>;
  const a = args.attrs as Record<string, number>;
  const b1 = a.beta1;
  const b2 = a.beta2;
  const eps = a.epsilon;
  const lr = a.lr;
  const wd = a.weightDecay;
  const bc1 = 1 - Math.pow(b1, a.step);
  const bc2 = 1 - Math.pow(b2, a.step);
  const out = alloc(backend, param.shape);
  const p = f32(backend, param);
  const g = f32(backend, grad);
  const mv = f32(backend, m);
  const vv = f32(backend, v);
  const o = f32(backend, out);
  const c1 = 1 - b1;
  const c2 = 1 - b2;
  const inv1 = 1 / bc1;
  const inv2 = 1 / bc2;
  let start = 0;
  const pool = poolFor(backend);
  if (pool !== null) {
    const vectors = p.length >> 2;
    start = 4 * vectors;
    const at = [param, grad, m, v, out].map((t) => byteOffset(backend, t));
    const floats = [b1, b2, c1, c2, inv1, inv2, eps, lr, wd].map(f32Bits);
    runSplit(pool, 'adamwBits', partsFor(pool, vectors, p.length), vectors, (v0, v1) => [...at.map((a) => a + 16 * v0), 16 * (v1 - v0), ...floats]);
  }
  for (let i = start; i < p.length; i++) {
    const gi = g[i];
    const mi = b1 * mv[i] + c1 * gi;
    const vi = b2 * vv[i] + c2 * gi * gi;
    mv[i] = mi;
    vv[i] = vi;
    const pi = p[i];
    o[i] = pi - lr * ((mi * inv1) / (Math.sqrt(vi * inv2) + eps) + wd * pi);
  }
  return out;
}

/** SGD(W) with momentum; `buf` is updated in place; returns the new parameter. */
function sgdUpdate(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { param, grad, buf } = args.inputs as Record<string, TensorInfo>;
  const a = args.attrs as Record<string, number | boolean>;
  const lr = a.lr as number;
  const mu = a.momentum as number;
  const wd = a.weightDecay as number;
  const nesterov = Boolean(a.nesterov);
  const out = alloc(backend, param.shape);
  const p = f32(backend, param);
  const g = f32(backend, grad);
  const b = f32(backend, buf);
  const o = f32(backend, out);
  let start = 0;
  const pool = poolFor(backend);
  if (pool !== null) {
    const vectors = p.length >> 2;
    start = 4 * vectors;
    const at = [param, grad, buf, out].map((t) => byteOffset(backend, t));
    // d = a·g + c·buf: Nesterov (a = 1, c = μ) or plain momentum (a = 0, c = 1).
    const floats = [lr, mu, wd, nesterov ? 1 : 0, nesterov ? mu : 1].map(f32Bits);
    runSplit(pool, 'sgdBits', partsFor(pool, vectors, p.length), vectors, (v0, v1) => [...at.map((a) => a + 16 * v0), 16 * (v1 - v0), ...floats]);
  }
  for (let i = start; i < p.length; i++) {
    const gi = g[i];
    const bi = mu * b[i] + gi;
    b[i] = bi;
    const d = nesterov ? gi + mu * bi : bi;
    const pi = p[i];
    o[i] = pi - lr * (d + wd * pi);
  }
  return out;
}

export const projectExtraKernels: Record<string, (args: KernelArgs) => unknown> = {
  [ADAMW_KERNEL]: adamwUpdate,
  [SGD_KERNEL]: sgdUpdate,
};
