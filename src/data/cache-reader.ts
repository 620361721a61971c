// Reading a pixel cache: the usable images of each partition with their labels, read in
// ranges, at positions (shuffled batches), all at once in one sequential pass, or left in
// the file as streamed sets for datasets larger than memory.
import { ensureCache } from './cache-build';
import { META_SIZE, STATUS_OK, STATUS_WARNING, readFully, specOf } from './cache-file';
import type { DecodeSpec } from './decode';
import type { StreamedImageSet } from './image-set';
import type { Dataset, ImageTensorSet, InputSize, Partition, PrepareOptions } from './types';
import { PARTITIONS } from './types';

/** Reads a pixel cache in batches, for datasets larger than memory. */
export interface ImageCacheReader {
  readonly size: InputSize;
  readonly file: string;
  readonly classes: string[];
  readonly multiLabel: boolean;
  /** Images decoded to build the cache in this call (0: it was all cached). */
  readonly decoded: number;
  count(partition: Partition): number;
  /** Item ids of the partition's usable images, in order. */
  itemIds(partition: Partition): Int32Array;
  /** Images `[start, start + count)` of the partition. */
  read(partition: Partition, start: number, count: number, onRows?: (n: number) => void): ImageTensorSet;
  /** Images at the given positions of the partition (e.g. a shuffled batch). */
  readAt(partition: Partition, positions: ArrayLike<number>): ImageTensorSet;
  /** Batches over a partition, optionally shuffled with a seed (a new order per epoch: pass the epoch in the seed). */
  batches(partition: Partition, batchSize: number, opts?: { shuffle?: boolean; seed?: number }): Generator<ImageTensorSet>;
  /** All three partitions in memory, in one sequential pass over the file. */
  readAll(onProgress?: (done: number, total: number) => void): Record<Partition, ImageTensorSet>;
  /** The partition with its pixels left in the file, read on demand (valid until `close`). */
  streamed(partition: Partition): StreamedImageSet;
  close(): void;
}

/** An opened pixel cache and what the row readers need of it. */
interface Rows {
  dataset: Dataset;
  spec: DecodeSpec;
  classIndex: Map<string, number>;
  fd: number;
  rowBytes: number;
  pixelOffset: number;
  /** Reused by `readRowsInto` for runs of rows. */
  runBuf: Buffer;
}

export async function openImageCache(dataset: Dataset, options: PrepareOptions): Promise<ImageCacheReader> {
  const spec = specOf(options)!;
  const { cache, decoded } = await ensureCache(dataset, spec, options);
  const parts = usableByPartition(dataset, cache.meta());
  const rows: Rows = {
    dataset,
    spec,
    classIndex: new Map(dataset.classes.map((c, i) => [c, i])),
    fd: cache.fd,
    rowBytes: cache.header.rowBytes,
    pixelOffset: cache.header.pixelOffset,
    runBuf: Buffer.alloc(0),
  };

  const reader: ImageCacheReader = {
    size: { height: spec.height, width: spec.width, channels: spec.channels },
    file: cache.file,
    classes: dataset.classes,
    multiLabel: dataset.multiLabel,
    decoded,
    count: (p) => parts[p].length,
    itemIds: (p) => Int32Array.from(parts[p]),
    read(p, start, count, onRows) {
      const idx = parts[p].slice(start, start + count);
      return readSparse(rows, idx, onRows);
    },
    readAt(p, positions) {
      const idx = Array.from(positions, (q) => {
        const i = parts[p][q];
        if (i === undefined) throw new RangeError(`position ${q} is outside ${p} (${parts[p].length} images)`);
        return i;
      });
      return readUnordered(rows, idx);
    },
    *batches(p, batchSize, opts = {}) {
      const order = Array.from({ length: parts[p].length }, (_, i) => i);
      if (opts.shuffle) shuffleInPlace(order, opts.seed ?? 0);
      for (let s = 0; s < order.length; s += batchSize) yield reader.readAt(p, order.slice(s, s + batchSize));
    },
    readAll: (onProgress) => readAllPartitions(rows, parts, onProgress),
    streamed(p) {
      const ids = parts[p];
      return {
        height: spec.height,
        width: spec.width,
        channels: spec.channels,
        count: ids.length,
        labels: labelArray(dataset, ids, rows.classIndex),
        itemIds: Int32Array.from(ids),
        rows: {
          read: (positions, out) =>
            readRowsInto(
              rows,
              Array.from(positions, (q) => ids[q]),
              out,
            ),
        },
      };
    },
    close: () => cache.close(),
  };
  return reader;
}

