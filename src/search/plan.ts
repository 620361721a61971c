// How a wall-clock budget is spent: the input size for the data, the search phase with its
// successive-halving rungs, the final fit and the evaluation. Pure arithmetic, unit-tested.

export interface InputChoice {
  size: number;
  channels: 1 | 3;
  why: string;
}

/**
 * The input side for the data: small images keep their size; larger ones are resized to what the
 * backend can train in the budget (CPU backends: 64 px, GPU: up to 128 px). A side set by the
 * user wins.
 */
export function chooseInput(opts: { medianSide: number; color: boolean; requested: number; gpu: boolean }): InputChoice {
  const channels = opts.color ? 3 : 1;
  if (opts.requested > 0) return { size: opts.requested, channels, why: `image size ${opts.requested} set by the user` };
  if (opts.medianSide > 0 && opts.medianSide <= 48) {
    return { size: Math.round(opts.medianSide), channels, why: `images are small (median side ${opts.medianSide} px): kept at their size` };
  }
  const size = opts.gpu ? 128 : 64;
  return { size, channels, why: `median side ${opts.medianSide} px resized to ${size} px for a ${opts.gpu ? 'GPU' : 'CPU'} backend` };
}

export interface SearchPlan {
  /** Seconds for the search phase (rung-0 screening and promotions). */
  searchSeconds: number;
  /** Seconds kept for the final fit of the best configuration. */
  finalSeconds: number;
  /** Seconds kept for evaluating the final model and writing results. */
  reserveSeconds: number;
  minResource: number;
  maxResource: number;
  eta: number;
  /** Epochs of the training set a small network could train in the usable time. */
  affordableEpochs: number;
  /**
   * False when the budget affords fewer than MIN_SEARCH_EPOCHS epochs: rung-0 trials would be judged
   * on a fraction of an epoch (noise that favours fast starters) and the search's time is not won
   * back; the best-known configuration then trains for the whole budget instead.
   */
  searchWorthwhile: boolean;
}

/** Fewest affordable epochs for which a search is run (measured: at ~4 epochs on Fashion-MNIST a search lost 0.5 points to one fixed network). */
export const MIN_SEARCH_EPOCHS = 8;

/**
 * Splits the remaining budget. `imagesPerSec` is a throughput guess for a small network on this
 * backend; `trainImages` the images per epoch. Rung 0 aims at ~1/20 of the search time per
 * trial; the top rung at ~40 % of it. The final fit's share grows when few epochs are affordable.
 */
export function planSearch(opts: {
  remainingSeconds: number;
  trainImages: number;
  evalImages: number;
  imagesPerSec: number;
  /** Fewest optimizer steps (of 64 images) a rung-0 trial gets, so small datasets are not judged on a handful of steps. */
  minSteps?: number;
}): SearchPlan {
  const inferenceRate = opts.imagesPerSec * INFERENCE_SPEEDUP;
  const reserveSeconds = Math.min(opts.remainingSeconds * 0.1, 3 + (2 * opts.evalImages) / inferenceRate);
  const usable = Math.max(0, opts.remainingSeconds - reserveSeconds);
  const epochSeconds = opts.trainImages / Math.max(1e-6, opts.imagesPerSec);
  // The fewer epochs the whole budget affords, the less a search can learn and the more the final
  // fit of its winner matters: 35 % of the time for the final fit when 100 or more epochs fit,
  // rising to 85 % when 20 or fewer do. (Measured on Fashion-MNIST in an hour, ~23 epochs by this
  // estimate: searches with 41 % and 31 % of the time found nothing better than the portfolio's
  // first network; the first one's 19-epoch final fit lost 0.5 points to that network trained for
  // the whole hour, the second one's 29-epoch fit gained 0.3.)
  const affordable = usable / epochSeconds;
  const finalShare = 0.35 + 0.5 * Math.min(1, Math.max(0, (100 - affordable) / 80));
  const finalSeconds = usable * finalShare;
  const searchSeconds = usable - finalSeconds;
  const eta = 3;
  const clampEpochs = (e: number) => Math.max(0.05, Math.round(e * 100) / 100);
  const stepFloor = ((opts.minSteps ?? 60) * 64) / Math.max(1, opts.trainImages);
  const minResource = clampEpochs(Math.max(stepFloor, Math.min(4, searchSeconds / 20 / epochSeconds)));
  let maxResource = clampEpochs((searchSeconds * 0.4) / epochSeconds);
  if (maxResource < minResource) maxResource = minResource;
  // Keep whole rungs: the top rung is the largest r0·ηᵏ within maxResource.
  let top = minResource;
  while (top * eta <= maxResource + 1e-9) top = Math.round(top * eta * 100) / 100;
  return {
    searchSeconds,
    finalSeconds,
    reserveSeconds,
    minResource,
    maxResource: top,
    eta,
    affordableEpochs: affordable,
    searchWorthwhile: affordable >= MIN_SEARCH_EPOCHS,
  };
}

