// Reads an AutoML Vision CSV: `[TRAIN|VALIDATION|TEST|UNASSIGNED,]path,label[,label…]`.
// Every row problem becomes a finding on the row's exact line (and the field's column).
import * as path from 'node:path';
import { CsvRecord, ParsedCsv, parseCsv, sniffDelimiter } from './csv-parser';
import { FindingCollector } from './findings';
import { fileStamp, isImagePath, MissingFileHints, resolveCsvPath, statOrUndefined } from './paths';
import { decodeText } from './text';
import type { DatasetItem, Finding, ImageRef, OpenDatasetOptions, Partition } from './types';

/** Where the CSV lives and how its paths become image references. */
export interface CsvSource {
  /** File named in findings: the CSV, or the zip that contains it. */
  file: string;
  /** Prefix for messages when `file` is not the CSV itself, e.g. `labels.csv in data.zip: `. */
  where?: string;
  resolve(field: string): ResolvedImage;
}

export type ResolvedImage =
  | {
      ok: true;
      ref: ImageRef;
      stamp?: string;
      missing?: Omit<Finding, 'file' | 'line' | 'column' | 'image'>;
      /** A finding that does not stop the row from being used (a relative path that leaves the CSV's folder). */
      warning?: Omit<Finding, 'file' | 'line' | 'column' | 'image'>;
    }
  | { ok: false; code: string; message: string };

export interface CsvRead {
  items: DatasetItem[];
  multiLabel: boolean;
}

const PARTITION_VALUES: Record<string, Partition | 'UNASSIGNED'> = {
  TRAIN: 'TRAIN',
  VALIDATION: 'VALIDATION',
  TEST: 'TEST',
  UNASSIGNED: 'UNASSIGNED',
};

/** Spellings people use for partitions; suggested in the "unknown partition" finding. */
const PARTITION_GUESSES: Record<string, string> = {
  TRAINING: 'TRAIN',
  TRAINSET: 'TRAIN',
  VAL: 'VALIDATION',
  VALID: 'VALIDATION',
  DEV: 'VALIDATION',
  EVAL: 'VALIDATION',
  VALIDATE: 'VALIDATION',
  TESTING: 'TEST',
  TESTSET: 'TEST',
  HOLDOUT: 'TEST',
  NONE: 'UNASSIGNED',
  '': 'UNASSIGNED',
};

const HEADER_WORDS = new Set([
  'set',
  'split',
  'partition',
  'ml_use',
  'mluse',
  'dataset',
  'subset',
  'path',
  'image',
  'images',
  'image_path',
  'imagepath',
  'file',
  'files',
  'filename',
  'file_name',
  'filepath',
  'file_path',
  'uri',
  'url',
  'gcs_file_path',
  'image_uri',
  'gcs_uri',
  'label',
  'labels',
  'class',
  'classes',
  'category',
  'target',
  'annotation',
  'display_name',
  'name',
]);

/** A local CSV: paths relative to its folder, absolute, file:// or gs:// (through the prefix map). */
export function localCsvSource(csvFile: string, options: OpenDatasetOptions): CsvSource {
  const baseDir = path.dirname(csvFile);
  const hints = new MissingFileHints();
  return {
    file: csvFile,
    resolve(field) {
      const r = resolveCsvPath(field, baseDir, options.gcsPrefixMap);
      if (!r.ok) return r;
      const resolved = resolveLocalFile(r.path, field, r.via, hints);
      if (resolved.ok && resolved.ref.kind === 'file' && !r.via && leavesFolder(field, baseDir, resolved.ref.path)) {
        resolved.warning = {
          severity: 'warning',
          code: 'path-outside-dataset',
          message: `${field.trim()} → ${resolved.ref.path}: path leaves the dataset's folder (${baseDir}). Move the image into the dataset's folder, or write its absolute path if it is meant to be elsewhere.`,
        };
      }
      return resolved;
    },
  };
}

/**
 * Whether a relative CSV path resolves outside the CSV's folder (`../../etc/passwd`). Absolute
 * paths and file:// URLs are allowed anywhere by the format, so they are never flagged.
 */
function leavesFolder(field: string, baseDir: string, resolved: string): boolean {
  const p = field.trim();
  if (path.isAbsolute(p) || /^[a-z][a-z0-9+.-]*:\/\//i.test(p) || /^[a-zA-Z]:[\\/]/.test(p) || p.startsWith('\\')) return false;
  const rel = path.relative(baseDir, resolved);
  return rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel);
}

