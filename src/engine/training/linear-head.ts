// A linear classifier (multinomial logistic regression with an L2 penalty) on feature vectors,
// fitted to convergence by L-BFGS: the head that Create ML and Teachable Machine put on a frozen
// backbone. Pure arithmetic on Float32Arrays (no tfjs), so that hundreds of fits for
// cross-validation take seconds. Features are standardised inside; the returned weights act on
// the raw features (the standardisation folded in), ready to become a Dense layer.

import type { HeadFitter } from '../../search/head-search';

export interface LinearHead {
  /** d × k weights (row-major, feature-major like a Keras Dense kernel) and k biases, on raw features. */
  kernel: Float32Array;
  bias: Float32Array;
  dim: number;
  classes: number;
}

export interface FitOptions {
  /** L2 penalty on the standardised weights (per sample: the loss is a mean). */
  l2: number;
  maxIterations?: number;
  /** A start (in standardised space) for a warm start along a path of penalties. */
  init?: Float64Array;
}

interface Standardiser {
  mean: Float64Array;
  scale: Float64Array;
}

function standardiser(x: Float32Array, n: number, d: number): Standardiser {
  const mean = new Float64Array(d);
  const sq = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const row = i * d;
    for (let j = 0; j < d; j++) {
      const v = x[row + j];
      mean[j] += v;
      sq[j] += v * v;
    }
  }
  const scale = new Float64Array(d);
  for (let j = 0; j < d; j++) {
    mean[j] /= Math.max(1, n);
    const variance = sq[j] / Math.max(1, n) - mean[j] * mean[j];
    scale[j] = variance > 1e-12 ? 1 / Math.sqrt(variance) : 0;
  }
  return { mean, scale };
}

/**
 * Mean cross-entropy + l2/2·|W|² and its gradient over standardised features. `theta` holds
 * W (d × k) then b (k).
 */
function lossAndGrad(theta: Float64Array, z: Float64Array, y: ArrayLike<number>, n: number, d: number, k: number, l2: number, grad: Float64Array): number {
  grad.fill(0);
  const logits = new Float64Array(k);
  let loss = 0;
  const bAt = d * k;
  for (let i = 0; i < n; i++) {
    const row = i * d;
    for (let c = 0; c < k; c++) logits[c] = theta[bAt + c];
    for (let j = 0; j < d; j++) {
      const v = z[row + j];
      if (v === 0) continue;
      const w = j * k;
      for (let c = 0; c < k; c++) logits[c] += v * theta[w + c];
    }
    let max = -Infinity;
    for (let c = 0; c < k; c++) max = Math.max(max, logits[c]);
    let sum = 0;
    for (let c = 0; c < k; c++) {
      logits[c] = Math.exp(logits[c] - max);
      sum += logits[c];
    }
    const label = y[i];
    loss -= Math.log(Math.max(1e-300, logits[label] / sum));
    for (let c = 0; c < k; c++) logits[c] = logits[c] / sum - (c === label ? 1 : 0);
    for (let j = 0; j < d; j++) {
      const v = z[row + j];
      if (v === 0) continue;
      const w = j * k;
      for (let c = 0; c < k; c++) grad[w + c] += v * logits[c];
    }
    for (let c = 0; c < k; c++) grad[bAt + c] += logits[c];
  }
  const inv = 1 / Math.max(1, n);
  let penalty = 0;
  for (let p = 0; p < bAt; p++) {
    grad[p] = grad[p] * inv + l2 * theta[p];
    penalty += theta[p] * theta[p];
  }
  for (let c = 0; c < k; c++) grad[bAt + c] *= inv;
  return loss * inv + 0.5 * l2 * penalty;
}

