// Conv2DBackpropFilter composed of a backend's own fast kernels: im2col by strided slices, then
// one batched matrix product over chunks of the batch, summed.
//
// tfjs-backend-webgpu 4.22's Conv2DBackpropFilter gives each filter weight one GPU thread that
// loops over every batch position: 3·3·1·32 = 288 threads for a first layer, each summing
// 200,000 products. Measured on an H100 (batch 256, Fashion-MNIST's 2-conv net): 80.8 ms for the
// 1→32 layer and 16.4 ms for the 32→64 one, against under 0.4 ms for every other kernel of the
// step. The product form splits that sum over many workgroups (one matrix product per chunk of
// images) and uses the backend's tiled matrix product.
//
// Written against kernel names only (PadV2, StridedSlice, Reshape, Concat, BatchMatMul, Sum),
// so it runs on any backend: the unit tests check it on the cpu backend against the cpu's own
// kernel; on webgpu it replaces the stock kernel.
import { backend_util, getKernel, type KernelBackend, type KernelConfig, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';

type Pad = 'same' | 'valid' | number | backend_util.ExplicitPadding;

/** Elements of the im2col matrix built at once (larger batches are done in pieces and summed). */
const MAX_PATCH_ELEMENTS = 1 << 25;
/** Rows (image positions) each chunk's matrix product sums over. */
const ROWS_PER_CHUNK = 1024;

/** A backend and the temporaries its kernels made, released together at the end. */
export interface Ctx {
  backendName: string;
  backend: KernelBackend;
  temps: TensorInfo[];
}

/** Runs the backend's own kernel `name`; its (first) output is recorded in `c.temps`. */
export function run(c: Ctx, name: string, inputs: Record<string, TensorInfo> | TensorInfo[], attrs: Record<string, unknown> = {}): TensorInfo {
  const k = getKernel(name, c.backendName);
  if (k === undefined) throw new Error(`${c.backendName} has no ${name} kernel`);
  const out = k.kernelFunc({ inputs: inputs as unknown as Record<string, TensorInfo>, backend: c.backend, attrs: attrs as NamedAttrMap });
  const t = (Array.isArray(out) ? out[0] : out) as TensorInfo;
  c.temps.push(t);
  return t;
}

/** Releases the temporaries except `keep` (a reshape holds its own reference to shared data). */
export function release(c: Ctx, keep: readonly TensorInfo[]): void {
  for (const t of c.temps) if (!keep.includes(t)) c.backend.disposeData(t.dataId);
}

export function reshape(c: Ctx, x: TensorInfo, shape: number[]): TensorInfo {
  return run(c, 'Reshape', { x }, { shape });
}

/** Images per piece: as many as keep the im2col matrix under MAX_PATCH_ELEMENTS (at least one). */
export function imagesPerPiece(B: number, OH: number, OW: number, taps: number, Cin: number, maxElements = MAX_PATCH_ELEMENTS): number {
  return Math.max(1, Math.min(B, Math.floor(maxElements / (OH * OW * taps * Cin))));
}

/**
 * Chunks of a piece of `b` images for the batched product: the fewest images per chunk whose
 * positions reach ROWS_PER_CHUNK, among the divisors of b (so the chunks are equal).
 */
export function imagesPerChunk(b: number, OH: number, OW: number): number {
  for (let d = 1; d <= b; d++) if (b % d === 0 && d * OH * OW >= ROWS_PER_CHUNK) return d;
  return b;
}

/** dW [KH, KW, Cin, Cout] of a 2-D convolution, from x [B, H, W, Cin] and dy [B, OH, OW, Cout]. */
export function conv2dBackpropFilterComposed(
  backendName: string,
  backend: KernelBackend,
  x: TensorInfo,
  dy: TensorInfo,
  attrs: Record<string, unknown>,
  maxPatchElements = MAX_PATCH_ELEMENTS,
): TensorInfo {
  const dataFormat = (attrs.dataFormat as string | undefined) ?? 'NHWC';
  if (dataFormat !== 'NHWC') throw new Error(`Conv2DBackpropFilter (composed) supports NHWC only, got ${dataFormat}`);
  const filterShape = attrs.filterShape as [number, number, number, number];
  const ci = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    attrs.strides as number | [number, number],
    (attrs.dilations as number | [number, number] | undefined) ?? 1,
    attrs.pad as Pad,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
  );
  const { batchSize: B, inChannels: Cin, outHeight: OH, outWidth: OW, outChannels: Cout } = ci;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = ci;
  const { top, bottom, left, right } = ci.padInfo;
  if (dh !== 1 || dw !== 1) throw new Error('Conv2DBackpropFilter (composed): dilation > 1 has no gradient in tfjs-core either');
  const T = KH * KW;
  const c: Ctx = { backendName, backend, temps: [] };
  // Temporaries are released by dataId; a reshape shares its input's data and holds a reference
  // of its own, so releasing `total` leaves `out` valid.
  const keep: TensorInfo[] = [];
  try {
    const piece = imagesPerPiece(B, OH, OW, T, Cin, maxPatchElements);
    let total: TensorInfo | null = null;
    for (let b0 = 0; b0 < B; b0 += piece) {
      const b = Math.min(piece, B - b0);
      const xs = b === B ? x : run(c, 'Slice', { x }, { begin: [b0, 0, 0, 0], size: [b, x.shape[1], x.shape[2], Cin] });
      const dys = b === B ? dy : run(c, 'Slice', { x: dy }, { begin: [b0, 0, 0, 0], size: [b, OH, OW, Cout] });
      const padded =
        top || bottom || left || right
          ? run(
              c,
              'PadV2',
              { x: xs },
              {
                paddings: [
                  [0, 0],
                  [Math.max(0, top), Math.max(0, bottom)],
                  [Math.max(0, left), Math.max(0, right)],
                  [0, 0],
                ],
                constantValue: 0,
              },
            )
          : xs;
      // One [b·OH·OW, 1, Cin] slab per tap, concatenated to the patches [b·OH·OW, T·Cin] (tap-major,
      // the filter's own [KH, KW, Cin] order).
      const slabs: TensorInfo[] = [];
      for (let kh = 0; kh < KH; kh++) {
        for (let kw = 0; kw < KW; kw++) {
          const h0 = kh * dh;
          const w0 = kw * dw;
          const s = run(
            c,
            'StridedSlice',
            { x: padded },
            {
              begin: [0, h0, w0, 0],
              end: [b, h0 + (OH - 1) * sh + 1, w0 + (OW - 1) * sw + 1, Cin],
              strides: [1, sh, sw, 1],
              beginMask: 0,
              endMask: 0,
              ellipsisMask: 0,
              newAxisMask: 0,
              shrinkAxisMask: 0,
            },
          );
          slabs.push(reshape(c, s, [b * OH * OW, 1, Cin]));
        }
      }
      const patches = T === 1 ? slabs[0] : run(c, 'Concat', slabs, { axis: 1 });
      const per = imagesPerChunk(b, OH, OW);
      const chunks = b / per;
      const rows = per * OH * OW;
      const p = reshape(c, patches, [chunks, rows, T * Cin]);
      const g = reshape(c, dys, [chunks, rows, Cout]);
      const partial = run(c, 'BatchMatMul', { a: p, b: g }, { transposeA: true, transposeB: false }); // [chunks, T·Cin, Cout]
      const summed = chunks === 1 ? reshape(c, partial, [T * Cin, Cout]) : run(c, 'Sum', { x: partial }, { axis: [0], keepDims: false });
      total = total === null ? summed : run(c, 'Add', { a: total, b: summed });
    }
    const out = reshape(c, total!, [KH, KW, Cin, Cout]);
    keep.push(out);
    return out;
  } finally {
    release(c, keep);
  }
}

/** Kernel config replacing a backend's Conv2DBackpropFilter with the composed one. */
export function composedConv2dBackpropFilterKernel(backendName: string): KernelConfig {
  return {
    kernelName: 'Conv2DBackpropFilter',
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) =>
      conv2dBackpropFilterComposed(
        backendName,
        backend as KernelBackend,
        inputs.x as TensorInfo,
        inputs.dy as TensorInfo,
        (attrs ?? {}) as Record<string, unknown>,
      ),
  };
}
