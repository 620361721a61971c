// Helpers for comparing the project's wasm kernels with the cpu backend.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// tfjs-layers registers the gradients; these tests may run without it.
import '@tensorflow/tfjs-layers';
import * as assert from 'node:assert/strict';
import { initWasmBackend, type WasmBackendInfo } from '../../../src/engine/wasm/backend';

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
  return { shape, data: rand(shape.reduce((a, b) => a * b, 1), seed, lo, hi) };
}

/** Runs one kernel on a backend with fresh input tensors; returns the outputs' values. */
export async function runKernelOn(
  backend: string, kernel: string, inputs: Record<string, Arr>, attrs: Record<string, unknown> = {},
): Promise<Arr[]> {
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
  assert.ok(
    diff <= tol * scale,
    `${what}: max abs diff ${diff} at ${at} (got ${actual.data[at]}, want ${expected.data[at]}) > ${tol} × ${scale}`,
  );
}

/** Runs a kernel on wasm and cpu and compares every output. */
export async function compareKernel(
  kernel: string, inputs: Record<string, Arr>, attrs: Record<string, unknown> = {}, tol = 1e-4,
): Promise<void> {
  const [w, c] = [await runKernelOn('wasm', kernel, inputs, attrs), await runKernelOn('cpu', kernel, inputs, attrs)];
  assert.equal(w.length, c.length);
  w.forEach((o, i) => assertClose(o, c[i], tol, `${kernel} ${JSON.stringify(attrs)} output ${i}`));
}
