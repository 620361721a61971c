// Add of two float32 tensors of the same size (a residual block's sum, and the gradient sums the
// engine adds up where a tensor feeds two layers): one SIMD pass split between the pool's threads,
// where the stock kernel runs on one. Broadcasting, other dtypes and runs without SIMD use the
// stock kernel.
import { Add, type TensorInfo } from '@tensorflow/tfjs-core';
import { alloc, byteOffset, f32, runStock, sizeOf, type BackendWasm, type KernelArgs } from './kernel-utils';
import { partsFor, poolFor, runSplit } from './split';

export function add(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { a, b } = args.inputs as Record<string, TensorInfo>;
  const n = sizeOf(a.shape);
  const pool = a.dtype === 'float32' && b.dtype === 'float32' && sizeOf(b.shape) === n && a.shape.length >= b.shape.length ? poolFor(backend) : null;
  if (pool === null) return runStock(Add, backend, { a, b }, args.attrs ?? {});
  const out = alloc(backend, a.shape.slice());
  const vectors = n >> 2;
  const [aAt, bAt, oAt] = [a, b, out].map((t) => byteOffset(backend, t));
  runSplit(pool, 'addRange', partsFor(pool, vectors, n), vectors, (v0, v1) => [aAt, bAt, oAt, 16 * v0, 16 * v1]);
  if (n % 4 !== 0) {
    const [av, bv, ov] = [a, b, out].map((t) => f32(backend, t));
    for (let i = 4 * vectors; i < n; i++) ov[i] = av[i] + bv[i];
  }
  return out;
}
