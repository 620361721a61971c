import * as assert from 'node:assert/strict';
import {
  type BlockedFeatures,
  type HeadData,
  HEAD_PENALTIES,
  blockColumns,
  blockData,
  chooseCutAndPenalty,
  chooseHeadPenalty,
  rowsOf,
  stratifiedFolds,
} from '../../../src/search/head-search';
import { gaussian, rng } from '../../../src/shared/random';
import { LINEAR_HEAD } from '../../../src/engine/training/linear-head';

/**
 * n rows of d features, two classes alternating; the first `informative` dims carry the class
 * (±separation/2 plus unit noise), the rest are unit noise. The mirror rows are the plain ones
 * with a little extra noise (like features of mirror images).
 */
function headData(seed: number, n: number, d: number, informative: number, separation: number): HeadData {
  const random = rng(seed);
  const labels = new Int32Array(n);
  const plain = new Float32Array(n * d);
  const mirror = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 2;
    const sign = labels[i] === 1 ? 1 : -1;
    for (let j = 0; j < d; j++) {
      const v = (j < informative ? (sign * separation) / 2 : 0) + gaussian(random);
      plain[i * d + j] = v;
      mirror[i * d + j] = v + 0.05 * gaussian(random);
    }
  }
  return { plain, mirror, labels, n, d, k: 2 };
}

