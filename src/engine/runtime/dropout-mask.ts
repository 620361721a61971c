// Dropout masks from a counter-based hash: unit i of a mask for seed s is kept when
// fmix32(i·φ + fmix32(s ⊕ φ')) ≥ rate·2³². Any backend, the JS loop here and the wasm SIMD
// kernel (wasm/dropout.ts) give the same mask for a seed. tfjs-core's dropout draws its
// uniform numbers one by one from a seeded generator in JavaScript: ≈ 14 ns a unit, 2.8 ms
// per step for the 64 × 3136 units of the 2×32 network's flattened features.
import { fmix32 } from '../../shared/random';

/** The golden-ratio multiplier that spreads consecutive unit indices over the 32-bit range. */
export const INDEX_MULTIPLIER = 0x9e3779b1;

export interface DropoutMaskParams {
  /** Added to i·INDEX_MULTIPLIER before hashing (from the seed), unsigned. */
  offset: number;
  /** A unit is kept when its hash is ≥ this, unsigned (rate·2³²). */
  threshold: number;
  /** The value of a kept unit: 1/(1-rate) (inverted dropout). */
  scale: number;
}

export function dropoutMaskParams(rate: number, seed: number): DropoutMaskParams {
  return {
    offset: fmix32((seed >>> 0) ^ 0x9e3779b9),
    threshold: Math.min(4294967295, Math.floor(rate * 4294967296)),
    scale: 1 / (1 - rate),
  };
}

/** Writes units from..out.length-1 of the mask into `out` (the others are left as they are). */
export function fillDropoutMask(out: Float32Array, from: number, p: DropoutMaskParams): void {
  for (let i = from; i < out.length; i++) {
    out[i] = fmix32((Math.imul(i, INDEX_MULTIPLIER) + p.offset) | 0) >= p.threshold ? p.scale : 0;
  }
}

/** The multiplier of inverted dropout for `size` units: 1/(1-rate) where a unit is kept (probability 1-rate), else 0. */
export function dropoutMask(size: number, rate: number, seed: number): Float32Array {
  const out = new Float32Array(size);
  fillDropoutMask(out, 0, dropoutMaskParams(rate, seed));
  return out;
}
