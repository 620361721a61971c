// Classification metrics over stored per-example scores. Pure functions (no tfjs), so the
// evaluation panel can recompute any threshold instantly and every number is unit-tested
// against values worked out by hand.
//
// Conventions, chosen so that the UI never shows NaN:
// - A class with no positive (or no negative) example in the set has no ROC AUC / average
//   precision: `null`, and macro averages are over the classes where it is defined (null when
//   none is).
// - Ties in scores are handled as one threshold step (ranks averaged for AUC; AP steps over
//   distinct scores, as scikit-learn does).

/** Scores are row-major n × k (probabilities). Labels: class index per row (single-label). */
export interface Scored {
  n: number;
  k: number;
  scores: Float32Array | number[];
  labels: Int32Array | number[];
}

export function argmaxRow(scores: ArrayLike<number>, row: number, k: number): number {
  let best = 0;
  let bestScore = -Infinity;
  for (let j = 0; j < k; j++) {
    const s = scores[row * k + j];
    if (s > bestScore) {
      bestScore = s;
      best = j;
    }
  }
  return best;
}

export function accuracy(d: Scored): number {
  if (d.n === 0) return 0;
  let hit = 0;
  for (let i = 0; i < d.n; i++) if (argmaxRow(d.scores, i, d.k) === d.labels[i]) hit++;
  return hit / d.n;
}

/** Fraction of rows whose true class is among the `topK` highest scores (ties counted against). */
export function topKAccuracy(d: Scored, topK: number): number {
  if (d.n === 0) return 0;
  let hit = 0;
  for (let i = 0; i < d.n; i++) {
    const own = d.scores[i * d.k + d.labels[i]];
    let higher = 0;
    for (let j = 0; j < d.k; j++) if (j !== d.labels[i] && d.scores[i * d.k + j] >= own) higher++;
    if (higher < topK) hit++;
  }
  return hit / d.n;
}

/** Binary ROC AUC by the rank-sum (Mann–Whitney) formula with average ranks for ties. */
export function rocAuc(scores: ArrayLike<number>, positive: ArrayLike<boolean | number>): number | null {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let pos = 0;
  let rankSum = 0;
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]] === scores[order[i]]) j++;
    const avgRank = (i + j) / 2 + 1;
    for (let t = i; t <= j; t++) {
      if (positive[order[t]]) {
        pos++;
        rankSum += avgRank;
      }
    }
    i = j + 1;
  }
  const neg = n - pos;
  if (pos === 0 || neg === 0) return null;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

/**
 * Average precision: Σ (R_i − R_{i−1}) · P_i over the distinct score thresholds, highest first
 * (scikit-learn's `average_precision_score`). Null when there is no positive.
 */
export function averagePrecision(scores: ArrayLike<number>, positive: ArrayLike<boolean | number>): number | null {
  const curve = prCurve(scores, positive);
  if (!curve) return null;
  let ap = 0;
  let prevRecall = 0;
  for (const p of curve) {
    ap += (p.recall - prevRecall) * p.precision;
    prevRecall = p.recall;
  }
  return ap;
}

export interface PrPoint {
  threshold: number;
  precision: number;
  recall: number;
}

/** Precision/recall at each distinct score, highest threshold first. Null when there is no positive. */
export function prCurve(scores: ArrayLike<number>, positive: ArrayLike<boolean | number>): PrPoint[] | null {
  const n = scores.length;
  let totalPos = 0;
  for (let i = 0; i < n; i++) if (positive[i]) totalPos++;
  if (totalPos === 0) return null;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  const out: PrPoint[] = [];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]] === scores[order[i]]) j++;
    for (let t = i; t <= j; t++) {
      if (positive[order[t]]) tp++;
      else fp++;
    }
    out.push({ threshold: scores[order[i]], precision: tp / (tp + fp), recall: tp / totalPos });
    i = j + 1;
  }
  return out;
}

function column(d: Scored, c: number): { s: Float64Array; pos: Uint8Array } {
  const s = new Float64Array(d.n);
  const pos = new Uint8Array(d.n);
  for (let i = 0; i < d.n; i++) {
    s[i] = d.scores[i * d.k + c];
    pos[i] = d.labels[i] === c ? 1 : 0;
  }
  return { s, pos };
}

const meanOfDefined = (xs: (number | null)[]): number | null => {
  const ok = xs.filter((x): x is number => x !== null);
  return ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : null;
};

export interface ClassMetrics {
  auc: (number | null)[];
  averagePrecision: (number | null)[];
  support: number[];
}

/** One-vs-rest AUC and AP per class, with support (number of true examples). */
export function perClass(d: Scored): ClassMetrics {
  const auc: (number | null)[] = [];
  const ap: (number | null)[] = [];
  const support: number[] = [];
  for (let c = 0; c < d.k; c++) {
    const { s, pos } = column(d, c);
    auc.push(rocAuc(s, pos));
    ap.push(averagePrecision(s, pos));
    support.push(pos.reduce((a, b) => a + b, 0));
  }
  return { auc, averagePrecision: ap, support };
}

