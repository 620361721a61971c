// MNIST-style IDX files (`train-images-idx3-ubyte[.gz]` + `train-labels-idx1-ubyte[.gz]`,
// `t10k-*` for the test set), so that MNIST and Fashion-MNIST train as downloaded.
// Format: 2 zero bytes, a type byte (0x08 = unsigned byte), the number of dimensions, then
// each dimension as a big-endian uint32, then the data.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { DatasetError, FindingCollector } from './findings';
import { fileStamp } from './paths';
import type { DatasetItem, OpenDatasetOptions, Partition } from './types';

const IDX_NAME = /^(.*?)[-._]?(images|labels)[-._]idx([13])-ubyte(\.gz)?$/i;

export function isIdxFileName(name: string): boolean {
  return IDX_NAME.test(name);
}

export interface IdxHeader {
  dtype: number;
  dims: number[];
  /** Offset of the data in the (decompressed) file. */
  dataOffset: number;
}

function parseHeader(buf: Uint8Array, file: string): IdxHeader {
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0) {
    throw new DatasetError(
      `${file} is not an IDX file (it should start with two zero bytes). Check that it is the MNIST-format file, not an HTML page or a partial download.`,
      file,
      'idx-format',
    );
  }
  const dtype = buf[2];
  const nd = buf[3];
  if (buf.length < 4 + 4 * nd) throw new DatasetError(`${file} is cut short inside its header. Download it again.`, file, 'idx-format');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims: number[] = [];
  for (let k = 0; k < nd; k++) dims.push(view.getUint32(4 + 4 * k, false));
  return { dtype, dims, dataOffset: 4 + 4 * nd };
}

