// MaxPoolGrad and AvgPoolGrad for the wasm backend.
//
// The stock wasm MaxPoolGrad is slow and routes the gradient to the wrong cell
// when a whole pooling window is negative; this one finds the first strict
// maximum of each window (the cpu backend's rule) and adds dy there, scanning
// all channels of a window position at once so that memory is read in order.
import { backend_util, type TensorInfo } from '@tensorflow/tfjs-core';
import { alloc, byteOffset, f32, sizeOf, type BackendWasm, type KernelArgs } from './kernel-utils';
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
function forEachWindow(ci: backend_util.Conv2DInfo, window: (dyBase: number, b: number, rLo: number, rHi: number, cLo: number, cHi: number) => void): void {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = ci;
  const { strideHeight: sh, strideWidth: sw, effectiveFilterHeight: FH, effectiveFilterWidth: FW } = ci;
  const { top, left } = ci.padInfo;
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      const r0 = oh * sh - top;
      for (let ow = 0; ow < OW; ow++) {
        const c0 = ow * sw - left;
        window(((b * OH + oh) * OW + ow) * C, b, Math.max(0, r0), Math.min(H, r0 + FH), Math.max(0, c0), Math.min(W, c0 + FW));
      }
    }
  }
}

export function maxPoolGrad(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const dy = args.inputs.dy!;
  const x = args.inputs.input!;
  const ci = poolInfo(x.shape, args.attrs ?? {});
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = ci;
  const { strideHeight: sh, strideWidth: sw, effectiveFilterHeight: FH, effectiveFilterWidth: FW } = ci;
  const { top, left } = ci.padInfo;
  const dx = alloc(backend, x.shape);
  // The common 2×2 / stride 2 / unpadded case: branch-free SIMD, one pass.
  const pool =
    C % 4 === 0 && FH === 2 && FW === 2 && sh === 2 && sw === 2 && top === 0 && left === 0 && OH === Math.floor(H / 2) && OW === Math.floor(W / 2)
      ? poolFor(backend)
      : null;
  if (pool !== null) {
    // Rows/columns outside every window (odd sizes) get no gradient.
    if (H % 2 === 1 || W % 2 === 1) f32(backend, dx).fill(0);
    const [dxAt, xAt, dyAt] = [dx, x, dy].map((t) => byteOffset(backend, t));
    const image = H * W * 4 * C;
    const dyImage = OH * OW * 4 * C;
    // A share of the images per thread.
    runSplit(pool, 'maxPoolGrad2x2', partsFor(pool, B, sizeOf(x.shape)), B, (b0, b1) => [
      dxAt + image * b0,
      xAt + image * b0,
      dyAt + dyImage * b0,
      b1 - b0,
      H,
      W,
      4 * C,
    ]);
    return dx;
  }
  const dxv = f32(backend, dx);
  const xv = f32(backend, x);
  const dyv = f32(backend, dy);
  dxv.fill(0);
  const best = new Float32Array(C);
  const pos = new Int32Array(C);
  forEachWindow(ci, (dyBase, b, rLo, rHi, cLo, cHi) => {
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
  });
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
