// One-pass activation gradients for the wasm backend (tfjs-core's Relu gradient
// is mul(dy, cast(step(x))): three full passes and two temporaries).
import { Cast, type TensorInfo } from '@tensorflow/tfjs-core';
import { alloc, byteOffset, f32, runStock, type BackendWasm, type KernelArgs } from './kernel-utils';
import { partsFor, poolFor, runSplit } from './split';

export const RELU_GRAD_KERNEL = 'AutomlReluGrad';

/** Inputs dy, x (the Relu input or output: same sign). dx = x > 0 ? dy : 0. */
export function reluGrad(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { dy, x } = args.inputs as Record<string, TensorInfo>;
  const out = alloc(backend, x.shape);
  const o = f32(backend, out);
  const d = f32(backend, dy);
  const xv = f32(backend, x);
  let start = 0;
  const pool = poolFor(backend);
  if (pool !== null) {
    // Branch-free in SIMD (a JS select mispredicts on every other element), a share of the
    // vectors per thread.
    const vectors = o.length >> 2;
    start = 4 * vectors;
    const [oAt, dyAt, xAt] = [out, dy, x].map((t) => byteOffset(backend, t));
    runSplit(pool, 'reluGrad', partsFor(pool, vectors, o.length), vectors, (v0, v1) => [oAt + 16 * v0, dyAt + 16 * v0, xAt + 16 * v0, 16 * (v1 - v0)]);
  }
  for (let i = start; i < o.length; i++) o[i] = xv[i] > 0 ? d[i] : 0;
  return out;
}

/**
 * Identity that shares the data (ref-counted) instead of copying it. The
 * engine clones every tensor it saves for the backward pass through Identity;
 * the stock wasm kernel copies each one (≈200 copies per training step of a
 * small CNN). The cpu backend shares the same way.
 */
export function sharedIdentity(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const x = args.inputs.x as TensorInfo;
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/**
 * Cast to the tensor's own dtype shares the data, as Identity does (the gradient of a clone is
 * such a cast: tfjs-layers' Add clones its first input); other casts run the stock kernel.
 */
export function sharedCast(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const x = args.inputs.x as TensorInfo;
  if ((args.attrs as { dtype?: string } | undefined)?.dtype !== x.dtype) return runStock(Cast, backend, { x }, args.attrs ?? {});
  return sharedIdentity(args);
}
