// Likely mislabelled images by confident learning (Northcutt, Jiang & Chuang, "Confident Learning:
// Estimating Uncertainty in Dataset Labels", JAIR 2021), from held-out predicted probabilities:
//   t_j = the mean predicted probability of class j over the examples labelled j (the class's
//         self-confidence threshold);
//   an example labelled i is counted for the class j that has the highest p_j among the classes
//   with p_j ≥ t_j (the confident joint); when that j is not i, the example is a candidate, with j
//   as the suggested label.
// Candidates are ranked by margin p_j − p_i (largest first) or by self-confidence p_i (smallest first).
// Pure: the webview runs it on `final/predictions.json`, the tests on constructed matrices.

/** Scores of n examples over k classes (row-major n × k) with one label each. */
export interface LabelledScores {
  n: number;
  k: number;
  scores: ArrayLike<number>;
  labels: ArrayLike<number>;
}

export interface MislabelCandidate {
  /** Row of the example in the scores. */
  index: number;
  /** The label it has. */
  given: number;
  /** The class the model confidently puts it in. */
  suggested: number;
  /** p of the given label (self-confidence). */
  selfConfidence: number;
  /** p of the suggested class. */
  suggestedScore: number;
  /** suggestedScore − selfConfidence. */
  margin: number;
}

export type MislabelRanking = 'margin' | 'self-confidence';

/** Per-class thresholds t_j (NaN for a class with no labelled example: it is never suggested). */
export function classThresholds(d: LabelledScores): Float64Array {
  const { n, k, scores, labels } = d;
  const sum = new Float64Array(k);
  const count = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (y < 0 || y >= k) continue;
    sum[y] += scores[i * k + y];
    count[y]++;
  }
  const t = new Float64Array(k);
  for (let j = 0; j < k; j++) t[j] = count[j] > 0 ? sum[j] / count[j] : NaN;
  return t;
}

/** The likely mislabelled examples, ranked (ties: by row, so the order is stable). */
export function likelyMislabelled(d: LabelledScores, ranking: MislabelRanking = 'margin'): MislabelCandidate[] {
  const { n, k, scores, labels } = d;
  const t = classThresholds(d);
  const out: MislabelCandidate[] = [];
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (y < 0 || y >= k) continue;
    let best = -1;
    let bestP = -Infinity;
    for (let j = 0; j < k; j++) {
      const p = scores[i * k + j];
      // NaN thresholds (classes nobody is labelled with) compare false: never suggested.
      if (p >= t[j] && p > bestP) {
        best = j;
        bestP = p;
      }
    }
    if (best < 0 || best === y) continue;
    const self = scores[i * k + y];
    out.push({ index: i, given: y, suggested: best, selfConfidence: self, suggestedScore: bestP, margin: bestP - self });
  }
  out.sort(ranking === 'margin' ? (a, b) => b.margin - a.margin || a.index - b.index : (a, b) => a.selfConfidence - b.selfConfidence || a.index - b.index);
  return out;
}

/** The `m` highest-scoring classes of row `i`, highest first (ties: the lower class index first). */
export function topClasses(scores: ArrayLike<number>, i: number, k: number, m = 5): { cls: number; score: number }[] {
  const row: { cls: number; score: number }[] = [];
  for (let j = 0; j < k; j++) row.push({ cls: j, score: scores[i * k + j] });
  row.sort((a, b) => b.score - a.score || a.cls - b.cls);
  return row.slice(0, m);
}
