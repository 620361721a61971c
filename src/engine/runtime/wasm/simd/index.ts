// Instantiates the SIMD kernels (programs.ts) against the memory of a tfjs wasm
// backend, so that they read and write its tensors in place; and the convolution
// loops (conv-programs.ts) on a pool of helper threads (threads.ts) over that memory.
//
// Falls back (returns null) when the runtime lacks WebAssembly SIMD or the
// backend's memory object cannot be found; callers then use plain JS loops or
// XNNPACK. AUTOML_WASM_SIMD=0 disables the SIMD kernels (for comparisons);
// AUTOML_WASM_FMA=0 keeps the convolution loops off the fused multiply-add.
import { setFlagsFromString } from 'v8';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { assemble } from './wasm-asm';
import { convPrograms } from './conv-programs';
import { SimdPool } from './threads';
import { PROGRAMS } from './programs';
import { sharedWasmMemory, wasmModule, type BackendWasm } from '../kernel-utils';

type Fn = (...args: number[]) => void;

export interface SimdKernels {
  dropoutMask: Fn;
  colSum: Fn;
  copyRows: Fn;
  transposeOuterInner: Fn;
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

/** The backend's heap as a WebAssembly.Memory (shared when the build has threads), or null. */
export function memoryOf(backend: BackendWasm): WebAssembly.Memory | null {
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

/** The convolution kernels (conv-programs.ts) and the threads that run them. */
export interface ConvKernels {
  pool: SimdPool;
  /** Whether the build uses a fused multiply-add (relaxed SIMD). */
  fma: boolean;
}

const convModules = new Map<string, WebAssembly.Module | null>();
const convInstances = new WeakMap<object, ConvKernels | null>();

/**
 * Relaxed SIMD (for the fused multiply-add) is on by default in newer V8s; Node 20 has it
 * behind a flag, which must be set before the module is compiled. AUTOML_WASM_FMA=0 keeps
 * the multiply-and-add build.
 */
function convModule(shared: boolean): { module: WebAssembly.Module; fma: boolean } | null {
  for (const fma of process.env.AUTOML_WASM_FMA === '0' ? [false] : [true, false]) {
    const key = `${shared}/${fma}`;
    if (!convModules.has(key)) {
      const compile = (): WebAssembly.Module | null => {
        try {
          return new WebAssembly.Module(assemble(convPrograms(fma), shared));
        } catch {
          return null;
        }
      };
      let mod = compile();
      if (mod === null && fma) {
        // Only where relaxed SIMD is not on already: newer V8s ship it and may not know the flag.
        setFlagsFromString('--experimental-wasm-relaxed-simd');
        mod = compile();
      }
      convModules.set(key, mod);
    }
    const module = convModules.get(key);
    if (module) return { module, fma };
  }
  return null;
}

/**
 * The convolution kernels bound to this backend's heap, on as many threads as XNNPACK
 * uses (the two never run at once), or null (no SIMD).
 */
export function convKernelsFor(backend: BackendWasm): ConvKernels | null {
  if (!enabled) return null;
  const key = wasmModule(backend) as unknown as object;
  if (convInstances.has(key)) return convInstances.get(key)!;
  let kernels: ConvKernels | null = null;
  try {
    const memory = memoryOf(backend);
    const built = memory === null ? null : convModule(memory.buffer instanceof SharedArrayBuffer);
    if (memory !== null && built !== null) kernels = { pool: new SimdPool(built.module, memory, getThreadsCount()), fma: built.fma };
  } catch {
    kernels = null;
  }
  convInstances.set(key, kernels);
  return kernels;
}
