// Conv2D / FusedConv2D for the wasm backend by the project's register-blocked SIMD loop
// (simd/conv-programs.ts) on the pool's threads, where it beats XNNPACK: with a fused
// multiply-add (relaxed SIMD) it runs about 1.4× XNNPACK's speed a thread. Without one, or
// for what the loop does not cover (NCHW, activations other than linear/ReLU/ReLU6, PReLU
// weights, output channels not a multiple of 8), the stock kernels run.
//
// The loop needs every filter tap inside its input: x is copied into a zero-bordered
// buffer when the convolution pads. The filter is repacked per block of output channels.
import { backend_util, Conv2D, FusedConv2D, type TensorInfo } from '@tensorflow/tfjs-core';
import { alloc, byteOffset, convInfoOf, f32, runStock, Scratch, type BackendWasm, type KernelArgs } from './kernel-utils';
import { convKernelsFor, simdFor, type ConvKernels } from './simd';
import { FORWARD_TILES } from './simd/conv-programs';
import { splitRange } from './simd/threads';

type Conv2DInfo = backend_util.Conv2DInfo;

/**
 * Writes the filter where the forward loop reads it, at byte offset `dstAt` of the heap:
 * [Cout/TO][KH][KW][Cin][TO] for a tile TO channels wide. A copy, by the SIMD row copy or
 * 4×4 transposes (about 0.1 ns a float) where the sizes allow, else a JS loop (about 3 ns).
 */
export type PackFilter = (dstAt: number, TO: number) => void;

/** The JS loop behind every layout: dst[block][r][o] = src[at(block·TO + o, r)]. */
function packByLoop(backend: BackendWasm, dstAt: number, src: TensorInfo, TO: number, N: number, rows: number, at: (n: number, r: number) => number): void {
  const s = f32(backend, src);
  const d = new Float32Array(s.buffer, dstAt, N * rows);
  let k = 0;
  for (let ob = 0; ob < N; ob += TO) {
    for (let r = 0; r < rows; r++) {
      for (let o = 0; o < TO; o++) d[k++] = s[at(ob + o, r)];
    }
  }
}

/** Packs an ordinary [KH, KW, Cin, Cout] filter (or a matrix product's right operand [K, N]). */
export function packFilter(backend: BackendWasm, w: TensorInfo, KH: number, KW: number, Cin: number, Cout: number): PackFilter {
  const rows = KH * KW * Cin;
  // convByTiles runs only with the SIMD kernels at hand.
  return (dstAt, TO) => simdFor(backend)!.copyRows(dstAt, byteOffset(backend, w), Cout / TO, rows, 4 * TO, 4 * rows * TO, 4 * TO, 4 * TO, 4 * Cout);
}

/** Packs the right operand of a matrix product stored transposed, [N, K]: each block of TO rows transposed. */
export function packTransposed(backend: BackendWasm, b: TensorInfo, K: number, N: number): PackFilter {
  return (dstAt, TO) => {
    const simd = K % 4 === 0 ? simdFor(backend) : null;
    if (simd === null) {
      packByLoop(backend, dstAt, b, TO, N, K, (n, r) => n * K + r);
      return;
    }
    const src = byteOffset(backend, b);
    for (let ob = 0; ob < N; ob += TO) simd.transposeOuterInner(dstAt + 4 * ob * K, src + 4 * ob * K, TO, 1, K);
  };
}

/**
 * Packs the filter of the input gradient of a stride-1 convolution: the forward filter
 * flipped in both spatial axes with its channel axes swapped, W'[kh, kw, co, ci] =
 * W[KH−1−kh, KW−1−kw, ci, co], so that dx = conv(dy, W'). Per block and tap, the TO input
 * channels' rows of W ([TO, Cout], contiguous) transposed.
 */
export function packFlippedSwappedFilter(backend: BackendWasm, w: TensorInfo, KH: number, KW: number, Cin: number, Cout: number): PackFilter {
  const taps = KH * KW;
  return (dstAt, TO) => {
    const simd = Cout % 4 === 0 ? simdFor(backend) : null;
    const flipped = (t: number): number => taps - 1 - t; // (KH−1−kh)·KW + (KW−1−kw)
    if (simd === null) {
      packByLoop(backend, dstAt, w, TO, Cin, taps * Cout, (n, r) => (flipped(Math.floor(r / Cout)) * Cin + n) * Cout + (r % Cout));
      return;
    }
    const src = byteOffset(backend, w);
    let d = dstAt;
    for (let ib = 0; ib < Cin; ib += TO) {
      for (let t = 0; t < taps; t++, d += 4 * TO * Cout) {
        simd.transposeOuterInner(d, src + 4 * (flipped(t) * Cin + ib) * Cout, TO, 1, Cout);
      }
    }
  };
}

