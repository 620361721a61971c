// Deterministic, stratified splits. Items are ordered within each label group by a seeded
// hash of their path rather than by a shuffled index, so that adding or removing a few
// images moves only a few others between partitions (a shuffle would reshuffle them all).
import { fmix32 } from '../shared/random';
import type { DatasetItem, Partition } from './types';

export const DEFAULT_SEED = 1;

/** FNV-1a over the seed and the string, then a murmur-style finaliser for good low bits. */
export function seededHash(seed: number, s: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  h = Math.imul(h ^ (seed >>> 16), 0x01000193) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

function strataOf(items: DatasetItem[]): Map<string, DatasetItem[]> {
  // Multi-label items are stratified by their label set: approximate, but keeps rare combinations spread.
  const groups = new Map<string, DatasetItem[]>();
  for (const it of items) {
    const key = it.labels.length === 1 ? it.labels[0] : [...it.labels].sort().join('\u0000');
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(it);
  }
  return groups;
}

function orderByHash(items: DatasetItem[], seed: number): DatasetItem[] {
  // Sort packed (hash, position) numbers instead of objects with a comparator: ~10× faster
  // for 70,000 items. Equal hashes fall back to the (deterministic) item order.
  if (items.length >= 2097152) {
    return items
      .map((it) => ({ it, h: seededHash(seed, it.display) }))
      .sort((a, b) => a.h - b.h || a.it.id - b.it.id)
      .map((x) => x.it);
  }
  const keys = new Float64Array(items.length);
  for (let i = 0; i < items.length; i++) keys[i] = seededHash(seed, items[i].display) * 2097152 + i;
  keys.sort();
  const out = new Array<DatasetItem>(items.length);
  for (let i = 0; i < items.length; i++) out[i] = items[keys[i] % 2097152];
  return out;
}

/** A stratum's name for people: its label, or its labels joined with "+". */
function strataName(key: string): string {
  return key.split('\u0000').join('+');
}

/**
 * Splits items 80/10/10 (by default) into TRAIN/VALIDATION/TEST within each label group.
 * Small groups keep at least one image in TRAIN; from 2 images a group gives at least one to
 * VALIDATION, from 3 one to TEST too (10 % of 3 rounds to none: 200 classes of 3 images would
 * otherwise leave nothing to validate on). Returns the groups that got those minimums.
 */
export function splitStratified(items: DatasetItem[], seed: number, fractions = { validation: 0.1, test: 0.1 }): string[] {
  const small: string[] = [];
  for (const [key, group] of strataOf(items)) {
    const ordered = orderByHash(group, seed);
    const n = ordered.length;
    let nVal = Math.round(n * fractions.validation);
    let nTest = Math.round(n * fractions.test);
    const minVal = fractions.validation > 0 && n >= 2 ? 1 : 0;
    const minTest = fractions.test > 0 && n >= 3 ? 1 : 0;
    if (nVal < minVal || nTest < minTest) small.push(strataName(key));
    nVal = Math.max(nVal, minVal);
    nTest = Math.max(nTest, minTest);
    while (nVal + nTest > n - 1 && (nVal > 0 || nTest > 0)) {
      if (nTest >= nVal && nTest > 0) nTest--;
      else nVal--;
    }
    ordered.forEach((it, k) => {
      const p: Partition = k < n - nVal - nTest ? 'TRAIN' : k < n - nTest ? 'VALIDATION' : 'TEST';
      it.partition = p;
      it.assigned = false;
    });
  }
  return small;
}

/**
 * Moves `fraction` of each label group of TRAIN items to VALIDATION (the hold-out), at least one
 * image of each group that has 2 or more. Returns how many moved and the groups held out that way.
 */
export function holdOutValidation(trainItems: DatasetItem[], seed: number, fraction = 0.1): { moved: number; small: string[] } {
  let moved = 0;
  const small: string[] = [];
  for (const [key, group] of strataOf(trainItems)) {
    const ordered = orderByHash(group, seed);
    let k = Math.round(ordered.length * fraction);
    if (k === 0 && fraction > 0 && ordered.length >= 2) {
      k = 1;
      small.push(strataName(key));
    }
    if (k >= ordered.length) k = ordered.length - 1;
    // The hold-out takes the end of the hash order, so a grown class keeps most of its old hold-out.
    for (let i = ordered.length - k; i < ordered.length; i++) {
      ordered[i].partition = 'VALIDATION';
      ordered[i].assigned = false;
      moved++;
    }
  }
  return { moved, small };
}
