import * as assert from 'node:assert/strict';
import { fitLinearHead, predictLinearHead } from '../../../src/engine/training/linear-head';
import { gaussian, rng } from '../../../src/shared/random';

/**
 * Gaussian blobs: `perClass` rows per class, class c centred at `centres[c]`, each feature then
 * mapped to `offset[j] + scale[j]·v` (features on very different scales and offsets).
 */
function blobs(seed: number, centres: number[][], perClass: number, spread: number, scale: number[], offset: number[]) {
  const random = rng(seed);
  const k = centres.length;
  const d = centres[0].length;
  const n = k * perClass;
  const x = new Float32Array(n * d);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % k;
    y[i] = c;
    for (let j = 0; j < d; j++) x[i * d + j] = offset[j] + scale[j] * (centres[c][j] + spread * gaussian(random));
  }
  return { x, y, n, d, k };
}

const argmax = (p: Float32Array, i: number, k: number) => {
  let a = 0;
  for (let c = 1; c < k; c++) if (p[i * k + c] > p[i * k + a]) a = c;
  return a;
};
const accuracy = (p: Float32Array, y: ArrayLike<number>, n: number, k: number) => {
  let hit = 0;
  for (let i = 0; i < n; i++) if (argmax(p, i, k) === y[i]) hit++;
  return hit / n;
};
const logLoss = (p: Float32Array, y: ArrayLike<number>, n: number, k: number) => {
  let s = 0;
  for (let i = 0; i < n; i++) s -= Math.log(Math.max(1e-12, p[i * k + y[i]]));
  return s / n;
};
const maxAbsDiff = (a: Float32Array, b: Float32Array) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