/** How an experiment trains (experiment/context.ts `Mode` says what each does). */
export type TrainingMode = 'search' | 'fixed' | 'short-budget';

/**
 * The mode, from the strategy setting and the speed a small network trains at (`imagesPerSec`,
 * measured on this machine): `fixed` when the setting says so; `short-budget` when the whole budget
 * affords fewer than MIN_SEARCH_EPOCHS epochs; else `search`. Decided on the whole budget (so that a
 * resumed experiment keeps its first decision). Pure; `plan` is the whole budget's plan.
 */
export function decideMode(opts: { strategy: string; budgetSeconds: number; trainImages: number; evalImages: number; imagesPerSec: number }): {
  mode: TrainingMode;
  plan: SearchPlan;
} {
  const plan = planSearch({
    remainingSeconds: opts.budgetSeconds,
    trainImages: opts.trainImages,
    evalImages: opts.evalImages,
    imagesPerSec: opts.imagesPerSec,
  });
  if (opts.strategy === 'fixed') return { mode: 'fixed', plan };
  return { mode: plan.searchWorthwhile ? 'search' : 'short-budget', plan };
}

/**
 * About how many rung-0 trials the search phase of `plan` can screen at `imagesPerSec` (each trains
 * `minResource` epochs of `trainImages`; promotions take some of that time, so this is an upper bound).
 */
export function rungZeroTrials(plan: SearchPlan, imagesPerSec: number, trainImages: number): number {
  const trialSeconds = (plan.minResource * trainImages) / Math.max(1e-6, imagesPerSec);
  return Math.floor(plan.searchSeconds / Math.max(1e-6, trialSeconds));
}

/** Inference runs about this many times faster than training (no backward pass, large batches). */
export const INFERENCE_SPEEDUP = 4;

/** Seconds to load `models` saved models and score `images` images with each, at a training rate of `imagesPerSec`. */
export function scoringSeconds(opts: { models: number; images: number; imagesPerSec: number }): number {
  return opts.models * (0.5 + opts.images / (opts.imagesPerSec * INFERENCE_SPEEDUP));
}

/** Epochs a network training at `imagesPerSec` gets in `seconds` (90 % of them: evaluation passes and saving take the rest). */
export function epochsIn(seconds: number, imagesPerSec: number, trainImages: number): number {
  return (0.9 * seconds * imagesPerSec) / Math.max(1, trainImages);
}

/**
 * Epochs the final fit can afford, or 0 when it could not train at least as long as the best
 * trial did (it then adds only the VALIDATION images, which is worth it only at equal length).
 */
export function finalFitEpochs(opts: { seconds: number; imagesPerSec: number; trainImages: number; bestTrialEpochs: number }): number {
  const epochs = Math.floor(epochsIn(opts.seconds, opts.imagesPerSec, opts.trainImages));
  return epochs >= Math.max(1, opts.bestTrialEpochs) ? epochs : 0;
}

/** A time budget the user can pick (the budget quick pick). */
export interface BudgetChoice {
  label: string;
  description: string;
  /** Absent for the row that asks for any number of minutes. */
  minutes?: number;
}

/** Presets like AutoML Vision's node hours, plus a first look of a few minutes. */
const BUDGET_PRESETS: BudgetChoice[] = [
  { label: 'Try it', description: '3 minutes: a first look, the best-known network without a search', minutes: 3 },
  { label: 'Quick', description: '10 minutes', minutes: 10 },
  { label: 'Standard', description: '1 hour', minutes: 60 },
  { label: 'Thorough', description: '8 hours', minutes: 480 },
];

/**
 * The budget choices: the presets, the one equal to the default (setting automl.timeBudgetMinutes)
 * marked as such, or the default as a row of its own when no preset equals it; then any number.
 */
export function budgetChoices(defaultMinutes: number): BudgetChoice[] {
  const mark = ' · default (automl.timeBudgetMinutes)';
  const presets = BUDGET_PRESETS.map((p) => (p.minutes === defaultMinutes ? { ...p, description: p.description + mark } : { ...p }));
  const own = presets.some((p) => p.minutes === defaultMinutes)
    ? []
    : [{ label: 'Default', description: `${defaultMinutes} minutes (automl.timeBudgetMinutes)`, minutes: defaultMinutes }];
  return [...own, ...presets, { label: 'Custom…', description: 'any number of minutes' }];
}
