// Helpers shared by the project's wasm kernels.
//
// The kernels run *inside* the wasm backend: they receive TensorInfos, allocate
// outputs on the wasm heap with `backend.makeOutput`, call the backend's own C
// functions (XNNPACK convolution / fully-connected, transpose) directly, and
// free their intermediates with `backend.disposeData`. Going through high-level
// tf ops instead would record them on the gradient tape and pay the engine's
// per-op overhead, and would not let us pass explicit paddings to XNNPACK.
import { backend_util, getKernel, type DataType, type KernelConfig, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export type { BackendWasm };

/** The arguments every kernel function receives. */
export interface KernelArgs {
  inputs: Record<string, TensorInfo | undefined>;
  backend: unknown;
  attrs?: NamedAttrMap;
}

type CFn = (...args: unknown[]) => void;

/**
 * The parts of the Emscripten module we use (its TypeScript declarations need
 * @types/emscripten, which the project does not load).
 */
export interface WasmModule {
  cwrap(name: string, ret: string | null, args: string[]): CFn;
  HEAPU8: Uint8Array;
  tfjs: { disposeData(id: number): void };
}

export function wasmModule(backend: BackendWasm): WasmModule {
  return backend.wasm as unknown as WasmModule;
}

/** C entry points of the tfjs wasm binary that the project calls directly. */
interface WasmCFunctions {
  conv2d: CFn;
  depthwiseConv2d: CFn;
  batchMatMul: CFn;
}

const cFunctionCache = new WeakMap<object, WasmCFunctions>();
/** The shared `WebAssembly.Memory` of a threaded module (its HEAP views can be stale). */
const sharedMemoryOf = new WeakMap<object, WebAssembly.Memory>();

/** Records the memory object of a module we instantiated ourselves (threaded build). */
export function rememberWasmMemory(module: object, memory: WebAssembly.Memory): void {
  sharedMemoryOf.set(module, memory);
}

/** The shared memory of a threaded module started by this project, if any. */
export function sharedWasmMemory(backend: BackendWasm): WebAssembly.Memory | undefined {
  return sharedMemoryOf.get(backend.wasm as unknown as object);
}

const NUMBERS = (n: number): string[] => new Array<string>(n).fill('number');

function cFunctions(backend: BackendWasm): WasmCFunctions {
  const module = wasmModule(backend);
  let fns = cFunctionCache.get(module);
  if (fns === undefined) {
    const cwrap = module.cwrap.bind(module);
    fns = {
      // Same signatures as the stock kernels' `setupFunc` (tfjs-backend-wasm 4.22).
      conv2d: cwrap('Conv2D', null, NUMBERS(19)),
      depthwiseConv2d: cwrap('DepthwiseConv2dNative', null, NUMBERS(19)),
      batchMatMul: cwrap('BatchMatMul', null, ['number', 'array', 'number', 'number', 'array', 'number', 'number', 'number', 'number']),
    };
    cFunctionCache.set(module, fns);
  }
  return fns;
}

/** Current heap buffer; re-read after every allocation because the heap may grow. */
export function heapBuffer(backend: BackendWasm): ArrayBufferLike {
  const memory = sharedMemoryOf.get(backend.wasm as unknown as object);
  return memory !== undefined ? memory.buffer : wasmModule(backend).HEAPU8.buffer;
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** The backend's numeric id of a tensor (what the C functions take). */
export function tensorId(backend: BackendWasm, t: TensorInfo): number {
  return backend.dataIdMap.get(t.dataId)!.id;
}

/** A Float32Array view of a float32 tensor on the wasm heap. Valid until the next allocation. */
export function f32(backend: BackendWasm, t: TensorInfo): Float32Array {
  const { memoryOffset } = backend.dataIdMap.get(t.dataId)!;
  return new Float32Array(heapBuffer(backend), memoryOffset, sizeOf(t.shape));
}

/** Byte offset of a tensor's data in the wasm heap. */
export function byteOffset(backend: BackendWasm, t: TensorInfo): number {
  return backend.dataIdMap.get(t.dataId)!.memoryOffset;
}

/**
 * Temporary heap memory for per-channel vectors the SIMD kernels read or
 * accumulate into: `f64(n)` / `f32(n)` carve consecutive 16-byte-aligned
 * pieces; `release()` frees everything.
 */
export class Scratch {
  private readonly t: TensorInfo;
  private readonly base: number;
  private used = 0;
  constructor(
    private readonly backend: BackendWasm,
    bytes: number,
  ) {
    this.t = alloc(backend, [Math.ceil(bytes / 4) + 4]);
    this.base = (byteOffset(backend, this.t) + 15) & ~15;
  }
  private take(bytes: number): number {
    const at = this.base + this.used;
    this.used += (bytes + 15) & ~15;
    return at;
  }
  /** A zeroed float64 vector: [byte offset, view]. */
  f64(n: number): [number, Float64Array] {
    const at = this.take(n * 8);
    const v = new Float64Array(heapBuffer(this.backend), at, n);
    v.fill(0);
    return [at, v];
  }
  f32(n: number): [number, Float32Array] {
    const at = this.take(n * 4);
    return [at, new Float32Array(heapBuffer(this.backend), at, n)];
  }
  /** Makes all the space available again (views taken before must not be used). */
  reset(): void {
    this.used = 0;
  }
  /** Bytes to ask for to hold these pieces (each rounded up to 16 bytes). */
  static bytes(...pieces: number[]): number {
    return pieces.reduce((s, b) => s + ((b + 15) & ~15), 0);
  }
  release(): void {
    free(this.backend, this.t);
  }
}

/**
 * The geometry of an NHWC convolution (or depthwise one) from a kernel's shapes and attributes,
 * as tfjs computes it; throws for NCHW, which the project's kernels do not handle.
 */
export function convInfoOf(xShape: number[], filterShape: number[], attrs: Record<string, unknown>, depthwise = false): backend_util.Conv2DInfo {
  const dataFormat = (attrs.dataFormat as 'NHWC' | 'NCHW' | undefined) ?? 'NHWC';
  if (dataFormat !== 'NHWC') throw new Error(`wasm conv gradients support NHWC only, got ${dataFormat}`);
  return backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as number | [number, number],
    (attrs.dilations as number | [number, number] | undefined) ?? 1,
    attrs.pad as 'same' | 'valid' | number | backend_util.ExplicitPadding,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    depthwise,
  );
}

/** Allocates an (uninitialised) output tensor on the wasm heap. */
export function alloc(backend: BackendWasm, shape: number[], dtype: DataType = 'float32'): TensorInfo {
  return backend.makeOutput(shape, dtype);
}

/** Frees an intermediate created with `alloc` or returned by a wasm kernel. */
export function free(backend: BackendWasm, t: TensorInfo | null | undefined): void {
  if (t != null) backend.disposeData(t.dataId);
}

/** The same data seen with another shape (no copy, no ref-count change): only for C calls. */
export function withShape(t: TensorInfo, shape: number[]): TensorInfo {
  return { dataId: t.dataId, shape, dtype: t.dtype };
}

// ---------------------------------------------------------------------------
// Stock kernels. We keep their configs because some of them are replaced by
// ours (and ours may still delegate to them) and because kernels registered
// after the backend was initialised never get their `setupFunc` called.

const stockKernels = new Map<string, KernelConfig>();
const setUpFor = new WeakMap<object, Set<string>>();

/**
 * Remembers the stock wasm kernel of that name (before it is unregistered). A kernel whose function
 * is one of `ours` is not stock: a kernel only the project has (e.g. the fused BatchNorm) is never
 * taken for tfjs's own when the stock set is installed after the project's.
 */
export function captureStockKernel(name: string, ours: ReadonlySet<unknown> = new Set()): KernelConfig | undefined {
  if (!stockKernels.has(name)) {
    const k = getKernel(name, 'wasm');
    if (k !== undefined && !ours.has(k.kernelFunc)) stockKernels.set(name, k);
  }
  return stockKernels.get(name);
}

export function stockKernel(name: string): KernelConfig | undefined {
  return stockKernels.get(name) ?? getKernel(name, 'wasm');
}

/** Runs the stock wasm kernel `name` (making sure its setup ran for this backend). */
export function runStock(name: string, backend: BackendWasm, inputs: Record<string, TensorInfo>, attrs: NamedAttrMap = {}): TensorInfo {
  const k = stockKernel(name);
  if (k === undefined) throw new Error(`wasm kernel ${name} is not available`);
  const module = backend.wasm as unknown as object;
  let done = setUpFor.get(module);
  if (done === undefined) {
    done = new Set();
    setUpFor.set(module, done);
  }
  if (!done.has(name)) {
    k.setupFunc?.(backend);
    done.add(name);
  }
  return k.kernelFunc({ inputs, backend, attrs }) as TensorInfo;
}

/** Transposes with the backend's own (C++) transpose. */
export function transpose(backend: BackendWasm, x: TensorInfo, perm: number[]): TensorInfo {
  return runStock('Transpose', backend, { x }, { perm });
}

// ---------------------------------------------------------------------------
// Direct calls into XNNPACK through the backend's C functions.

export interface ConvCall {
  x: TensorInfo; // NHWC
  filter: TensorInfo; // [fh, fw, cin, cout]
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outC: number;
  fh: number;
  fw: number;
  padTop: number;
  padBottom: number;
  padLeft: number;
  padRight: number;
  strideH: number;
  strideW: number;
  dilationH: number;
  dilationW: number;
}

/** Output size of a convolution with explicit paddings. */
export function convOutSize(inSize: number, padA: number, padB: number, k: number, stride: number, dilation: number): number {
  const eff = (k - 1) * dilation + 1;
  return Math.floor((inSize + padA + padB - eff) / stride) + 1;
}

/**
 * XNNPACK 2-D convolution with explicit (possibly asymmetric) paddings; returns a
 * new tensor [batch, outH, outW, outC].
 */
export function xnnConv2d(backend: BackendWasm, c: ConvCall): TensorInfo {
  return xnnConv(backend, c, 'conv2d');
}

/** XNNPACK depthwise convolution (filter [fh, fw, C, multiplier]) with explicit paddings. */
export function xnnDepthwiseConv2d(backend: BackendWasm, c: ConvCall): TensorInfo {
  return xnnConv(backend, c, 'depthwiseConv2d');
}

function xnnConv(backend: BackendWasm, c: ConvCall, fn: 'conv2d' | 'depthwiseConv2d'): TensorInfo {
  const outH = convOutSize(c.inH, c.padTop, c.padBottom, c.fh, c.strideH, c.dilationH);
  const outW = convOutSize(c.inW, c.padLeft, c.padRight, c.fw, c.strideW, c.dilationW);
  const out = alloc(backend, [c.batch, outH, outW, c.outC]);
  cFunctions(backend)[fn](
    tensorId(backend, c.x),
    c.batch,
    c.inH,
    c.inW,
    tensorId(backend, c.filter),
    c.fh,
    c.fw,
    c.padTop,
    c.padRight,
    c.padBottom,
    c.padLeft,
    0 /* explicit padding */,
    c.dilationH,
    c.dilationW,
    c.strideH,
    c.strideW,
    c.inC,
    c.outC,
    tensorId(backend, out),
  );
  return out;
}

const int32Bytes = (a: number[]): Uint8Array => new Uint8Array(new Int32Array(a).buffer);

/**
 * out[m, n] = a[m, k] · b[k, n] on XNNPACK's fully-connected path (the only fast
 * path of the stock BatchMatMul: no transposes, batch 1). `b` is packed as the
 * "weights" on every call. Writes into `out` ([m, n], preallocated).
 */
export function xnnMatMulInto(backend: BackendWasm, a: TensorInfo, b: TensorInfo, m: number, k: number, n: number, out: TensorInfo): void {
  cFunctions(backend).batchMatMul(tensorId(backend, a), int32Bytes([1, m, k]), 3, tensorId(backend, b), int32Bytes([1, k, n]), 3, 0, 0, tensorId(backend, out));
}

/** Like `xnnMatMulInto`, allocating the [m, n] output. */
export function xnnMatMul(backend: BackendWasm, a: TensorInfo, b: TensorInfo, m: number, k: number, n: number): TensorInfo {
  const out = alloc(backend, [m, n]);
  xnnMatMulInto(backend, a, b, m, k, n, out);
  return out;
}

/**
 * The loop nest of a direct convolution: calls `tap` for every (output position, filter tap)
 * pair whose input position lies inside the image, with the element offsets of that output
 * pixel in dy [B, OH, OW, cdy], of the input pixel in x [B, H, W, cx], and the tap index
 * kh·KW + kw. The plain-loop gradients (references and fallbacks) are all written on it.
 */
export function forEachConvTap(ci: backend_util.Conv2DInfo, cx: number, cdy: number, tap: (dyBase: number, xBase: number, k: number) => void): void {
  const { batchSize: B, inHeight: H, inWidth: W, outHeight: OH, outWidth: OW } = ci;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = ci;
  const { top, left } = ci.padInfo;
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const dyBase = ((b * OH + oh) * OW + ow) * cdy;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * sh + kh * dh - top;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * sw + kw * dw - left;
            if (iw < 0 || iw >= W) continue;
            tap(dyBase, ((b * H + ih) * W + iw) * cx, kh * KW + kw);
          }
        }
      }
    }
  }
}
