// The image cache: every image decoded, oriented, resized and packed once per
// (images, size, channels, fit, background), in one file reused by every trial and
// experiment.
//
// Change detection: the cache key hashes each image's reference and stamp (size, mtime and
// ctime of a file; CRC-32 and size of a zip entry; the IDX file's stat), which openDataset
// collects with one stat per file anyway — no second stat pass and no reading of images on
// a warm load. Labels and partitions are not part of the key: fixing a label or moving rows
// between partitions reuses the pixels. When the key changes (files added, removed or
// edited), the previous cache of the same dataset and size is consulted and only images
// whose stamp changed are decoded again.
//
// File layout (little-endian):
//   [0, 4096)       "AMLIMG01", u32 JSON length, header JSON (CacheHeader), zero padding
//   [metaOffset)    count × 32-byte records: u32 width, u32 height, u8 channels, u8 status,
//                   u8 format index, u8 0, 20-byte SHA-1 of the file bytes, 4 bytes 0
//   [pixelOffset)   count × rowBytes (height × width × channels) uint8 NHWC rows, item order
//   [notesOffset)   JSON: { [index]: { code?, message?, warning? } } for failed/odd images
//   [imagesOffset)  newline-separated "refKey\tstamp" per item, for incremental rebuilds
// The file is written under a temporary name, row by row as decoding progresses (bounded
// memory), and renamed into place when complete, so a crash never leaves a half cache.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { refKey } from './csv';
import { DecodeSpec, rawToTarget, sha1Hex } from './decode';
import { readIdxFile } from './idx';
import { DecodePool, defaultWorkerCount } from './pool';
import type {
  Dataset, ImageCacheOptions, ImageInfo, ImageRef, ImageScan, ImageTensorSet, InputSize, Partition, PrepareOptions, PreparedData,
} from './types';
import { PARTITIONS } from './types';
import type { ImageSet, StreamedImageSet } from './image-set';

/** Bump when decoding changes what a cache holds. */
const CACHE_FORMAT = 'AMLIMG01';
const DECODER_VERSION = 1;
const HEADER_SIZE = 4096;
const META_SIZE = 32;

const STATUS_NOT_DECODED = 0;
const STATUS_OK = 1;
const STATUS_FAILED = 2;
const STATUS_WARNING = 3;

interface CacheHeader {
  format: string;
  decoder: number;
  key: string;
  /** 0×0×0 for an info-only pass (validation without a training size). */
  height: number;
  width: number;
  channels: number;
  fit: string;
  background: string;
  count: number;
  rowBytes: number;
  metaOffset: number;
  pixelOffset: number;
  notesOffset: number;
  notesLength: number;
  imagesOffset: number;
  imagesLength: number;
  formats: string[];
  source: string;
  created: string;
}

interface Note {
  code?: string;
  message?: string;
  warning?: string;
}

export function defaultCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'automl-vscode', 'images');
}

/** Identifies the images of a dataset (references and stamps, in item order). */
export function imagesKey(dataset: Dataset): string {
  const h = createHash('sha1');
  h.update(`${CACHE_FORMAT}/${DECODER_VERSION}\n`);
  let chunk = '';
  for (const it of dataset.items) {
    chunk += `${refKey(it.ref)}\t${it.stamp ?? '-'}\n`;
    if (chunk.length > 1 << 16) {
      h.update(chunk);
      chunk = '';
    }
  }
  h.update(chunk);
  return h.digest('hex').slice(0, 32);
}

function specOf(options: { size?: InputSize; fit?: PrepareOptions['fit']; background?: PrepareOptions['background'] }): DecodeSpec | null {
  if (!options.size) return null;
  const { height, width, channels } = options.size;
  if (!(height > 0 && width > 0 && Number.isInteger(height) && Number.isInteger(width)) || (channels !== 1 && channels !== 3)) {
    throw new Error(`invalid input size ${height}×${width}×${channels}: height and width must be positive integers and channels 1 or 3`);
  }
  return { height, width, channels, fit: options.fit ?? 'pad', background: options.background ?? 'white' };
}

