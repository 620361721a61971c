// Building the image cache: a hit returns the file as is; otherwise rows of the dataset's
// previous cache are copied where an image's stamp is unchanged, IDX images are sliced on
// this thread, the rest are decoded on the worker pool, and the file is finished (records,
// notes, image list, header) and renamed into place.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  CACHE_FORMAT,
  CacheFile,
  CacheHeader,
  DECODER_VERSION,
  HEADER_SIZE,
  META_SIZE,
  MetaWriter,
  STATUS_NOT_DECODED,
  defaultCacheDir,
  imagesKey,
  itemKey,
  pointerName,
  readFully,
  readPointer,
  specName,
  touch,
  writeFully,
  writeHeader,
} from './cache-file';
import { DecodeSpec, rawToTarget, sha1Hex } from './decode';
import { readIdxFile } from './idx';
import { DecodePool, defaultWorkerCount } from './decode-pool';
import type { Dataset, ImageCacheOptions, ImageRef } from './types';

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    const e = new Error('image import cancelled');
    e.name = 'AbortError';
    throw e;
  }
}

export interface EnsureResult {
  cache: CacheFile;
  /** Images decoded now (0 on a cache hit). */
  decoded: number;
  /** Images copied from the previous cache of the dataset. */
  reused: number;
}

/**
 * Returns the complete cache for the dataset and spec, building (or completing) it if
 * needed. `spec` null: an info-only pass (any pixel cache of the same images serves).
 */
export async function ensureCache(dataset: Dataset, spec: DecodeSpec | null, options: ImageCacheOptions): Promise<EnsureResult> {
  const dir = options.cacheDir ?? defaultCacheDir();
  fs.mkdirSync(dir, { recursive: true });
  const key = imagesKey(dataset);
  const file = path.join(dir, `${key}-${specName(spec)}.amlc`);
  const hit = CacheFile.open(file, key);
  if (hit) {
    touch(file);
    return { cache: hit, decoded: 0, reused: 0 };
  }
  if (!spec) {
    // Any pixel cache of the same images already knows every image's size and hash.
    for (const name of fs.readdirSync(dir)) {
      if (name.startsWith(key + '-') && name.endsWith('.amlc')) {
        const c = CacheFile.open(path.join(dir, name), key);
        if (c) return { cache: c, decoded: 0, reused: 0 };
      }
    }
  }
  return buildCache(dataset, spec, key, dir, file, options);
}

/** A cache file being written under its temporary name, and what it holds so far. */
interface Build {
  dataset: Dataset;
  spec: DecodeSpec | null;
  fd: number;
  count: number;
  rowBytes: number;
  pixelOffset: number;
  /** The image list ("refKey\tstamp" per item). */
  keys: string[];
  meta: MetaWriter;
  /** 1 for rows already in place (copied from the previous cache). */
  done: Uint8Array;
}

async function buildCache(
  dataset: Dataset,
  spec: DecodeSpec | null,
  key: string,
  dir: string,
  file: string,
  options: ImageCacheOptions,
): Promise<EnsureResult> {
  const items = dataset.items;
  const count = items.length;
  const rowBytes = spec ? spec.height * spec.width * spec.channels : 0;
  const pixelOffset = HEADER_SIZE + Math.ceil((count * META_SIZE) / 4096) * 4096;
  const keys = items.map(itemKey);
  const meta = new MetaWriter(count);
  const pointer = path.join(dir, pointerName(dataset.source, spec));
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const fd = fs.openSync(tmp, 'w+');
  let decoded = 0;
  let reused = 0;
  let pool: DecodePool | undefined;
  try {
    if (rowBytes > 0 && count > 0) fs.ftruncateSync(fd, pixelOffset + count * rowBytes);
    const b: Build = { dataset, spec, fd, count, rowBytes, pixelOffset, keys, meta, done: new Uint8Array(count) };

    // 1. Reuse rows of the previous cache of this dataset and spec (same image and stamp).
    const prevName = readPointer(pointer);
    const prev = prevName && prevName !== path.basename(file) ? CacheFile.open(path.join(dir, prevName)) : undefined;
    if (prev) reused = reusePrevious(b, prev);

    // 2. Decode the rest: IDX in bulk on this thread, other images on the worker pool.
    const todo: number[] = [];
    for (let i = 0; i < count; i++) if (!b.done[i] && items[i].stamp !== undefined) todo.push(i);
    const total = todo.length;
    const progress = (n: number) => options.onProgress?.({ done: n, total, phase: 'decode' });
    progress(0);

    const idxTodo = todo.filter((i) => items[i].ref.kind === 'idx');
    const otherTodo = todo.filter((i) => items[i].ref.kind !== 'idx');
    if (idxTodo.length > 0) {
      decoded += decodeIdxItems(
        dataset,
        idxTodo,
        spec,
        meta,
        (indices, pixels) => writeRows(b, indices, pixels),
        (n) => progress(n),
        options.signal,
      );
    }
    if (otherTodo.length > 0) {
      throwIfAborted(options.signal);
      const requested = options.workers ?? defaultWorkerCount();
      // A handful of images is not worth starting threads for.
      pool = new DecodePool(otherTodo.length < 16 ? 0 : Math.max(0, Math.min(requested, Math.ceil(otherTodo.length / 8))));
      decoded += await decodeOnPool(b, pool, otherTodo, idxTodo.length, progress, options.signal);
    }

    // 3. Finish: meta, notes, image list, header; then move into place.
    finishFile(b, key);
    fs.closeSync(fd);
    fs.renameSync(tmp, file);
  } catch (e) {
    try {
      fs.closeSync(fd);
    } catch {
      /* closed */
    }
    fs.rmSync(tmp, { force: true });
    throw e;
  } finally {
    await pool?.close();
  }

  // The previous cache of this dataset and spec is superseded.
  const prevName = readPointer(pointer);
  fs.writeFileSync(pointer, path.basename(file));
  if (prevName && prevName !== path.basename(file)) fs.rmSync(path.join(dir, prevName), { force: true });

  const cache = CacheFile.open(file, key);
  if (!cache) throw new Error(`the image cache ${file} was written but cannot be read back`);
  return { cache, decoded, reused };
}