export function resolveLocalFile(p: string, field: string, via: string | undefined, hints: MissingFileHints): ResolvedImage {
  let resolved = p;
  let st = statOrUndefined(resolved);
  // A CSV written on Windows: `images\cat.jpg`.
  if (!st && field.includes('\\') && process.platform !== 'win32') {
    const alt = p.replace(/\\/g, '/');
    const st2 = statOrUndefined(alt);
    if (st2) {
      resolved = alt;
      st = st2;
    }
  }
  const ref: ImageRef = { kind: 'file', path: resolved };
  if (!st) {
    const hint = hints.hint(resolved);
    const mapped = via ? ` (mapped from ${via})` : '';
    return {
      ok: true,
      ref,
      missing: {
        severity: 'error',
        code: 'missing-file',
        message: `Image not found: ${field.trim()} → ${resolved}${mapped}${hint ? `; ${hint}` : ''}. Fix the path (relative paths are resolved against the CSV's folder) or remove the row.`,
      },
    };
  }
  if (!st.isFile()) {
    return {
      ok: true,
      ref,
      missing: { severity: 'error', code: 'not-a-file', message: `${resolved} is a folder, not an image file. Write the path of an image file.` },
    };
  }
  return { ok: true, ref, stamp: fileStamp(st) };
}

function looksLikePath(s: string): boolean {
  const t = s.trim();
  return isImagePath(t) || /[/\\]/.test(t) || /^gs:\/\//i.test(t);
}

function looksLikePartitionToken(s: string): boolean {
  return /^[A-Za-z][A-Za-z0-9_-]{0,19}$/.test(s.trim());
}

/** Adds a finding for the CSV (its file and message prefix filled in). */
type AddFinding = (f: Omit<Finding, 'file'>) => void;

/** What the rows read so far have produced. */
interface RowsRead {
  items: DatasetItem[];
  byRef: Map<string, DatasetItem>;
  multiLabel: boolean;
  firstMultiLine: number | undefined;
  /** Rows with several labels (the first few, with their column) and rows with exactly one. */
  multiRows: { line: number; column: number | undefined; labels: string[] }[];
  multiCount: number;
  singleCount: number;
  sawData: boolean;
}

export function readCsv(bytes: Uint8Array, source: CsvSource, options: OpenDatasetOptions, findings: FindingCollector): CsvRead {
  const where = source.where ?? '';
  const file = source.file;
  const add: AddFinding = (f) => findings.add({ ...f, file, message: where + f.message });

  const text = decodeCsvText(bytes, add);
  const parsed = parseCsvText(text, add);
  const state: RowsRead = {
    items: [],
    byRef: new Map(),
    multiLabel: options.multiLabel === true,
    firstMultiLine: undefined,
    multiRows: [],
    multiCount: 0,
    singleCount: 0,
    sawData: false,
  };
  for (const rec of parsed.records) readRow(rec, state, source, options, add);
  if (options.multiLabel !== true) strayMultiLabelRows(state, add);

  if (state.firstMultiLine !== undefined) {
    add({
      severity: 'info',
      code: 'multi-label',
      line: state.firstMultiLine,
      message: `Line ${state.firstMultiLine} has several labels, so the dataset is multi-label: an image can belong to several classes.`,
    });
  }
  if (!state.sawData) {
    add({
      severity: 'error',
      code: 'no-images',
      line: 1,
      message: 'The CSV has no rows. Write one row per image: [TRAIN|VALIDATION|TEST|UNASSIGNED,]path,label.',
    });
  }
  return { items: state.items, multiLabel: state.multiLabel };
}

/** At most this many rows with several labels, under this share of the labelled rows, look like mistakes. */
const STRAY_MULTI_MAX = 5;
const STRAY_MULTI_SHARE = 0.05;

/**
 * A few rows with several labels among many with one (a stray comma, a pasted cell) silently make the
 * whole dataset multi-label: a warning on each such row says so.
 */
function strayMultiLabelRows(state: RowsRead, add: AddFinding): void {
  const n = state.multiCount;
  if (n === 0 || n > STRAY_MULTI_MAX || n / (n + state.singleCount) >= STRAY_MULTI_SHARE) return;
  const others = n > 1 ? ` (with ${n - 1} other row${n > 2 ? 's' : ''} like it)` : '';
  for (const r of state.multiRows) {
    add({
      severity: 'warning',
      code: 'stray-multi-label',
      line: r.line,
      column: r.column,
      message:
        `this row has ${r.labels.length} labels (${r.labels.join(', ')}) while ${state.singleCount} other rows have one: the dataset is treated as multi-label because of it${others}. ` +
        `If that is a mistake, keep one label on this line; if an image can really belong to several classes, ignore this warning.`,
    });
  }
}