/** A convolution as the loop sees it (pads on the top and left; the rest is implied). */
export interface TileConv {
  B: number;
  H: number;
  W: number;
  Cin: number;
  OH: number;
  OW: number;
  Cout: number;
  KH: number;
  KW: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  top: number;
  left: number;
}

export function tileConvOf(ci: Conv2DInfo): TileConv {
  return {
    B: ci.batchSize,
    H: ci.inHeight,
    W: ci.inWidth,
    Cin: ci.inChannels,
    OH: ci.outHeight,
    OW: ci.outWidth,
    Cout: ci.outChannels,
    KH: ci.filterHeight,
    KW: ci.filterWidth,
    sh: ci.strideHeight,
    sw: ci.strideWidth,
    dh: ci.dilationHeight,
    dw: ci.dilationWidth,
    top: ci.padInfo.top,
    left: ci.padInfo.left,
  };
}

/**
 * The tile and the threads of the SIMD loop for `Cout` output channels, or null when the loop
 * does not apply: no tile divides the channels, no SIMD kernels, or no fused multiply-add
 * (unless `anyBuild`, for tests: without it XNNPACK's forward convolution is as fast).
 */
export function forwardTiles(backend: BackendWasm, Cout: number, anyBuild = false): { tile: (typeof FORWARD_TILES)[number]; kernels: ConvKernels } | null {
  const tile = FORWARD_TILES.find((t) => Cout % t.tileOut === 0);
  if (tile === undefined) return null;
  const kernels = convKernelsFor(backend);
  if (kernels === null || simdFor(backend) === null || (!kernels.fma && !anyBuild)) return null;
  return { tile, kernels };
}

/** An activation the loop applies as it stores: min(max(v, lo), hi). */
export type Clamp = readonly [lo: number, hi: number];

/** The activations of FusedConv2D that are clamps. */
export const CLAMPS: Readonly<Record<string, Clamp>> = { linear: [-Infinity, Infinity], relu: [0, Infinity], relu6: [0, 6] };

/** An f32's bits as an i32 (float arguments of the pool's functions). */
export const f32Bits = (v: number): number => new Int32Array(new Float32Array([v]).buffer)[0]!;

/**
 * out = act(conv(x, filter) + bias) by the SIMD loop, or null when it does not apply (see
 * forwardTiles); act is ReLU (true), none (false) or a clamp. `maxParts` caps the split between
 * threads (tests).
 */