/** Copies the records and rows of images whose reference and stamp are unchanged; returns how many. Closes `prev`. */
function reusePrevious(b: Build, prev: CacheFile): number {
  const { dataset, fd, count, rowBytes, pixelOffset, keys, meta, done } = b;
  const items = dataset.items;
  let reused = 0;
  try {
    if (prev.header.rowBytes === rowBytes) {
      const oldIndex = new Map<string, number>();
      prev.images().forEach((k, i) => oldIndex.set(k, i));
      const oldMeta = prev.meta();
      const oldNotes = prev.notes();
      const row = Buffer.alloc(Math.max(rowBytes, 1));
      for (let i = 0; i < count; i++) {
        const j = oldIndex.get(keys[i]);
        if (j === undefined || items[i].stamp === undefined || oldMeta[j * META_SIZE + 9] === STATUS_NOT_DECODED) continue;
        meta.copyFrom(oldMeta, j, prev.header.formats, oldNotes[j], i);
        if (rowBytes > 0) {
          readFully(prev.fd, row, prev.header.pixelOffset + j * rowBytes);
          writeFully(fd, row, pixelOffset + i * rowBytes);
        }
        done[i] = 1;
        reused++;
      }
    }
  } finally {
    prev.close();
  }
  return reused;
}

/** Writes decoded rows (batch order = `indices` order) at their items' places. */
function writeRows(b: Build, indices: number[], pixels: Uint8Array | null): void {
  const { fd, rowBytes, pixelOffset } = b;
  if (!pixels || rowBytes === 0) return;
  // Contiguous indices (the usual cold case) go out in one write.
  let k = 0;
  while (k < indices.length) {
    let e = k + 1;
    while (e < indices.length && indices[e] === indices[e - 1] + 1) e++;
    writeFully(fd, pixels.subarray(k * rowBytes, e * rowBytes), pixelOffset + indices[k] * rowBytes);
    k = e;
  }
}

/** Decodes `todo` on the pool in batches, writing records and rows as they come; returns how many were decoded. */
async function decodeOnPool(
  b: Build,
  pool: DecodePool,
  todo: number[],
  alreadyFinished: number,
  progress: (n: number) => void,
  signal?: AbortSignal,
): Promise<number> {
  const items = b.dataset.items;
  // Several batches per thread, so that progress moves and cancelling is prompt on small sets.
  const batches = makeBatches(b.dataset, todo, Math.min(256, Math.max(1, Math.ceil(todo.length / (Math.max(1, pool.threads) * 4)))));
  let next = 0;
  let jobId = 0;
  let finished = alreadyFinished;
  let decoded = 0;
  const inFlight = Math.max(1, pool.threads) * 2;
  // Runners stop at the first failure (or cancel) but let jobs already on a worker finish,
  // so that nothing writes to the file after it is closed.
  let failure: unknown;
  const runOne = async (): Promise<void> => {
    while (next < batches.length && failure === undefined) {
      try {
        throwIfAborted(signal);
      } catch (e) {
        failure = e;
        return;
      }
      const indices = batches[next++];
      let r: Awaited<ReturnType<DecodePool['run']>>;
      try {
        r = await pool.run({ id: jobId++, spec: b.spec, refs: indices.map((i) => workerRef(items[i].ref)) });
      } catch (e) {
        failure ??= e;
        return;
      }
      if (failure !== undefined) return;
      try {
        r.infos.forEach((info, k) => b.meta.set(indices[k], info));
        writeRows(b, indices, r.pixels);
      } catch (e) {
        failure ??= e;
        return;
      }
      finished += indices.length;
      decoded += indices.length;
      progress(finished);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, runOne));
  if (failure !== undefined) throw failure;
  return decoded;
}

