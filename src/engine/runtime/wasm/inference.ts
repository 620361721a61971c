// Inference kernels for pretrained photo backbones (MobileNetV2 and the like: issue 26).
//
//   FusedBatchNorm           BatchNorm with moving statistics (inference): one SIMD pass of
//                            x·scale[c] + shift[c] on the pool's threads, where the stock kernel is
//                            a scalar loop on one thread (60 % of a MobileNetV2 batch)
//   Relu, Relu6, ClipByValue one SIMD clamp pass on the pool's threads (the stock ones run on one)
//   Slice                    a contiguous slice (model.predict slices every batch out of its
//                            input) as one block copy: 7 ms → about 1 for 16 images 224×224×3
//
// Each falls back to the stock kernel where it does not apply (no SIMD kernels, not float32,
// channels not a multiple of 4, per-channel vectors of another size) or while switched off
// (setInferenceKernelsEnabled: benchmarks compare both).
import { ClipByValue, FusedBatchNorm, Relu, Relu6, Slice, slice_util, util, type TensorInfo } from '@tensorflow/tfjs-core';
import { alloc, byteOffset, f32, heapBuffer, runStock, Scratch, sizeOf, type BackendWasm, type KernelArgs } from './kernel-utils';
import { f32Bits } from './conv-forward';
import { convKernelsFor, type ConvKernels } from './simd';
import { splitRange } from './simd/threads';

let enabled = true;

/** Turns the inference kernels on or off (benchmarks compare both; tests run both). */
export function setInferenceKernelsEnabled(on: boolean): void {
  enabled = on;
}

export function inferenceKernelsEnabled(): boolean {
  return enabled;
}

/** Below this many floats a pass runs on the calling thread alone (waking a helper costs more). */
const MIN_SPLIT = 16384;

function kernelsFor(backend: BackendWasm, x: TensorInfo): ConvKernels | null {
  if (!enabled || x.dtype !== 'float32') return null;
  return convKernelsFor(backend);
}

function stock(name: string, args: KernelArgs): TensorInfo {
  const inputs: Record<string, TensorInfo> = {};
  for (const [k, v] of Object.entries(args.inputs)) if (v !== undefined) inputs[k] = v;
  return runStock(name, args.backend as BackendWasm, inputs, args.attrs ?? {});
}

/** out = min(max(x, lo), hi), or null when the SIMD pass does not apply. */
export function clampByThreads(backend: BackendWasm, x: TensorInfo, lo: number, hi: number, maxParts = Infinity): TensorInfo | null {
  const kernels = kernelsFor(backend, x);
  if (kernels === null) return null;
  const n = sizeOf(x.shape);
  const out = alloc(backend, x.shape.slice());
  const vectors = n >> 2;
  const parts = Math.max(1, Math.min(kernels.pool.size, maxParts, n < MIN_SPLIT ? 1 : vectors));
  const xAt = byteOffset(backend, x);
  const oAt = byteOffset(backend, out);
  try {
    kernels.pool.run(
      'clampRange',
      Array.from({ length: parts }, (_, p) => {
        const [v0, v1] = splitRange(vectors, parts, p);
        return [xAt, oAt, 16 * v0, 16 * v1, f32Bits(lo), f32Bits(hi)];
      }),
    );
  } catch (e) {
    backend.disposeData(out.dataId);
    throw e;
  }
  if (n % 4 !== 0) {
    const xv = f32(backend, x);
    const ov = f32(backend, out);
    for (let i = vectors * 4; i < n; i++) ov[i] = Math.min(Math.max(xv[i]!, lo), hi);
  }
  return out;
}

/**
 * out = x·scale[c] + shift[c] over the last axis (C a multiple of 4), clamped to [lo, hi], or null
 * when the SIMD pass does not apply. `scale`, `shift` are plain per-channel arrays.
 */