/** The CSV's text, with findings for bytes that are not UTF-8 (or a UTF-16 file). */
function decodeCsvText(bytes: Uint8Array, add: AddFinding): string {
  const decoded = decodeText(bytes);
  if (decoded.invalid.length > 0) {
    for (const bad of decoded.invalid) {
      add({
        severity: 'warning',
        code: 'csv-encoding',
        line: bad.line,
        column: bad.byteColumn,
        message: `Line ${bad.line}, byte ${bad.byteColumn} (0x${bad.byte.toString(16).toUpperCase().padStart(2, '0')}) is not valid UTF-8; the file was read as Windows-1252, so accented letters in paths or labels may be wrong. Save the CSV as UTF-8.`,
      });
    }
    if (decoded.invalidLines > decoded.invalid.length) {
      add({
        severity: 'warning',
        code: 'csv-encoding',
        message: `${decoded.invalidLines - decoded.invalid.length} more lines are not valid UTF-8. Save the CSV as UTF-8.`,
      });
    }
  } else if (decoded.encoding === 'utf-16le' || decoded.encoding === 'utf-16be') {
    add({
      severity: 'info',
      code: 'csv-encoding',
      message: `The CSV is ${decoded.encoding.toUpperCase()}; read it as such. AutoML Vision itself requires UTF-8.`,
    });
  }
  return decoded.text;
}

/** Records of the text (delimiter sniffed), with findings for the delimiter and syntax problems. */
function parseCsvText(text: string, add: AddFinding): ParsedCsv {
  const delimiter = sniffDelimiter(text);
  if (delimiter !== ',') {
    add({
      severity: 'info',
      code: 'csv-delimiter',
      line: 1,
      message: `Fields are separated by ${delimiter === '\t' ? 'tabs' : 'semicolons'}, not commas; read them that way. AutoML Vision itself requires commas.`,
    });
  }
  const parsed = parseCsv(text, delimiter);
  for (const issue of parsed.issues) {
    const unterminated = issue.message.startsWith('a quoted field is never closed');
    add({
      severity: unterminated ? 'error' : 'warning',
      code: 'csv-syntax',
      line: issue.line,
      column: issue.column,
      message: issue.message.charAt(0).toUpperCase() + issue.message.slice(1),
    });
  }
  return parsed;
}

/** One record: skipped (blank, header, bad) with findings, merged into a duplicate, or added as an item. */
function readRow(rec: CsvRecord, state: RowsRead, source: CsvSource, options: OpenDatasetOptions, add: AddFinding): void {
  const fields = rec.fields;
  let blank = true;
  for (const f of fields) {
    if (f.trim() !== '') {
      blank = false;
      break;
    }
  }
  if (blank) return; // blank line, or `,,,` from a spreadsheet
  const line = rec.line;
  const col = (k: number) => rec.fieldColumns[k];

  if (!state.sawData) {
    state.sawData = true;
    const lower = fields.map((f) => f.trim().toLowerCase());
    if (!fields.some(looksLikePath) && lower.some((f) => HEADER_WORDS.has(f))) {
      add({
        severity: 'info',
        code: 'csv-header',
        line,
        message: `Line ${line} looks like a header row (${fields.map((f) => f.trim()).join(', ')}) and was skipped.`,
      });
      return;
    }
  }

  const where = rowPartition(fields, line, col, add);
  if (!where) return;
  const { pathIdx, partition } = where;

  const rawPath = fields[pathIdx] ?? '';
  if (rawPath.trim() === '') {
    add({
      severity: 'error',
      code: 'empty-path',
      line,
      column: col(pathIdx) ?? col(0),
      message: `the image path is empty. Write the image's path, or remove the row.`,
    });
    return;
  }

  const labels = rowLabels(fields, pathIdx, line, col, add);
  if (labels.length === 0) {
    add({
      severity: 'warning',
      code: 'unlabelled',
      line,
      column: col(pathIdx),
      image: rawPath.trim(),
      message: `${rawPath.trim()} has no label. Like AutoML, it is treated as unlabelled and left out of training; add a label after the path to use it.`,
    });
    return;
  }
  if (labels.length > 1 && !state.multiLabel) {
    state.multiLabel = true;
    state.firstMultiLine = line;
  }
  if (labels.length === 1) state.singleCount++;
  else if (state.multiCount++ < STRAY_MULTI_MAX) state.multiRows.push({ line, column: col(pathIdx + 2), labels });

  const r = source.resolve(rawPath);
  if (!r.ok) {
    add({ severity: 'error', code: r.code, line, column: col(pathIdx), image: rawPath.trim(), message: `${r.message}` });
    return;
  }
  if (r.missing) {
    add({ ...r.missing, line, column: col(pathIdx), image: r.ref.kind === 'file' ? r.ref.path : rawPath.trim(), message: `${r.missing.message}` });
  }
  if (r.warning) add({ ...r.warning, line, column: col(pathIdx), image: r.ref.kind === 'file' ? r.ref.path : rawPath.trim() });

  const key = refKey(r.ref);
  const prev = state.byRef.get(key);
  if (prev) {
    mergeDuplicateRow(prev, { rawPath, labels, partition, pathIdx, line, col }, state.multiLabel || options.multiLabel === true, add);
    return;
  }

  const item: DatasetItem = {
    id: state.items.length,
    ref: r.ref,
    display: rawPath.trim(),
    labels,
    partition: partition ?? 'TRAIN',
    assigned: partition !== undefined,
    origin: { file: source.file, line },
    stamp: r.missing ? undefined : r.stamp,
  };
  state.byRef.set(key, item);
  state.items.push(item);
}

