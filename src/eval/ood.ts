// Whether an image given to a model is unlike its training data, two ways:
//   - mismatch checks, at once: a colour image to a model trained on grayscale images, an image far
//     larger or smaller, or of a much wider or taller shape, than the training images, or one whose
//     edges (its background, mostly) are much lighter or darker than theirs (dark clothes photographed
//     on white paper for a Fashion-MNIST model, which learnt light on black: the score misses those);
//   - a score check calibrated on VALIDATION: at the end of an experiment every VALIDATION image's
//     OOD score (src/engine/model/ood-score.ts) is computed with the final model and the threshold
//     is the score 95 % of them stay at or below (a 5 % false-alarm rate there); an image scoring
//     above it is flagged.
// The calibration lives in `ood.json` beside the final model (`final/model/ood.json`), so a model
// folder predicts with it anywhere; an experiment from before has none and gets no score check.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageSignals } from '../engine/model/ood-score';
import type { OodCalibration, OodScoreKind, OutOfDistribution, Spread, TrainingImageStats } from '../shared/protocol';

export const OOD_FILE = 'ood.json';
/** Share of VALIDATION images that pass the score check (so 5 % false alarms there). */
export const OOD_QUANTILE = 0.95;
/** An image more than this many times larger or smaller than the training images is "far" from them. */
export const SIZE_FACTOR = 4;
/** An aspect ratio more than this factor outside the training images' range is "very different". */
export const ASPECT_FACTOR = 1.5;
/** Brightness levels (of 255) an image's edges may lie outside the training images' 1st–99th percentile. */
export const BORDER_MARGIN = 24;

/** The q-quantile of sorted values, linearly interpolated (q = 0.5: the median). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const pos = Math.min(1, Math.max(0, q)) * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function spreadOf(values: ArrayLike<number>): Spread {
  const s = Float64Array.from(values).sort();
  const q = (p: number) => round(quantile(s, p));
  return { min: q(0), p01: q(0.01), p05: q(0.05), p50: q(0.5), p95: q(0.95), p99: q(0.99), max: q(1) };
}

const round = (x: number) => Math.round(x * 1e4) / 1e4;

/** The score check's calibration from VALIDATION scores: the threshold at `q` and the spread. */
export function calibrateScores(
  scores: ArrayLike<number>,
  kind: OodScoreKind,
  seenInTraining: boolean,
  q = OOD_QUANTILE,
): NonNullable<OodCalibration['score']> {
  if (scores.length === 0) throw new Error('No VALIDATION images to calibrate the out-of-distribution check on');
  const sorted = Float64Array.from(scores).sort();
  let sum = 0;
  for (const x of sorted) sum += x;
  // Not rounded: the threshold is compared with unrounded scores, and q of VALIDATION must pass exactly.
  const threshold = quantile(sorted, q);
  return {
    kind,
    partition: 'VALIDATION',
    count: sorted.length,
    quantile: q,
    threshold,
    spread: spreadOf(sorted),
    mean: round(sum / sorted.length),
    seenInTraining,
  };
}

/** The training images' sizes, shapes and the model's channels, from their decode pass. */
export function trainingImageStats(images: { width: number; height: number }[], channels: 1 | 3): TrainingImageStats | undefined {
  const ok = images.filter((i) => i.width > 0 && i.height > 0);
  if (!ok.length) return undefined;
  return {
    count: ok.length,
    width: spreadOf(ok.map((i) => i.width)),
    height: spreadOf(ok.map((i) => i.height)),
    aspect: spreadOf(ok.map((i) => i.width / i.height)),
    channels,
  };
}

const px = (w: number, h: number) => `${Math.round(w)}×${Math.round(h)} px`;
const sizeRange = (s: TrainingImageStats) =>
  s.width.min === s.width.max && s.height.min === s.height.max
    ? px(s.width.min, s.height.min)
    : `between ${px(s.width.p01, s.height.p01)} and ${px(s.width.p99, s.height.p99)}`;

const COLOUR_WARNING = 'a colour image, but the model was trained on grayscale images: it sees only the brightness';