export function affineByThreads(
  backend: BackendWasm,
  x: TensorInfo,
  scale: Float32Array,
  shift: Float32Array,
  lo = -Infinity,
  hi = Infinity,
  maxParts = Infinity,
): TensorInfo | null {
  const C = x.shape[x.shape.length - 1] ?? 1;
  const kernels = kernelsFor(backend, x);
  if (kernels === null || C % 4 !== 0 || scale.length !== C || shift.length !== C) return null;
  const n = sizeOf(x.shape);
  const rows = n / C;
  const out = alloc(backend, x.shape.slice());
  const scratch = new Scratch(backend, Scratch.bytes(4 * C, 4 * C));
  try {
    const [sAt, sv] = scratch.f32(C);
    sv.set(scale);
    const [tAt, tv] = scratch.f32(C);
    tv.set(shift);
    const xAt = byteOffset(backend, x);
    const oAt = byteOffset(backend, out);
    const parts = Math.max(1, Math.min(kernels.pool.size, maxParts, n < MIN_SPLIT ? 1 : rows));
    kernels.pool.run(
      'affineClampRows',
      Array.from({ length: parts }, (_, p) => {
        const [r0, r1] = splitRange(rows, parts, p);
        return [xAt, oAt, sAt, tAt, r0, r1, 4 * C, f32Bits(lo), f32Bits(hi)];
      }),
    );
  } catch (e) {
    backend.disposeData(out.dataId);
    throw e;
  } finally {
    scratch.release();
  }
  return out;
}

/** BatchNorm with given statistics: y = (x − mean)·scale/√(variance + ε) + offset. */
function fusedBatchNorm(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x, mean, variance, offset, scale } = args.inputs;
  const C = x!.shape[x!.shape.length - 1] ?? 1;
  const perChannel = (t: TensorInfo | undefined): boolean => t === undefined || (t.dtype === 'float32' && sizeOf(t.shape) === C);
  if (kernelsFor(backend, x!) !== null && [mean, variance, offset, scale].every(perChannel) && mean !== undefined && variance !== undefined) {
    const eps = (args.attrs?.varianceEpsilon as number | undefined) ?? 0.001;
    const m = f32(backend, mean);
    const v = f32(backend, variance);
    const g = scale === undefined ? null : f32(backend, scale);
    const b = offset === undefined ? null : f32(backend, offset);
    const k = new Float32Array(C);
    const s = new Float32Array(C);
    for (let c = 0; c < C; c++) {
      k[c] = (g === null ? 1 : g[c]!) / Math.sqrt(v[c]! + eps);
      s[c] = (b === null ? 0 : b[c]!) - m[c]! * k[c]!;
    }
    const out = affineByThreads(backend, x!, k, s);
    if (out !== null) return out;
  }
  return stock(FusedBatchNorm, args);
}

function clampKernel(name: string, bounds: (args: KernelArgs) => [number, number]): (args: KernelArgs) => TensorInfo {
  return (args) => {
    const [lo, hi] = bounds(args);
    return clampByThreads(args.backend as BackendWasm, args.inputs.x!, lo, hi) ?? stock(name, args);
  };
}

/** Slice: contiguous slices as one copy of the heap's bytes; else the stock kernel. */
function slice(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const x = args.inputs.x!;
  const [begin, size] = slice_util.parseSliceParams(x, args.attrs!.begin as number[], args.attrs!.size as number[]);
  if (!enabled || x.dtype === 'string' || x.dtype === 'complex64' || !slice_util.isSliceContinous(x.shape, begin!, size!)) return stock(Slice, args);
  const out = alloc(backend, size!, x.dtype);
  const n = sizeOf(size!);
  if (n > 0) {
    // Flat offset of `begin` (row-major).
    let flat = 0;
    for (let d = 0; d < x.shape.length; d++) flat = flat * x.shape[d]! + begin![d]!;
    const bytes = util.bytesPerElement(x.dtype);
    const heap = new Uint8Array(heapBuffer(backend));
    const src = byteOffset(backend, x) + flat * bytes;
    heap.copyWithin(byteOffset(backend, out), src, src + n * bytes);
  }
  return out;
}

export const inferenceKernels: Record<string, (args: KernelArgs) => TensorInfo> = {
  [FusedBatchNorm]: fusedBatchNorm,
  [Relu]: clampKernel(Relu, () => [0, Infinity]),
  [Relu6]: clampKernel(Relu6, () => [0, 6]),
  [ClipByValue]: clampKernel(ClipByValue, (a) => [a.attrs!.clipValueMin as number, a.attrs!.clipValueMax as number]),
  [Slice]: slice,
};
