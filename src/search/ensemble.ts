// Ensemble selection (Caruana et al. 2004, "Ensemble selection from libraries of models"):
// starting from the best single model, greedily add the model (repeats allowed, so counts
// become weights) whose averaged scores lower the validation loss most, while any does. The
// ensemble is kept only if it is more accurate on validation than the best single model by a
// margin, so a tie never costs the user the inference time of several models. Pure: the
// caller supplies each candidate's validation scores and the scoring function.

export interface EnsembleCandidate {
  id: string;
  /** Validation scores, n × k. */
  scores: Float32Array;
}

export interface EnsembleChoice {
  /** Members and how many times each was picked (its weight in the average). */
  members: { id: string; count: number }[];
  /** Validation loss and accuracy of the averaged scores. */
  loss: number;
  accuracy: number;
  /** The best single candidate and its validation accuracy. */
  single: { id: string; loss: number; accuracy: number };
  /** Whether the ensemble beats the best single model by the margin (else use the single model). */
  better: boolean;
}

export interface EnsembleOptions {
  /** Picks at most (members with repeats). */
  maxPicks?: number;
  /** Accuracy the ensemble must gain over the best single model (default 0.2 points). */
  margin?: number;
}

export function selectEnsemble(
  candidates: EnsembleCandidate[],
  score: (scores: Float32Array) => { loss: number; accuracy: number },
  opts: EnsembleOptions = {},
): EnsembleChoice | null {
  if (candidates.length === 0) return null;
  const maxPicks = opts.maxPicks ?? 8;
  const margin = opts.margin ?? 0.002;
  const singles = candidates.map((c) => ({ id: c.id, ...score(c.scores) }));
  // The best single model: highest accuracy, then lowest loss.
  let first = 0;
  for (let i = 1; i < singles.length; i++) {
    const a = singles[i];
    const b = singles[first];
    if (a.accuracy > b.accuracy || (a.accuracy === b.accuracy && a.loss < b.loss)) first = i;
  }
  const len = candidates[0].scores.length;
  const sum = new Float64Array(len);
  const add = (s: Float32Array, into: Float64Array) => {
    for (let j = 0; j < len; j++) into[j] += s[j];
  };
  add(candidates[first].scores, sum);
  const counts = new Map<number, number>([[first, 1]]);
  let picks = 1;
  let current = { loss: singles[first].loss, accuracy: singles[first].accuracy };
  const trial = new Float32Array(len);
  while (picks < maxPicks) {
    let bestI = -1;
    let best = current;
    for (let i = 0; i < candidates.length; i++) {
      const s = candidates[i].scores;
      for (let j = 0; j < len; j++) trial[j] = (sum[j] + s[j]) / (picks + 1);
      const r = score(trial);
      if (r.loss < best.loss - 1e-9) {
        best = r;
        bestI = i;
      }
    }
    if (bestI < 0) break;
    add(candidates[bestI].scores, sum);
    counts.set(bestI, (counts.get(bestI) ?? 0) + 1);
    picks++;
    current = best;
  }
  const members = [...counts].sort((a, b) => b[1] - a[1] || a[0] - b[0]).map(([i, count]) => ({ id: candidates[i].id, count }));
  return {
    members,
    loss: current.loss,
    accuracy: current.accuracy,
    single: singles[first],
    better: members.length > 1 && current.accuracy >= singles[first].accuracy + margin,
  };
}

/** Trials considered for an ensemble (the best by validation accuracy). */
export const ENSEMBLE_CANDIDATES = 5;