/** The mismatch checks: plain-language reasons an image's colour, size or shape is unlike the training images'. */
export function mismatchWarnings(sig: Pick<ImageSignals, 'width' | 'height' | 'channels' | 'colourful' | 'border'>, stats: TrainingImageStats): string[] {
  const out: string[] = [];
  if (stats.channels === 1 && sig.colourful === true) out.push(COLOUR_WARNING);
  const { width: w, height: h } = sig;
  if (w > 0 && h > 0) {
    // The longer and shorter sides against the training images' (1st to 99th percentile).
    const longest = Math.max(stats.width.p99, stats.height.p99);
    const shortest = Math.min(stats.width.p01, stats.height.p01);
    if (Math.min(w, h) > SIZE_FACTOR * longest) {
      out.push(`${px(w, h)}, far larger than the training images (${sizeRange(stats)}): it is shrunk to the model's input and fine detail is lost`);
    } else if (Math.max(w, h) * SIZE_FACTOR < shortest) {
      out.push(`${px(w, h)}, far smaller than the training images (${sizeRange(stats)}): it is enlarged to the model's input and looks blurred`);
    }
    const aspect = w / h;
    if (aspect > stats.aspect.p99 * ASPECT_FACTOR || aspect < stats.aspect.p01 / ASPECT_FACTOR) {
      const shape = (a: number) => (Math.abs(a - 1) < 0.02 ? 'square' : a > 1 ? `${a.toFixed(2)}:1 wide` : `1:${(1 / a).toFixed(2)} tall`);
      const range = stats.aspect.p01 === stats.aspect.p99 ? shape(stats.aspect.p50) : `${shape(stats.aspect.p01)} to ${shape(stats.aspect.p99)}`;
      out.push(`${shape(aspect)}, while the training images are ${range}`);
    }
  }
  const b = stats.border;
  if (b && sig.border !== undefined) {
    // Beyond the training images' 1st to 99th percentile by more than BORDER_MARGIN levels.
    const range = `${Math.round(b.p01)}–${Math.round(b.p99)}`;
    if (sig.border > b.p99 + BORDER_MARGIN || sig.border < b.p01 - BORDER_MARGIN) {
      const lighter = sig.border > b.p99;
      out.push(
        `its edges are much ${lighter ? 'lighter' : 'darker'} (brightness ${Math.round(sig.border)} of 255) than the training images' (${range}): ` +
          `a different background, or light and dark swapped`,
      );
    }
  }
  return out;
}

const fmtScore = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(2));

/**
 * The verdict on one image: the mismatch checks, then the score check when the model is calibrated. A model
 * from before the calibration gets the colour check alone, from its input's channels (`modelChannels`).
 */
export function assessImage(sig: ImageSignals, calibration: OodCalibration | undefined, modelChannels?: number): OutOfDistribution {
  const warnings = calibration?.images ? mismatchWarnings(sig, calibration.images) : modelChannels === 1 && sig.colourful === true ? [COLOUR_WARNING] : [];
  const c = calibration?.score;
  let score: OutOfDistribution['score'];
  if (c && sig.score !== undefined && Number.isFinite(sig.score)) {
    const flagged = sig.score > c.threshold;
    score = { kind: c.kind, value: round(sig.score), threshold: round(c.threshold), quantile: c.quantile, flagged };
    if (flagged) {
      const pct = Math.round(c.quantile * 100);
      warnings.push(`unlike the training data (OOD score ${fmtScore(sig.score)}; ${pct} % of validation images score below ${fmtScore(c.threshold)})`);
    }
  }
  return { flagged: warnings.length > 0, warnings, ...(score ? { score } : {}) };
}

/** `ood.json` in a model folder, or undefined when it has none (a model from before) or it cannot be read. */
export function readOodCalibration(modelDir: string): OodCalibration | undefined {
  const file = join(modelDir, OOD_FILE);
  if (!existsSync(file)) return undefined;
  try {
    const c = JSON.parse(readFileSync(file, 'utf8')) as OodCalibration;
    return c && c.version === 1 ? c : undefined;
  } catch {
    return undefined;
  }
}

/** One line for a CLI or a CSV: the warnings joined, or '' when none fired. */
export function oodText(ood: OutOfDistribution | undefined): string {
  return ood?.flagged ? ood.warnings.join('; ') : '';
}
