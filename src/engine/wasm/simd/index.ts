// Instantiates the SIMD kernels (programs.ts) against the memory of a tfjs wasm
// backend, so that they read and write its tensors in place.
//
// Falls back (returns null) when the runtime lacks WebAssembly SIMD or the
// backend's memory object cannot be found; callers then use plain JS loops.
// AUTOML_WASM_SIMD=0 disables the SIMD kernels (for comparisons).
import { assemble } from './wasm-asm';
import { PROGRAMS } from './programs';
import { sharedWasmMemory, wasmModule, type BackendWasm } from '../kernel-utils';

type Fn = (...args: number[]) => void;

export interface SimdKernels {
  reluGrad: Fn;
  dropoutMask: Fn;
  colSum: Fn;
  colStats: Fn;
  bnGradStats: Fn;
  affine: Fn;
  bnGradApply: Fn;
  adamw: Fn;
  sgd: Fn;
  maxPoolGrad2x2: Fn;
  copyRows: Fn;
  transposeOuterInner: Fn;
  depthwiseFilterGrad: Fn;
  broadcastFilterGrad: Fn;
}

const compiled = new Map<boolean, WebAssembly.Module>();
const instances = new WeakMap<object, SimdKernels | null>();
let enabled = process.env.AUTOML_WASM_SIMD !== '0';

/** Turns the SIMD kernels on or off (tests compare both paths). */
export function setSimdEnabled(on: boolean): void {
  enabled = on;
}

export function simdEnabled(): boolean {
  return enabled;
}

function memoryOf(backend: BackendWasm): WebAssembly.Memory | null {
  const shared = sharedWasmMemory(backend);
  if (shared !== undefined) return shared;
  const m = wasmModule(backend) as unknown as { wasmMemory?: unknown; asm?: { memory?: unknown } };
  const mem = m.wasmMemory ?? m.asm?.memory;
  return mem instanceof WebAssembly.Memory ? mem : null;
}

/** The SIMD kernels bound to this backend's heap, or null (use JS). */
export function simdFor(backend: BackendWasm): SimdKernels | null {
  if (!enabled) return null;
  const key = wasmModule(backend) as unknown as object;
  if (instances.has(key)) return instances.get(key)!;
  let kernels: SimdKernels | null = null;
  try {
    const memory = memoryOf(backend);
    if (memory !== null) {
      const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
      let mod = compiled.get(shared);
      if (mod === undefined) {
        mod = new WebAssembly.Module(assemble(PROGRAMS, shared));
        compiled.set(shared, mod);
      }
      const inst = new WebAssembly.Instance(mod, { env: { memory } });
      kernels = inst.exports as unknown as SimdKernels;
    }
  } catch {
    kernels = null; // no SIMD support, or an unexpected memory type: JS loops
  }
  instances.set(key, kernels);
  return kernels;
}
