// validateDataset: what is wrong with the data and what to do, as findings. Structural
// checks need no pixels (the editor runs them on save); image checks (damaged files, sizes,
// duplicates, leakage) come from the decode pass that also fills the cache.
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { imagesKey, scanImages } from './cache';
import { DEFAULT_MAX_FINDINGS_PER_CODE, FindingCollector } from './findings';
import { plural } from './paths';
import type { Dataset, DatasetItem, Finding, ImageScan, InputSize, Partition, ValidateOptions, ValidationResult, ValidationSummary } from './types';

/** AutoML Vision's guidance: at least 10 images per label, ideally 100 or more. */
export const MIN_IMAGES_PER_CLASS = 10;
export const ADVISED_IMAGES_PER_CLASS = 100;
export const MAX_IMBALANCE = 100;
/** A side longer than this costs decode time and memory for nothing at training sizes. */
export const OVERSIZED_SIDE = 4096;
export const OVERSIZED_FACTOR = 16;
/** A side shorter than this holds too little to learn from (a 1×1 pixel, a thumbnail icon). */
export const TINY_SIDE = 8;

/** Where a finding about an item points: its CSV line, or the image file itself. */
export function itemLocation(dataset: Dataset, it: DatasetItem): Pick<Finding, 'file' | 'line' | 'image'> {
  if (it.origin.line !== undefined) return { file: it.origin.file, line: it.origin.line, image: it.display };
  if (it.ref.kind === 'file') return { file: it.ref.path, image: it.display };
  if (it.ref.kind === 'zip') return { file: it.ref.zip, image: `${path.basename(it.ref.zip)}: ${it.ref.entry}` };
  return { file: it.ref.file, image: it.display };
}

function where(it: DatasetItem): string {
  return it.origin.line !== undefined ? `${it.display} (line ${it.origin.line})` : it.display;
}

export function perClassCounts(dataset: Dataset, onlyPresent = false): Map<string, Record<Partition, number>> {
  const m = new Map<string, Record<Partition, number>>(dataset.classes.map((c) => [c, { TRAIN: 0, VALIDATION: 0, TEST: 0 }]));
  for (const it of dataset.items) {
    if (onlyPresent && it.stamp === undefined) continue;
    for (const l of it.labels) {
      const r = m.get(l);
      if (r) r[it.partition]++;
    }
  }
  return m;
}

/**
 * Why a dataset has no VALIDATION images after its split (every class with 2 or more images gives
 * one): the classes with fewer than 2 TRAIN images, named, and what to do.
 */
export function noValidationMessage(dataset: Dataset): string {
  const few = [...perClassCounts(dataset)].filter(([, r]) => r.TRAIN < 2);
  const named = few
    .slice(0, 20)
    .map(([c, r]) => `"${c}" (${plural(r.TRAIN, 'image')})`)
    .join(', ');
  const more = few.length > 20 ? `, … ${few.length - 20} more` : '';
  return (
    `The dataset has no VALIDATION images, so nothing can tell the trials apart: a class needs at least 2 images to lend one to VALIDATION. ` +
    `Classes with too few images: ${named || 'none (every image is TEST)'}${more}. Add images to these classes (about ${ADVISED_IMAGES_PER_CLASS} each are advised), or mark some VALIDATION.`
  );
}

