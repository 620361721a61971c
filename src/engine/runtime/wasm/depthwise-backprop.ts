// DepthwiseConv2dNativeBackpropFilter / BackpropInput for the wasm backend (the
// stock backend has neither). Depthwise layers are cheap (no reduction over
// channels), so plain loops that read memory in order are adequate; the input
// gradient with channel multiplier 1 goes through XNNPACK's depthwise kernel.
import { type TensorInfo } from '@tensorflow/tfjs-core';
import { filterGradBySimdTaps } from './conv-backprop-filter';
import { zeroDilate } from './conv-backprop-input';
import { alloc, convInfoOf, f32, forEachConvTap, free, xnnDepthwiseConv2d, type BackendWasm, type KernelArgs } from './kernel-utils';

export function depthwiseConv2dNativeBackpropFilter(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const x = args.inputs.x!;
  const dy = args.inputs.dy!;
  const attrs = args.attrs ?? {};
  const ci = convInfoOf(x.shape, attrs.filterShape as number[], attrs, true);
  const { inChannels: C, outChannels: CM, filterHeight: KH, filterWidth: KW } = ci;
  const M = CM / C;
  if (M === 1 && C % 4 === 0) {
    const dW = filterGradBySimdTaps(backend, x, dy, ci, 'depthwise');
    if (dW !== null) return dW;
  }
  const acc = new Float64Array(KH * KW * CM);
  const xv = f32(backend, x);
  const dyv = f32(backend, dy);
  forEachConvTap(ci, C, CM, (dyBase, xBase, k) => {
    const wBase = k * CM;
    for (let c = 0; c < C; c++) {
      const xval = xv[xBase + c];
      for (let q = 0; q < M; q++) acc[wBase + c * M + q] += xval * dyv[dyBase + c * M + q];
    }
  });
  const dW = alloc(backend, [KH, KW, C, M]);
  f32(backend, dW).set(acc);
  return dW;
}

export function depthwiseConv2dNativeBackpropInput(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const dy = args.inputs.dy!;
  const filter = args.inputs.filter!;
  const attrs = args.attrs ?? {};
  const ci = convInfoOf(attrs.inputShape as number[], filter.shape, attrs, true);
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, outChannels: CM } = ci;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = ci;
  const { top, left } = ci.padInfo;
  const M = CM / C;

  // Multiplier 1: a depthwise convolution of (zero-dilated) dy with the flipped filter.
  const effH = (KH - 1) * dh + 1;
  const effW = (KW - 1) * dw + 1;
  const Hd = (OH - 1) * sh + 1;
  const Wd = (OW - 1) * sw + 1;
  const padTop = effH - 1 - top;
  const padLeft = effW - 1 - left;
  const padBottom = H - Hd + top;
  const padRight = W - Wd + left;
  if (M === 1 && padTop >= 0 && padLeft >= 0 && padBottom >= 0 && padRight >= 0) {
    const flipped = alloc(backend, [KH, KW, C, 1]);
    const fw = f32(backend, flipped);
    const w = f32(backend, filter);
    for (let kh = 0; kh < KH; kh++) {
      for (let kw = 0; kw < KW; kw++) {
        const src = ((KH - 1 - kh) * KW + (KW - 1 - kw)) * C;
        fw.set(w.subarray(src, src + C), (kh * KW + kw) * C);
      }
    }
    const input = sh === 1 && sw === 1 ? dy : zeroDilate(backend, dy, sh, sw);
    const dx = xnnDepthwiseConv2d(backend, {
      x: input,
      filter: flipped,
      batch: B,
      inH: Hd,
      inW: Wd,
      inC: C,
      outC: C,
      fh: KH,
      fw: KW,
      padTop,
      padBottom,
      padLeft,
      padRight,
      strideH: 1,
      strideW: 1,
      dilationH: dh,
      dilationW: dw,
    });
    if (input !== dy) free(backend, input);
    free(backend, flipped);
    return dx;
  }

  const dx = alloc(backend, [B, H, W, C]);
  const dxv = f32(backend, dx);
  dxv.fill(0);
  const dyv = f32(backend, dy);
  const w = f32(backend, filter);
  forEachConvTap(ci, C, CM, (dyBase, dxBase, k) => {
    const wBase = k * CM;
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let q = 0; q < M; q++) s += w[wBase + c * M + q] * dyv[dyBase + c * M + q];
      dxv[dxBase + c] += s;
    }
  });
  return dx;
}
