// Fixture builders for the dataset tests: everything is generated into temp folders.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { crc32 } from '../../../src/data/crc32';
import { encodePng } from '../../../src/data/png';

const made: string[] = [];

/** A fresh temp folder, removed by cleanupTemp() (call it in an after hook). */
export function tempDir(prefix = 'automl-data-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(d);
  return d;
}

export function cleanupTemp(): void {
  for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

export function write(file: string, data: string | Uint8Array): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, data);
  return file;
}

/** Pixels where each value depends on position and a seed, so images differ. */
export function pattern(w: number, h: number, c: number, seed: number): Uint8Array {
  const px = new Uint8Array(w * h * c);
  for (let i = 0; i < px.length; i++) px[i] = (i * 7 + seed * 31 + ((i * seed) % 13)) & 255;
  return px;
}

export function pngBytes(w: number, h: number, c: 1 | 2 | 3 | 4, seed: number): Buffer {
  return encodePng(w, h, c, pattern(w, h, c, seed));
}

export function writePng(file: string, w = 8, h = 8, c: 1 | 2 | 3 | 4 = 1, seed = 1): string {
  return write(file, pngBytes(w, h, c, seed));
}

/** A 24-bit (or 8-bit palette) BMP, bottom-up, rows padded to 4 bytes. */
export function bmpBytes(w: number, h: number, rgb: Uint8Array, bpp: 24 | 8 = 24): Buffer {
  const paletteSize = bpp === 8 ? 256 * 4 : 0;
  const stride = Math.ceil((w * bpp) / 32) * 4;
  const dataOffset = 14 + 40 + paletteSize;
  const b = Buffer.alloc(dataOffset + stride * h);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(b.length, 2);
  b.writeUInt32LE(dataOffset, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(w, 18);
  b.writeInt32LE(h, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(bpp, 28);
  if (bpp === 8) {
    // Gray palette: index = gray level.
    for (let k = 0; k < 256; k++) b.writeUInt32LE(k | (k << 8) | (k << 16), 54 + 4 * k);
  }
  for (let y = 0; y < h; y++) {
    const row = dataOffset + (h - 1 - y) * stride;
    for (let x = 0; x < w; x++) {
      const s = (y * w + x) * 3;
      if (bpp === 24) {
        b[row + 3 * x] = rgb[s + 2];
        b[row + 3 * x + 1] = rgb[s + 1];
        b[row + 3 * x + 2] = rgb[s];
      } else {
        b[row + x] = rgb[s];
      }
    }
  }
  return b;
}

export interface ZipInput {
  name: string;
  data: Uint8Array;
  /** 0 stored, 8 deflated (default). */
  method?: 0 | 8;
  /** Crafted entries: the compressed body as stored, and the size and CRC-32 the headers declare (`data` is then ignored). */
  crafted?: { body: Buffer; size: number; crc32: number };
}

/** A minimal zip writer (no data descriptors, no zip64): enough for fixtures. */
export function zipBytes(entries: ZipInput[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const method = e.method ?? 8;
    const body = e.crafted?.body ?? (method === 8 ? zlib.deflateRawSync(e.data) : Buffer.from(e.data));
    const name = Buffer.from(e.name, 'utf8');
    const crc = e.crafted?.crc32 ?? crc32(e.data);
    const size = e.crafted?.size ?? e.data.length;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x800, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x800, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    centrals.push(central, name);
    offset += 30 + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, eocd]);
}

export function idxBytes(dims: number[], data: Uint8Array, gz = false): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = 0x08;
  head[3] = dims.length;
  dims.forEach((d, k) => head.writeUInt32BE(d, 4 + 4 * k));
  const raw = Buffer.concat([head, data]);
  return gz ? zlib.gzipSync(raw) : raw;
}