/** Reads only the header (for .gz, inflates just the first bytes). */
export function readIdxHeader(file: string): IdxHeader {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(4096);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    let bytes: Buffer = head.subarray(0, n);
    if (file.toLowerCase().endsWith('.gz')) {
      try {
        bytes = zlib.gunzipSync(bytes, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
      } catch (e) {
        throw new DatasetError(`${file} cannot be decompressed (${(e as Error).message}). Download it again.`, file, 'idx-format');
      }
    }
    return parseHeader(bytes, file);
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads a whole IDX file (decompressing .gz) and checks its length against the header. */
export function readIdxFile(file: string): { header: IdxHeader; data: Buffer } {
  let buf: Buffer = fs.readFileSync(file);
  if (file.toLowerCase().endsWith('.gz')) {
    try {
      buf = zlib.gunzipSync(buf);
    } catch (e) {
      throw new DatasetError(`${file} cannot be decompressed (${(e as Error).message}): it is damaged or incomplete. Download it again.`, file, 'idx-format');
    }
  }
  const header = parseHeader(buf, file);
  const expected = header.dims.reduce((a, b) => a * b, 1);
  const data = buf.subarray(header.dataOffset);
  if (data.length < expected) {
    throw new DatasetError(
      `${file} is cut short: its header announces ${expected} bytes of data but it holds ${data.length}. Download it again.`,
      file,
      'idx-format',
    );
  }
  return { header, data: data.subarray(0, expected) };
}

function partitionOfPrefix(prefix: string): Partition | undefined {
  const p = prefix.toLowerCase();
  if (/(^|[-_.])(t10k|test|testing)([-_.]|$)/.test(p) || p.startsWith('t10k')) return 'TEST';
  if (/(^|[-_.])(train|training)([-_.]|$)/.test(p)) return 'TRAIN';
  if (/(^|[-_.])(val|valid|validation)([-_.]|$)/.test(p)) return 'VALIDATION';
  return undefined;
}

const LABEL_FILES = ['labels.txt', 'classes.txt', 'class_names.txt', 'classnames.txt'];

/** Does this folder (or file) look like IDX data? */
export function hasIdxFiles(dir: string): boolean {
  try {
    return fs.readdirSync(dir).some((n) => IDX_NAME.test(n) && /images/i.test(n));
  } catch {
    return false;
  }
}

/** An images file and its labels file, matched by prefix. */
interface IdxPair {
  images?: string;
  labels?: string;
}

export function readIdxDataset(target: string, isFile: boolean, options: OpenDatasetOptions, findings: FindingCollector): DatasetItem[] {
  const dir = isFile ? path.dirname(target) : target;
  const names = fs.readdirSync(dir);
  const pairs = idxPairs(dir, names, isFile ? target : undefined);
  const classNames = readClassNames(dir, names, options, findings);

  const items: DatasetItem[] = [];
  let unnamed = -1;
  for (const [prefix, p] of [...pairs].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const pair = openIdxPair(prefix, p, findings);
    if (!pair) continue;
    const { images, labels, n, rows, cols, partition } = pair;
    const stamp = fileStamp(fs.statSync(images));
    const base = path.basename(images);
    for (let i = 0; i < n; i++) {
      const v = labels[i];
      let label: string;
      if (classNames.names) {
        label = classNames.names[v] ?? '';
        if (label === '') {
          if (unnamed < 0) {
            unnamed = v;
            findings.add({
              severity: 'error',
              code: 'idx-labels-file',
              file: classNames.file!,
              message: `${base} uses label ${v} (image ${i}), but the class-names file has no name on line ${v + 1}. Name every label, one per line.`,
            });
          }
          label = String(v);
        }
      } else label = String(v);
      items.push({
        id: items.length,
        ref: { kind: 'idx', file: images, index: i, width: cols, height: rows },
        display: `${base}#${i}`,
        labels: [label],
        partition,
        assigned: true,
        origin: { file: images },
        stamp,
      });
    }
  }
  if (pairs.size === 0 || items.length === 0) {
    if (!findings.result().some((f) => f.severity === 'error')) {
      findings.add({
        severity: 'error',
        code: 'no-images',
        file: target,
        message: `No IDX image/label file pairs found in ${dir}. Expected e.g. train-images-idx3-ubyte.gz with train-labels-idx1-ubyte.gz.`,
      });
    }
  }
  return items;
}

/** The IDX files of the folder by prefix; only the pointed-at file's pair when `file` is given. */
function idxPairs(dir: string, names: string[], file: string | undefined): Map<string, IdxPair> {
  const pairs = new Map<string, IdxPair>();
  for (const n of names) {
    const m = IDX_NAME.exec(n);
    if (!m) continue;
    const key = m[1].toLowerCase();
    const p = pairs.get(key) ?? {};
    const kind = m[2].toLowerCase() as 'images' | 'labels';
    const prev = p[kind];
    // Prefer the uncompressed file when both are present: no inflating on every import.
    if (!prev || (prev.toLowerCase().endsWith('.gz') && !n.toLowerCase().endsWith('.gz'))) p[kind] = path.join(dir, n);
    pairs.set(key, p);
  }
  if (file !== undefined) {
    const m = IDX_NAME.exec(path.basename(file));
    const key = m ? m[1].toLowerCase() : '';
    for (const k of [...pairs.keys()]) if (k !== key) pairs.delete(k);
  }
  return pairs;
}

/** Class names: the option, or a labels file next to the IDX files, else none (the digits are used). */
function readClassNames(dir: string, names: string[], options: OpenDatasetOptions, findings: FindingCollector): { names?: string[]; file?: string } {
  let names2: string[] | undefined;
  let namesFile = options.labelsFile ? path.resolve(dir, options.labelsFile) : undefined;
  if (!namesFile) {
    const found = names.find((n) => LABEL_FILES.includes(n.toLowerCase()));
    if (found) namesFile = path.join(dir, found);
  }
  if (namesFile) {
    try {
      const lines = fs
        .readFileSync(namesFile, 'utf8')
        .replace(/^\uFEFF/, '')
        .split(/\r\n|\r|\n/)
        .map((l) => l.trim());
      while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
      names2 = lines;
      const blank = lines.findIndex((l) => l === '');
      if (blank >= 0) {
        findings.add({
          severity: 'error',
          code: 'idx-labels-file',
          file: namesFile,
          line: blank + 1,
          message: `Line ${blank + 1} of the class-names file is empty. Write one class name per line (line 1 names label 0).`,
        });
      }
      const dup = lines.findIndex((l, i) => l !== '' && lines.indexOf(l) !== i);
      if (dup >= 0) {
        findings.add({
          severity: 'error',
          code: 'idx-labels-file',
          file: namesFile,
          line: dup + 1,
          message: `Line ${dup + 1} repeats the class name "${lines[dup]}" of line ${lines.indexOf(lines[dup]) + 1}. Each label needs its own name.`,
        });
      }
    } catch (e) {
      findings.add({
        severity: 'error',
        code: 'idx-labels-file',
        file: namesFile,
        message: `Cannot read the class-names file ${namesFile}: ${(e as Error).message}.`,
      });
    }
  }
  return { names: names2, file: namesFile };
}

/** Checks a pair's headers and sizes and reads its labels; undefined (with findings) when it cannot be used. */
function openIdxPair(
  prefix: string,
  p: IdxPair,
  findings: FindingCollector,
): { images: string; labels: Buffer; n: number; rows: number; cols: number; partition: Partition } | undefined {
  if (!p.images) {
    findings.add({
      severity: 'warning',
      code: 'idx-missing-images',
      file: p.labels!,
      message: `${path.basename(p.labels!)} has no matching images file (${prefix}-images-idx3-ubyte[.gz]); ignored.`,
    });
    return undefined;
  }
  if (!p.labels) {
    findings.add({
      severity: 'error',
      code: 'idx-missing-labels',
      file: p.images,
      message: `${path.basename(p.images)} has no matching labels file; put ${prefix}-labels-idx1-ubyte[.gz] next to it.`,
    });
    return undefined;
  }
  let h: IdxHeader;
  let lh: IdxHeader;
  let labels: Buffer;
  try {
    h = readIdxHeader(p.images);
    ({ header: lh, data: labels } = readIdxFile(p.labels));
  } catch (e) {
    const file = e instanceof DatasetError ? e.file : p.images;
    findings.add({ severity: 'error', code: 'idx-format', file, message: (e as Error).message });
    return undefined;
  }
  if (h.dtype !== 0x08 || h.dims.length !== 3) {
    findings.add({
      severity: 'error',
      code: 'idx-format',
      file: p.images,
      message: `${path.basename(p.images)} holds ${h.dims.length}-D data of type 0x${h.dtype.toString(16)}; only unsigned-byte images (type 0x08, count × rows × columns) are supported.`,
    });
    return undefined;
  }
  if (lh.dtype !== 0x08 || lh.dims.length !== 1) {
    findings.add({
      severity: 'error',
      code: 'idx-format',
      file: p.labels,
      message: `${path.basename(p.labels)} is not a labels file (expected 1-D unsigned bytes, found ${lh.dims.length}-D of type 0x${lh.dtype.toString(16)}).`,
    });
    return undefined;
  }
  const [count, rows, cols] = h.dims;
  let n = count;
  if (labels.length !== count) {
    n = Math.min(count, labels.length);
    findings.add({
      severity: 'error',
      code: 'idx-count-mismatch',
      file: p.labels,
      message: `${path.basename(p.images)} has ${count} images but ${path.basename(p.labels)} has ${labels.length} labels; they must match. Only the first ${n} are used.`,
    });
  }
  if (!p.images.toLowerCase().endsWith('.gz')) {
    const size = fs.statSync(p.images).size;
    if (size < h.dataOffset + count * rows * cols) {
      findings.add({
        severity: 'error',
        code: 'idx-format',
        file: p.images,
        message: `${path.basename(p.images)} is cut short: ${size} bytes for ${count} images of ${rows}×${cols}. Download it again.`,
      });
      return undefined;
    }
  }
  let partition = partitionOfPrefix(prefix);
  if (!partition) {
    partition = 'TRAIN';
    findings.add({
      severity: 'info',
      code: 'idx-partition',
      file: p.images,
      message: `${path.basename(p.images)}: the name says neither train nor test (t10k), so its images are used for training.`,
    });
  }
  return { images: p.images, labels, n, rows, cols, partition };
}
