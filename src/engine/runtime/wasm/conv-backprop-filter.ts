// Conv2DBackpropFilter for the wasm backend (the stock wasm backend has none): a
// register-blocked SIMD loop with the batch split between threads (a pointwise convolution's
// pixels regrouped into cache-sized blocks), SIMD taps for few input channels, an im2col
// product, or XNNPACK's fast forward convolution with dy as the filter (batch-chunked); plus
// the plain-loop reference.
import { backend_util, type TensorInfo } from '@tensorflow/tfjs-core';
import {
  alloc,
  byteOffset,
  convInfoOf,
  f32,
  forEachConvTap,
  free,
  Scratch,
  sizeOf,
  xnnConv2d,
  xnnMatMul,
  type BackendWasm,
  type KernelArgs,
} from './kernel-utils';
import { swapOuter, swapOuterAndInner } from './layout';
import { convKernelsFor, type ConvKernels } from './simd';
import { splitRange } from './simd/threads';
import { FILTER_GRAD_TILES } from './simd/conv-programs';
import { disposeView, subTensorView } from './views';

type Conv2DInfo = backend_util.Conv2DInfo;

/** Input channel counts up to this use the im2col product for the filter gradient. */
const IM2COL_MAX_IN_CHANNELS = 4;

/**
 * Batch images per XNNPACK call in the filter gradient. The "filter" of that
 * call is dy itself (OH·OW·Bc·Cout floats); XNNPACK re-reads it once per
 * output tile, so it should stay cache-resident: about 12.5k rows of K
 * (OH·OW·Bc) measured best on 28×28/14×14/7×7 layers (fewer, bigger calls
 * otherwise; the per-call setup grows with the number of chunks).
 */
function filterGradChunk(B: number, OH: number, OW: number): number {
  const ideal = 12544 / (OH * OW);
  let bc = 4;
  while (bc * 2 <= ideal) bc *= 2;
  return Math.min(B, bc);
}

/**
 * dW via a forward convolution over transposed tensors: x as [Cin, H, W, B]
 * (Cin plays the batch, B the channels), dy as the filter [OH, OW, B, Cout], the
 * original stride as the dilation. The result [Cin, KH', KW', Cout] holds dW.
 *
 * XNNPACK packs the filter operand anew on every call (~6 ns a float), so for
 * stride 1 the roles may swap when x is the smaller tensor: dy as the input
 * [Cout, OH, OW, B], x as the filter [H, W, B, Cin], paddings that flip the
 * taps; the result [Cout, KH, KW, Cin] holds dW flipped.
 * Done over chunks of the batch (see filterGradChunk) and summed.
 */