/** Usable items per partition (decoded without error, with a label), in item order. */
function usableByPartition(dataset: Dataset, meta: Buffer): Record<Partition, number[]> {
  const out: Record<Partition, number[]> = { TRAIN: [], VALIDATION: [], TEST: [] };
  dataset.items.forEach((it, i) => {
    const status = meta[i * META_SIZE + 9];
    if ((status === STATUS_OK || status === STATUS_WARNING) && it.labels.length > 0) out[it.partition].push(i);
  });
  return out;
}

function labelArray(dataset: Dataset, indices: ArrayLike<number>, classIndex: Map<string, number>): Uint8Array | Int32Array {
  const n = indices.length;
  if (dataset.multiLabel) {
    const k = dataset.classes.length;
    const out = new Uint8Array(n * k);
    for (let r = 0; r < n; r++) for (const l of dataset.items[indices[r]].labels) out[r * k + classIndex.get(l)!] = 1;
    return out;
  }
  const out = new Int32Array(n);
  for (let r = 0; r < n; r++) out[r] = classIndex.get(dataset.items[indices[r]].labels[0])!;
  return out;
}

/** The images `indices` (item order) with their pixels and labels. */
function tensorSet(rows: Rows, indices: number[], pixels: Uint8Array): ImageTensorSet {
  const { spec } = rows;
  return {
    height: spec.height,
    width: spec.width,
    channels: spec.channels,
    count: indices.length,
    pixels,
    labels: labelArray(rows.dataset, indices, rows.classIndex),
    itemIds: Int32Array.from(indices),
  };
}

/** Rows at ascending item indices, runs of consecutive rows in one read. */
function readIndices(rows: Rows, indices: number[], onRows?: (n: number) => void): ImageTensorSet {
  const { fd, rowBytes, pixelOffset } = rows;
  const n = indices.length;
  const pixels = new Uint8Array(n * rowBytes);
  // Coalesce runs of consecutive rows into one read (up to 16 MB).
  const maxRun = Math.max(1, Math.floor((16 << 20) / rowBytes));
  let r = 0;
  while (r < n) {
    let e = r + 1;
    while (e < n && e - r < maxRun && indices[e] === indices[e - 1] + 1) e++;
    readFully(fd, pixels.subarray(r * rowBytes, e * rowBytes), pixelOffset + indices[r] * rowBytes);
    r = e;
    onRows?.(r);
  }
  return tensorSet(rows, indices, pixels);
}

/** Rows at ascending item indices of one partition, read as covering ranges when the partition is dense. */
function readSparse(rows: Rows, indices: number[], onRows?: (n: number) => void): ImageTensorSet {
  const { fd, rowBytes, pixelOffset } = rows;
  // Rows of one partition interleave with others; read the covering range in chunks
  // and pick rows, which beats one read per row when the partition is dense.
  const n = indices.length;
  if (n === 0) return readIndices(rows, indices);
  const span = indices[n - 1] - indices[0] + 1;
  if (span > 4 * n) return readIndices(rows, indices, onRows);
  const pixels = new Uint8Array(n * rowBytes);
  const chunkRows = Math.max(1, Math.floor((16 << 20) / rowBytes));
  const buf = Buffer.alloc(Math.min(span, chunkRows) * rowBytes);
  let k = 0;
  for (let first = indices[0]; first <= indices[n - 1] && k < n; first += chunkRows) {
    const last = Math.min(indices[n - 1], first + chunkRows - 1);
    const view = buf.subarray(0, (last - first + 1) * rowBytes);
    readFully(fd, view, pixelOffset + first * rowBytes);
    while (k < n && indices[k] <= last) {
      const o = (indices[k] - first) * rowBytes;
      pixels.set(view.subarray(o, o + rowBytes), k * rowBytes);
      k++;
    }
    onRows?.(k);
  }
  return tensorSet(rows, indices, pixels);
}

