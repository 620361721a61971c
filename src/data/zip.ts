// Zips of a class-folder layout or of a CSV with its images, read in place: yauzl reads the
// central directory once; entries are then read with positional reads at the offsets it
// gave (random access, also from worker threads, which get the offsets with each image).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { readCsv, ResolvedImage, resolveLocalFile } from './csv';
import { DatasetError, FindingCollector } from './findings';
import { itemsFromLayout, LayoutFile } from './layout';
import { isJunkPath, MissingFileHints, resolveCsvPath } from './paths';
import type { DatasetItem, ImageRef, OpenDatasetOptions, ZipEntryLocation } from './types';

// yauzl ships no types (and @types/yauzl is not a dependency): the little we use, typed here.
interface YauzlEntry {
  fileName: string;
  compressedSize: number;
  uncompressedSize: number;
  compressionMethod: number;
  relativeOffsetOfLocalHeader: number;
  crc32: number;
  isEncrypted(): boolean;
}
interface YauzlZipFile {
  readEntry(): void;
  close(): void;
  on(ev: 'entry', cb: (e: YauzlEntry) => void): this;
  on(ev: 'end', cb: () => void): this;
  on(ev: 'error', cb: (err: Error) => void): this;
}
interface Yauzl {
  open(p: string, opts: Record<string, unknown>, cb: (err: Error | null, zf?: YauzlZipFile) => void): void;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const yauzl = require('yauzl') as Yauzl;

export interface ZipEntryInfo {
  name: string;
  at: ZipEntryLocation;
  encrypted: boolean;
}

export function listZip(zipPath: string): Promise<ZipEntryInfo[]> {
  return new Promise((resolve, reject) => {
    yauzl.open(zipPath, { lazyEntries: true, autoClose: false, decodeStrings: true, strictFileNames: false }, (err, zf) => {
      if (err || !zf) {
        reject(
          new DatasetError(
            `${zipPath} cannot be read as a zip: ${err?.message ?? 'unknown error'}. Check that the file is a complete .zip (re-download or re-create it).`,
            zipPath,
            'corrupt-zip',
          ),
        );
        return;
      }
      const out: ZipEntryInfo[] = [];
      zf.on('entry', (e) => {
        if (!e.fileName.endsWith('/')) {
          out.push({
            name: e.fileName,
            encrypted: e.isEncrypted(),
            at: {
              offset: e.relativeOffsetOfLocalHeader,
              compressedSize: e.compressedSize,
              size: e.uncompressedSize,
              method: e.compressionMethod,
              crc32: e.crc32,
            },
          });
        }
        zf.readEntry();
      });
      zf.on('end', () => {
        zf.close();
        resolve(out);
      });
      zf.on('error', (e) => {
        zf.close();
        reject(new DatasetError(`${zipPath} is damaged: ${e.message}. Re-create the zip.`, zipPath, 'corrupt-zip'));
      });
      zf.readEntry();
    });
  });
}

export class ZipEntryError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** The largest entry read (an image, or the CSV): more is refused before reading it. */
export const MAX_ZIP_ENTRY_BYTES = 256 * 2 ** 20;

const mib = (n: number): string => `${(n / 2 ** 20).toFixed(n < 2 ** 20 ? 2 : 0)} MiB`;

/**
 * Reads and checks (CRC-32) one entry. `fd` is an open descriptor of the zip. Inflates at most
 * the entry's declared size, and refuses entries declared over `maxSize`: a 1 MB zip can hold a
 * 1 GiB entry of zeros, or one that claims 1 KB and inflates to gigabytes.
 */
export function readZipEntry(fd: number, at: ZipEntryLocation, name: string, maxSize = MAX_ZIP_ENTRY_BYTES): Buffer {
  if (at.size > maxSize || at.compressedSize > maxSize) {
    throw new ZipEntryError(
      `the zip entry ${name} declares ${mib(Math.max(at.size, at.compressedSize))}, over the ${mib(maxSize)} limit for one entry; it was not read`,
      'unsupported-format',
    );
  }
  const head = Buffer.alloc(30);
  if (fs.readSync(fd, head, 0, 30, at.offset) !== 30 || head.readUInt32LE(0) !== 0x04034b50) {
    throw new ZipEntryError(`the zip entry ${name} has no valid local header: the zip is damaged`, 'corrupt-image');
  }
  const dataStart = at.offset + 30 + head.readUInt16LE(26) + head.readUInt16LE(28);
  const raw = Buffer.alloc(at.compressedSize);
  if (at.compressedSize > 0 && fs.readSync(fd, raw, 0, at.compressedSize, dataStart) !== at.compressedSize) {
    throw new ZipEntryError(`the zip entry ${name} is cut short: the zip is truncated`, 'corrupt-image');
  }
  let data: Buffer;
  if (at.method === 0) data = raw;
  else if (at.method === 8) {
    try {
      // maxOutputLength stops inflating there (at least 1: zlib's minimum; an empty entry inflates to 0).
      data = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, at.size) });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new ZipEntryError(
          `the zip entry ${name} inflates past its declared size of ${at.size} bytes (a decompression bomb, or a damaged zip); it was not read further`,
          'corrupt-image',
        );
      }
      throw new ZipEntryError(`the zip entry ${name} cannot be inflated (${(e as Error).message}): the zip is damaged`, 'corrupt-image');
    }
  } else {
    throw new ZipEntryError(
      `the zip entry ${name} uses compression method ${at.method}, which is not supported; re-create the zip with standard (deflate) compression`,
      'unsupported-format',
    );
  }
  const crc32 = (zlib as unknown as { crc32?: (d: Uint8Array) => number }).crc32;
  if (data.length !== at.size || (crc32 && crc32(data) >>> 0 !== at.crc32 >>> 0)) {
    throw new ZipEntryError(`the zip entry ${name} fails its checksum: the zip is damaged`, 'corrupt-image');
  }
  return data;
}

