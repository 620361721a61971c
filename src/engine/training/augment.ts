// Data augmentation on the fly, on packed uint8 NHWC images, producing the float32 batch fed
// to the model (pixels stay on the 0–255 scale; the model normalises them) and its soft labels.
// Plain typed-array code: for the small images this product trains on it costs far less than a
// training step, and it runs on any tfjs backend the same way.
import { gaussian } from '../../shared/random';

export interface AugmentOptions {
  /** Random translation of up to ±cropPad pixels with zero fill (random crop of a padded image). */
  cropPad: number;
  /** Horizontal flip with probability ½. */
  flip: boolean;
  /** Probability of erasing a random rectangle (random erasing, Zhong et al. 2017). */
  erase: number;
  /** Batch mixing: mixup (Zhang et al. 2018) or CutMix (Yun et al. 2019), applied to every batch. */
  mix: 'none' | 'mixup' | 'cutmix';
  mixAlpha: number;
}

export const NO_AUGMENTATION: AugmentOptions = { cropPad: 0, flip: false, erase: 0, mix: 'none', mixAlpha: 1 };

export interface Batch {
  /** batch × h × w × c pixels, 0–255. */
  x: Float32Array;
  /** batch × classes soft targets (one-hot or multi-hot, mixed when mixup/cutmix is on). */
  y: Float32Array;
}

export interface ImageShape {
  height: number;
  width: number;
  channels: number;
}

/**
 * Copies the images at `indices` from `pixels` into a float batch, augmenting each one, and
 * builds the targets from `labels` (class indices, or multi-hot rows when `multiLabel`).
 */
export function makeBatch(
  pixels: Uint8Array,
  labels: Uint8Array | Int32Array,
  indices: ArrayLike<number>,
  shape: ImageShape,
  numClasses: number,
  multiLabel: boolean,
  aug: AugmentOptions,
  random: () => number,
  out?: Batch,
): Batch {
  const { height: H, width: W, channels: C } = shape;
  const size = H * W * C;
  const n = indices.length;
  const x = out && out.x.length === n * size ? out.x : new Float32Array(n * size);
  const y = out && out.y.length === n * numClasses ? out.y : new Float32Array(n * numClasses);
  y.fill(0);
  for (let b = 0; b < n; b++) {
    const src = indices[b] * size;
    const dst = b * size;
    const dx = aug.cropPad > 0 ? Math.floor(random() * (2 * aug.cropPad + 1)) - aug.cropPad : 0;
    const dy = aug.cropPad > 0 ? Math.floor(random() * (2 * aug.cropPad + 1)) - aug.cropPad : 0;
    const flip = aug.flip && random() < 0.5;
    if (dx === 0 && dy === 0 && !flip) {
      for (let i = 0; i < size; i++) x[dst + i] = pixels[src + i];
    } else {
      for (let r = 0; r < H; r++) {
        const sr = r + dy;
        const rowOut = dst + r * W * C;
        if (sr < 0 || sr >= H) {
          x.fill(0, rowOut, rowOut + W * C);
          continue;
        }
        for (let col = 0; col < W; col++) {
          const sc = (flip ? W - 1 - col : col) + dx;
          const o = rowOut + col * C;
          if (sc < 0 || sc >= W) {
            for (let ch = 0; ch < C; ch++) x[o + ch] = 0;
          } else {
            const s = src + (sr * W + sc) * C;
            for (let ch = 0; ch < C; ch++) x[o + ch] = pixels[s + ch];
          }
        }
      }
    }
    if (aug.erase > 0 && random() < aug.erase) eraseRect(x, dst, shape, random);
    if (multiLabel) {
      const row = indices[b] * numClasses;
      for (let k = 0; k < numClasses; k++) y[b * numClasses + k] = labels[row + k] ? 1 : 0;
    } else {
      y[b * numClasses + labels[indices[b]]] = 1;
    }
  }
  if (aug.mix !== 'none' && n > 1) mixBatch(x, y, n, shape, numClasses, aug, random);
  return { x, y };
}

/** Random erasing: a rectangle of 2–33 % of the area, aspect ratio 0.3–3.3, filled with noise. */
function eraseRect(x: Float32Array, offset: number, { height: H, width: W, channels: C }: ImageShape, random: () => number) {
  for (let attempt = 0; attempt < 10; attempt++) {
    const area = H * W * (0.02 + random() * 0.31);
    const aspect = Math.exp(Math.log(0.3) + random() * (Math.log(3.3) - Math.log(0.3)));
    const h = Math.round(Math.sqrt(area * aspect));
    const w = Math.round(Math.sqrt(area / aspect));
    if (h < 1 || w < 1 || h >= H || w >= W) continue;
    const top = Math.floor(random() * (H - h + 1));
    const left = Math.floor(random() * (W - w + 1));
    for (let r = top; r < top + h; r++) {
      for (let c = left; c < left + w; c++) {
        const o = offset + (r * W + c) * C;
        for (let ch = 0; ch < C; ch++) x[o + ch] = random() * 255;
      }
    }
    return;
  }
}

/** Mixes each image with another of the batch (a random permutation) and mixes targets alike. */
function mixBatch(x: Float32Array, y: Float32Array, n: number, shape: ImageShape, K: number, aug: AugmentOptions, random: () => number) {
  const { height: H, width: W, channels: C } = shape;
  const size = H * W * C;
  const perm = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  const x0 = x.slice();
  const y0 = y.slice();
  const lam = sampleBeta(aug.mixAlpha, aug.mixAlpha, random);
  for (let b = 0; b < n; b++) {
    const o = perm[b];
    let l = lam;
    if (aug.mix === 'mixup') {
      for (let i = 0; i < size; i++) x[b * size + i] = l * x0[b * size + i] + (1 - l) * x0[o * size + i];
    } else {
      // CutMix: paste a box of the other image; the label weight is the kept area.
      const cut = Math.sqrt(1 - l);
      const ch = Math.round(H * cut);
      const cw = Math.round(W * cut);
      const cy = Math.floor(random() * H);
      const cx = Math.floor(random() * W);
      const top = Math.max(0, cy - (ch >> 1));
      const bottom = Math.min(H, cy + (ch >> 1));
      const left = Math.max(0, cx - (cw >> 1));
      const right = Math.min(W, cx + (cw >> 1));
      for (let r = top; r < bottom; r++) {
        const s = o * size + (r * W + left) * C;
        x.set(x0.subarray(s, s + (right - left) * C), b * size + (r * W + left) * C);
      }
      l = 1 - ((bottom - top) * (right - left)) / (H * W);
    }
    for (let k = 0; k < K; k++) y[b * K + k] = l * y0[b * K + k] + (1 - l) * y0[o * K + k];
  }
}

/** Gamma(k, 1) by Marsaglia & Tsang; Beta(a, b) from two gammas. */
function sampleGamma(k: number, random: () => number): number {
  if (k < 1) return sampleGamma(k + 1, random) * Math.pow(random(), 1 / k);
  const d = k - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let v: number;
    let z: number;
    do {
      z = gaussian(random);
      v = 1 + c * z;
    } while (v <= 0);
    v = v * v * v;
    const u = random();
    if (u < 1 - 0.0331 * z ** 4 || Math.log(u) < 0.5 * z * z + d * (1 - v + Math.log(v))) return d * v;
  }
}

export function sampleBeta(a: number, b: number, random: () => number): number {
  const x = sampleGamma(a, random);
  const y = sampleGamma(b, random);
  return x / (x + y);
}
