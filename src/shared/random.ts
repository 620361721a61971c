// Seeded pseudo-random numbers, so that the same seed gives the same split, the same
// trial sequence and the same augmentation everywhere (Node, worker, webview).

/** mulberry32: small, fast, good enough for shuffles and sampling. Returns floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates shuffle in place with the given random source. */
export function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = items[i];
    items[i] = items[j];
    items[j] = t;
  }
  return items;
}

/** A standard normal sample (Box–Muller). */
export function gaussian(random: () => number): number {
  let u = 0;
  while (u === 0) u = random();
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** murmur3's finaliser: h ^= h >>> 16; h ·= FMIX[0]; h ^= h >>> 13; h ·= FMIX[1]; h ^= h >>> 16. */
export const FMIX = [0x85ebca6b, 0xc2b2ae35] as const;

/** murmur3's 32-bit finaliser: a bijection that mixes every input bit into every output bit (unsigned result). */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, FMIX[0]);
  h ^= h >>> 13;
  h = Math.imul(h, FMIX[1]);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Derive an independent seed from a base seed and a label (e.g. a trial id). */
export function deriveSeed(seed: number, label: string | number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  const s = String(label);
  for (let i = 0; i < s.length; i++) {
    h = Math.imul(h ^ s.charCodeAt(i), 0x85ebca6b) >>> 0;
    h ^= h >>> 13;
  }
  return h >>> 0;
}