/** Writes the records, notes, image list and finally the header. */
function finishFile(b: Build, key: string): void {
  const { dataset, spec, fd, count, rowBytes, pixelOffset, keys, meta } = b;
  writeFully(fd, meta.meta, HEADER_SIZE);
  const notesBuf = Buffer.from(JSON.stringify(meta.notes), 'utf8');
  const notesOffset = pixelOffset + count * rowBytes;
  writeFully(fd, notesBuf, notesOffset);
  const imagesBuf = Buffer.from(keys.join('\n'), 'utf8');
  const imagesOffset = notesOffset + notesBuf.length;
  writeFully(fd, imagesBuf, imagesOffset);
  const header: CacheHeader = {
    format: CACHE_FORMAT,
    decoder: DECODER_VERSION,
    key,
    height: spec?.height ?? 0,
    width: spec?.width ?? 0,
    channels: spec?.channels ?? 0,
    fit: spec?.fit ?? '',
    background: spec?.background ?? '',
    count,
    rowBytes,
    metaOffset: HEADER_SIZE,
    pixelOffset,
    notesOffset,
    notesLength: notesBuf.length,
    imagesOffset,
    imagesLength: imagesBuf.length,
    formats: meta.formats,
    source: dataset.source,
    created: new Date().toISOString(),
  };
  writeHeader(fd, header);
}

/** Refs as sent to workers (plain data; zip refs carry their entry location). */
function workerRef(ref: ImageRef): ImageRef {
  return ref;
}

/**
 * Batches of item indices for the pool: up to `maxCount` images or ~4 MB of files, so that small
 * images go in few messages and big photos still spread over all workers.
 */
function makeBatches(dataset: Dataset, todo: number[], maxCount: number): number[][] {
  const batches: number[][] = [];
  let cur: number[] = [];
  let bytes = 0;
  for (const i of todo) {
    const it = dataset.items[i];
    const size = it.ref.kind === 'zip' ? (it.ref.at?.size ?? 0) : Number(it.stamp?.split('-')[0] ?? 0);
    cur.push(i);
    bytes += size;
    if (cur.length >= maxCount || bytes >= 4 << 20) {
      batches.push(cur);
      cur = [];
      bytes = 0;
    }
  }
  if (cur.length > 0) batches.push(cur);
  return batches;
}

/** IDX images: one read (and inflate) per file, then slices. */
function decodeIdxItems(
  dataset: Dataset,
  todo: number[],
  spec: DecodeSpec | null,
  meta: MetaWriter,
  writeRows: (indices: number[], pixels: Uint8Array | null) => void,
  progress: (n: number) => void,
  signal?: AbortSignal,
): number {
  const byFile = new Map<string, number[]>();
  for (const i of todo) {
    const ref = dataset.items[i].ref as Extract<ImageRef, { kind: 'idx' }>;
    const l = byFile.get(ref.file) ?? [];
    l.push(i);
    byFile.set(ref.file, l);
  }
  const rowBytes = spec ? spec.height * spec.width * spec.channels : 0;
  let n = 0;
  for (const [file, indices] of byFile) {
    throwIfAborted(signal);
    let data: Buffer | undefined;
    let failure: string | undefined;
    try {
      data = readIdxFile(file).data;
    } catch (e) {
      failure = (e as Error).message;
    }
    const CHUNK = 4096;
    for (let s = 0; s < indices.length; s += CHUNK) {
      const part = indices.slice(s, s + CHUNK);
      const pixels = spec ? new Uint8Array(part.length * rowBytes) : null;
      part.forEach((i, k) => {
        const ref = dataset.items[i].ref as Extract<ImageRef, { kind: 'idx' }>;
        const size = ref.width * ref.height;
        if (!data || (ref.index + 1) * size > data.length) {
          meta.set(i, {
            width: 0,
            height: 0,
            channels: 0,
            format: 'idx',
            error: { code: 'corrupt-image', message: failure ?? `image ${ref.index} lies beyond the end of ${path.basename(file)}` },
          });
          return;
        }
        const px = data.subarray(ref.index * size, (ref.index + 1) * size);
        meta.set(i, { width: ref.width, height: ref.height, channels: 1, format: 'idx', hash: sha1Hex(px) });
        if (pixels) rawToTarget({ width: ref.width, height: ref.height, channels: 1, data: px }, spec!, pixels, k * rowBytes);
      });
      writeRows(part, pixels);
      n += part.length;
      progress(n);
    }
  }
  return n;
}
