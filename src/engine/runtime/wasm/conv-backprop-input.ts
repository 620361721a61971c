// Conv2DBackpropInput for the wasm backend (the stock one is a scalar loop): a forward
// convolution of dy with the flipped filter (the SIMD loop or XNNPACK); strided, one
// stride-1 convolution per output phase instead of a zero-dilated dy.
import { backend_util, type TensorInfo } from '@tensorflow/tfjs-core';
import { alloc, byteOffset, convInfoOf, f32, forEachConvTap, free, xnnConv2d, type BackendWasm, type KernelArgs } from './kernel-utils';
import { scatterPhase } from './layout';
import { simdFor } from './simd';
import { convByTiles, packFlippedSwappedFilter } from './conv-forward';

type Conv2DInfo = backend_util.Conv2DInfo;

/** W'[kh, kw, co, ci] = W[KH-1-kh, KW-1-kw, ci, co]: the filter of the transposed convolution. */
function flippedSwappedFilter(backend: BackendWasm, filter: TensorInfo): TensorInfo {
  const [KH, KW, Cin, Cout] = filter.shape;
  const out = alloc(backend, [KH, KW, Cout, Cin]);
  const w = f32(backend, filter);
  const o = f32(backend, out);
  for (let kh = 0; kh < KH; kh++) {
    for (let kw = 0; kw < KW; kw++) {
      const src = ((KH - 1 - kh) * KW + (KW - 1 - kw)) * Cin * Cout;
      const dst = (kh * KW + kw) * Cout * Cin;
      for (let c = 0; c < Cin; c++) {
        for (let q = 0; q < Cout; q++) o[dst + q * Cin + c] = w[src + c * Cout + q];
      }
    }
  }
  return out;
}

/** dy spread onto a zero grid with the forward stride: [B, (OH-1)·sh+1, (OW-1)·sw+1, C]. */
export function zeroDilate(backend: BackendWasm, dy: TensorInfo, sh: number, sw: number): TensorInfo {
  const [B, OH, OW, C] = dy.shape;
  const Hd = (OH - 1) * sh + 1;
  const Wd = (OW - 1) * sw + 1;
  const out = alloc(backend, [B, Hd, Wd, C]);
  const o = f32(backend, out);
  o.fill(0);
  const simd = C % 4 === 0 ? simdFor(backend) : null;
  if (simd !== null) {
    const row = 4 * C;
    for (let b = 0; b < B; b++) {
      simd.copyRows(
        byteOffset(backend, out) + b * Hd * Wd * row,
        byteOffset(backend, dy) + b * OH * OW * row,
        OH,
        OW,
        row,
        sh * Wd * row,
        sw * row,
        OW * row,
        row,
      );
    }
    return out;
  }
  const d = f32(backend, dy);
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const src = ((b * OH + oh) * OW + ow) * C;
        o.set(d.subarray(src, src + C), ((b * Hd + oh * sh) * Wd + ow * sw) * C);
      }
    }
  }
  return out;
}

/** Plain loops, for paddings the transposed-convolution path cannot express. */
function naiveConv2DBackpropInput(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, ci: Conv2DInfo): TensorInfo {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: Cin, outChannels: Cout } = ci;
  const dx = alloc(backend, [B, H, W, Cin]);
  const dxv = f32(backend, dx);
  dxv.fill(0);
  const dyv = f32(backend, dy);
  const w = f32(backend, filter);
  forEachConvTap(ci, Cin, Cout, (dyBase, dxBase, k) => {
    for (let c = 0; c < Cin; c++) {
      const wBase = (k * Cin + c) * Cout;
      let s = 0;
      for (let o = 0; o < Cout; o++) s += w[wBase + o] * dyv[dyBase + o];
      dxv[dxBase + c] += s;
    }
  });
  return dx;
}

/**
 * dx as a forward convolution of dy (zero-dilated when strided) with the flipped,
 * channel-swapped filter and paddings (KH-1-top, H-Hd+top).
 */
export function conv2DBackpropInputFromInfo(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, ci: Conv2DInfo): TensorInfo {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: Cin, outHeight: OH, outWidth: OW, outChannels: Cout } = ci;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = ci;
  const { top, left } = ci.padInfo;
  const Hd = (OH - 1) * sh + 1;
  const Wd = (OW - 1) * sw + 1;
  const padTop = KH - 1 - top;
  const padLeft = KW - 1 - left;
  const padBottom = H - Hd + top;
  const padRight = W - Wd + left;
  if (padTop < 0 || padLeft < 0 || padBottom < 0 || padRight < 0) {
    return naiveConv2DBackpropInput(backend, dy, filter, ci);
  }
  const wT = flippedSwappedFilter(backend, filter);
  const input = sh === 1 && sw === 1 ? dy : zeroDilate(backend, dy, sh, sw);
  const dx = xnnConv2d(backend, {
    x: input,
    filter: wT,
    batch: B,
    inH: Hd,
    inW: Wd,
    inC: Cout,
    outC: Cin,
    fh: KH,
    fw: KW,
    padTop,
    padBottom,
    padLeft,
    padRight,
    strideH: 1,
    strideW: 1,
    dilationH: 1,
    dilationW: 1,
  });
  if (input !== dy) free(backend, input);
  free(backend, wT);
  return dx;
}

