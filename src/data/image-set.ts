// A partition's images as the trainer sees them: labels and ids in memory, pixel rows either in
// memory (`ImageTensorSet`) or read on demand from the image cache (`StreamedImageSet`, for data
// larger than the memory given to it). Everything that reads pixels during training and
// evaluation goes through `readRows`, so both kinds train the same way.
import type { ImageTensorSet } from './types';

/** Pixel rows read on demand (from the cache file). */
export interface PixelRows {
  /** Copies the rows at `positions` (in that order) into `out` (positions.length × rowBytes bytes). */
  read(positions: ArrayLike<number>, out: Uint8Array): void;
}

/** A partition whose pixels stay on disk: read a batch at a time. */
export interface StreamedImageSet extends Omit<ImageTensorSet, 'pixels'> {
  rows: PixelRows;
}

export type ImageSet = ImageTensorSet | StreamedImageSet;

export function isStreamed(set: ImageSet): set is StreamedImageSet {
  return !('pixels' in set);
}

export function rowBytesOf(set: Pick<ImageSet, 'height' | 'width' | 'channels'>): number {
  return set.height * set.width * set.channels;
}

/** Pixel bytes this set keeps in memory (0 for a streamed set). */
export function residentBytes(set: ImageSet): number {
  return isStreamed(set) ? 0 : set.pixels.byteLength;
}

/** Copies the rows at `positions` of the set, in that order, into `out` (allocated when not given). */
export function readRows(set: ImageSet, positions: ArrayLike<number>, out?: Uint8Array): Uint8Array {
  const rowBytes = rowBytesOf(set);
  const n = positions.length;
  const dest = out && out.length >= n * rowBytes ? out : new Uint8Array(n * rowBytes);
  for (let k = 0; k < n; k++) {
    const q = positions[k];
    if (!(q >= 0 && q < set.count)) throw new RangeError(`row ${q} is outside a set of ${set.count} images`);
  }
  if (isStreamed(set)) {
    set.rows.read(positions, n * rowBytes === dest.length ? dest : dest.subarray(0, n * rowBytes));
  } else {
    for (let k = 0; k < n; k++) {
      const o = positions[k] * rowBytes;
      dest.set(set.pixels.subarray(o, o + rowBytes), k * rowBytes);
    }
  }
  return dest;
}

/** Rows `[start, start + count)` of the set. */
export function readRange(set: ImageSet, start: number, count: number, out?: Uint8Array): Uint8Array {
  if (!isStreamed(set)) {
    const rowBytes = rowBytesOf(set);
    const view = set.pixels.subarray(start * rowBytes, (start + count) * rowBytes);
    if (!out) return view;
    out.set(view);
    return out;
  }
  return readRows(
    set,
    Int32Array.from({ length: count }, (_, i) => start + i),
    out,
  );
}

/**
 * The images of `a` followed by those of `b` (TRAIN+VALIDATION for a final fit). Two sets in
 * memory are copied into one; otherwise the result reads from both on demand.
 */
export function concatSets(a: ImageSet, b: ImageSet): ImageSet {
  const labels = a.labels instanceof Int32Array ? new Int32Array(a.labels.length + b.labels.length) : new Uint8Array(a.labels.length + b.labels.length);
  labels.set(a.labels, 0);
  labels.set(b.labels, a.labels.length);
  const itemIds = new Int32Array(a.count + b.count);
  itemIds.set(a.itemIds, 0);
  itemIds.set(b.itemIds, a.count);
  const head = { height: a.height, width: a.width, channels: a.channels, count: a.count + b.count, labels, itemIds };
  if (!isStreamed(a) && !isStreamed(b)) {
    const pixels = new Uint8Array(a.pixels.length + b.pixels.length);
    pixels.set(a.pixels, 0);
    pixels.set(b.pixels, a.pixels.length);
    return { ...head, pixels };
  }
  const rowBytes = rowBytesOf(a);
  return {
    ...head,
    rows: {
      read(positions, out) {
        // Split the request between the two sets, keeping each one's reads in one call.
        const inA: number[] = [];
        const slotA: number[] = [];
        const inB: number[] = [];
        const slotB: number[] = [];
        for (let k = 0; k < positions.length; k++) {
          const q = positions[k];
          if (q < a.count) {
            inA.push(q);
            slotA.push(k);
          } else {
            inB.push(q - a.count);
            slotB.push(k);
          }
        }
        for (const [set, pos, slots] of [
          [a, inA, slotA],
          [b, inB, slotB],
        ] as const) {
          if (pos.length === 0) continue;
          const rows = readRows(set, pos);
          for (let j = 0; j < slots.length; j++) out.set(rows.subarray(j * rowBytes, (j + 1) * rowBytes), slots[j] * rowBytes);
        }
      },
    },
  };
}
