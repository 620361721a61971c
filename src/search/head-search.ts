// The penalty of a linear head on cached backbone features, chosen by stratified k-fold
// cross-validation over every labelled image (TRAIN and VALIDATION): on a few hundred photos a
// held-out VALIDATION split of two dozen images is too small to choose by, while k folds judge on
// every image once. Each fold trains on its images and their mirror images, and is scored on its
// held-out images as they are. The penalty with the lowest held-out log loss wins (smoother than
// accuracy on small sets); its accuracy is reported beside it. The head itself is fitted by the
// engine (engine/training/linear-head.ts), handed in as a `HeadFitter`: search decides, engine builds.
import { rng, shuffle } from '../shared/random';

export interface HeadData {
  /** n × d features of the images, and of their mirror images (or null). */
  plain: Float32Array;
  mirror: Float32Array | null;
  labels: ArrayLike<number>;
  n: number;
  d: number;
  k: number;
}

/** Fits a head (warm-started from `init`, a previous fit's `theta`) and predicts class probabilities with it. */
export interface HeadFitter<H extends { theta: Float64Array }> {
  fit(x: Float32Array, y: Int32Array, n: number, d: number, k: number, o: { l2: number; init?: Float64Array }): H;
  predict(head: H, x: Float32Array, n: number): Float32Array;
}

export interface HeadChoice {
  l2: number;
  folds: number;
  cvAccuracy: number;
  cvLoss: number;
  /** Every penalty tried, with its held-out accuracy and log loss. */
  tried: { l2: number; accuracy: number; loss: number }[];
}

/** Penalties tried, strongest first (warm starts follow the path). */
export const HEAD_PENALTIES = [30, 10, 3, 1, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001];

/** Rows `idx` of `data` (and their mirror rows) as one training matrix with labels. */
export function rowsOf(data: HeadData, idx: ArrayLike<number>, withMirror: boolean): { x: Float32Array; y: Int32Array; n: number } {
  const copies = withMirror && data.mirror ? 2 : 1;
  const n = idx.length * copies;
  const x = new Float32Array(n * data.d);
  const y = new Int32Array(n);
  for (let c = 0; c < copies; c++) {
    const src = c === 0 ? data.plain : data.mirror!;
    for (let r = 0; r < idx.length; r++) {
      const i = idx[r];
      const to = c * idx.length + r;
      x.set(src.subarray(i * data.d, (i + 1) * data.d), to * data.d);
      y[to] = data.labels[i];
    }
  }
  return { x, y, n };
}

/** Stratified folds: each class's images shuffled with `seed` and dealt round-robin. */
export function stratifiedFolds(labels: ArrayLike<number>, n: number, folds: number, seed: number): number[][] {
  const rand = rng(seed);
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const list = byClass.get(labels[i]) ?? [];
    list.push(i);
    byClass.set(labels[i], list);
  }
  const out: number[][] = Array.from({ length: folds }, () => []);
  let next = 0;
  for (const [, list] of [...byClass.entries()].sort((a, b) => a[0] - b[0])) {
    for (const i of shuffle(list, rand)) out[next++ % folds].push(i);
  }
  return out;
}

/** Chooses the penalty by k-fold cross-validation (k = 5, fewer when a class has fewer images). */
export function chooseHeadPenalty<H extends { theta: Float64Array }>(
  data: HeadData,
  o: { seed: number; fitter: HeadFitter<H>; penalties?: number[]; deadline?: number },
): HeadChoice {
  const counts = new Map<number, number>();
  for (let i = 0; i < data.n; i++) counts.set(data.labels[i], (counts.get(data.labels[i]) ?? 0) + 1);
  const folds = Math.max(2, Math.min(5, ...counts.values()));
  const parts = stratifiedFolds(data.labels, data.n, folds, o.seed);
  const penalties = o.penalties ?? HEAD_PENALTIES;
  const right = new Float64Array(penalties.length);
  const loss = new Float64Array(penalties.length);
  const judged = new Int32Array(penalties.length);
  for (let f = 0; f < folds; f++) {
    const held = parts[f];
    const train = parts.flatMap((p, i) => (i === f ? [] : p));
    const t = rowsOf(data, train, true);
    const h = rowsOf(data, held, false);
    let init: Float64Array | undefined;
    for (let p = 0; p < penalties.length; p++) {
      if (o.deadline && Date.now() > o.deadline && judged[p] === 0 && p > 0) break;
      const head = o.fitter.fit(t.x, t.y, t.n, data.d, data.k, { l2: penalties[p], init });
      init = head.theta;
      const scores = o.fitter.predict(head, h.x, h.n);
      for (let i = 0; i < h.n; i++) {
        let arg = 0;
        for (let c = 1; c < data.k; c++) if (scores[i * data.k + c] > scores[i * data.k + arg]) arg = c;
        if (arg === h.y[i]) right[p]++;
        loss[p] -= Math.log(Math.max(1e-7, scores[i * data.k + h.y[i]]));
      }
      judged[p] += h.n;
    }
  }
  const tried = penalties
    .map((l2, p) => ({ l2, accuracy: right[p] / Math.max(1, judged[p]), loss: loss[p] / Math.max(1, judged[p]), complete: judged[p] === data.n }))
    .filter((r) => r.complete)
    .map(({ complete: _c, ...r }) => r);
  const best = tried.reduce((a, b) => (b.loss < a.loss ? b : a), tried[0]);
  return { l2: best.l2, folds, cvAccuracy: best.accuracy, cvLoss: best.loss, tried };
}

/** Features of several cut points side by side (see engine/training/features.ts). */
export interface BlockedFeatures {
  plain: Float32Array;
  mirror: Float32Array | null;
  labels: ArrayLike<number>;
  n: number;
  /** Width of a row: the blocks' dims added up. */
  width: number;
  k: number;
  blocks: { layer: string; offset: number; dim: number }[];
}

export interface CutChoice extends HeadChoice {
  /** The chosen block (cut point). */
  layer: string;
  /** Each block's best penalty by cross-validation. */
  perBlock: ({ layer: string } & HeadChoice)[];
}

/** Columns `b` of `n` rows of `width` floats. */
export function blockColumns(x: Float32Array, n: number, width: number, b: { offset: number; dim: number }): Float32Array {
  if (b.offset === 0 && b.dim === width) return x;
  const out = new Float32Array(n * b.dim);
  for (let i = 0; i < n; i++) out.set(x.subarray(i * width + b.offset, i * width + b.offset + b.dim), i * b.dim);
  return out;
}

/** The block's columns as head data. */
export function blockData(f: BlockedFeatures, layer: string): HeadData {
  const b = f.blocks.find((x) => x.layer === layer);
  if (!b) throw new Error(`no features from layer ${layer}`);
  return {
    plain: blockColumns(f.plain, f.n, f.width, b),
    mirror: f.mirror ? blockColumns(f.mirror, f.n, f.width, b) : null,
    labels: f.labels,
    n: f.n,
    d: b.dim,
    k: f.k,
  };
}

/** The cut point and penalty with the lowest cross-validated log loss. */
export function chooseCutAndPenalty<H extends { theta: Float64Array }>(
  f: BlockedFeatures,
  o: { seed: number; fitter: HeadFitter<H>; deadline?: number },
): CutChoice {
  const perBlock = f.blocks.map((b) => ({ layer: b.layer, ...chooseHeadPenalty(blockData(f, b.layer), o) }));
  const best = perBlock.reduce((a, b) => (b.cvLoss < a.cvLoss ? b : a), perBlock[perBlock.length - 1]);
  return { ...best, perBlock };
}