export function filterGradByTransposedConv(backend: BackendWasm, x: TensorInfo, dy: TensorInfo, ci: Conv2DInfo): TensorInfo {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: Cin, outHeight: OH, outWidth: OW, outChannels: Cout } = ci;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = ci;
  const { top, left } = ci.padInfo;
  // Swapped roles: out[co, i, j, ci] = Σ dy[b, i + h − pt, j + w − pl, co]·x[b, h, w, ci], so
  // i = KH − 1 − kh with pt = KH − 1 − top, and pb making the output KH rows.
  const pt = KH - 1 - top;
  const pl = KW - 1 - left;
  const pb = H - OH + top;
  const pr = W - OW + left;
  const swap = sh === 1 && sw === 1 && H * W * Cin < OH * OW * Cout && Math.min(pt, pl, pb, pr) >= 0;
  // Bottom/right paddings that make the output exactly KH×KW; when the forward
  // pass ignored trailing input rows this would be negative: pad 0 and crop.
  const bottom = Math.max(0, KH - H - top + (OH - 1) * sh);
  const right = Math.max(0, KW - W - left + (OW - 1) * sw);
  const chunk = filterGradChunk(B, OH, OW);
  let sum: Float32Array | null = null;
  let Hc = 0;
  let Wc = 0;
  for (let b0 = 0; b0 < B; b0 += chunk) {
    const bc = Math.min(chunk, B - b0);
    const whole = bc === B;
    const xs = whole ? x : subTensorView(backend, x, b0 * H * W * Cin, [bc, H, W, Cin]);
    const dys = whole ? dy : subTensorView(backend, dy, b0 * OH * OW * Cout, [bc, OH, OW, Cout]);
    let input: TensorInfo;
    let filter: TensorInfo;
    let out: TensorInfo;
    if (swap) {
      input = swapOuterAndInner(backend, dys, bc, OH * OW, Cout); // [Cout, OH, OW, bc]
      filter = swapOuter(backend, xs, bc, H * W, Cin); // [H, W, bc, Cin]
      out = xnnConv2d(backend, {
        x: input,
        filter,
        batch: Cout,
        inH: OH,
        inW: OW,
        inC: bc,
        outC: Cin,
        fh: H,
        fw: W,
        padTop: pt,
        padBottom: pb,
        padLeft: pl,
        padRight: pr,
        strideH: 1,
        strideW: 1,
        dilationH: 1,
        dilationW: 1,
      });
    } else {
      input = swapOuterAndInner(backend, xs, bc, H * W, Cin); // [Cin, H, W, bc]
      filter = swapOuter(backend, dys, bc, OH * OW, Cout); // [OH, OW, bc, Cout]
      out = xnnConv2d(backend, {
        x: input,
        filter,
        batch: Cin,
        inH: H,
        inW: W,
        inC: bc,
        outC: Cout,
        fh: OH,
        fw: OW,
        padTop: top,
        padBottom: bottom,
        padLeft: left,
        padRight: right,
        strideH: 1,
        strideW: 1,
        dilationH: sh,
        dilationW: sw,
      });
    }
    if (!whole) {
      disposeView(backend, xs);
      disposeView(backend, dys);
    }
    free(backend, input);
    free(backend, filter);
    Hc = out.shape[1];
    Wc = out.shape[2];
    const o = f32(backend, out);
    if (sum === null) {
      sum = o.slice();
    } else {
      for (let i = 0; i < o.length; i++) sum[i] += o[i];
    }
    free(backend, out);
  }
  const dW = alloc(backend, [KH, KW, Cin, Cout]);
  const d = f32(backend, dW);
  if (swap) {
    // sum [Cout, KH, KW, Cin], taps flipped.
    for (let kh = 0; kh < KH; kh++) {
      for (let kw = 0; kw < KW; kw++) {
        for (let c = 0; c < Cin; c++) {
          const dst = ((kh * KW + kw) * Cin + c) * Cout;
          const src = ((KH - 1 - kh) * KW + (KW - 1 - kw)) * Cin + c;
          for (let o = 0; o < Cout; o++) d[dst + o] = sum![o * KH * KW * Cin + src];
        }
      }
    }
    return dW;
  }
  for (let kh = 0; kh < KH; kh++) {
    for (let kw = 0; kw < KW; kw++) {
      for (let c = 0; c < Cin; c++) {
        const src = ((c * Hc + kh) * Wc + kw) * Cout;
        d.set(sum!.subarray(src, src + Cout), ((kh * KW + kw) * Cin + c) * Cout);
      }
    }
  }
  return dW;
}

/**
 * dWᵀ = dyᵀ·P with P the patches [B·OH·OW, KH·KW·Cin] (im2col): best when Cin is
 * tiny (first layer), where the transposed convolution has too few output
 * pixels to keep XNNPACK busy. P (9 floats a row for Cin = 1) is the packed
 * "weights" operand, dyᵀ the streamed one.
 */