describe('linear head (L2 logistic regression by L-BFGS)', () => {
  // Feature 0 is in the thousands around 5000, feature 1 in the thousandths, feature 2 near −300.
  const scale3 = [1000, 0.001, 20];
  const offset3 = [5000, 0.5, -300];
  const two = blobs(
    1,
    [
      [-2, 1, 0],
      [2, -1, 0.5],
    ],
    60,
    0.4,
    scale3,
    offset3,
  );
  const three = blobs(
    2,
    [
      [-3, 0, 0],
      [3, 0, 0],
      [0, 3, 1],
    ],
    50,
    0.4,
    scale3,
    offset3,
  );

  it('fits separable 2- and 3-class blobs on raw features of very different scales to 100 % training accuracy', () => {
    for (const s of [two, three]) {
      const head = fitLinearHead(s.x, s.y, s.n, s.d, s.k, { l2: 1e-3 });
      assert.equal(head.dim, s.d);
      assert.equal(head.classes, s.k);
      assert.equal(head.kernel.length, s.d * s.k);
      assert.equal(head.bias.length, s.k);
      assert.equal(head.theta.length, s.d * s.k + s.k);
      const p = predictLinearHead(head, s.x, s.n);
      assert.equal(p.length, s.n * s.k);
      assert.equal(accuracy(p, s.y, s.n, s.k), 1, `${s.k} classes`);
      for (let i = 0; i < s.n; i++) {
        let sum = 0;
        for (let c = 0; c < s.k; c++) {
          assert.ok(p[i * s.k + c] >= 0 && p[i * s.k + c] <= 1);
          sum += p[i * s.k + c];
        }
        assert.ok(Math.abs(sum - 1) < 1e-5, `row ${i} sums to ${sum}`);
      }
    }
  });

  it('folds the standardisation into raw-feature weights: same probabilities as theta on standardised features', () => {
    const s = three;
    const head = fitLinearHead(s.x, s.y, s.n, s.d, s.k, { l2: 0.01 });
    // Standardise by hand (population variance, as the fit does) and apply theta (W d×k, then b).
    const mean = new Float64Array(s.d);
    const sd = new Float64Array(s.d);
    for (let j = 0; j < s.d; j++) {
      for (let i = 0; i < s.n; i++) mean[j] += s.x[i * s.d + j];
      mean[j] /= s.n;
      for (let i = 0; i < s.n; i++) sd[j] += (s.x[i * s.d + j] - mean[j]) ** 2;
      sd[j] = Math.sqrt(sd[j] / s.n);
    }
    const want = new Float32Array(s.n * s.k);
    for (let i = 0; i < s.n; i++) {
      const logits = Array.from({ length: s.k }, (_, c) => head.theta[s.d * s.k + c]);
      for (let j = 0; j < s.d; j++) {
        const z = (s.x[i * s.d + j] - mean[j]) / sd[j];
        for (let c = 0; c < s.k; c++) logits[c] += z * head.theta[j * s.k + c];
      }
      const m = Math.max(...logits);
      const e = logits.map((l) => Math.exp(l - m));
      const sum = e.reduce((a, b) => a + b, 0);
      for (let c = 0; c < s.k; c++) want[i * s.k + c] = e[c] / sum;
    }
    const got = predictLinearHead(head, s.x, s.n);
    assert.ok(maxAbsDiff(got, want) < 1e-3, `max diff ${maxAbsDiff(got, want)}`);
    // And the standardised weights are not trivially zero (the check above would then be empty).
    assert.ok(head.theta.slice(0, s.d * s.k).some((w) => Math.abs(w) > 0.1));
  });

  it('lowers the log loss well below the zero start (log k)', () => {
    for (const s of [two, three]) {
      const zero = fitLinearHead(s.x, s.y, s.n, s.d, s.k, { l2: 0.01, maxIterations: 0 });
      const start = logLoss(predictLinearHead(zero, s.x, s.n), s.y, s.n, s.k);
      assert.ok(Math.abs(start - Math.log(s.k)) < 1e-6, `the zero start is uniform: ${start}`);
      const fitted = logLoss(predictLinearHead(fitLinearHead(s.x, s.y, s.n, s.d, s.k, { l2: 0.01 }), s.x, s.n), s.y, s.n, s.k);
      assert.ok(fitted < 0.25 * start, `fitted ${fitted} vs start ${start}`);
      // A stronger penalty fits the training data less tightly.
      const loose = logLoss(predictLinearHead(fitLinearHead(s.x, s.y, s.n, s.d, s.k, { l2: 1 }), s.x, s.n), s.y, s.n, s.k);
      assert.ok(loose > fitted, `l2=1: ${loose}, l2=0.01: ${fitted}`);
    }
  });

  it('gives near-uniform probabilities under a huge penalty (balanced classes)', () => {
    for (const s of [two, three]) {
      const head = fitLinearHead(s.x, s.y, s.n, s.d, s.k, { l2: 1e7 });
      const p = predictLinearHead(head, s.x, s.n);
      for (let i = 0; i < p.length; i++) assert.ok(Math.abs(p[i] - 1 / s.k) < 1e-3, `p[${i}] = ${p[i]}`);
    }
  });

  it('survives a constant feature column: no NaN, a zero weight on it, still a perfect fit', () => {
    const s = two;
    const d = s.d + 1;
    const x = new Float32Array(s.n * d);
    for (let i = 0; i < s.n; i++) {
      for (let j = 0; j < s.d; j++) x[i * d + j] = s.x[i * s.d + j];
      x[i * d + s.d] = 42.5;
    }
    const head = fitLinearHead(x, s.y, s.n, d, s.k, { l2: 0.01 });
    assert.ok([...head.kernel, ...head.bias, ...head.theta].every(Number.isFinite));
    for (let c = 0; c < s.k; c++) assert.equal(head.kernel[s.d * s.k + c], 0);
    const p = predictLinearHead(head, x, s.n);
    assert.ok(p.every(Number.isFinite));
    assert.equal(accuracy(p, s.y, s.n, s.k), 1);
    // An all-constant matrix: only the biases can move; the class priors come out.
    const flat = new Float32Array(s.n * 2).fill(3);
    const prior = fitLinearHead(flat, s.y, s.n, 2, s.k, { l2: 0.1 });
    const pp = predictLinearHead(prior, flat, s.n);
    assert.ok(pp.every((v) => Number.isFinite(v) && Math.abs(v - 0.5) < 1e-4));
  });

  it('warm-starts from a previous theta to the same solution as a cold start', () => {
    // Overlapping blobs, so the optimum is finite and well defined for each penalty.
    const s = blobs(
      5,
      [
        [-0.5, 0.3, 0],
        [0.5, -0.3, 0.2],
        [0, 0.6, -0.4],
      ],
      60,
      1,
      scale3,
      offset3,
    );
    const previous = fitLinearHead(s.x, s.y, s.n, s.d, s.k, { l2: 1 });
    const warm = fitLinearHead(s.x, s.y, s.n, s.d, s.k, { l2: 0.03, init: previous.theta });
    const cold = fitLinearHead(s.x, s.y, s.n, s.d, s.k, { l2: 0.03 });
    const pw = predictLinearHead(warm, s.x, s.n);
    const pc = predictLinearHead(cold, s.x, s.n);
    const pPrev = predictLinearHead(previous, s.x, s.n);
    assert.ok(maxAbsDiff(pw, pc) < 2e-3, `warm vs cold: ${maxAbsDiff(pw, pc)}`);
    assert.ok(maxAbsDiff(pw, pPrev) > 10 * maxAbsDiff(pw, pc), 'the warm fit moved away from its start');
    // The init is copied, not modified in place.
    const before = Float64Array.from(previous.theta);
    fitLinearHead(s.x, s.y, s.n, s.d, s.k, { l2: 0.1, init: previous.theta });
    assert.deepEqual(previous.theta, before);
  });
});
