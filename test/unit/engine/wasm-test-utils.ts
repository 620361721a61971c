// Helpers for comparing the project's wasm kernels with the cpu backend.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// tfjs-layers registers the gradients; these tests may run without it.
import '@tensorflow/tfjs-layers';
import * as assert from 'node:assert/strict';
import { initWasmBackend, type WasmBackendInfo } from '../../../src/engine/runtime/wasm/backend';

let info: Promise<WasmBackendInfo> | null = null;

/** Initialises wasm (once per process) and returns to the backend that was active before. */
export async function ensureWasm(): Promise<WasmBackendInfo> {
  const prev = tf.getBackend();
  if (info === null) info = initWasmBackend({ threads: 'auto' });
  const result = await info;
  if (prev !== undefined && prev !== null && prev !== 'wasm') await tf.setBackend(prev);
  return result;
}

/** Runs `fn` with `backend` active and restores the previous backend afterwards. */
export async function onBackend<T>(backend: string, fn: () => T | Promise<T>): Promise<T> {
  const prev = tf.getBackend();
  await tf.setBackend(backend);
  try {
    return await fn();
  } finally {
    if (prev !== undefined && prev !== null) await tf.setBackend(prev);
  }
}

/** Deterministic pseudo-random numbers (so failures reproduce). */
export function rand(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = lo + ((s >>> 0) / 4294967296) * (hi - lo);
  }
  return out;
}

export interface Arr {
  shape: number[];
  data: Float32Array | Int32Array;
  dtype?: 'float32' | 'int32';
}

export function arr(shape: number[], seed: number, lo = -1, hi = 1): Arr {
  return {
    shape,
    data: rand(
      shape.reduce((a, b) => a * b, 1),
      seed,
      lo,
      hi,
    ),
  };
}