function filterGradByIm2col(backend: BackendWasm, x: TensorInfo, dy: TensorInfo, ci: Conv2DInfo): TensorInfo {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: Cin, outHeight: OH, outWidth: OW, outChannels: Cout } = ci;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = ci;
  const { top, left } = ci.padInfo;
  const N = B * OH * OW;
  const T = KH * KW * Cin;
  const dyT = swapOuterAndInner(backend, dy, N, 1, Cout); // [Cout, N]
  const patches = alloc(backend, [N, T]);
  const p = f32(backend, patches);
  const xv = f32(backend, x);
  p.fill(0);
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let kh = 0; kh < KH; kh++) {
        const ih = oh * sh + kh - top;
        if (ih < 0 || ih >= H) continue;
        for (let kw = 0; kw < KW; kw++) {
          // Valid output columns for this kw: 0 <= ow*sw + kw - left < W.
          const owLo = Math.max(0, Math.ceil((left - kw) / sw));
          const owHi = Math.min(OW, Math.floor((W - 1 + left - kw) / sw) + 1);
          const t0 = (kh * KW + kw) * Cin;
          let dst = ((b * OH + oh) * OW + owLo) * T + t0;
          let src = ((b * H + ih) * W + (owLo * sw + kw - left)) * Cin;
          const srcStep = sw * Cin;
          for (let ow = owLo; ow < owHi; ow++, dst += T, src += srcStep) {
            for (let c = 0; c < Cin; c++) p[dst + c] = xv[src + c];
          }
        }
      }
    }
  }
  const dWT = xnnMatMul(backend, dyT, patches, Cout, N, T); // [Cout, T]
  free(backend, dyT);
  free(backend, patches);
  const dW = alloc(backend, [KH, KW, Cin, Cout]);
  const src = f32(backend, dWT);
  const dst = f32(backend, dW);
  for (let o = 0; o < Cout; o++) {
    for (let t = 0; t < T; t++) dst[t * Cout + o] = src[o * T + t];
  }
  free(backend, dWT);
  return dW;
}

/**
 * dW by the SIMD tap loop (simd/programs.ts): 'depthwise' for channel multiplier 1,
 * 'broadcast' for an ordinary convolution with few input channels (each input
 * value times four output channels at once). Needs 4·C (depthwise) or Cout
 * (broadcast) a multiple of 4; null when the SIMD kernels are unavailable.
 */
export function filterGradBySimdTaps(
  backend: BackendWasm,
  x: TensorInfo,
  dy: TensorInfo,
  ci: Conv2DInfo,
  mode: 'depthwise' | 'broadcast',
  maxParts = Infinity,
): TensorInfo | null {
  const kernels = convKernelsFor(backend);
  if (kernels === null) return null;
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: Cin, outHeight: OH, outWidth: OW, outChannels: Cout } = ci;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = ci;
  const { top, left } = ci.padInfo;
  const C = mode === 'depthwise' ? Cin : Cout; // channels of a dy row
  const xAt = byteOffset(backend, x);
  const dyAt = byteOffset(backend, dy);
  return filterGradOnThreads(
    backend,
    kernels,
    mode === 'depthwise' ? 'depthwiseFilterGrad' : 'broadcastFilterGrad',
    mode === 'depthwise' ? [KH, KW, Cin, 1] : [KH, KW, Cin, Cout],
    B,
    maxParts,
    8,
    [validRanges(KW, W, OW, sw, dw, left)],
    (accAt, b0, b1, [rangeAt]) => [
      xAt + 4 * b0 * H * W * Cin,
      dyAt + 4 * b0 * OH * OW * C,
      accAt,
      b1 - b0,
      H,
      W,
      4 * C,
      OH,
      OW,
      KH,
      KW,
      sh,
      dh,
      top,
      sw,
      dw,
      left,
      rangeAt!,
      ...(mode === 'broadcast' ? [Cin] : []),
    ],
  );
}

/**
 * Runs the filter-gradient program `fn` on the pool's threads, the batch of B images split
 * between them, each into its own zeroed accumulator (float32 or float64: `accBytes`), and
 * returns their sum as dW. `tables` are int32 tables the program reads (valid output
 * ranges), passed to `args` by byte offset with the accumulator and the images [b0, b1).
 */
