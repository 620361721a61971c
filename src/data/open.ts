// openDataset: detects the format, reads the structure (no pixels), makes the splits the
// data did not make, and collects structural findings.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { localCsvSource, readCsv } from './csv';
import { DatasetError, DEFAULT_MAX_FINDINGS_PER_CODE, FindingCollector } from './findings';
import { readFolder } from './folder';
import { hasIdxFiles, isIdxFileName, readIdxDataset } from './idx';
import { compareLabels, plural } from './paths';
import { DEFAULT_SEED, holdOutValidation, splitStratified } from './split';
import type { Dataset, DatasetFormat, DatasetItem, OpenDatasetOptions } from './types';
import { readZipDataset } from './zip';

/** Which reader a path needs, without reading it all. */
export function detectFormat(target: string): DatasetFormat {
  const abs = path.resolve(target);
  const st = fs.statSync(abs, { throwIfNoEntry: false });
  if (!st) throw new DatasetError(`${abs} does not exist. Point at a CSV, a folder of class folders, a .zip, or MNIST IDX files.`, abs, 'not-found');
  if (st.isDirectory()) {
    if (hasIdxFiles(abs)) return 'idx';
    const entries = fs.readdirSync(abs, { withFileTypes: true }).filter((e) => !e.name.startsWith('.'));
    const csvs = entries.filter((e) => e.isFile() && /\.csv$/i.test(e.name));
    const dirs = entries.filter((e) => e.isDirectory() && e.name !== '__MACOSX');
    // A CSV with at most one folder of images next to it (AutoML style): the CSV is the dataset.
    if (csvs.length === 1 && dirs.length <= 1) return 'csv';
    return 'folder';
  }
  const name = path.basename(abs).toLowerCase();
  if (isIdxFileName(name)) return 'idx';
  if (name.endsWith('.zip')) return 'zip';
  if (/\.(csv|tsv|txt)$/.test(name)) return 'csv';
  const head = Buffer.alloc(4);
  const fd = fs.openSync(abs, 'r');
  try {
    fs.readSync(fd, head, 0, 4, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (head.readUInt32LE(0) === 0x04034b50) return 'zip';
  throw new DatasetError(
    `${abs} is neither a CSV, a zip, nor an IDX file. Point at a CSV (path,label rows), a folder of class folders, a .zip of either, or MNIST IDX files.`,
    abs,
    'unknown-format',
  );
}

export async function openDataset(target: string, options: OpenDatasetOptions = {}): Promise<Dataset> {
  const source = path.resolve(target);
  const format = detectFormat(source);
  const findings = new FindingCollector(options.maxFindingsPerCode ?? DEFAULT_MAX_FINDINGS_PER_CODE);
  let items: DatasetItem[];
  let multiLabel = options.multiLabel === true;
  const isDir = fs.statSync(source).isDirectory();

  switch (format) {
    case 'csv': {
      let csvFile = source;
      if (isDir) {
        const csv = fs.readdirSync(source).find((n) => /\.csv$/i.test(n) && !n.startsWith('.'))!;
        csvFile = path.join(source, csv);
      }
      let bytes: Buffer;
      try {
        bytes = fs.readFileSync(csvFile);
      } catch (e) {
        throw new DatasetError(`Cannot read ${csvFile}: ${(e as Error).message}.`, csvFile, 'unreadable');
      }
      const read = readCsv(bytes, localCsvSource(csvFile, options), options, findings);
      items = read.items;
      multiLabel = read.multiLabel;
      break;
    }
    case 'folder':
      items = readFolder(source, findings);
      break;
    case 'zip': {
      const read = await readZipDataset(source, options, findings);
      items = read.items;
      multiLabel = read.multiLabel;
      break;
    }
    case 'idx':
      items = readIdxDataset(source, !isDir, options, findings);
      break;
  }

  const seed = options.seed ?? DEFAULT_SEED;
  finishSplits(items, seed, format, source, findings);
  items.forEach((it, i) => (it.id = i));

  const classes = [...new Set(items.flatMap((it) => it.labels))].sort(compareLabels);
  checkLabelCase(classes, source, findings);

  return { format, source, classes, multiLabel, items, findings: findings.result(), seed };
}

/** Splits unassigned items 80/10/10 and holds VALIDATION out of TRAIN when the data has none. */
function finishSplits(items: DatasetItem[], seed: number, format: DatasetFormat, source: string, findings: FindingCollector): void {
  const unassigned = items.filter((it) => !it.assigned);
  if (unassigned.length > 0) {
    const small = splitStratified(unassigned, seed);
    const all = unassigned.length === items.length;
    findings.add({
      severity: 'info',
      code: 'auto-split',
      file: source,
      message: `${all ? 'No image has a partition' : `${plural(unassigned.length, 'image')} ${unassigned.length === 1 ? 'has' : 'have'} no partition (or UNASSIGNED)`}: split 80/10/10 into TRAIN/VALIDATION/TEST within each label, deterministically for seed ${seed}.`,
    });
    if (small.length > 0) {
      findings.add({
        severity: 'info',
        code: 'small-class-split',
        file: source,
        message: `${smallClasses(small)} too few images for 10 %: each keeps one VALIDATION image (and one TEST image from 3 images up), the rest TRAIN. Add images to these classes for a dependable evaluation.`,
      });
    }
  }
  const count = (p: string) => {
    let n = 0;
    for (const it of items) if (it.partition === p) n++;
    return n;
  };
  if (items.length > 0 && count('VALIDATION') === 0 && count('TRAIN') > 1) {
    const { moved, small } = holdOutValidation(
      items.filter((it) => it.partition === 'TRAIN'),
      seed,
    );
    if (moved > 0) {
      findings.add({
        severity: 'info',
        code: 'validation-holdout',
        file: source,
        message: `The data has no VALIDATION images, so ${plural(moved, 'TRAIN image')} (10 % of each label, at least one of each label with 2 or more, seed ${seed}) ${moved === 1 ? 'was' : 'were'} held out for validation.${small.length > 0 ? ` ${smallClasses(small)} too few TRAIN images for 10 %: one each was held out.` : ''}`,
      });
    }
  }
  if (items.length > 0 && count('TEST') === 0) {
    findings.add({
      severity: 'info',
      code: 'no-test-set',
      file: source,
      message: `The data has no TEST images, so the final evaluation uses VALIDATION images, which also guide the search: expect the reported accuracy to be slightly optimistic.${format === 'folder' ? ' Add a test/ folder to measure it on unseen images.' : ''}`,
    });
  }
}

/** "Class "a" has" / "3 classes ("a", "b", "c") have", naming at most 10. */
function smallClasses(names: string[]): string {
  if (names.length === 1) return `Class "${names[0]}" has`;
  const shown = names
    .slice(0, 10)
    .map((c) => `"${c}"`)
    .join(', ');
  return `${names.length} classes (${shown}${names.length > 10 ? `, … ${names.length - 10} more` : ''}) have`;
}

function checkLabelCase(classes: string[], source: string, findings: FindingCollector): void {
  const byLower = new Map<string, string[]>();
  for (const c of classes) {
    const k = c.toLowerCase();
    byLower.set(k, [...(byLower.get(k) ?? []), c]);
  }
  for (const group of byLower.values()) {
    if (group.length > 1) {
      findings.add({
        severity: 'warning',
        code: 'label-case',
        file: source,
        message: `Labels ${group.map((g) => `"${g}"`).join(' and ')} differ only in upper/lower case and are separate classes. If they mean the same class, write them the same way.`,
      });
    }
  }
}
