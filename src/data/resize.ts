// Pixel work in plain JS for the fast paths (PNG, BMP, IDX): alpha flattening, channel
// conversion and an antialiased resize (triangle filter widened by the scale factor when
// shrinking, like Pillow's BILINEAR; plain bilinear when enlarging).
import type { RawImage } from './png';
import type { AlphaBackground, FitMode } from './types';

/**
 * Flattens alpha onto the background and converts to 1 (Rec. 601 luma) or 3 channels.
 * Returns the input unchanged when it already has the target layout.
 */
export function toChannels(img: RawImage, target: 1 | 3, background: AlphaBackground): Uint8Array {
  const { channels: c, data } = img;
  if (c === target) return data;
  const n = img.width * img.height;
  const out = new Uint8Array(n * target);
  const bg = background === 'white' ? 255 : 0;
  for (let i = 0; i < n; i++) {
    let r: number, g: number, b: number;
    if (c === 1 || c === 2) {
      r = g = b = data[i * c];
    } else {
      r = data[i * c];
      g = data[i * c + 1];
      b = data[i * c + 2];
    }
    if (c === 2 || c === 4) {
      const a = data[i * c + c - 1];
      r = (r * a + bg * (255 - a) + 127) / 255;
      g = (g * a + bg * (255 - a) + 127) / 255;
      b = (b * a + bg * (255 - a) + 127) / 255;
    }
    if (target === 1) out[i] = c <= 2 ? r | 0 : lumaOf(r | 0, g | 0, b | 0);
    else {
      out[3 * i] = r;
      out[3 * i + 1] = g;
      out[3 * i + 2] = b;
    }
  }
  return out;
}

/** Rec. 601 luma, rounded: (299 R + 587 G + 114 B) / 1000. */
export function lumaOf(r: number, g: number, b: number): number {
  return ((299 * r + 587 * g + 114 * b + 500) / 1000) | 0;
}

/** Converts interleaved 3-channel pixels to 1 channel in place of a new array. */
export function rgbToGray(src: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = lumaOf(src[3 * i], src[3 * i + 1], src[3 * i + 2]);
  return out;
}

export function grayToRgb(src: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = src[i];
  return out;
}

interface Taps {
  start: Int32Array;
  count: Int32Array;
  weights: Float32Array;
  maxTaps: number;
}

/** Filter taps mapping the source interval [x0, x0 + len) onto `out` samples. */
function taps(inSize: number, x0: number, len: number, out: number): Taps {
  const scale = len / out;
  const fscale = Math.max(scale, 1);
  const support = fscale; // triangle filter, radius 1, widened when shrinking
  const maxTaps = Math.ceil(support) * 2 + 2;
  const start = new Int32Array(out);
  const count = new Int32Array(out);
  const weights = new Float32Array(out * maxTaps);
  for (let i = 0; i < out; i++) {
    const center = x0 + (i + 0.5) * scale;
    let lo = Math.floor(center - support);
    let hi = Math.ceil(center + support);
    if (lo < 0) lo = 0;
    if (hi > inSize) hi = inSize;
    let sum = 0;
    let k = 0;
    for (let j = lo; j < hi && k < maxTaps; j++, k++) {
      const w = Math.max(0, 1 - Math.abs((j + 0.5 - center) / fscale));
      weights[i * maxTaps + k] = w;
      sum += w;
    }
    if (sum === 0) {
      // Degenerate (sub-pixel source interval): nearest sample.
      const j = Math.min(inSize - 1, Math.max(0, Math.floor(center)));
      lo = j;
      k = 1;
      weights[i * maxTaps] = 1;
      sum = 1;
    }
    for (let t = 0; t < k; t++) weights[i * maxTaps + t] /= sum;
    start[i] = lo;
    count[i] = k;
  }
  return { start, count, weights, maxTaps };
}

/** Resamples the source rectangle (floats) of `src` into a dw×dh block of `dst` at (ox, oy) with stride `dstW`. */
function resampleRect(
  src: Uint8Array,
  sw: number,
  sh: number,
  c: number,
  rx: number,
  ry: number,
  rw: number,
  rh: number,
  dst: Uint8Array,
  dstOffset: number,
  dstW: number,
  ox: number,
  oy: number,
  dw: number,
  dh: number,
): void {
  const tx = taps(sw, rx, rw, dw);
  const ty = taps(sh, ry, rh, dh);
  // Only the source rows some output row needs.
  let rowLo = sh;
  let rowHi = 0;
  for (let i = 0; i < dh; i++) {
    rowLo = Math.min(rowLo, ty.start[i]);
    rowHi = Math.max(rowHi, ty.start[i] + ty.count[i]);
  }
  const tmp = new Float32Array((rowHi - rowLo) * dw * c);
  for (let y = rowLo; y < rowHi; y++) {
    const srow = y * sw * c;
    const trow = (y - rowLo) * dw * c;
    for (let x = 0; x < dw; x++) {
      const s0 = tx.start[x];
      const n = tx.count[x];
      const wo = x * tx.maxTaps;
      for (let ch = 0; ch < c; ch++) {
        let acc = 0;
        for (let k = 0; k < n; k++) acc += tx.weights[wo + k] * src[srow + (s0 + k) * c + ch];
        tmp[trow + x * c + ch] = acc;
      }
    }
  }
  for (let y = 0; y < dh; y++) {
    const s0 = ty.start[y] - rowLo;
    const n = ty.count[y];
    const wo = y * ty.maxTaps;
    const drow = dstOffset + ((oy + y) * dstW + ox) * c;
    for (let i = 0; i < dw * c; i++) {
      let acc = 0;
      for (let k = 0; k < n; k++) acc += ty.weights[wo + k] * tmp[(s0 + k) * dw * c + i];
      const v = Math.round(acc);
      dst[drow + i] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
}

/**
 * Resizes `src` (sw×sh, c channels) into `dst` at `dstOffset` as dw×dh×c, keeping the aspect
 * ratio: `pad` fits the whole image and leaves black bars (the dst block is zeroed first),
 * `crop` fills the block and cuts the overflow evenly from both sides.
 */
export function resizeInto(src: Uint8Array, sw: number, sh: number, c: number, dst: Uint8Array, dstOffset: number, dw: number, dh: number, fit: FitMode): void {
  if (sw === dw && sh === dh) {
    dst.set(src.subarray(0, sw * sh * c), dstOffset);
    return;
  }
  if (fit === 'pad') {
    const scale = Math.min(dw / sw, dh / sh);
    const nw = Math.max(1, Math.min(dw, Math.round(sw * scale)));
    const nh = Math.max(1, Math.min(dh, Math.round(sh * scale)));
    const ox = (dw - nw) >> 1;
    const oy = (dh - nh) >> 1;
    dst.fill(0, dstOffset, dstOffset + dw * dh * c);
    resampleRect(src, sw, sh, c, 0, 0, sw, sh, dst, dstOffset, dw, ox, oy, nw, nh);
  } else {
    const scale = Math.max(dw / sw, dh / sh);
    const rw = dw / scale;
    const rh = dh / scale;
    resampleRect(src, sw, sh, c, (sw - rw) / 2, (sh - rh) / 2, rw, rh, dst, dstOffset, dw, 0, 0, dw, dh);
  }
}