/** MNIST-like IDX pair: `n` w×h images whose first pixel is the image index, labels from `labelOf`. */
export function writeIdxPair(dir: string, prefix: string, n: number, labelOf: (i: number) => number, gz = true, w = 4, h = 4): void {
  const px = new Uint8Array(n * w * h);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < w * h; k++) px[i * w * h + k] = (i + k * 3) & 255;
  }
  const labels = Uint8Array.from({ length: n }, (_, i) => labelOf(i));
  const ext = gz ? '.gz' : '';
  write(path.join(dir, `${prefix}-images-idx3-ubyte${ext}`), idxBytes([n, h, w], px, gz));
  write(path.join(dir, `${prefix}-labels-idx1-ubyte${ext}`), idxBytes([n], labels, gz));
}

/** Finds the single finding with this code (fails with the list when there is not exactly one). */
export function only<T extends { code: string }>(findings: T[], code: string): T {
  const hits = findings.filter((f) => f.code === code);
  if (hits.length !== 1) throw new Error(`expected one "${code}" finding, got ${hits.length}: ${JSON.stringify(findings, null, 1)}`);
  return hits[0];
}

export function codes(findings: { code: string }[]): string[] {
  return findings.map((f) => f.code).sort();
}

/**
 * `bytes` zero bytes deflated (zlib stream, or raw deflate for zip entries), fed in 1 MiB
 * chunks so that building a decompression bomb never holds it inflated.
 */
export async function deflatedZeros(bytes: number, raw = false): Promise<Buffer> {
  const z = raw ? zlib.createDeflateRaw({ level: 9 }) : zlib.createDeflate({ level: 9 });
  const out: Buffer[] = [];
  z.on('data', (c: Buffer) => out.push(c));
  const done = new Promise<void>((resolve, reject) => {
    z.on('end', resolve);
    z.on('error', reject);
  });
  const chunk = Buffer.alloc(1 << 20);
  for (let left = bytes; left > 0; left -= chunk.length) {
    if (!z.write(left >= chunk.length ? chunk : chunk.subarray(0, left))) await new Promise((r) => z.once('drain', r));
  }
  z.end();
  await done;
  return Buffer.concat(out);
}

/** A PNG chunk (length, type, data, CRC). */
export function pngChunk(type: string, data: Uint8Array): Buffer {
  const b = Buffer.alloc(12 + data.length);
  b.writeUInt32BE(data.length, 0);
  b.write(type, 4, 'latin1');
  Buffer.from(data).copy(b, 8);
  b.writeUInt32BE(crc32(b.subarray(4, 8 + data.length)), 8 + data.length);
  return b;
}

/** An 8-bit gray PNG whose header says `w`×`h` and whose one IDAT chunk is `zlibData`. */
export function pngWithIdat(w: number, h: number, zlibData: Uint8Array): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 0;
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([sig, pngChunk('IHDR', ihdr), pngChunk('IDAT', zlibData), pngChunk('IEND', new Uint8Array(0))]);
}

/**
 * Validates (`level: 'images'`) the dataset at `target` in a fresh Node process and returns
 * its findings and that process's peak RSS in bytes: a peak measured here would include
 * whatever earlier tests in this process allocated.
 */
export function validateInChild(
  target: string,
  cacheDir: string,
): { findings: { code: string; severity: string; message: string; file?: string }[]; maxRss: number } {
  const src = path.join(__dirname, '..', '..', '..', 'src', 'data');
  const script = `
    const { openDataset } = require(${JSON.stringify(path.join(src, 'open.js'))});
    const { validateDataset } = require(${JSON.stringify(path.join(src, 'validate.js'))});
    (async () => {
      const ds = await openDataset(process.argv[1]);
      const result = await validateDataset(ds, { level: 'images', cacheDir: process.argv[2] });
      const findings = result.map((f) => ({ code: f.code, severity: f.severity, message: f.message, file: f.file }));
      process.stdout.write(JSON.stringify({ findings, maxRss: process.resourceUsage().maxRSS * 1024 }));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script, target, cacheDir], { encoding: 'utf8', maxBuffer: 64 << 20 }));
}