const dot = (a: Float64Array, b: Float64Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

/** Minimises `f` from `x` in place by L-BFGS (memory 10) with a backtracking Armijo line search. */
function lbfgs(f: (x: Float64Array, g: Float64Array) => number, x: Float64Array, maxIterations: number): number {
  const m = 10;
  const size = x.length;
  const g = new Float64Array(size);
  let fx = f(x, g);
  const ss: Float64Array[] = [];
  const ys: Float64Array[] = [];
  const rhos: number[] = [];
  const dir = new Float64Array(size);
  const xNew = new Float64Array(size);
  const gNew = new Float64Array(size);
  for (let it = 0; it < maxIterations; it++) {
    // Two-loop recursion: dir = −H·g.
    for (let i = 0; i < size; i++) dir[i] = -g[i];
    const alphas: number[] = [];
    for (let h = ss.length - 1; h >= 0; h--) {
      const a = rhos[h] * dot(ss[h], dir);
      alphas[h] = a;
      const yh = ys[h];
      for (let i = 0; i < size; i++) dir[i] -= a * yh[i];
    }
    if (ss.length) {
      const last = ss.length - 1;
      const gamma = dot(ss[last], ys[last]) / Math.max(1e-300, dot(ys[last], ys[last]));
      for (let i = 0; i < size; i++) dir[i] *= gamma;
    } else {
      const norm = Math.sqrt(dot(g, g));
      for (let i = 0; i < size; i++) dir[i] /= Math.max(1, norm);
    }
    for (let h = 0; h < ss.length; h++) {
      const b = rhos[h] * dot(ys[h], dir);
      const sh = ss[h];
      for (let i = 0; i < size; i++) dir[i] += sh[i] * (alphas[h] - b);
    }
    let slope = dot(g, dir);
    if (slope >= 0) {
      // Not a descent direction: restart from the gradient.
      for (let i = 0; i < size; i++) dir[i] = -g[i];
      slope = dot(g, dir);
      ss.length = ys.length = rhos.length = 0;
    }
    let step = 1;
    let fNew = Infinity;
    for (let tries = 0; tries < 30; tries++) {
      for (let i = 0; i < size; i++) xNew[i] = x[i] + step * dir[i];
      fNew = f(xNew, gNew);
      if (fNew <= fx + 1e-4 * step * slope) break;
      step *= 0.5;
    }
    if (!(fNew < fx)) break;
    const s = new Float64Array(size);
    const yv = new Float64Array(size);
    for (let i = 0; i < size; i++) {
      s[i] = xNew[i] - x[i];
      yv[i] = gNew[i] - g[i];
    }
    const sy = dot(s, yv);
    x.set(xNew);
    g.set(gNew);
    const improvement = fx - fNew;
    fx = fNew;
    if (sy > 1e-12) {
      ss.push(s);
      ys.push(yv);
      rhos.push(1 / sy);
      if (ss.length > m) {
        ss.shift();
        ys.shift();
        rhos.shift();
      }
    }
    if (improvement < 1e-9 * Math.max(1, Math.abs(fx)) || Math.sqrt(dot(g, g)) < 1e-6) break;
  }
  return fx;
}

/** A head fitted to `n` rows of `x` (n × d) with labels `y` in [0, k). Also returns its standardised parameters for warm starts. */
export function fitLinearHead(x: Float32Array, y: ArrayLike<number>, n: number, d: number, k: number, o: FitOptions): LinearHead & { theta: Float64Array } {
  const st = standardiser(x, n, d);
  const z = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) z[i * d + j] = (x[i * d + j] - st.mean[j]) * st.scale[j];
  const theta = o.init ? Float64Array.from(o.init) : new Float64Array(d * k + k);
  lbfgs((t, g) => lossAndGrad(t, z, y, n, d, k, o.l2, g), theta, o.maxIterations ?? 300);
  // Fold the standardisation into the raw-feature weights: w' = w·s, b' = b − Σ μ·s·w.
  const kernel = new Float32Array(d * k);
  const bias = new Float32Array(k);
  for (let c = 0; c < k; c++) bias[c] = theta[d * k + c];
  for (let j = 0; j < d; j++) {
    for (let c = 0; c < k; c++) {
      const w = theta[j * k + c] * st.scale[j];
      kernel[j * k + c] = w;
      bias[c] -= st.mean[j] * w;
    }
  }
  return { kernel, bias, dim: d, classes: k, theta };
}

/** Class probabilities (n × k) of the head on `n` rows of raw features. */
export function predictLinearHead(head: LinearHead, x: Float32Array, n: number): Float32Array {
  const { dim: d, classes: k } = head;
  const out = new Float32Array(n * k);
  const logits = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < k; c++) logits[c] = head.bias[c];
    for (let j = 0; j < d; j++) {
      const v = x[i * d + j];
      for (let c = 0; c < k; c++) logits[c] += v * head.kernel[j * k + c];
    }
    let max = -Infinity;
    for (let c = 0; c < k; c++) max = Math.max(max, logits[c]);
    let sum = 0;
    for (let c = 0; c < k; c++) sum += logits[c] = Math.exp(logits[c] - max);
    for (let c = 0; c < k; c++) out[i * k + c] = logits[c] / sum;
  }
  return out;
}

/** The linear head as the head search takes it (search/head-search.ts HeadFitter). */
export const LINEAR_HEAD: HeadFitter<LinearHead & { theta: Float64Array }> = {
  fit: (x, y, n, d, k, o) => fitLinearHead(x, y, n, d, k, o),
  predict: (head, x, n) => predictLinearHead(head, x, n),
};