describe('linear head search (cross-validated penalty and cut)', () => {
  describe('stratifiedFolds', () => {
    // Three classes of 23, 17 and 11 images, in a scrambled order.
    const random = rng(9);
    const labels: number[] = [...Array(23).fill(0), ...Array(17).fill(1), ...Array(11).fill(2)];
    for (let i = labels.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [labels[i], labels[j]] = [labels[j], labels[i]];
    }
    const n = labels.length;

    it('puts every index in exactly one fold and spreads each class evenly', () => {
      for (const folds of [2, 3, 5]) {
        const parts = stratifiedFolds(labels, n, folds, 4);
        assert.equal(parts.length, folds);
        const all = parts.flat().sort((a, b) => a - b);
        assert.deepEqual(
          all,
          Array.from({ length: n }, (_, i) => i),
        );
        for (const c of [0, 1, 2]) {
          const perFold = parts.map((p) => p.filter((i) => labels[i] === c).length);
          assert.ok(Math.max(...perFold) - Math.min(...perFold) <= 1, `class ${c} over ${folds} folds: ${perFold}`);
        }
        const sizes = parts.map((p) => p.length);
        assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `fold sizes ${sizes}`);
      }
    });

    it('is reproducible with a seed and changes with another', () => {
      assert.deepEqual(stratifiedFolds(labels, n, 5, 11), stratifiedFolds(labels, n, 5, 11));
      assert.notDeepEqual(stratifiedFolds(labels, n, 5, 11), stratifiedFolds(labels, n, 5, 12));
    });

    it('uses only the first n labels', () => {
      const parts = stratifiedFolds([0, 1, 0, 1, 0, 1, 7, 7], 6, 2, 1);
      assert.deepEqual(parts.flat().sort(), [0, 1, 2, 3, 4, 5]);
    });
  });

  describe('rowsOf', () => {
    // Row i of plain is [10i, 10i+1, 10i+2]; of mirror, [−10i, …].
    const d = 3;
    const n = 4;
    const plain = Float32Array.from({ length: n * d }, (_, p) => 10 * Math.floor(p / d) + (p % d));
    const mirror = plain.map((v) => -v - 0.5);
    const labels = Int32Array.from([1, 0, 2, 1]);
    const data: HeadData = { plain, mirror, labels, n, d, k: 3 };

    it('stacks the plain rows, then the mirror rows, with their labels', () => {
      const r = rowsOf(data, [2, 0, 3], true);
      assert.equal(r.n, 6);
      assert.deepEqual([...r.y], [2, 1, 1, 2, 1, 1]);
      assert.deepEqual([...r.x], [20, 21, 22, 0, 1, 2, 30, 31, 32, -20.5, -21.5, -22.5, -0.5, -1.5, -2.5, -30.5, -31.5, -32.5]);
    });

    it('leaves the mirror rows out when asked, or when there are none', () => {
      const r = rowsOf(data, [3, 1], false);
      assert.equal(r.n, 2);
      assert.deepEqual([...r.y], [1, 0]);
      assert.deepEqual([...r.x], [30, 31, 32, 10, 11, 12]);
      const none = rowsOf({ ...data, mirror: null }, [3, 1], true);
      assert.equal(none.n, 2);
      assert.deepEqual([...none.x], [30, 31, 32, 10, 11, 12]);
    });
  });

  describe('chooseHeadPenalty', () => {
    it('prefers a stronger penalty on noisy many-dimensional data than on clean low-dimensional data', () => {
      const noisy = headData(1, 80, 200, 2, 1.5);
      const clean = headData(2, 80, 2, 2, 8);
      const a = chooseHeadPenalty(noisy, { fitter: LINEAR_HEAD, seed: 1 });
      const b = chooseHeadPenalty(clean, { fitter: LINEAR_HEAD, seed: 1 });
      assert.ok(a.l2 > b.l2, `noisy ${a.l2} vs clean ${b.l2}`);
      // The clean set is separable: cross-validation finds it.
      assert.ok(b.cvAccuracy >= 0.98, `clean accuracy ${b.cvAccuracy}`);
      // On the noisy set a weak penalty overfits: its held-out loss is worse than the chosen one.
      const weakest = a.tried.find((t) => t.l2 === 0.001)!;
      assert.ok(weakest.loss > a.cvLoss, `weakest ${weakest.loss} vs chosen ${a.cvLoss}`);
      for (const c of [a, b]) {
        assert.equal(c.folds, 5);
        assert.deepEqual(
          c.tried.map((t) => t.l2),
          HEAD_PENALTIES,
        );
        for (const t of c.tried) {
          assert.ok(t.accuracy >= 0 && t.accuracy <= 1, `accuracy ${t.accuracy}`);
          assert.ok(Number.isFinite(t.loss) && t.loss > 0);
        }
        // The choice is the lowest held-out log loss, reported with its own accuracy.
        const best = c.tried.reduce((x, y) => (y.loss < x.loss ? y : x));
        assert.equal(c.l2, best.l2);
        assert.equal(c.cvLoss, best.loss);
        assert.equal(c.cvAccuracy, best.accuracy);
        // Accuracies are counts of held-out images over n.
        for (const t of c.tried) assert.ok(Math.abs(t.accuracy * 80 - Math.round(t.accuracy * 80)) < 1e-9);
      }
    });

    it('uses no more folds than the smallest class has images', () => {
      // 20 images of class 0, 3 of class 1, 7 of class 2.
      const base = headData(3, 30, 4, 2, 4);
      const labels = Int32Array.from({ length: 30 }, (_, i) => (i < 20 ? 0 : i < 23 ? 1 : 2));
      const data: HeadData = { ...base, labels, k: 3 };
      const c = chooseHeadPenalty(data, { fitter: LINEAR_HEAD, seed: 2, penalties: [1, 0.1] });
      assert.equal(c.folds, 3);
      assert.deepEqual(
        c.tried.map((t) => t.l2),
        [1, 0.1],
      );
      assert.ok(c.tried.every((t) => t.accuracy >= 0 && t.accuracy <= 1 && Number.isFinite(t.loss)));
      // Plenty of images in every class: five folds.
      const many = chooseHeadPenalty(
        { ...base, labels: Int32Array.from({ length: 30 }, (_, i) => i % 3), k: 3 },
        { fitter: LINEAR_HEAD, seed: 2, penalties: [1] },
      );
      assert.equal(many.folds, 5);
    });

    it('is reproducible for a seed', () => {
      const data = headData(4, 40, 20, 2, 2);
      assert.deepEqual(
        chooseHeadPenalty(data, { fitter: LINEAR_HEAD, seed: 3, penalties: [3, 0.3, 0.03] }),
        chooseHeadPenalty(data, { fitter: LINEAR_HEAD, seed: 3, penalties: [3, 0.3, 0.03] }),
      );
    });
  });

  describe('blocks of several cut points', () => {
    it('slices the columns of a block', () => {
      // 3 rows of width 5: value = 10·row + column.
      const x = Float32Array.from({ length: 15 }, (_, p) => 10 * Math.floor(p / 5) + (p % 5));
      assert.deepEqual([...blockColumns(x, 3, 5, { offset: 1, dim: 2 })], [1, 2, 11, 12, 21, 22]);
      assert.deepEqual([...blockColumns(x, 3, 5, { offset: 3, dim: 2 })], [3, 4, 13, 14, 23, 24]);
      assert.deepEqual([...blockColumns(x, 3, 5, { offset: 0, dim: 1 })], [0, 10, 20]);
      assert.deepEqual([...blockColumns(x, 3, 5, { offset: 0, dim: 5 })], [...x]);
    });

    it('gives a block as head data, mirror rows included', () => {
      const plain = Float32Array.from({ length: 8 }, (_, p) => p);
      const f: BlockedFeatures = {
        plain,
        mirror: plain.map((v) => 100 + v),
        labels: [0, 1],
        n: 2,
        width: 4,
        k: 2,
        blocks: [
          { layer: 'low', offset: 0, dim: 3 },
          { layer: 'top', offset: 3, dim: 1 },
        ],
      };
      const low = blockData(f, 'low');
      assert.equal(low.d, 3);
      assert.equal(low.n, 2);
      assert.equal(low.k, 2);
      assert.deepEqual([...low.plain], [0, 1, 2, 4, 5, 6]);
      assert.deepEqual([...low.mirror!], [100, 101, 102, 104, 105, 106]);
      const top = blockData(f, 'top');
      assert.equal(top.d, 1);
      assert.deepEqual([...top.plain], [3, 7]);
      assert.deepEqual([...top.mirror!], [103, 107]);
      assert.equal(blockData({ ...f, mirror: null }, 'top').mirror, null);
      assert.throws(() => blockData(f, 'nope'), /no features from layer nope/);
    });

    it('chooses the block that carries the signal over a block of pure noise', () => {
      const n = 60;
      const signal = headData(5, n, 6, 3, 3);
      const noise = headData(6, n, 10, 0, 0);
      for (const order of [
        ['signal', 'noise'],
        ['noise', 'signal'],
      ]) {
        const dims: Record<string, number> = { signal: 6, noise: 10 };
        const src: Record<string, HeadData> = { signal, noise };
        const width = 16;
        const plain = new Float32Array(n * width);
        const mirror = new Float32Array(n * width);
        const blocks: BlockedFeatures['blocks'] = [];
        let offset = 0;
        for (const name of order) {
          blocks.push({ layer: name, offset, dim: dims[name] });
          for (let i = 0; i < n; i++) {
            for (let j = 0; j < dims[name]; j++) {
              plain[i * width + offset + j] = src[name].plain[i * dims[name] + j];
              mirror[i * width + offset + j] = src[name].mirror![i * dims[name] + j];
            }
          }
          offset += dims[name];
        }
        const f: BlockedFeatures = { plain, mirror, labels: signal.labels, n, width, k: 2, blocks };
        const c = chooseCutAndPenalty(f, { fitter: LINEAR_HEAD, seed: 7 });
        assert.equal(c.layer, 'signal', `blocks in order ${order}`);
        assert.deepEqual(
          c.perBlock.map((b) => b.layer),
          order,
        );
        const s = c.perBlock.find((b) => b.layer === 'signal')!;
        const z = c.perBlock.find((b) => b.layer === 'noise')!;
        assert.ok(s.cvLoss < z.cvLoss);
        assert.equal(c.cvLoss, s.cvLoss);
        assert.equal(c.l2, s.l2);
        assert.ok(c.cvAccuracy > 0.85, `signal accuracy ${c.cvAccuracy}`);
        assert.ok(z.cvAccuracy < 0.75, `noise accuracy ${z.cvAccuracy}`);
        // Each block's choice is the one chooseHeadPenalty makes on its columns alone.
        assert.deepEqual(s.tried, chooseHeadPenalty(blockData(f, 'signal'), { fitter: LINEAR_HEAD, seed: 7 }).tried);
      }
    });
  });
});