function specName(spec: DecodeSpec | null): string {
  return spec ? `${spec.height}x${spec.width}x${spec.channels}-${spec.fit}-${spec.background}` : 'info';
}

function pointerName(source: string, spec: DecodeSpec | null): string {
  return `latest-${createHash('sha1').update(`${source}\n${specName(spec)}`).digest('hex').slice(0, 24)}`;
}

function readHeader(fd: number): CacheHeader | undefined {
  const head = Buffer.alloc(HEADER_SIZE);
  if (fs.readSync(fd, head, 0, HEADER_SIZE, 0) !== HEADER_SIZE) return undefined;
  if (head.toString('latin1', 0, 8) !== CACHE_FORMAT) return undefined;
  const len = head.readUInt32LE(8);
  if (len > HEADER_SIZE - 12) return undefined;
  try {
    const h = JSON.parse(head.toString('utf8', 12, 12 + len)) as CacheHeader;
    return h.format === CACHE_FORMAT && h.decoder === DECODER_VERSION ? h : undefined;
  } catch {
    return undefined;
  }
}

/** An opened, complete cache file. */
export class CacheFile {
  private constructor(
    readonly file: string,
    readonly fd: number,
    readonly header: CacheHeader,
  ) {}

  static open(file: string, key?: string): CacheFile | undefined {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      return undefined;
    }
    const h = readHeader(fd);
    if (!h || (key !== undefined && h.key !== key) || fs.fstatSync(fd).size < h.imagesOffset + h.imagesLength) {
      fs.closeSync(fd);
      return undefined;
    }
    return new CacheFile(file, fd, h);
  }

  meta(): Buffer {
    const b = Buffer.alloc(this.header.count * META_SIZE);
    readFully(this.fd, b, this.header.metaOffset);
    return b;
  }

  notes(): Record<string, Note> {
    if (this.header.notesLength === 0) return {};
    const b = Buffer.alloc(this.header.notesLength);
    readFully(this.fd, b, this.header.notesOffset);
    return JSON.parse(b.toString('utf8')) as Record<string, Note>;
  }

  images(): string[] {
    const b = Buffer.alloc(this.header.imagesLength);
    readFully(this.fd, b, this.header.imagesOffset);
    return b.toString('utf8').split('\n');
  }

  infos(meta = this.meta(), notes = this.notes()): (ImageInfo | undefined)[] {
    const out: (ImageInfo | undefined)[] = new Array(this.header.count);
    for (let i = 0; i < this.header.count; i++) out[i] = infoFromMeta(meta, i, this.header.formats, notes[i]);
    return out;
  }

  close(): void {
    try {
      fs.closeSync(this.fd);
    } catch {
      /* closed */
    }
  }
}

function readFully(fd: number, b: Uint8Array, position: number): void {
  let off = 0;
  while (off < b.length) {
    const n = fs.readSync(fd, b, off, b.length - off, position + off);
    if (n === 0) throw new Error('the cache file is shorter than its header says');
    off += n;
  }
}

function writeFully(fd: number, b: Uint8Array, position: number): void {
  let off = 0;
  while (off < b.length) off += fs.writeSync(fd, b, off, b.length - off, position + off);
}

function infoFromMeta(meta: Buffer, i: number, formats: string[], note: Note | undefined): ImageInfo | undefined {
  const o = i * META_SIZE;
  const status = meta[o + 9];
  if (status === STATUS_NOT_DECODED) return undefined;
  const hashBytes = meta.subarray(o + 12, o + 32);
  const info: ImageInfo = {
    width: meta.readUInt32LE(o),
    height: meta.readUInt32LE(o + 4),
    channels: meta[o + 8],
    format: formats[meta[o + 10]] ?? 'unknown',
  };
  if (hashBytes.some((x) => x !== 0)) info.hash = hashBytes.toString('hex');
  if (status === STATUS_FAILED) info.error = { code: note?.code ?? 'corrupt-image', message: note?.message ?? 'the image cannot be decoded' };
  if (status === STATUS_WARNING && note?.warning) info.warning = note.warning;
  return info;
}

