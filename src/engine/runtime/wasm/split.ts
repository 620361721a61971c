// The memory-bound training passes (BatchNorm, ReLU gradient, residual adds, pooling gradient,
// optimizer updates) split between the SIMD pool's threads (simd/threads.ts): each thread runs
// the same SIMD function on its own share of the rows, images or bytes. Below MIN_SPLIT floats a
// pass runs on the calling thread alone (waking a helper costs more than it saves).
import { convKernelsFor } from './simd';
import { splitRange, type SimdPool } from './simd/threads';
import type { BackendWasm } from './kernel-utils';

export const MIN_SPLIT = 16384;

let cap = Infinity;

/** Caps the number of threads a pass is split into (tests compare 1 and 2); Infinity: no cap. */
export function setSplitCap(parts: number): void {
  cap = parts;
}

/** The SIMD pool of this backend, or null (SIMD off or unavailable: the callers' JS loops run). */
export function poolFor(backend: BackendWasm): SimdPool | null {
  return convKernelsFor(backend)?.pool ?? null;
}

/** How many shares a pass over `units` rows (or images, or vectors) of `elements` floats gets. */
export function partsFor(pool: SimdPool, units: number, elements: number): number {
  return Math.max(1, Math.min(pool.size, cap, elements < MIN_SPLIT ? 1 : units));
}

/**
 * Runs `name` on `parts` consecutive shares of [0, units): `args(u0, u1, p)` gives the
 * argument list of share p, [u0, u1).
 */
export function runSplit(pool: SimdPool, name: string, parts: number, units: number, args: (u0: number, u1: number, p: number) => number[]): void {
  pool.run(
    name,
    Array.from({ length: parts }, (_, p) => {
      const [u0, u1] = splitRange(units, parts, p);
      return args(u0, u1, p);
    }),
  );
}
