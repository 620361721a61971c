// Dropout masks on the wasm backend: the mask of dropout-mask.ts written straight into the
// heap, four units at a time in SIMD (the JS loop finishes a tail of fewer than four).
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { dropoutMaskParams, fillDropoutMask } from '../dropout-mask';
import { alloc, byteOffset, f32, type BackendWasm, type KernelArgs } from './kernel-utils';
import { simdFor } from './simd';

export const DROPOUT_MASK_KERNEL = 'AutomlDropoutMask';

/** No inputs; attrs shape, rate, seed. The mask: 1/(1-rate) where a unit is kept, 0 where it is dropped. */
export function dropoutMaskKernel(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { shape, rate, seed } = args.attrs as unknown as { shape: number[]; rate: number; seed: number };
  const out = alloc(backend, shape);
  const o = f32(backend, out);
  const p = dropoutMaskParams(rate, seed);
  let start = 0;
  const simd = simdFor(backend);
  if (simd !== null) {
    start = o.length & ~3;
    simd.dropoutMask(byteOffset(backend, out), start * 4, p.offset | 0, p.threshold | 0, p.scale);
  }
  fillDropoutMask(o, start, p);
  return out;
}