class MetaWriter {
  readonly meta: Buffer;
  readonly notes: Record<string, Note> = {};
  readonly formats: string[] = ['unknown'];

  constructor(count: number) {
    this.meta = Buffer.alloc(count * META_SIZE);
  }

  set(i: number, info: ImageInfo): void {
    const o = i * META_SIZE;
    this.meta.writeUInt32LE(info.width >>> 0, o);
    this.meta.writeUInt32LE(info.height >>> 0, o + 4);
    this.meta[o + 8] = info.channels;
    this.meta[o + 9] = info.error ? STATUS_FAILED : info.warning ? STATUS_WARNING : STATUS_OK;
    let f = this.formats.indexOf(info.format);
    if (f < 0 && this.formats.length < 255) {
      this.formats.push(info.format);
      f = this.formats.length - 1;
    }
    this.meta[o + 10] = Math.max(0, f);
    if (info.hash) Buffer.from(info.hash, 'hex').copy(this.meta, o + 12, 0, 20);
    if (info.error) this.notes[i] = { code: info.error.code, message: info.error.message };
    else if (info.warning) this.notes[i] = { warning: info.warning };
  }

  copyFrom(oldMeta: Buffer, oldIndex: number, oldFormats: string[], oldNote: Note | undefined, i: number): void {
    const info = infoFromMeta(oldMeta, oldIndex, oldFormats, oldNote);
    if (info) this.set(i, info);
  }
}

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

