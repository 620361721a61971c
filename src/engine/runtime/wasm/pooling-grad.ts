// MaxPool (2×2 / stride 2 on the pool's threads), MaxPoolGrad and AvgPoolGrad for the wasm backend.
//
// The stock wasm MaxPoolGrad is slow and routes the gradient to the wrong cell
// when a whole pooling window is negative; this one finds the first strict
// maximum of each window (the cpu backend's rule) and adds dy there, scanning
// all channels of a window position at once so that memory is read in order.
import { backend_util, MaxPool, type TensorInfo } from '@tensorflow/tfjs-core';
import { alloc, byteOffset, f32, runStock, sizeOf, type BackendWasm, type KernelArgs } from './kernel-utils';
import { partsFor, poolFor, runSplit } from './split';

type Pad = 'same' | 'valid' | number | backend_util.ExplicitPadding;
type Rounding = 'floor' | 'round' | 'ceil' | undefined;

function poolInfo(xShape: number[], attrs: Record<string, unknown>): backend_util.Conv2DInfo {
  return backend_util.computePool2DInfo(
    xShape as [number, number, number, number],
    attrs.filterSize as number | [number, number],
    attrs.strides as number | [number, number],
    1,
    attrs.pad as Pad,
    attrs.dimRoundingMode as Rounding,
  );
}

/**
 * Calls `window` for each pooling window with the offset of its output pixel in dy, its batch
 * index, and the rows [rLo, rHi) and columns [cLo, cHi) of the input it covers.
 */
function forEachWindow(
  ci: backend_util.Conv2DInfo,
  window: (dyBase: number, b: number, rLo: number, rHi: number, cLo: number, cHi: number) => void,
  skip?: (oh: number, ow: number) => boolean,
): void {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = ci;
  const { strideHeight: sh, strideWidth: sw, effectiveFilterHeight: FH, effectiveFilterWidth: FW } = ci;
  const { top, left } = ci.padInfo;
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      const r0 = oh * sh - top;
      for (let ow = 0; ow < OW; ow++) {
        const c0 = ow * sw - left;
        if (skip?.(oh, ow) === true) continue;
        window(((b * OH + oh) * OW + ow) * C, b, Math.max(0, r0), Math.min(H, r0 + FH), Math.max(0, c0), Math.min(W, c0 + FW));
      }
    }
  }
}

/** 2×2 windows, stride 2, channels a multiple of 4, no padding at the top or left: the SIMD loops' case. */
function twoByTwo(ci: backend_util.Conv2DInfo): boolean {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = ci;
  const [wholeH, wholeW] = [Math.floor(H / 2), Math.floor(W / 2)];
  return (
    C % 4 === 0 &&
    ci.effectiveFilterHeight === 2 &&
    ci.effectiveFilterWidth === 2 &&
    ci.strideHeight === 2 &&
    ci.strideWidth === 2 &&
    ci.padInfo.top === 0 &&
    ci.padInfo.left === 0 &&
    (OH === wholeH || OH === wholeH + 1) &&
    (OW === wholeW || OW === wholeW + 1) &&
    OH * OW > 0
  );
}

/**
 * MaxPool, 2×2 / stride 2 (unpadded or 'same'): the whole windows in SIMD, a share of the images
 * per thread, the partial ones of 'same' padding in JS; other pools run the stock kernel.
 */
export function maxPool(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const x = args.inputs.x!;
  const ci = poolInfo(x.shape, args.attrs ?? {});
  const pool = x.dtype === 'float32' && twoByTwo(ci) ? poolFor(backend) : null;
  if (pool === null) return runStock(MaxPool, backend, { x }, args.attrs ?? {});
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = ci;
  const y = alloc(backend, [B, OH, OW, C]);
  const [xAt, yAt] = [x, y].map((t) => byteOffset(backend, t));
  const [image, yImage] = [H * W * 4 * C, OH * OW * 4 * C];
  runSplit(pool, 'maxPool2x2', partsFor(pool, B, sizeOf(x.shape)), B, (b0, b1) => [xAt + image * b0, yAt + yImage * b0, b1 - b0, H, W, 4 * C, OH, OW]);
  const [wholeH, wholeW] = [Math.floor(H / 2), Math.floor(W / 2)];
  if (OH === wholeH && OW === wholeW) return y;
  const xv = f32(backend, x);
  const yv = f32(backend, y);
  forEachWindow(
    ci,
    (yBase, b, rLo, rHi, cLo, cHi) => {
      for (let c = 0; c < C; c++) {
        let m = -Infinity;
        for (let r = rLo; r < rHi; r++) for (let col = cLo; col < cHi; col++) m = Math.max(m, xv[((b * H + r) * W + col) * C + c]);
        yv[yBase + c] = m;
      }
    },
    (oh, ow) => oh < wholeH && ow < wholeW,
  );
  return y;
}

