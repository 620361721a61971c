// Which configuration the final fit retrains. Trials are compared at equal epochs, but the final fit
// has a fixed number of seconds: a slow network that leads after 1.4 epochs may get 2 epochs in the
// final fit while a fast one gets 20. So each leading trial's learning curve (validation error
// against epochs) is extrapolated with a power law to the epochs it could train in the final fit's
// time, and the best prediction wins. Pure: no I/O, unit-tested.
import { isFeatureHead } from './leader';
import type { EpochRecord, TrialRecord } from '../shared/protocol';
import { epochsIn } from './plan';

export interface FinalChoice {
  trial: TrialRecord;
  /** Epochs the final fit could afford for this configuration. */
  epochs: number;
  /** Predicted validation accuracy after those epochs (a ranking score, optimistic in absolute terms). */
  predicted: number;
  /** The power-law exponent used (error ∝ epochs^-alpha). */
  alpha: number;
}

/** Error exponent bounds: curves are noisy, and a runaway fit must not decide. */
const ALPHA_MIN = 0.1;
const ALPHA_MAX = 0.7;
/** Used when a trial has a single usable point. */
const ALPHA_DEFAULT = 0.3;

/** The best validation accuracy seen up to each epoch (a curve that never goes down). */
export function learningCurve(history: EpochRecord[]): { epochs: number; accuracy: number }[] {
  const pts = history.filter((r) => r.valAccuracy !== null && r.epoch > 0).sort((a, b) => a.epoch - b.epoch);
  const out: { epochs: number; accuracy: number }[] = [];
  let best = -1;
  for (const r of pts) {
    best = Math.max(best, r.valAccuracy!);
    if (out.length && Math.abs(out[out.length - 1].epochs - r.epoch) < 1e-9) out[out.length - 1].accuracy = best;
    else out.push({ epochs: r.epoch, accuracy: best });
  }
  return out;
}

/**
 * Predicted accuracy after `epochs`: error = err_last · (epochs / e_last)^-alpha, alpha from the
 * last point and the latest point at or before half its epochs (so two rungs of successive halving
 * give it). Never predicts worse than the curve already reached.
 */
export function extrapolate(curve: { epochs: number; accuracy: number }[], epochs: number): { accuracy: number; alpha: number } {
  if (!curve.length) return { accuracy: 0, alpha: ALPHA_DEFAULT };
  const last = curve[curve.length - 1];
  const errLast = Math.max(1e-4, 1 - last.accuracy);
  let alpha = ALPHA_DEFAULT;
  const earlier = [...curve].reverse().find((p) => p.epochs <= last.epochs / 2);
  if (earlier) {
    const errEarlier = Math.max(1e-4, 1 - earlier.accuracy);
    const a = Math.log(errEarlier / errLast) / Math.log(last.epochs / earlier.epochs);
    alpha = Number.isFinite(a) ? Math.min(ALPHA_MAX, Math.max(ALPHA_MIN, a)) : ALPHA_DEFAULT;
  }
  if (epochs <= last.epochs) return { accuracy: last.accuracy, alpha };
  return { accuracy: 1 - errLast * (epochs / last.epochs) ** -alpha, alpha };
}

/**
 * The configuration to retrain in `seconds` on `trainImages` images: among trials within `margin` of
 * the best validation accuracy, the one whose extrapolated accuracy at its affordable epochs is
 * highest. Returns null without a usable trial.
 */
export function chooseFinalFit(
  trials: TrialRecord[],
  historyOf: (id: string) => EpochRecord[],
  opts: { seconds: number; trainImages: number; margin?: number },
): FinalChoice | null {
  // A linear head on cached features has no epochs to extrapolate: its final fit is its refit (experiment/final-fit.ts).
  const usable = trials.filter((t) => t.trainOn === 'TRAIN' && t.hasModel && t.bestValAccuracy !== null && !isFeatureHead(t));
  if (!usable.length) return null;
  const top = Math.max(...usable.map((t) => t.bestValAccuracy!));
  const margin = opts.margin ?? 0.05;
  let best: FinalChoice | null = null;
  for (const t of usable) {
    if (t.bestValAccuracy! < top - margin) continue;
    const ips = t.imagesPerSec ?? 0;
    const epochs = ips > 0 ? epochsIn(opts.seconds, ips, opts.trainImages) : 0;
    const curve = learningCurve(historyOf(t.id));
    if (!curve.length) curve.push({ epochs: Math.max(1e-3, t.epochsDone), accuracy: t.bestValAccuracy! });
    const { accuracy, alpha } = extrapolate(curve, epochs);
    const choice = { trial: t, epochs, predicted: accuracy, alpha };
    if (
      !best ||
      choice.predicted > best.predicted + 1e-12 ||
      (Math.abs(choice.predicted - best.predicted) <= 1e-12 && t.bestValAccuracy! > best.trial.bestValAccuracy!)
    )
      best = choice;
  }
  return best;
}