/** Runs one kernel on a backend with fresh input tensors; returns the outputs' values. */
export async function runKernelOn(backend: string, kernel: string, inputs: Record<string, Arr>, attrs: Record<string, unknown> = {}): Promise<Arr[]> {
  return onBackend(backend, () => {
    const ts: Record<string, tf.Tensor> = {};
    for (const [k, v] of Object.entries(inputs)) ts[k] = tf.tensor(v.data, v.shape, v.dtype ?? 'float32');
    const out = tf.engine().runKernel(kernel, ts, attrs as tf.NamedAttrMap) as tf.Tensor | tf.Tensor[];
    const outs = Array.isArray(out) ? out : [out];
    // Read outside any tidy (reading inside tidy is the benchmark trap of the notes).
    const res = outs.map((o) => ({ shape: o.shape.slice(), data: o.dataSync().slice() as Float32Array }));
    tf.dispose([...outs, ...Object.values(ts)]);
    return res;
  });
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Asserts equal shapes and max |a − b| ≤ tol · max(1, max |b|). */
export function assertClose(actual: Arr, expected: Arr, tol = 1e-4, what = ''): void {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  assert.equal(actual.data.length, expected.data.length, `${what}: size`);
  let diff = 0;
  let at = -1;
  for (let i = 0; i < actual.data.length; i++) {
    const d = Math.abs(actual.data[i] - expected.data[i]);
    if (!(d <= diff)) {
      diff = d;
      at = i;
    }
  }
  const scale = Math.max(1, maxAbs(expected.data));
  assert.ok(diff <= tol * scale, `${what}: max abs diff ${diff} at ${at} (got ${actual.data[at]}, want ${expected.data[at]}) > ${tol} × ${scale}`);
}

/** Runs a kernel on wasm and cpu and compares every output. */
export async function compareKernel(kernel: string, inputs: Record<string, Arr>, attrs: Record<string, unknown> = {}, tol = 1e-4): Promise<void> {
  const [w, c] = [await runKernelOn('wasm', kernel, inputs, attrs), await runKernelOn('cpu', kernel, inputs, attrs)];
  assert.equal(w.length, c.length);
  w.forEach((o, i) => assertClose(o, c[i], tol, `${kernel} ${JSON.stringify(attrs)} output ${i}`));
}

/** A convolution case: input shape, filter size, output channels, stride and padding. */
export interface ConvCase {
  x: number[]; // [B, H, W, Cin]
  k: [number, number]; // filter size
  cout: number;
  stride: number | [number, number];
  pad: 'same' | 'valid' | number;
}

/** Convolution cases covering the kernels' paths (noted per case). */
export const CONV_CASES: ConvCase[] = [
  { x: [2, 8, 8, 3], k: [3, 3], cout: 4, stride: 1, pad: 'same' }, // im2col filter path
  { x: [2, 7, 9, 1], k: [3, 3], cout: 5, stride: 1, pad: 'valid' }, // Cin = 1, odd sizes
  { x: [1, 9, 7, 1], k: [3, 3], cout: 8, stride: 2, pad: 'same' }, // batch 1, stride 2
  { x: [3, 10, 10, 8], k: [3, 3], cout: 6, stride: 2, pad: 'valid' }, // transposed path; unused last row
  { x: [2, 11, 6, 16], k: [3, 3], cout: 16, stride: 1, pad: 'same' },
  { x: [2, 8, 8, 6], k: [1, 1], cout: 7, stride: 2, pad: 'same' }, // 1×1 shortcut
  { x: [2, 9, 9, 5], k: [5, 5], cout: 3, stride: 1, pad: 'same' },
  { x: [2, 6, 7, 4], k: [2, 3], cout: 2, stride: [2, 1], pad: 'valid' }, // anisotropic
  { x: [2, 6, 6, 8], k: [3, 3], cout: 4, stride: 1, pad: 1 }, // explicit padding
  { x: [1, 5, 5, 8], k: [3, 3], cout: 4, stride: 1, pad: 3 }, // padding > kernel-1: fallback paths
  { x: [1, 12, 12, 32], k: [3, 3], cout: 64, stride: 2, pad: 'same' },
  // Stride 1 with x smaller than dy: the filter gradient with x as XNNPACK's filter (taps flipped).
  { x: [4, 7, 9, 8], k: [3, 3], cout: 16, stride: 1, pad: 'same' },
  { x: [3, 8, 6, 6], k: [5, 3], cout: 10, stride: 1, pad: 'valid' },
  { x: [2, 6, 6, 8], k: [3, 3], cout: 12, stride: 1, pad: 2 },
  { x: [8, 40, 40, 5], k: [3, 3], cout: 8, stride: 1, pad: 'same' }, // batch in two chunks
  // Few input channels, Cout a multiple of 4: the SIMD broadcast filter gradient.
  { x: [4, 8, 8, 1], k: [3, 3], cout: 16, stride: 1, pad: 'same' }, // first layer
  { x: [3, 7, 9, 3], k: [3, 3], cout: 12, stride: 1, pad: 'valid' },
  { x: [2, 9, 8, 2], k: [5, 3], cout: 20, stride: [2, 1], pad: 'same' },
  // Batch and channels multiples of 4: the SIMD layout paths.
  { x: [4, 10, 10, 8], k: [3, 3], cout: 8, stride: 2, pad: 'valid' },
  { x: [8, 6, 7, 16], k: [3, 3], cout: 12, stride: 1, pad: 'same' },
  { x: [4, 9, 9, 4], k: [3, 3], cout: 8, stride: 2, pad: 'same' },
  { x: [4, 8, 8, 12], k: [1, 1], cout: 16, stride: 2, pad: 'valid' },
  { x: [4, 11, 10, 8], k: [4, 4], cout: 4, stride: 3, pad: 'same' }, // stride 3, even kernel
  // dx by the SIMD loop with a filter whose Cout is not a multiple of 4: packed by the JS loop.
  { x: [2, 7, 7, 8], k: [3, 3], cout: 5, stride: 1, pad: 'same' },
];

/** The output shape of a case's forward convolution (dy's shape). */
export function convOutShape(c: ConvCase): number[] {
  return tf.tidy(
    () =>
      tf.conv2d(tf.zeros(c.x) as tf.Tensor as tf.Tensor4D, tf.zeros([...c.k, c.x[3], c.cout]) as tf.Tensor as tf.Tensor4D, c.stride as [number, number], c.pad)
        .shape,
  );
}