export function macroAuc(d: Scored): number | null {
  return meanOfDefined(perClass(d).auc);
}

export function macroAveragePrecision(d: Scored): number | null {
  return meanOfDefined(perClass(d).averagePrecision);
}

/** Micro-averaged one-vs-rest AUC: all (row, class) pairs pooled into one binary problem. */
export function microAuc(d: Scored): number | null {
  const s = new Float64Array(d.n * d.k);
  const pos = new Uint8Array(d.n * d.k);
  for (let i = 0; i < d.n; i++) {
    for (let c = 0; c < d.k; c++) {
      s[i * d.k + c] = d.scores[i * d.k + c];
      pos[i * d.k + c] = d.labels[i] === c ? 1 : 0;
    }
  }
  return rocAuc(s, pos);
}

/** Mean cross-entropy of the true class (probabilities clipped to avoid infinities). */
export function logLoss(d: Scored): number {
  if (d.n === 0) return 0;
  let sum = 0;
  for (let i = 0; i < d.n; i++) sum -= Math.log(Math.max(1e-7, d.scores[i * d.k + d.labels[i]]));
  return sum / d.n;
}

/** Confusion matrix of argmax predictions: rows = true class, columns = predicted class. */
export function confusionMatrix(d: Scored): number[][] {
  const m = Array.from({ length: d.k }, () => new Array<number>(d.k).fill(0));
  for (let i = 0; i < d.n; i++) m[d.labels[i]][argmaxRow(d.scores, i, d.k)]++;
  return m;
}

export interface ConfusedPair {
  actual: number;
  predicted: number;
  count: number;
}

/** The off-diagonal cells of a confusion matrix, most frequent first (ties by class order). */
export function mostConfusedPairs(confusion: number[][], limit = 10): ConfusedPair[] {
  const pairs: ConfusedPair[] = [];
  confusion.forEach((row, actual) =>
    row.forEach((count, predicted) => {
      if (actual !== predicted && predicted < confusion.length && count > 0) pairs.push({ actual, predicted, count });
    }),
  );
  return pairs.sort((a, b) => b.count - a.count || a.actual - b.actual || a.predicted - b.predicted).slice(0, limit);
}

export interface ThresholdMetrics {
  threshold: number;
  precision: number[];
  recall: number[];
  f1: number[];
  /** Rows = true class; columns = predicted class, plus a last column for "below threshold". */
  confusion: number[][];
  /** Fraction of rows whose top score reaches the threshold. */
  coverage: number;
}

/**
 * Single-label metrics at a score threshold, AutoML Vision's way: a row is predicted as its
 * top class when that score is ≥ threshold, otherwise it gets no prediction. Precision of a
 * class with no prediction is 1 by convention (no false positive), recall of a class with no
 * example is 0 and shown with support 0; F1 is 0 when precision + recall is 0.
 */
export function atThreshold(d: Scored, threshold: number): ThresholdMetrics {
  const k = d.k;
  const tp = new Array<number>(k).fill(0);
  const predicted = new Array<number>(k).fill(0);
  const actual = new Array<number>(k).fill(0);
  const confusion = Array.from({ length: k }, () => new Array<number>(k + 1).fill(0));
  let covered = 0;
  for (let i = 0; i < d.n; i++) {
    const p = argmaxRow(d.scores, i, k);
    const y = d.labels[i];
    actual[y]++;
    if (d.scores[i * k + p] >= threshold) {
      covered++;
      predicted[p]++;
      if (p === y) tp[y]++;
      confusion[y][p]++;
    } else {
      confusion[y][k]++;
    }
  }
  const precision = tp.map((t, c) => (predicted[c] ? t / predicted[c] : 1));
  const recall = tp.map((t, c) => (actual[c] ? t / actual[c] : 0));
  const f1 = precision.map((p, c) => (p + recall[c] > 0 ? (2 * p * recall[c]) / (p + recall[c]) : 0));
  return { threshold, precision, recall, f1, confusion, coverage: d.n ? covered / d.n : 0 };
}

/** Multi-label scores: n × k sigmoid outputs, with multi-hot truth (n × k, 0/1). */
export interface MultiScored {
  n: number;
  k: number;
  scores: Float32Array | number[];
  truth: ArrayLike<number>;
}

/** Decisions per label at per-label thresholds (cheap: what a threshold slider recomputes). */
export interface MultiLabelDecisions {
  thresholds: number[];
  /** Per label: true positives, false positives, false negatives, images with the label, images given it. */
  tp: number[];
  fp: number[];
  fn: number[];
  support: number[];
  predicted: number[];
  /** Per label; null where undefined (nothing predicted / no positive), never NaN. */
  precision: (number | null)[];
  recall: (number | null)[];
  f1: (number | null)[];
  /** Fraction of (example, label) decisions right: 1 − Hamming loss. */
  labelAccuracy: number;
  hammingLoss: number;
  /** Fraction of examples whose whole label set is right. */
  exactMatch: number;
  microF1: number;
  /** Mean F1 over the labels present in the set (or predicted). */
  macroF1: number;
}