/** Where the path field is and the row's partition (undefined: not assigned); null when the row is skipped. */
function rowPartition(
  fields: string[],
  line: number,
  col: (k: number) => number | undefined,
  add: AddFinding,
): { pathIdx: number; partition: Partition | undefined } | null {
  const first = fields[0].trim();
  const known = PARTITION_VALUES[first.toUpperCase()];
  let pathIdx = 0;
  let partition: Partition | undefined;
  if (known !== undefined) {
    pathIdx = 1;
    partition = known === 'UNASSIGNED' ? undefined : known;
  } else if (fields.length >= 2 && !looksLikePath(first) && looksLikePartitionToken(first) && looksLikePath(fields[1])) {
    const guess = PARTITION_GUESSES[first.toUpperCase()];
    add({
      severity: 'error',
      code: 'unknown-partition',
      line,
      column: col(0),
      message: `unknown partition "${first}"; use TRAIN, VALIDATION, TEST or UNASSIGNED${guess ? ` (did you mean ${guess}?)` : ''}. The row was skipped.`,
    });
    return null;
  } else if (first === '' && fields.length >= 3 && looksLikePath(fields[1])) {
    // `,path,label`: an empty partition field means "not assigned" in AutoML exports.
    pathIdx = 1;
  }
  return { pathIdx, partition };
}

/** The row's distinct labels (fields after the path), with a finding for each empty one before the last. */
function rowLabels(fields: string[], pathIdx: number, line: number, col: (k: number) => number | undefined, add: AddFinding): string[] {
  let lastNonEmpty = fields.length - pathIdx - 2;
  while (lastNonEmpty >= 0 && fields[pathIdx + 1 + lastNonEmpty].trim() === '') lastNonEmpty--;
  const labels: string[] = [];
  for (let k = 0; k <= lastNonEmpty; k++) {
    const label = fields[pathIdx + 1 + k].trim();
    if (label === '') {
      add({
        severity: 'warning',
        code: 'empty-label',
        line,
        column: col(pathIdx + 1 + k),
        message: `label field ${k + 1} is empty and was ignored. Remove the extra comma, or write the label.`,
      });
    } else if (!labels.includes(label)) {
      labels.push(label);
    }
  }
  return labels;
}

/** A second row for an image already read: multi-label merges the labels; otherwise a conflict or a duplicate. */
function mergeDuplicateRow(
  prev: DatasetItem,
  row: { rawPath: string; labels: string[]; partition: Partition | undefined; pathIdx: number; line: number; col: (k: number) => number | undefined },
  multiLabel: boolean,
  add: AddFinding,
): void {
  const { rawPath, labels, partition, pathIdx, line, col } = row;
  const prevLine = prev.origin.line;
  const samePartition = (prev.assigned ? prev.partition : undefined) === partition;
  const sameLabels = prev.labels.length === labels.length && prev.labels.every((l) => labels.includes(l));
  if (multiLabel) {
    for (const l of labels) if (!prev.labels.includes(l)) prev.labels.push(l);
    if (!samePartition) {
      add({
        severity: 'warning',
        code: 'duplicate-row',
        line,
        column: col(0),
        image: rawPath.trim(),
        message: `${rawPath.trim()} is also on line ${prevLine} with another partition; its labels were merged and the partition of line ${prevLine} kept.`,
      });
    }
  } else if (!sameLabels) {
    add({
      severity: 'error',
      code: 'conflicting-labels',
      line,
      column: col(pathIdx + 1),
      image: rawPath.trim(),
      message: `${rawPath.trim()} is labelled "${labels.join(', ')}" here but "${prev.labels.join(', ')}" on line ${prevLine}. Keep one row per image (or mark the dataset multi-label if an image can have several labels).`,
    });
  } else {
    add({
      severity: 'warning',
      code: 'duplicate-row',
      line,
      column: col(pathIdx),
      image: rawPath.trim(),
      message: `${rawPath.trim()} is already listed on line ${prevLine}${samePartition ? '' : ' with another partition'}; this row was ignored. Remove the duplicate.`,
    });
  }
}

/** A string that identifies where an image's bytes come from. */
export function refKey(ref: ImageRef): string {
  switch (ref.kind) {
    case 'file':
      return ref.path;
    case 'zip':
      return `${ref.zip}!${ref.entry}`;
    case 'idx':
      return `${ref.file}#${ref.index}`;
  }
}