function filterGradOnThreads(
  backend: BackendWasm,
  kernels: ConvKernels,
  fn: string,
  shape: number[],
  B: number,
  maxParts: number,
  accBytes: 4 | 8,
  tables: number[][],
  args: (accAt: number, b0: number, b1: number, tableAts: number[]) => number[],
): TensorInfo {
  const slots = sizeOf(shape);
  const parts = Math.max(1, Math.min(kernels.pool.size, B, maxParts));
  const dW = alloc(backend, shape);
  const scratch = new Scratch(backend, Scratch.bytes(...new Array<number>(parts).fill(accBytes * slots), ...tables.map((t) => 4 * t.length)));
  try {
    const accs = Array.from({ length: parts }, () => {
      if (accBytes === 8) return scratch.f64(slots); // zeroed
      const acc = scratch.f32(slots);
      acc[1].fill(0);
      return acc;
    });
    const tableAts = tables.map((t) => scratch.f32(t.length)[0]);
    const heap = new Int32Array(f32(backend, dW).buffer);
    tables.forEach((t, i) => heap.set(t, tableAts[i]! / 4));
    kernels.pool.run(
      fn,
      accs.map(([at], p) => args(at, ...splitRange(B, parts, p), tableAts)),
    );
    sumInto(
      f32(backend, dW),
      accs.map(([, v]) => v),
    );
  } catch (e) {
    free(backend, dW);
    throw e;
  } finally {
    scratch.release();
  }
  return dW;
}

/** d = the sum of the threads' accumulators (float32 or float64), element by element. */
function sumInto(d: Float32Array, parts: ArrayLike<number>[]): void {
  for (let i = 0; i < d.length; i++) {
    let v = 0;
    for (const a of parts) v += a[i];
    d[i] = v;
  }
}

/** [lo, hi) of the output positions whose input o·stride + k·dilation − pad is inside [0, size), per tap k. */
function validRanges(K: number, size: number, outSize: number, stride: number, dilation: number, pad: number): number[] {
  const r: number[] = [];
  for (let k = 0; k < K; k++) {
    const lo = Math.max(0, Math.ceil((pad - k * dilation) / stride));
    const hi = Math.min(outSize, Math.floor((size - 1 + pad - k * dilation) / stride) + 1);
    r.push(lo, Math.max(lo, hi));
  }
  return r;
}

/**
 * dW by the register-blocked SIMD loop (simd/conv-programs.ts), the batch split between
 * the pool's threads, each into its own accumulator, summed at the end. Null when the SIMD
 * kernels are unavailable or no tile divides the channels. `maxParts` caps the split (tests).
 */
export function filterGradByTiles(backend: BackendWasm, x: TensorInfo, dy: TensorInfo, ci: Conv2DInfo, maxParts = Infinity): TensorInfo | null {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: Cin, outHeight: OH, outWidth: OW, outChannels: Cout } = ci;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = ci;
  const { top, left } = ci.padInfo;
  const tile = FILTER_GRAD_TILES.find((t) => Cin % t.tileIn === 0 && Cout % t.tileOut === 0);
  if (tile === undefined) return null;
  const kernels = convKernelsFor(backend);
  if (kernels === null) return null;
  const xAt = byteOffset(backend, x);
  const dyAt = byteOffset(backend, dy);
  return filterGradOnThreads(
    backend,
    kernels,
    tile.name,
    [KH, KW, Cin, Cout],
    B,
    maxParts,
    4,
    [validRanges(KW, W, OW, sw, dw, left), validRanges(KH, H, OH, sh, dh, top)],
    (accAt, b0, b1, [owAt, ohAt]) => [xAt, dyAt, accAt, b0, b1, H, W, Cin, OH, OW, Cout, KW, sh, dh, top, sw, dw, left, owAt!, ohAt!, KH],
  );
}