/** Quick checks without decoding: the dataset's own findings plus classes and counts. */
export function validateStructure(dataset: Dataset, options: { maxFindingsPerCode?: number } = {}): Finding[] {
  const out = new FindingCollector(options.maxFindingsPerCode ?? DEFAULT_MAX_FINDINGS_PER_CODE);
  out.addAll(dataset.findings);
  const src = dataset.source;
  const present = dataset.items.filter((it) => it.stamp !== undefined);

  if (dataset.items.length === 0) {
    if (!dataset.findings.some((f) => f.code === 'no-images')) {
      out.add({
        severity: 'error',
        code: 'no-images',
        file: src,
        message: 'The dataset has no labelled images. Add images with labels (see the findings above for rows or files that were skipped).',
      });
    }
    return out.result();
  }
  if (present.length === 0) {
    out.add({
      severity: 'error',
      code: 'no-images',
      file: src,
      message: `None of the ${plural(dataset.items.length, 'image')} can be found. Check the paths (see the missing-file findings).`,
    });
  }

  if (dataset.classes.length === 1) {
    out.add({
      severity: 'error',
      code: 'single-class',
      file: src,
      message: `Every image has the label "${dataset.classes[0]}": a classifier needs at least two classes. Add images of another class${dataset.multiLabel ? '' : ' (e.g. a "none" or "other" class)'}.`,
    });
  }

  const counts = perClassCounts(dataset);
  const totals = [...counts].map(([c, r]) => ({ c, r, total: r.TRAIN + r.VALIDATION + r.TEST }));
  const hasValidation = dataset.items.some((it) => it.partition === 'VALIDATION');
  for (const { c, r, total } of totals) {
    if (r.TRAIN === 0) {
      out.add({
        severity: 'error',
        code: 'no-train-images',
        file: src,
        message: `Class "${c}" has no TRAIN images (${r.VALIDATION} VALIDATION, ${r.TEST} TEST), so the model cannot learn it. Mark some of its images TRAIN (or UNASSIGNED to let the split decide).`,
      });
    }
    if (total < MIN_IMAGES_PER_CLASS) {
      out.add({
        severity: 'warning',
        code: 'too-few-images',
        file: src,
        message: `Class "${c}" has only ${plural(total, 'image')}; at least ${MIN_IMAGES_PER_CLASS} are needed for a meaningful model, and about ${ADVISED_IMAGES_PER_CLASS} per class are advised (as for AutoML Vision). Add more images of "${c}".`,
      });
    } else if (total < ADVISED_IMAGES_PER_CLASS) {
      out.add({
        severity: 'info',
        code: 'few-images',
        file: src,
        message: `Class "${c}" has ${plural(total, 'image')}; about ${ADVISED_IMAGES_PER_CLASS} per class are advised for good accuracy.`,
      });
    }
    if (hasValidation && r.VALIDATION === 0 && r.TRAIN > 0) {
      out.add({
        severity: 'warning',
        code: 'no-validation-images',
        file: src,
        message: `Class "${c}" has no VALIDATION images, so the search cannot tell how well it is recognised. Mark some of its images VALIDATION (or UNASSIGNED).`,
      });
    }
  }
  const nonEmpty = totals.filter((t) => t.total > 0).sort((a, b) => b.total - a.total);
  if (nonEmpty.length >= 2) {
    const big = nonEmpty[0];
    const small = nonEmpty[nonEmpty.length - 1];
    if (big.total / small.total > MAX_IMBALANCE) {
      out.add({
        severity: 'warning',
        code: 'label-imbalance',
        file: src,
        message: `Labels are very imbalanced: "${big.c}" has ${plural(big.total, 'image')}, "${small.c}" only ${small.total} (${Math.round(big.total / small.total)}×; over ${MAX_IMBALANCE}× hurts the rare classes). Add images of the rare classes or drop some of the common one.`,
      });
    }
  }
  return out.result();
}