export function maxPoolGrad(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const dy = args.inputs.dy!;
  const x = args.inputs.input!;
  const ci = poolInfo(x.shape, args.attrs ?? {});
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = ci;
  const dx = alloc(backend, x.shape);
  const [wholeH, wholeW] = [Math.floor(H / 2), Math.floor(W / 2)];
  // The common 2×2 / stride 2 case, unpadded or 'same' (one more partial window at the bottom
  // or right of odd sizes): the whole windows branch-free in SIMD, a share of the images per
  // thread; the partial ones below in JS.
  const pool = twoByTwo(ci) ? poolFor(backend) : null;
  const dxv = f32(backend, dx);
  if (pool !== null) {
    // Rows/columns outside every whole window (odd sizes) get no gradient there.
    if (H % 2 === 1 || W % 2 === 1) dxv.fill(0);
    const [dxAt, xAt, dyAt] = [dx, x, dy].map((t) => byteOffset(backend, t));
    const image = H * W * 4 * C;
    const dyImage = OH * OW * 4 * C;
    runSplit(pool, 'maxPoolGrad2x2', partsFor(pool, B, sizeOf(x.shape)), B, (b0, b1) => [
      dxAt + image * b0,
      xAt + image * b0,
      dyAt + dyImage * b0,
      b1 - b0,
      H,
      W,
      4 * C,
      OH,
      OW,
    ]);
    if (OH === wholeH && OW === wholeW) return dx;
  } else {
    dxv.fill(0);
  }
  const xv = f32(backend, x);
  const dyv = f32(backend, dy);
  const best = new Float32Array(C);
  const pos = new Int32Array(C);
  forEachWindow(
    ci,
    (dyBase, b, rLo, rHi, cLo, cHi) => {
      best.fill(-Infinity);
      pos.fill(-1);
      for (let r = rLo; r < rHi; r++) {
        for (let col = cLo; col < cHi; col++) {
          const base = ((b * H + r) * W + col) * C;
          for (let c = 0; c < C; c++) {
            const v = xv[base + c];
            if (v > best[c]) {
              best[c] = v;
              pos[c] = base + c;
            }
          }
        }
      }
      for (let c = 0; c < C; c++) {
        const p = pos[c];
        if (p >= 0) dxv[p] += dyv[dyBase + c];
      }
    },
    pool === null ? undefined : (oh, ow) => oh < wholeH && ow < wholeW,
  );
  return dx;
}

/** Same rule as the cpu backend: every cell of a window gets dy / (filterHeight·filterWidth). */
export function avgPoolGrad(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const dy = args.inputs.dy!;
  const x = args.inputs.input!;
  const ci = poolInfo(x.shape, args.attrs ?? {});
  const { inHeight: H, inWidth: W, inChannels: C, filterHeight, filterWidth } = ci;
  const mult = 1 / (filterHeight * filterWidth);
  const dx = alloc(backend, x.shape);
  const dxv = f32(backend, dx);
  const dyv = f32(backend, dy);
  dxv.fill(0);
  forEachWindow(ci, (dyBase, b, rLo, rHi, cLo, cHi) => {
    for (let r = rLo; r < rHi; r++) {
      for (let col = cLo; col < cHi; col++) {
        const base = ((b * H + r) * W + col) * C;
        for (let c = 0; c < C; c++) dxv[base + c] += dyv[dyBase + c] * mult;
      }
    }
  });
  return dx;
}