async function buildCache(dataset: Dataset, spec: DecodeSpec | null, key: string, dir: string, file: string, options: ImageCacheOptions): Promise<EnsureResult> {
  const items = dataset.items;
  const count = items.length;
  const rowBytes = spec ? spec.height * spec.width * spec.channels : 0;
  const metaOffset = HEADER_SIZE;
  const pixelOffset = metaOffset + Math.ceil((count * META_SIZE) / 4096) * 4096;
  const keys = items.map((it) => `${refKey(it.ref)}\t${it.stamp ?? '-'}`);
  const meta = new MetaWriter(count);
  const pointer = path.join(dir, pointerName(dataset.source, spec));
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const fd = fs.openSync(tmp, 'w+');
  let decoded = 0;
  let reused = 0;
  let pool: DecodePool | undefined;
  try {
    if (rowBytes > 0 && count > 0) fs.ftruncateSync(fd, pixelOffset + count * rowBytes);
    const done = new Uint8Array(count);

    // 1. Reuse rows of the previous cache of this dataset and spec (same image and stamp).
    const prevName = readPointer(pointer);
    const prev = prevName && prevName !== path.basename(file) ? CacheFile.open(path.join(dir, prevName)) : undefined;
    if (prev) {
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
    }

    // 2. Decode the rest: IDX in bulk on this thread, other images on the worker pool.
    const todo: number[] = [];
    for (let i = 0; i < count; i++) if (!done[i] && items[i].stamp !== undefined) todo.push(i);
    const total = todo.length;
    const progress = (n: number) => options.onProgress?.({ done: n, total, phase: 'decode' });
    progress(0);

    const idxTodo = todo.filter((i) => items[i].ref.kind === 'idx');
    const otherTodo = todo.filter((i) => items[i].ref.kind !== 'idx');
    const writeRows = (indices: number[], pixels: Uint8Array | null) => {
      if (!pixels || rowBytes === 0) return;
      // Contiguous indices (the usual cold case) go out in one write.
      let k = 0;
      while (k < indices.length) {
        let e = k + 1;
        while (e < indices.length && indices[e] === indices[e - 1] + 1) e++;
        writeFully(fd, pixels.subarray(k * rowBytes, e * rowBytes), pixelOffset + indices[k] * rowBytes);
        k = e;
      }
    };

    if (idxTodo.length > 0) {
      decoded += decodeIdxItems(dataset, idxTodo, spec, meta, writeRows, (n) => progress(n), options.signal);
    }

    if (otherTodo.length > 0) {
      throwIfAborted(options.signal);
      const requested = options.workers ?? defaultWorkerCount();
      // A handful of images is not worth starting threads for.
      pool = new DecodePool(otherTodo.length < 16 ? 0 : Math.max(0, Math.min(requested, Math.ceil(otherTodo.length / 8))));
      // Several batches per thread, so that progress moves and cancelling is prompt on small sets.
      const batches = makeBatches(dataset, otherTodo, Math.min(256, Math.max(1, Math.ceil(otherTodo.length / (Math.max(1, pool.threads) * 4)))));
      let next = 0;
      let jobId = 0;
      let finished = idxTodo.length;
      const inFlight = Math.max(1, pool.threads) * 2;
      // Runners stop at the first failure (or cancel) but let jobs already on a worker finish,
      // so that nothing writes to the file after it is closed.
      let failure: unknown;
      const runOne = async (): Promise<void> => {
        while (next < batches.length && failure === undefined) {
          try {
            throwIfAborted(options.signal);
          } catch (e) {
            failure = e;
            return;
          }
          const indices = batches[next++];
          let r: Awaited<ReturnType<DecodePool['run']>>;
          try {
            r = await pool!.run({ id: jobId++, spec, refs: indices.map((i) => workerRef(items[i].ref)) });
          } catch (e) {
            failure ??= e;
            return;
          }
          if (failure !== undefined) return;
          try {
            r.infos.forEach((info, k) => meta.set(indices[k], info));
            writeRows(indices, r.pixels);
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
    }

    // 3. Finish: meta, notes, image list, header; then move into place.
    writeFully(fd, meta.meta, metaOffset);
    const notesBuf = Buffer.from(JSON.stringify(meta.notes), 'utf8');
    const notesOffset = pixelOffset + count * rowBytes;
    writeFully(fd, notesBuf, notesOffset);
    const imagesBuf = Buffer.from(keys.join('\n'), 'utf8');
    const imagesOffset = notesOffset + notesBuf.length;
    writeFully(fd, imagesBuf, imagesOffset);
    const header: CacheHeader = {
      format: CACHE_FORMAT, decoder: DECODER_VERSION, key,
      height: spec?.height ?? 0, width: spec?.width ?? 0, channels: spec?.channels ?? 0,
      fit: spec?.fit ?? '', background: spec?.background ?? '',
      count, rowBytes, metaOffset, pixelOffset, notesOffset, notesLength: notesBuf.length, imagesOffset, imagesLength: imagesBuf.length,
      formats: meta.formats, source: dataset.source, created: new Date().toISOString(),
    };
    const json = Buffer.from(JSON.stringify(header), 'utf8');
    if (json.length > HEADER_SIZE - 12) throw new Error('cache header too large');
    const head = Buffer.alloc(HEADER_SIZE);
    head.write(CACHE_FORMAT, 0, 'latin1');
    head.writeUInt32LE(json.length, 8);
    json.copy(head, 12);
    writeFully(fd, head, 0);
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

/** Marks a cache file as used now (pruneImageCache drops the least recently used first). */
function touch(file: string): void {
  try {
    const now = new Date();
    fs.utimesSync(file, now, now);
  } catch {
    /* read-only cache folders still work */
  }
}

/**
 * Deletes the least recently used cache files until the folder holds at most `maxBytes`
 * (default 10 GiB), plus leftovers of interrupted builds older than a day.
 */
export function pruneImageCache(cacheDir = defaultCacheDir(), options: { maxBytes?: number } = {}): { deleted: string[]; freedBytes: number } {
  const maxBytes = options.maxBytes ?? 10 * 1024 ** 3;
  const deleted: string[] = [];
  let freedBytes = 0;
  let names: string[];
  try {
    names = fs.readdirSync(cacheDir);
  } catch {
    return { deleted, freedBytes };
  }
  const files = names
    .filter((n) => n.includes('.amlc'))
    .map((n) => {
      const st = statOrNull(path.join(cacheDir, n));
      return st ? { n, size: st.size, mtime: st.mtimeMs } : undefined;
    })
    .filter((f): f is { n: string; size: number; mtime: number } => !!f)
    .sort((a, b) => b.mtime - a.mtime);
  let total = 0;
  const dayAgo = Date.now() - 24 * 3600 * 1000;
  for (const f of files) {
    const partial = f.n.includes('.tmp-');
    if (partial ? f.mtime < dayAgo : total + f.size > maxBytes) {
      fs.rmSync(path.join(cacheDir, f.n), { force: true });
      deleted.push(f.n);
      freedBytes += f.size;
    } else if (!partial) {
      total += f.size;
    }
  }
  // Pointers to deleted files only cost a failed open; remove them anyway.
  for (const n of names.filter((x) => x.startsWith('latest-'))) {
    const target = readPointer(path.join(cacheDir, n));
    if (!target || deleted.includes(target)) fs.rmSync(path.join(cacheDir, n), { force: true });
  }
  return { deleted, freedBytes };
}

function statOrNull(p: string): fs.Stats | null {
  try {
    return fs.statSync(p);
  } catch {
    return null;
  }
}

function readPointer(p: string): string | undefined {
  try {
    const name = fs.readFileSync(p, 'utf8').trim();
    return /^[\w.-]+$/.test(name) ? name : undefined;
  } catch {
    return undefined;
  }
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
  dataset: Dataset, todo: number[], spec: DecodeSpec | null, meta: MetaWriter,
  writeRows: (indices: number[], pixels: Uint8Array | null) => void, progress: (n: number) => void, signal?: AbortSignal,
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
          meta.set(i, { width: 0, height: 0, channels: 0, format: 'idx', error: { code: 'corrupt-image', message: failure ?? `image ${ref.index} lies beyond the end of ${path.basename(file)}` } });
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

// ---------------------------------------------------------------------------------------
// Public entry points.

/**
 * Decodes every image once (or reads the cache) and returns what each image is. With
 * `size`, fills the pixel cache for that size in the same pass.
 */
export async function scanImages(
  dataset: Dataset,
  options: ImageCacheOptions & { size?: InputSize; fit?: PrepareOptions['fit']; background?: PrepareOptions['background'] } = {},
): Promise<ImageScan> {
  const { cache, decoded, reused } = await ensureCache(dataset, specOf(options), options);
  try {
    return { images: cache.infos(), cached: decoded === 0 && reused === 0 };
  } finally {
    cache.close();
  }
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

/**
 * Decodes (or loads from the cache) every usable image at the trial's input size and
 * returns the three partitions in memory. Images that failed to decode are left out (the
 * validation findings name them).
 */
export async function prepareImages(dataset: Dataset, options: PrepareOptions): Promise<PreparedData> {
  const reader = await openImageCache(dataset, options);
  try {
    const sets = reader.readAll((done, total) => options.onProgress?.({ done, total, phase: 'load' }));
    return { classes: dataset.classes, multiLabel: dataset.multiLabel, train: sets.TRAIN, validation: sets.VALIDATION, test: sets.TEST };
  } finally {
    reader.close();
  }
}

/** The partitions for training: in memory, or streamed from the cache file when larger than `maxResidentBytes`. */
export interface PreparedSets {
  classes: string[];
  multiLabel: boolean;
  train: ImageSet;
  validation: ImageSet;
  test: ImageSet;
  /** Whether pixels are read from the cache file on demand. */
  streamed: boolean;
  /** Bytes of pixels in the three partitions. */
  pixelBytes: number;
  /** Releases the cache file (streamed sets are unusable after this). */
  close(): void;
}

/**
 * Like `prepareImages`, but leaves the pixels in the cache file when all partitions together
 * exceed `maxResidentBytes`: training then reads each batch from disk and memory stays bounded
 * whatever the dataset's size.
 */
export async function prepareImageSets(dataset: Dataset, options: PrepareOptions & { maxResidentBytes: number }): Promise<PreparedSets> {
  const reader = await openImageCache(dataset, options);
  const rowBytes = reader.size.height * reader.size.width * reader.size.channels;
  const pixelBytes = PARTITIONS.reduce((s, p) => s + reader.count(p) * rowBytes, 0);
  const base = { classes: dataset.classes, multiLabel: dataset.multiLabel, pixelBytes };
  if (pixelBytes <= options.maxResidentBytes) {
    try {
      const sets = reader.readAll((done, total) => options.onProgress?.({ done, total, phase: 'load' }));
      return { ...base, train: sets.TRAIN, validation: sets.VALIDATION, test: sets.TEST, streamed: false, close: () => undefined };
    } finally {
      reader.close();
    }
  }
  return {
    ...base,
    train: reader.streamed('TRAIN'),
    validation: reader.streamed('VALIDATION'),
    test: reader.streamed('TEST'),
    streamed: true,
    close: () => reader.close(),
  };
}

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

export async function openImageCache(dataset: Dataset, options: PrepareOptions): Promise<ImageCacheReader> {
  const spec = specOf(options)!;
  const { cache, decoded } = await ensureCache(dataset, spec, options);
  const meta = cache.meta();
  const parts = usableByPartition(dataset, meta);
  const classIndex = new Map(dataset.classes.map((c, i) => [c, i]));
  const rowBytes = cache.header.rowBytes;
  const { pixelOffset } = cache.header;

  const readIndices = (indices: number[], onRows?: (n: number) => void): ImageTensorSet => {
    const n = indices.length;
    const pixels = new Uint8Array(n * rowBytes);
    // Coalesce runs of consecutive rows into one read (up to 16 MB).
    const maxRun = Math.max(1, Math.floor((16 << 20) / rowBytes));
    let r = 0;
    while (r < n) {
      let e = r + 1;
      while (e < n && e - r < maxRun && indices[e] === indices[e - 1] + 1) e++;
      readFully(cache.fd, pixels.subarray(r * rowBytes, e * rowBytes), pixelOffset + indices[r] * rowBytes);
      r = e;
      onRows?.(r);
    }
    return {
      height: spec.height, width: spec.width, channels: spec.channels, count: n, pixels,
      labels: labelArray(dataset, indices, classIndex),
      itemIds: Int32Array.from(indices),
    };
  };

  const readSparse = (indices: number[], onRows?: (n: number) => void): ImageTensorSet => {
    // Rows of one partition interleave with others; read the covering range in chunks
    // and pick rows, which beats one read per row when the partition is dense.
    const n = indices.length;
    if (n === 0) return readIndices(indices);
    const span = indices[n - 1] - indices[0] + 1;
    if (span > 4 * n) return readIndices(indices, onRows);
    const pixels = new Uint8Array(n * rowBytes);
    const chunkRows = Math.max(1, Math.floor((16 << 20) / rowBytes));
    const buf = Buffer.alloc(Math.min(span, chunkRows) * rowBytes);
    let k = 0;
    for (let first = indices[0]; first <= indices[n - 1] && k < n; first += chunkRows) {
      const last = Math.min(indices[n - 1], first + chunkRows - 1);
      const view = buf.subarray(0, (last - first + 1) * rowBytes);
      readFully(cache.fd, view, pixelOffset + first * rowBytes);
      while (k < n && indices[k] <= last) {
        const o = (indices[k] - first) * rowBytes;
        pixels.set(view.subarray(o, o + rowBytes), k * rowBytes);
        k++;
      }
      onRows?.(k);
    }
    return {
      height: spec.height, width: spec.width, channels: spec.channels, count: n, pixels,
      labels: labelArray(dataset, indices, classIndex),
      itemIds: Int32Array.from(indices),
    };
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
      return readSparse(idx, onRows);
    },
    readAt(p, positions) {
      const idx = Array.from(positions, (q) => {
        const i = parts[p][q];
        if (i === undefined) throw new RangeError(`position ${q} is outside ${p} (${parts[p].length} images)`);
        return i;
      });
      return readUnordered(idx);
    },
    *batches(p, batchSize, opts = {}) {
      const order = Array.from({ length: parts[p].length }, (_, i) => i);
      if (opts.shuffle) shuffleInPlace(order, opts.seed ?? 0);
      for (let s = 0; s < order.length; s += batchSize) yield reader.readAt(p, order.slice(s, s + batchSize));
    },
    readAll(onProgress) {
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
        const rows = Math.min(chunkRows, count - first);
        const view = buf.subarray(0, rows * rowBytes);
        readFully(cache.fd, view, pixelOffset + first * rowBytes);
        // Copy runs of rows that land next to each other in one partition at once.
        let r = 0;
        while (r < rows) {
          const i = first + r;
          const k = where[i];
          if (k < 0) {
            r++;
            continue;
          }
          const p = dataset.items[i].partition;
          let e = r + 1;
          while (e < rows && where[first + e] === k + (e - r) && dataset.items[first + e].partition === p) e++;
          dest[p].set(view.subarray(r * rowBytes, e * rowBytes), k * rowBytes);
          done += e - r;
          r = e;
        }
        onProgress?.(done, total);
      }
      for (const p of PARTITIONS) {
        out[p] = {
          height: spec.height, width: spec.width, channels: spec.channels, count: parts[p].length, pixels: dest[p],
          labels: labelArray(dataset, parts[p], classIndex), itemIds: Int32Array.from(parts[p]),
        };
      }
      return out;
    },
    streamed(p) {
      const ids = parts[p];
      return {
        height: spec.height, width: spec.width, channels: spec.channels, count: ids.length,
        labels: labelArray(dataset, ids, classIndex), itemIds: Int32Array.from(ids),
        rows: { read: (positions, out) => readRowsInto(Array.from(positions, (q) => ids[q]), out) },
      };
    },
    close: () => cache.close(),
  };

  // Reads rows (item indices, any order) into `out` in that order: the file is read in item
  // order, runs of consecutive rows in one call (a shuffled batch of a dense partition costs
  // about one read per row; reads from the page cache take microseconds).
  let runBuf = Buffer.alloc(0);
  const readRowsInto = (idx: number[], out: Uint8Array): void => {
    const order = Int32Array.from(idx.keys()).sort((x, y) => idx[x] - idx[y]);
    let r = 0;
    while (r < order.length) {
      let e = r + 1;
      while (e < order.length && idx[order[e]] === idx[order[e - 1]] + 1) e++;
      const bytes = (e - r) * rowBytes;
      if (e - r === 1) {
        readFully(cache.fd, out.subarray(order[r] * rowBytes, (order[r] + 1) * rowBytes), pixelOffset + idx[order[r]] * rowBytes);
      } else {
        if (runBuf.length < bytes) runBuf = Buffer.alloc(bytes);
        readFully(cache.fd, runBuf.subarray(0, bytes), pixelOffset + idx[order[r]] * rowBytes);
        for (let j = r; j < e; j++) out.set(runBuf.subarray((j - r) * rowBytes, (j - r + 1) * rowBytes), order[j] * rowBytes);
      }
      r = e;
    }
  };

  const readUnordered = (idx: number[]): ImageTensorSet => {
    const pixels = new Uint8Array(idx.length * rowBytes);
    readRowsInto(idx, pixels);
    return {
      height: spec.height, width: spec.width, channels: spec.channels, count: idx.length, pixels,
      labels: labelArray(dataset, idx, classIndex),
      itemIds: Int32Array.from(idx),
    };
  };

  return reader;
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