export function convByTiles(
  backend: BackendWasm,
  x: TensorInfo,
  c: TileConv,
  pack: PackFilter,
  bias: TensorInfo | null,
  act: boolean | Clamp,
  opts: { anyBuild?: boolean; maxParts?: number } = {},
): TensorInfo | null {
  const loop = forwardTiles(backend, c.Cout, opts.anyBuild);
  if (loop === null) return null;
  const [lo, hi] = act === true ? CLAMPS.relu! : act === false ? CLAMPS.linear! : act;
  const { tile, kernels } = loop;
  const { B, H, W, Cin, OH, OW, Cout, KH, KW, sh, sw, dh, dw, top, left } = c;
  // The padded input: every tap of every output pixel inside it.
  const Hp = Math.max(H + top, (OH - 1) * sh + (KH - 1) * dh + 1);
  const Wp = Math.max(W + left, (OW - 1) * sw + (KW - 1) * dw + 1);
  const padded = top !== 0 || left !== 0 || Hp !== H || Wp !== W;
  const out = alloc(backend, [B, OH, OW, Cout]);
  const scratch = new Scratch(backend, Scratch.bytes(4 * KH * KW * Cin * Cout, 4 * Cout, padded ? 4 * B * Hp * Wp * Cin : 0));
  try {
    const [wAt] = scratch.f32(KH * KW * Cin * Cout);
    const [bAt, bv] = scratch.f32(Cout);
    const [pAt, pv] = padded ? scratch.f32(B * Hp * Wp * Cin) : [byteOffset(backend, x), null];
    pack(wAt, tile.tileOut);
    if (bias === null) bv.fill(0);
    else bv.set(f32(backend, bias));
    if (pv !== null) {
      const xv = f32(backend, x);
      pv.fill(0);
      // Input rows that fall inside the padded buffer (a 'valid' convolution may leave some out).
      const rows = Math.min(H, Hp - top);
      const cols = Math.min(W, Wp - left) * Cin;
      for (let b = 0; b < B; b++) {
        for (let h = 0; h < rows; h++) {
          const src = (b * H + h) * W * Cin;
          pv.set(xv.subarray(src, src + cols), ((b * Hp + h + top) * Wp + left) * Cin);
        }
      }
    }
    // Split between the threads by output rows, or by blocks of output channels when there are
    // fewer rows than threads (a matrix product is one row of M pixels).
    const rows = B * OH;
    const blocks = Cout / tile.tileOut;
    const byRows = rows >= Math.min(kernels.pool.size, opts.maxParts ?? Infinity) || blocks < rows;
    const parts = Math.max(1, Math.min(kernels.pool.size, byRows ? rows : blocks, opts.maxParts ?? Infinity));
    const oAt = byteOffset(backend, out);
    kernels.pool.run(
      tile.name,
      Array.from({ length: parts }, (_, p) => {
        const [r0, r1] = byRows ? splitRange(rows, parts, p) : [0, rows];
        const [c0, c1] = byRows ? [0, Cout] : splitRange(blocks, parts, p).map((k) => k * tile.tileOut);
        return [pAt, wAt, bAt, oAt, r0, r1, Hp, Wp, Cin, OH, OW, Cout, KH, KW, sh, sw, dh, dw, f32Bits(lo), f32Bits(hi), c0!, c1!];
      }),
    );
  } catch (e) {
    backend.disposeData(out.dataId);
    throw e;
  } finally {
    scratch.release();
  }
  return out;
}

/** out [M, N] = a [M, K] · (b [K, N], or [N, K] when bTransposed) as a 1×1 convolution of M pixels. */
export function matMulByTiles(
  backend: BackendWasm,
  a: TensorInfo,
  b: TensorInfo,
  M: number,
  K: number,
  N: number,
  bTransposed: boolean,
  opts: { anyBuild?: boolean; maxParts?: number } = {},
): TensorInfo | null {
  const pack = bTransposed ? packTransposed(backend, b, K, N) : packFilter(backend, b, 1, 1, K, N);
  const out = convByTiles(
    backend,
    a,
    {
      B: 1,
      H: 1,
      W: M,
      Cin: K,
      OH: 1,
      OW: M,
      Cout: N,
      KH: 1,
      KW: 1,
      sh: 1,
      sw: 1,
      dh: 1,
      dw: 1,
      top: 0,
      left: 0,
    },
    pack,
    null,
    false,
    opts,
  );
  if (out !== null) out.shape = [M, N];
  return out;
}

function forward(args: KernelArgs, kernel: string): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x, filter, bias, preluActivationWeights } = args.inputs;
  const attrs = args.attrs ?? {};
  const activation = (attrs.activation as string | undefined) ?? 'linear';
  const clamp = CLAMPS[activation];
  const covered =
    clamp !== undefined && preluActivationWeights === undefined && x!.dtype === 'float32' && ((attrs.dataFormat as string | undefined) ?? 'NHWC') === 'NHWC';
  const ci = covered ? convInfoOf(x!.shape, filter!.shape, attrs) : null;
  const ours =
    ci === null
      ? null
      : convByTiles(
          backend,
          x!,
          tileConvOf(ci),
          packFilter(backend, filter!, ci.filterHeight, ci.filterWidth, ci.inChannels, ci.outChannels),
          bias ?? null,
          clamp!,
        );
  if (ours !== null) return ours;
  const inputs: Record<string, TensorInfo> = {};
  for (const [k, v] of Object.entries(args.inputs)) if (v !== undefined) inputs[k] = v;
  return runStock(kernel, backend, inputs, attrs);
}

export function conv2D(args: KernelArgs): TensorInfo {
  return forward(args, Conv2D);
}

export function fusedConv2D(args: KernelArgs): TensorInfo {
  return forward(args, FusedConv2D);
}
