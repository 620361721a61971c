// Which trial leads, for the final model: the best on VALIDATION, except that a linear head on
// cached backbone features (the features phase's trial `head`, chosen by cross-validation over
// every labelled image) is only displaced by a trial that beats it on VALIDATION by more than one
// standard error of that accuracy. On a few hundred photos VALIDATION holds a few dozen images,
// and a trained network that leads it by an image or two is noise, not a better model.
import type { TrialRecord } from '../shared/protocol';
import { bestTrial } from './search';

/** Does the trial hold a linear head on cached features? */
export const isFeatureHead = (t: TrialRecord): boolean => t.config['transfer/head'] === 'linear';

/** The leading trial (see above); `validationCount` is the number of VALIDATION images. */
export function leadingTrial(trials: TrialRecord[], validationCount: number): TrialRecord | null {
  const best = bestTrial(trials);
  const head = trials.find((t) => isFeatureHead(t) && t.hasModel && t.trainOn === 'TRAIN' && t.bestValAccuracy !== null);
  if (!best || !head || best === head || best.id === head.id) return best;
  const p = head.bestValAccuracy!;
  const standardError = Math.sqrt(Math.max(p * (1 - p), 0.01) / Math.max(1, validationCount));
  return best.bestValAccuracy! - p > standardError ? best : head;
}
