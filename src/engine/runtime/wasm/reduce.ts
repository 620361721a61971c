// Sum / Mean over a contiguous block of axes, and Tile, for the wasm backend.
//
// The stock reductions first transpose the reduced axes to the end, then reduce
// the innermost axis; for the reductions training does most (bias and BatchNorm
// gradients reduce [B, H, W] of [B, H, W, C]) that is a full transpose per call.
// Here x is seen as [A, R, C] and the R rows are added column-wise, in order.
// The stock Tile copies element by element with index arithmetic; this one
// copies whole rows and doubles blocks with copyWithin.
import { backend_util, util, type TensorInfo } from '@tensorflow/tfjs-core';
import { alloc, byteOffset, f32, heapBuffer, runStock, Scratch, sizeOf, type BackendWasm, type KernelArgs } from './kernel-utils';
import { simdFor } from './simd';

interface Blocks {
  A: number;
  R: number;
  C: number;
  outShape: number[];
}

/** [A, R, C] blocks when `axes` are contiguous and not only the innermost ones; else null. */
function contiguousBlocks(shape: number[], axisAttr: number | number[], keepDims: boolean): Blocks | null {
  const axes = [...new Set(util.parseAxisParam(axisAttr, shape))].sort((p, q) => p - q);
  if (axes.length === 0) return null;
  for (let i = 1; i < axes.length; i++) if (axes[i] !== axes[i - 1] + 1) return null;
  const first = axes[0];
  const last = axes[axes.length - 1];
  const A = sizeOf(shape.slice(0, first));
  const R = sizeOf(shape.slice(first, last + 1));
  const C = sizeOf(shape.slice(last + 1));
  if (C === 1 || R === 0) return null; // innermost reduction: the stock kernel does not transpose
  const kept = shape.filter((_, i) => i < first || i > last);
  const outShape = keepDims ? backend_util.expandShapeToKeepDim(kept, axes) : kept;
  return { A, R, C, outShape };
}

function reduceRows(backend: BackendWasm, x: TensorInfo, blk: Blocks, scale: number): TensorInfo {
  const { A, R, C } = blk;
  const out = alloc(backend, blk.outShape);
  const simd = C % 4 === 0 ? simdFor(backend) : null;
  if (simd !== null) {
    const scratch = new Scratch(backend, 8 * C);
    try {
      const xAt = byteOffset(backend, x);
      for (let a = 0; a < A; a++) {
        const [sAt, s] = scratch.f64(C);
        simd.colSum(xAt + a * R * C * 4, R, 4 * C, sAt);
        const ov = f32(backend, out);
        for (let c = 0; c < C; c++) ov[a * C + c] = s[c] * scale;
        scratch.reset();
      }
    } finally {
      scratch.release();
    }
    return out;
  }
  const xv = f32(backend, x);
  const ov = f32(backend, out);
  const acc = new Float64Array(C);
  for (let a = 0; a < A; a++) {
    acc.fill(0);
    let base = a * R * C;
    for (let r = 0; r < R; r++, base += C) {
      for (let c = 0; c < C; c++) acc[c] += xv[base + c];
    }
    const o = a * C;
    for (let c = 0; c < C; c++) ov[o + c] = acc[c] * scale;
  }
  return out;
}

function reduction(kind: 'Sum' | 'Mean') {
  return (args: KernelArgs): TensorInfo => {
    const backend = args.backend as BackendWasm;
    const x = args.inputs.x!;
    const attrs = args.attrs ?? {};
    const blk = x.dtype === 'float32' ? contiguousBlocks(x.shape, attrs.axis as number | number[], Boolean(attrs.keepDims)) : null;
    if (blk === null) return runStock(kind, backend, { x }, attrs);
    return reduceRows(backend, x, blk, kind === 'Mean' ? 1 / blk.R : 1);
  };
}

export const sum = reduction('Sum');
export const mean = reduction('Mean');

type Typed = Float32Array | Int32Array | Uint8Array;

function typedView(backend: BackendWasm, t: TensorInfo): Typed {
  const { memoryOffset } = backend.dataIdMap.get(t.dataId)!;
  const n = sizeOf(t.shape);
  const buf = heapBuffer(backend);
  switch (t.dtype) {
    case 'float32':
      return new Float32Array(buf, memoryOffset, n);
    case 'int32':
      return new Int32Array(buf, memoryOffset, n);
    case 'bool':
      return new Uint8Array(buf, memoryOffset, n);
    default:
      throw new Error(`Tile: unsupported dtype ${t.dtype}`);
  }
}

export function tile(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const x = args.inputs.x!;
  const reps = args.attrs!.reps as number[];
  if (x.dtype === 'string' || x.dtype === 'complex64' || x.shape.length === 0) return runStock('Tile', backend, { x }, args.attrs);
  const rank = x.shape.length;
  const outShape = x.shape.map((d, i) => d * reps[i]);
  const out = alloc(backend, outShape, x.dtype);
  if (sizeOf(outShape) === 0) return out;
  const xv = typedView(backend, x);
  const ov = typedView(backend, out);
  const xStride = new Array<number>(rank);
  const oStride = new Array<number>(rank);
  xStride[rank - 1] = 1;
  oStride[rank - 1] = 1;
  for (let d = rank - 2; d >= 0; d--) {
    xStride[d] = xStride[d + 1] * x.shape[d + 1];
    oStride[d] = oStride[d + 1] * outShape[d + 1];
  }
  // Fills the block of `out` for dimension d starting at oOff from x at xOff:
  // first the x.shape[d] sub-blocks, then the whole block is repeated reps[d] times.
  const fill = (d: number, xOff: number, oOff: number): void => {
    const n = x.shape[d];
    if (d === rank - 1) {
      ov.set(xv.subarray(xOff, xOff + n), oOff);
    } else {
      for (let i = 0; i < n; i++) fill(d + 1, xOff + i * xStride[d], oOff + i * oStride[d]);
    }
    const block = n * oStride[d];
    let filled = block;
    const total = block * reps[d];
    while (filled < total) {
      const len = Math.min(filled, total - filled);
      ov.copyWithin(oOff + filled, oOff, oOff + len);
      filled += len;
    }
  };
  fill(0, 0, 0);
  return out;
}
