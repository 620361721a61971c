// The image cache's file format and its folder: names and keys, the header, the 32-byte
// per-image records, positional reads and writes, "latest" pointers and pruning.
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
import type { DecodeSpec } from './decode';
import type { Dataset, DatasetItem, ImageInfo, InputSize, PrepareOptions } from './types';

/** Bump when decoding changes what a cache holds. */
export const CACHE_FORMAT = 'AMLIMG01';
export const DECODER_VERSION = 1;
export const HEADER_SIZE = 4096;
export const META_SIZE = 32;

export const STATUS_NOT_DECODED = 0;
export const STATUS_OK = 1;
export const STATUS_FAILED = 2;
export const STATUS_WARNING = 3;

export interface CacheHeader {
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

export interface Note {
  code?: string;
  message?: string;
  warning?: string;
}

export function defaultCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'automl-vscode', 'images');
}

/** One line of the image list: the item's reference and stamp. */
export function itemKey(it: DatasetItem): string {
  return `${refKey(it.ref)}\t${it.stamp ?? '-'}`;
}

/** Identifies the images of a dataset (references and stamps, in item order). */
export function imagesKey(dataset: Dataset): string {
  const h = createHash('sha1');
  h.update(`${CACHE_FORMAT}/${DECODER_VERSION}\n`);
  let chunk = '';
  for (const it of dataset.items) {
    chunk += `${itemKey(it)}\n`;
    if (chunk.length > 1 << 16) {
      h.update(chunk);
      chunk = '';
    }
  }
  h.update(chunk);
  return h.digest('hex').slice(0, 32);
}

export function specOf(options: { size?: InputSize; fit?: PrepareOptions['fit']; background?: PrepareOptions['background'] }): DecodeSpec | null {
  if (!options.size) return null;
  const { height, width, channels } = options.size;
  if (!(height > 0 && width > 0 && Number.isInteger(height) && Number.isInteger(width)) || (channels !== 1 && channels !== 3)) {
    throw new Error(`invalid input size ${height}×${width}×${channels}: height and width must be positive integers and channels 1 or 3`);
  }
  return { height, width, channels, fit: options.fit ?? 'pad', background: options.background ?? 'white' };
}

export function specName(spec: DecodeSpec | null): string {
  return spec ? `${spec.height}x${spec.width}x${spec.channels}-${spec.fit}-${spec.background}` : 'info';
}

export function pointerName(source: string, spec: DecodeSpec | null): string {
  return `latest-${createHash('sha1')
    .update(`${source}\n${specName(spec)}`)
    .digest('hex')
    .slice(0, 24)}`;
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

export function readFully(fd: number, b: Uint8Array, position: number): void {
  let off = 0;
  while (off < b.length) {
    const n = fs.readSync(fd, b, off, b.length - off, position + off);
    if (n === 0) throw new Error('the cache file is shorter than its header says');
    off += n;
  }
}

export function writeFully(fd: number, b: Uint8Array, position: number): void {
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

export class MetaWriter {
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

/** Writes the header block at offset 0 (the last write of a build). */
export function writeHeader(fd: number, header: CacheHeader): void {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  if (json.length > HEADER_SIZE - 12) throw new Error('cache header too large');
  const head = Buffer.alloc(HEADER_SIZE);
  head.write(CACHE_FORMAT, 0, 'latin1');
  head.writeUInt32LE(json.length, 8);
  json.copy(head, 12);
  writeFully(fd, head, 0);
}

/** Marks a cache file as used now (pruneImageCache drops the least recently used first). */
export function touch(file: string): void {
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

export function readPointer(p: string): string | undefined {
  try {
    const name = fs.readFileSync(p, 'utf8').trim();
    return /^[\w.-]+$/.test(name) ? name : undefined;
  } catch {
    return undefined;
  }
}