export interface MultiLabelMetrics extends MultiLabelDecisions {
  auc: (number | null)[];
  averagePrecision: (number | null)[];
  macroAuc: number | null;
  macroAveragePrecision: number | null;
}

export function multiLabelDecisions(d: MultiScored, thresholds?: number[]): MultiLabelDecisions {
  const t = thresholds ?? new Array<number>(d.k).fill(0.5);
  const tp = new Array<number>(d.k).fill(0);
  const fp = new Array<number>(d.k).fill(0);
  const fn = new Array<number>(d.k).fill(0);
  let wrong = 0;
  let exact = 0;
  for (let i = 0; i < d.n; i++) {
    let rowRight = true;
    for (let c = 0; c < d.k; c++) {
      const p = d.scores[i * d.k + c] >= t[c];
      const y = d.truth[i * d.k + c] > 0;
      if (p && y) tp[c]++;
      else if (p && !y) fp[c]++;
      else if (!p && y) fn[c]++;
      if (p !== y) {
        wrong++;
        rowRight = false;
      }
    }
    if (rowRight) exact++;
  }
  const f1 = (a: number, b: number, c: number) => (2 * a + b + c > 0 ? (2 * a) / (2 * a + b + c) : 0);
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const support = tp.map((x, c) => x + fn[c]);
  const predicted = tp.map((x, c) => x + fp[c]);
  const perF1 = tp.map((x, c) => (support[c] || predicted[c] ? f1(x, fp[c], fn[c]) : null));
  const cells = d.n * d.k;
  return {
    thresholds: t,
    tp,
    fp,
    fn,
    support,
    predicted,
    precision: tp.map((x, c) => (predicted[c] ? x / predicted[c] : null)),
    recall: tp.map((x, c) => (support[c] ? x / support[c] : null)),
    f1: perF1,
    labelAccuracy: cells ? 1 - wrong / cells : 0,
    hammingLoss: cells ? wrong / cells : 0,
    exactMatch: d.n ? exact / d.n : 0,
    microF1: f1(sum(tp), sum(fp), sum(fn)),
    macroF1: meanOfDefined(perF1) ?? 0,
  };
}

/** Multi-label metrics with a score threshold per label (default 0.5 for every label). */
export function multiLabelMetrics(d: MultiScored, thresholds?: number[]): MultiLabelMetrics {
  const auc: (number | null)[] = [];
  const ap: (number | null)[] = [];
  for (let c = 0; c < d.k; c++) {
    const { s, y } = labelColumn(d, c);
    auc.push(rocAuc(s, y));
    ap.push(averagePrecision(s, y));
  }
  return {
    ...multiLabelDecisions(d, thresholds),
    auc,
    averagePrecision: ap,
    macroAuc: meanOfDefined(auc),
    macroAveragePrecision: meanOfDefined(ap),
  };
}

/** One label's scores and 0/1 truth. */
export function labelColumn(d: MultiScored, c: number): { s: Float64Array; y: Uint8Array } {
  const s = new Float64Array(d.n);
  const y = new Uint8Array(d.n);
  for (let i = 0; i < d.n; i++) {
    s[i] = d.scores[i * d.k + c];
    y[i] = d.truth[i * d.k + c] > 0 ? 1 : 0;
  }
  return { s, y };
}

/**
 * Per label, the score threshold with the best F1 on this set (ties: the higher threshold), or 0.5
 * for a label without positives. A threshold lies midway between two distinct scores (0 when every
 * image should get the label), so `score >= t` makes the same decisions in float32 and float64.
 */
export function bestF1Thresholds(d: MultiScored): number[] {
  const out: number[] = [];
  for (let c = 0; c < d.k; c++) {
    const { s, y } = labelColumn(d, c);
    const pos = y.reduce((a, b) => a + b, 0);
    if (!pos) {
      out.push(0.5);
      continue;
    }
    const order = Array.from({ length: d.n }, (_, i) => i).sort((a, b) => s[b] - s[a]);
    let tp = 0;
    let fp = 0;
    let best = -1;
    let bestT = 0.5;
    for (let j = 0; j < order.length; j++) {
      const i = order[j];
      if (y[i]) tp++;
      else fp++;
      // Only where the next score differs: a threshold cannot split tied scores.
      if (j + 1 < order.length && s[order[j + 1]] === s[i]) continue;
      const f1 = (2 * tp) / (2 * tp + fp + (pos - tp));
      if (f1 > best) {
        best = f1;
        // Midway to the next lower score: the same decisions here, robust to float32 rounding of the scores.
        bestT = j + 1 < order.length ? (s[i] + s[order[j + 1]]) / 2 : 0;
      }
    }
    out.push(bestT);
  }
  return out;
}