/** Findings that need the decode pass: unreadable images, sizes, duplicates, leakage. */
export function imageFindings(dataset: Dataset, scan: ImageScan, options: { size?: InputSize; maxFindingsPerCode?: number } = {}): Finding[] {
  const out = new FindingCollector(options.maxFindingsPerCode ?? DEFAULT_MAX_FINDINGS_PER_CODE);
  const byHash = new Map<string, DatasetItem[]>();
  for (const it of dataset.items) {
    const info = scan.images[it.id];
    if (!info) continue;
    const loc = itemLocation(dataset, it);
    if (info.error) {
      const what: Record<string, string> = {
        'empty-file': 'is empty (0 bytes). Replace it with the real image or remove it from the dataset.',
        'missing-file': 'has disappeared since the dataset was read. Restore it or remove it from the dataset.',
        'unsupported-format': `cannot be used: ${info.error.message}.`,
        'corrupt-image': `cannot be decoded: ${info.error.message}.`,
      };
      out.add({
        severity: 'error',
        code: info.error.code,
        ...loc,
        message: `${where(it)} ${what[info.error.code] ?? `cannot be read: ${info.error.message}.`}`,
      });
      continue;
    }
    if (info.warning) {
      out.add({ severity: 'warning', code: 'damaged-image', ...loc, message: `${where(it)} was ${info.warning}.` });
    }
    const side = Math.max(info.width, info.height);
    const size = options.size;
    const factor = size ? Math.max(info.width / size.width, info.height / size.height) : 0;
    if (side > OVERSIZED_SIDE || factor > OVERSIZED_FACTOR) {
      out.add({
        severity: 'warning',
        code: 'oversized-image',
        ...loc,
        message: `${where(it)} is ${info.width}×${info.height} px, ${side > OVERSIZED_SIDE ? `over ${OVERSIZED_SIDE} px on a side` : `${Math.round(factor)}× the training size ${size!.width}×${size!.height}`}: decoding it costs time and memory for detail the model never sees. Downscale such images (e.g. to ≤ ${size ? Math.max(size.width, size.height) * 4 : 1024} px).`,
      });
    }
    if (Math.min(info.width, info.height) < TINY_SIDE) {
      out.add({
        severity: 'warning',
        code: 'tiny-image',
        ...loc,
        message: `${where(it)}: image is ${info.width}×${info.height} px: too small to learn from (under ${TINY_SIDE} px on a side). Replace it with a larger image or remove it.`,
      });
    }
    if (info.hash) {
      const g = byHash.get(info.hash);
      if (g) g.push(it);
      else byHash.set(info.hash, [it]);
    }
  }
  for (const group of byHash.values()) {
    if (group.length < 2) continue;
    const first = group[0];
    for (const it of group.slice(1)) {
      const loc = itemLocation(dataset, it);
      const sameLabels = it.labels.length === first.labels.length && it.labels.every((l) => first.labels.includes(l));
      if (it.partition !== first.partition) {
        out.add({
          severity: 'warning',
          code: 'leakage',
          ...loc,
          message: `${where(it)} (${it.partition}) is the same image as ${where(first)} (${first.partition}), byte for byte: an image in two partitions makes the evaluation look better than it is. Remove one copy.`,
        });
      } else if (!sameLabels) {
        out.add({
          severity: 'warning',
          code: 'conflicting-duplicate',
          ...loc,
          message: `${where(it)} is labelled "${it.labels.join(', ')}" but the identical image ${where(first)} is labelled "${first.labels.join(', ')}". Keep one copy with the right label.`,
        });
      } else {
        out.add({
          severity: 'info',
          code: 'duplicate-image',
          ...loc,
          message: `${where(it)} is identical to ${where(first)}; the copy counts twice in training. Remove it unless that is intended.`,
        });
      }
    }
  }
  return out.result();
}

/**
 * Validates a dataset. `level: 'structure'` (default) reads no pixels; `level: 'images'`
 * (or a given `scan`) adds the image checks, decoding each image at most once: the pass
 * also fills the cache (for `size`, when given), so training afterwards decodes nothing.
 */
export async function validateDataset(dataset: Dataset, options: ValidateOptions = {}): Promise<ValidationResult> {
  const structural = validateStructure(dataset, options);
  let scan = options.scan;
  if (!scan && options.level === 'images') scan = await scanImages(dataset, options);
  const findings = scan ? [...structural, ...imageFindings(dataset, scan, options)] : structural;
  const summary: ValidationSummary = { findings, scan, ...shapeSummary(dataset, scan), fingerprint: datasetFingerprint(dataset) };
  return Object.assign(findings, summary);
}

/** Median longer side and colour, from the decode pass (or IDX headers). */
export function shapeSummary(dataset: Dataset, scan?: ImageScan): { medianSide: number; color: boolean } {
  const sides: number[] = [];
  let colour = 0;
  for (const it of dataset.items) {
    const info = scan?.images[it.id];
    if (info && !info.error) {
      sides.push(Math.max(info.width, info.height));
      if (info.channels >= 3) colour++;
    } else if (!scan && it.ref.kind === 'idx') {
      sides.push(Math.max(it.ref.width, it.ref.height));
    }
  }
  if (sides.length === 0) return { medianSide: 0, color: true };
  const sorted = Float64Array.from(sides).sort();
  const m = sorted.length;
  const medianSide = m % 2 ? sorted[(m - 1) / 2] : (sorted[m / 2 - 1] + sorted[m / 2]) / 2;
  const allIdx = !scan && dataset.items.every((it) => it.ref.kind === 'idx');
  return { medianSide, color: allIdx ? false : colour > 0.01 * sides.length };
}

/** Identifies the images (bytes, via their stamps), labels and partitions of a dataset. */
export function datasetFingerprint(dataset: Dataset): string {
  const h = createHash('sha1');
  h.update(imagesKey(dataset));
  let chunk = '';
  for (const it of dataset.items) {
    chunk += `${it.partition}\t${it.labels.join('\u0000')}\n`;
    if (chunk.length > 1 << 16) {
      h.update(chunk);
      chunk = '';
    }
  }
  h.update(chunk);
  h.update(dataset.multiLabel ? 'multi' : 'single');
  return h.digest('hex').slice(0, 32);
}