/**
 * Strided dx without the zero-dilated dy (which would multiply by zeros 3 times
 * out of 4 at stride 2): output rows i ≡ p (mod stride) only receive filter taps
 * kh ≡ p + top (mod stride), so each phase (p, q) is a stride-1 convolution of
 * dy with a sub-filter, scattered into dx. Returns null when a phase would need
 * negative padding (unusual explicit paddings).
 */
/** One output phase along an axis: positions p, p+s, p+2s, … and the taps k0, k0+s, … that reach them. */
export interface Phase {
  p: number;
  k0: number;
  taps: number;
  count: number;
  /** Paddings of the stride-1 convolution of dy that produces this phase. */
  padA: number;
  padB: number;
}

/** The phases of a strided input gradient along one axis (null: a phase needs negative padding). */
export function phasePlan(n: number, outN: number, s: number, k: number, pad: number): Phase[] | null {
  const out: Phase[] = [];
  for (let p = 0; p < s && p < n; p++) {
    const k0 = (p + pad) % s;
    const taps = k0 < k ? Math.floor((k - 1 - k0) / s) + 1 : 0;
    const count = Math.ceil((n - p) / s);
    const d = (p + pad - k0) / s;
    const padA = taps - 1 - d;
    const padB = count - outN - padA + taps - 1;
    if (taps > 0 && (padA < 0 || padB < 0)) return null;
    out.push({ p, k0, taps, count, padA, padB });
  }
  return out;
}

function conv2DBackpropInputByPhases(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, ci: Conv2DInfo): TensorInfo | null {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: Cin, outHeight: OH, outWidth: OW, outChannels: Cout } = ci;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = ci;
  const { top, left } = ci.padInfo;
  const rows = phasePlan(H, OH, sh, KH, top);
  const cols = phasePlan(W, OW, sw, KW, left);
  if (rows === null || cols === null) return null;
  const dx = alloc(backend, [B, H, W, Cin]);
  if (rows.some((r) => r.taps === 0) || cols.some((c) => c.taps === 0)) f32(backend, dx).fill(0);
  for (const r of rows) {
    for (const c of cols) {
      if (r.taps === 0 || c.taps === 0) continue;
      // F[m, n, co, ci] = W[k0r + sh·(Mh−1−m), k0c + sw·(Mw−1−n), ci, co]
      const sub = alloc(backend, [r.taps, c.taps, Cout, Cin]);
      const fs = f32(backend, sub);
      const w = f32(backend, filter);
      for (let m = 0; m < r.taps; m++) {
        for (let n = 0; n < c.taps; n++) {
          const src = ((r.k0 + sh * (r.taps - 1 - m)) * KW + (c.k0 + sw * (c.taps - 1 - n))) * Cin * Cout;
          const dst = (m * c.taps + n) * Cout * Cin;
          for (let i = 0; i < Cin; i++) {
            for (let o = 0; o < Cout; o++) fs[dst + o * Cin + i] = w[src + i * Cout + o];
          }
        }
      }
      const part = xnnConv2d(backend, {
        x: dy,
        filter: sub,
        batch: B,
        inH: OH,
        inW: OW,
        inC: Cout,
        outC: Cin,
        fh: r.taps,
        fw: c.taps,
        padTop: r.padA,
        padBottom: r.padB,
        padLeft: c.padA,
        padRight: c.padB,
        strideH: 1,
        strideW: 1,
        dilationH: 1,
        dilationW: 1,
      });
      free(backend, sub);
      scatterPhase(backend, dx, part, r.p, c.p, sh, sw);
      free(backend, part);
    }
  }
  return dx;
}

/**
 * Stride-1 dx by the SIMD forward loop (conv-forward.ts): dy, padded by (KH−1−top, KW−1−left),
 * convolved with the flipped, channel-swapped filter. Null when that loop does not apply.
 */
export function inputGradByTiles(
  backend: BackendWasm,
  dy: TensorInfo,
  filter: TensorInfo,
  ci: Conv2DInfo,
  opts: { anyBuild?: boolean; maxParts?: number } = {},
): TensorInfo | null {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: Cin, outHeight: OH, outWidth: OW, outChannels: Cout } = ci;
  const { filterHeight: KH, filterWidth: KW } = ci;
  const top = KH - 1 - ci.padInfo.top;
  const left = KW - 1 - ci.padInfo.left;
  if (ci.strideHeight !== 1 || ci.strideWidth !== 1 || ci.dilationHeight !== 1 || ci.dilationWidth !== 1 || top < 0 || left < 0) return null;
  return convByTiles(
    backend,
    dy,
    {
      B,
      H: OH,
      W: OW,
      Cin: Cout,
      OH: H,
      OW: W,
      Cout: Cin,
      KH,
      KW,
      sh: 1,
      sw: 1,
      dh: 1,
      dw: 1,
      top,
      left,
    },
    packFlippedSwappedFilter(backend, filter, KH, KW, Cin, Cout),
    null,
    false,
    opts,
  );
}

export function conv2DBackpropInput(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const dy = args.inputs.dy!;
  const filter = args.inputs.filter!;
  const attrs = args.attrs ?? {};
  const ci = convInfoOf(attrs.inputShape as number[], filter.shape, attrs);
  if (ci.strideHeight === 1 && ci.strideWidth === 1) {
    const dx = inputGradByTiles(backend, dy, filter, ci);
    if (dx !== null) return dx;
  } else {
    const dx = conv2DBackpropInputByPhases(backend, dy, filter, ci);
    if (dx !== null) return dx;
  }
  return conv2DBackpropInputFromInfo(backend, dy, filter, ci);
}