export function zipStamp(at: ZipEntryLocation): string {
  return `${(at.crc32 >>> 0).toString(16)}-${at.size}`;
}

export async function readZipDataset(
  zipPath: string,
  options: OpenDatasetOptions,
  findings: FindingCollector,
): Promise<{ items: DatasetItem[]; multiLabel: boolean }> {
  const entries = (await listZip(zipPath)).filter((e) => !isJunkPath(e.name));
  const encrypted = entries.filter((e) => e.encrypted);
  if (encrypted.length > 0) {
    findings.add({
      severity: 'error',
      code: 'encrypted-entry',
      file: zipPath,
      image: `${zipPath}: ${encrypted[0].name}`,
      message: `${encrypted.length} zip entr${encrypted.length === 1 ? 'y is' : 'ies are'} encrypted (e.g. ${encrypted[0].name}) and cannot be read. Re-create the zip without a password.`,
    });
  }
  const usable = entries.filter((e) => !e.encrypted);
  const refOf = (e: ZipEntryInfo): ImageRef => ({ kind: 'zip', zip: zipPath, entry: e.name, at: e.at });

  // A CSV next to the images (at the shallowest level that has one) decides the labels.
  const csvs = usable.filter((e) => /\.csv$/i.test(e.name));
  const minDepth = Math.min(...csvs.map((e) => e.name.split('/').length));
  const topCsvs = csvs.filter((e) => e.name.split('/').length === minDepth);
  if (topCsvs.length === 1 && minDepth <= 2) {
    const csv = topCsvs[0];
    const byName = new Map(usable.map((e) => [e.name, e]));
    const lower = new Map(usable.map((e) => [e.name.toLowerCase(), e.name]));
    const csvDir = path.posix.dirname(csv.name);
    const hints = new MissingFileHints();
    const fd = fs.openSync(zipPath, 'r');
    let bytes: Buffer;
    try {
      bytes = readZipEntry(fd, csv.at, csv.name);
    } catch (e) {
      throw new DatasetError(`${zipPath}: ${(e as Error).message}`, zipPath, 'corrupt-zip');
    } finally {
      fs.closeSync(fd);
    }
    findings.add({
      severity: 'info',
      code: 'zip-csv',
      file: zipPath,
      message: `Labels are read from ${csv.name} inside the zip; its relative paths point into the zip.`,
    });
    const read = readCsv(
      bytes,
      {
        file: zipPath,
        where: `${csv.name} in ${path.basename(zipPath)}: `,
        resolve(field): ResolvedImage {
          const f = field.trim();
          if (/^(gs|https?|file):\/\//i.test(f) || path.isAbsolute(f)) {
            const r = resolveCsvPath(f, path.dirname(zipPath), options.gcsPrefixMap);
            return r.ok ? resolveLocalFile(r.path, field, r.via, hints) : r;
          }
          const name = path.posix.normalize(path.posix.join(csvDir === '.' ? '' : csvDir, f.replace(/\\/g, '/'))).replace(/^\.\//, '');
          const e = byName.get(name);
          if (e) return { ok: true, ref: refOf(e), stamp: zipStamp(e.at) };
          const twin = lower.get(name.toLowerCase());
          return {
            ok: true,
            ref: { kind: 'zip', zip: zipPath, entry: name },
            missing: {
              severity: 'error',
              code: 'missing-file',
              message: `Image not found in the zip: ${f} → ${name}${twin ? `; there is ${twin}, which differs in upper/lower case` : ''}. Fix the path (relative to the CSV's folder inside the zip) or add the image to the zip.`,
            },
          };
        },
      },
      options,
      findings,
    );
    return read;
  }
  if (topCsvs.length > 1) {
    findings.add({
      severity: 'info',
      code: 'zip-csv',
      file: zipPath,
      message: `The zip has several CSVs (${topCsvs.map((e) => e.name).join(', ')}), so none was used: labels come from the class folders.`,
    });
  }
  const files: LayoutFile[] = usable.map((e) => ({ rel: e.name, ref: refOf(e), stamp: zipStamp(e.at) }));
  return { items: itemsFromLayout(files, zipPath, (rel) => `${path.basename(zipPath)}: ${rel}`, findings).items, multiLabel: options.multiLabel === true };
}