/** All three partitions in memory, in one sequential pass over the file. */
function readAllPartitions(
  rows: Rows,
  parts: Record<Partition, number[]>,
  onProgress?: (done: number, total: number) => void,
): Record<Partition, ImageTensorSet> {
  const { dataset, fd, rowBytes, pixelOffset } = rows;
  const out = {} as Record<Partition, ImageTensorSet>;
  const where = new Int32Array(dataset.items.length).fill(-1);
  const dest = {} as Record<Partition, Uint8Array>;
  for (const p of PARTITIONS) {
    parts[p].forEach((i, k) => (where[i] = k));
    dest[p] = new Uint8Array(parts[p].length * rowBytes);
  }
  const total = PARTITIONS.reduce((s, p) => s + parts[p].length, 0);
  const count = dataset.items.length;
  const chunkRows = Math.max(1, Math.floor((16 << 20) / Math.max(rowBytes, 1)));
  const buf = Buffer.alloc(Math.min(count, chunkRows) * rowBytes);
  let done = 0;
  for (let first = 0; first < count && rowBytes > 0; first += chunkRows) {
    const rowsHere = Math.min(chunkRows, count - first);
    const view = buf.subarray(0, rowsHere * rowBytes);
    readFully(fd, view, pixelOffset + first * rowBytes);
    // Copy runs of rows that land next to each other in one partition at once.
    let r = 0;
    while (r < rowsHere) {
      const i = first + r;
      const k = where[i];
      if (k < 0) {
        r++;
        continue;
      }
      const p = dataset.items[i].partition;
      let e = r + 1;
      while (e < rowsHere && where[first + e] === k + (e - r) && dataset.items[first + e].partition === p) e++;
      dest[p].set(view.subarray(r * rowBytes, e * rowBytes), k * rowBytes);
      done += e - r;
      r = e;
    }
    onProgress?.(done, total);
  }
  for (const p of PARTITIONS) out[p] = tensorSet(rows, parts[p], dest[p]);
  return out;
}

/**
 * Reads rows (item indices, any order) into `out` in that order: the file is read in item
 * order, runs of consecutive rows in one call (a shuffled batch of a dense partition costs
 * about one read per row; reads from the page cache take microseconds).
 */
function readRowsInto(rows: Rows, idx: number[], out: Uint8Array): void {
  const { fd, rowBytes, pixelOffset } = rows;
  const order = Int32Array.from(idx.keys()).sort((x, y) => idx[x] - idx[y]);
  let r = 0;
  while (r < order.length) {
    let e = r + 1;
    while (e < order.length && idx[order[e]] === idx[order[e - 1]] + 1) e++;
    const bytes = (e - r) * rowBytes;
    if (e - r === 1) {
      readFully(fd, out.subarray(order[r] * rowBytes, (order[r] + 1) * rowBytes), pixelOffset + idx[order[r]] * rowBytes);
    } else {
      if (rows.runBuf.length < bytes) rows.runBuf = Buffer.alloc(bytes);
      readFully(fd, rows.runBuf.subarray(0, bytes), pixelOffset + idx[order[r]] * rowBytes);
      for (let j = r; j < e; j++) out.set(rows.runBuf.subarray((j - r) * rowBytes, (j - r + 1) * rowBytes), order[j] * rowBytes);
    }
    r = e;
  }
}

/** Rows at item indices in any order (e.g. a shuffled batch), in that order. */
function readUnordered(rows: Rows, idx: number[]): ImageTensorSet {
  const pixels = new Uint8Array(idx.length * rows.rowBytes);
  readRowsInto(rows, idx, pixels);
  return tensorSet(rows, idx, pixels);
}

/** Mulberry32-driven Fisher–Yates. */
export function shuffleInPlace<T>(a: T[], seed: number): void {
  let s = seed >>> 0;
  const rnd = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
}