/** Bytes of x and dy a block of pixels of a pointwise filter gradient should stay within (a share of L2). */
const POINTWISE_BLOCK_BYTES = 256 * 1024;

/**
 * Pixels per block for the filter gradient of a pointwise convolution: the largest divisor of
 * the M pixels that is at most max(128, what keeps the block's x and dy within
 * POINTWISE_BLOCK_BYTES), and at most M / threads so that every thread gets a block. The tile
 * loop re-reads a block's pixels once per tile of channels and loads and stores its accumulators
 * once per block: whole images are too big for that at 64×64 (16→96: 1.8 MB) and too small at
 * 4×4 (320→1280: 16 pixels per 1.6 MB of accumulators).
 */
export function pointwiseBlock(M: number, Cin: number, Cout: number, threads: number): number {
  const cap = Math.max(1, Math.min(Math.floor(M / Math.max(1, threads)), Math.max(128, Math.floor(POINTWISE_BLOCK_BYTES / (4 * (Cin + Cout))))));
  for (let p = cap; p > 1; p--) if (M % p === 0) return p;
  return 1;
}

/**
 * A 1×1, stride-1, unpadded convolution seen as M / P "images" of 1×P pixels (the same memory:
 * x and dy are pixel-major), P from pointwiseBlock; null for any other convolution.
 */
export function pointwiseAsBlocks(ci: Conv2DInfo, threads: number): Conv2DInfo | null {
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw, padInfo: pad } = ci;
  if (KH !== 1 || KW !== 1 || sh !== 1 || sw !== 1 || pad.top !== 0 || pad.left !== 0 || pad.bottom !== 0 || pad.right !== 0) return null;
  if (ci.outHeight !== ci.inHeight || ci.outWidth !== ci.inWidth) return null;
  const M = ci.batchSize * ci.inHeight * ci.inWidth;
  const P = pointwiseBlock(M, ci.inChannels, ci.outChannels, threads);
  return { ...ci, batchSize: M / P, inHeight: 1, inWidth: P, outHeight: 1, outWidth: P };
}

export function conv2DBackpropFilter(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const x = args.inputs.x!;
  const dy = args.inputs.dy!;
  const attrs = args.attrs ?? {};
  const ci = convInfoOf(x.shape, attrs.filterShape as number[], attrs);
  if (ci.inChannels <= IM2COL_MAX_IN_CHANNELS) {
    const dW = ci.outChannels % 4 === 0 ? filterGradBySimdTaps(backend, x, dy, ci, 'broadcast') : null;
    return dW ?? filterGradByIm2col(backend, x, dy, ci);
  }
  const blocks = pointwiseAsBlocks(ci, convKernelsFor(backend)?.pool.size ?? 1);
  return filterGradByTiles(backend, x, dy, blocks ?? ci) ?? filterGradByTransposedConv(backend, x, dy, ci);
}

/** Plain loops: the reference the "stock + naive backprop filter" variant trains with. */
export function naiveConv2DBackpropFilter(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const x = args.inputs.x!;
  const dy = args.inputs.dy!;
  const attrs = args.attrs ?? {};
  const ci = convInfoOf(x.shape, attrs.filterShape as number[], attrs);
  const { inChannels: Cin, outChannels: Cout, filterHeight: KH, filterWidth: KW } = ci;
  const dW = alloc(backend, [KH, KW, Cin, Cout]);
  const acc = new Float64Array(KH * KW * Cin * Cout);
  const xv = f32(backend, x);
  const dyv = f32(backend, dy);
  forEachConvTap(ci, Cin, Cout, (dyBase, xBase, k) => {
    for (let c = 0; c < Cin; c++) {
      const xval = xv[xBase + c];
      const wBase = (k * Cin + c) * Cout;
      for (let o = 0; o < Cout; o++) acc[wBase + o] += xval * dyv[dyBase + o];
    }
  });
  f32(backend, dW).set(acc);
  return dW;
}
