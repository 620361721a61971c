import * as assert from 'node:assert/strict';
import {
  accuracy,
  atThreshold,
  averagePrecision,
  confusionMatrix,
  logLoss,
  macroAuc,
  macroAveragePrecision,
  microAuc,
  mostConfusedPairs,
  multiLabelMetrics,
  multiLabelDecisions,
  bestF1Thresholds,
  perClass,
  prCurve,
  rocAuc,
  topKAccuracy,
} from '../../../src/eval/metrics';

const close = (a: number | null, b: number, eps = 1e-9) => {
  assert.ok(a !== null, 'expected a number, got null');
  assert.ok(Math.abs(a - b) < eps, `${a} ≠ ${b}`);
};

describe('metrics', () => {
  it('ROC AUC of the textbook example (0.75) and by counting pairs', () => {
    // Pairs (pos, neg): (0.35,0.1)✓ (0.35,0.4)✗ (0.8,0.1)✓ (0.8,0.4)✓ → 3/4.
    close(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75);
  });

  it('ROC AUC counts a tie between a positive and a negative as half', () => {
    // Pairs: (0.5 vs 0.5) = ½, (0.5 vs 0.2) = 1, (0.9 vs 0.5) = 1, (0.9 vs 0.2) = 1 → 3.5/4.
    close(rocAuc([0.5, 0.5, 0.9, 0.2], [1, 0, 1, 0]), 0.875);
    close(rocAuc([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0]), 0.5);
  });

  it('ROC AUC is null without positives or without negatives', () => {
    assert.equal(rocAuc([0.1, 0.9], [0, 0]), null);
    assert.equal(rocAuc([0.1, 0.9], [1, 1]), null);
  });

  it('average precision steps over distinct thresholds (scikit-learn: 0.8333 for the textbook example)', () => {
    // Descending: 0.8(+) P=1 R=.5; 0.4(-) P=.5 R=.5; 0.35(+) P=2/3 R=1; 0.1(-) P=.5 R=1.
    // AP = .5·1 + 0 + .5·(2/3) + 0 = 0.8333…
    close(averagePrecision([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.5 + 0.5 * (2 / 3));
    // All tied: one threshold, precision 0.5 at recall 1.
    close(averagePrecision([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0]), 0.5);
    assert.equal(averagePrecision([0.2, 0.3], [0, 0]), null);
  });

  it('PR curve points, highest threshold first', () => {
    const c = prCurve([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])!;
    assert.deepEqual(
      c.map((p) => [p.threshold, +p.precision.toFixed(4), p.recall]),
      [
        [0.8, 1, 0.5],
        [0.4, 0.5, 0.5],
        [0.35, 0.6667, 1],
        [0.1, 0.5, 1],
      ],
    );
  });

  // 4 examples, 3 classes. Rows: true 0, 1, 2, 1.
  const d = {
    n: 4,
    k: 3,
    scores: [0.7, 0.2, 0.1, /**/ 0.3, 0.6, 0.1, /**/ 0.5, 0.1, 0.4, /**/ 0.2, 0.3, 0.5],
    labels: [0, 1, 2, 1],
  };

  it('accuracy, top-k and confusion matrix by hand', () => {
    // argmax: 0, 1, 0, 2 → correct: rows 0 and 1.
    assert.equal(accuracy(d), 0.5);
    // top-2: row 2 true class 2 (0.4) is second → hit; row 3 true class 1 (0.3) is second → hit.
    assert.equal(topKAccuracy(d, 2), 1);
    assert.deepEqual(confusionMatrix(d), [
      [1, 0, 0],
      [0, 1, 1],
      [1, 0, 0],
    ]);
  });

  it('per-class AUC and AP, macro averages, micro AUC and log loss by hand', () => {
    const pc = perClass(d);
    // Class 0: scores .7(+) .3 .5 .2 → pos beats all 3 negatives → 1.
    close(pc.auc[0], 1);
    // Class 1: pos .6, .3; neg .2, .1 → all 4 pairs won → 1.
    close(pc.auc[1], 1);
    // Class 2: pos .4; neg .1 .1 .5 → wins 2 of 3.
    close(pc.auc[2], 2 / 3);
    close(macroAuc(d), (1 + 1 + 2 / 3) / 3);
    // Class 2 AP: ranking .5(-) .4(+) → precision 1/2 at recall 1.
    close(pc.averagePrecision[2], 0.5);
    close(macroAveragePrecision(d), (1 + 1 + 0.5) / 3);
    assert.deepEqual(pc.support, [1, 2, 1]);
    // Micro: 12 pairs pooled; positives .7 .6 .4 .3 ; negatives .2 .1 .3 .1 .5 .1 .2 .5.
    // Wins: .7 → 8; .6 → 8; .4 → 6 (beats .2 .1 .3 .1 .1 .2); .3 → 5 + ½ (beats .2 .1 .1 .1 .2, ties .3).
    close(microAuc(d), (8 + 8 + 6 + 5.5) / 32);
    close(logLoss(d), -(Math.log(0.7) + Math.log(0.6) + Math.log(0.4) + Math.log(0.3)) / 4, 1e-6);
  });

  it('a class absent from the set gives null, not NaN, and macro averages skip it', () => {
    const absent = { n: 2, k: 3, scores: [0.8, 0.1, 0.1, 0.2, 0.7, 0.1], labels: [0, 1] };
    const pc = perClass(absent);
    assert.equal(pc.auc[2], null);
    assert.equal(pc.averagePrecision[2], null);
    close(macroAuc(absent), 1);
  });

  it('a single-class set has no AUC at all (null) and a defined accuracy', () => {
    const single = { n: 2, k: 2, scores: [0.9, 0.1, 0.4, 0.6], labels: [0, 0] };
    assert.equal(macroAuc(single), null);
    assert.equal(accuracy(single), 0.5);
    const t = atThreshold(single, 0.5);
    assert.ok([...t.precision, ...t.recall, ...t.f1].every(Number.isFinite));
  });

  it('threshold metrics: rows below the threshold get no prediction', () => {
    // Top scores: .7(0 ✓) .6(1 ✓) .5(0 ✗, true 2) .5(2 ✗, true 1).
    const t = atThreshold(d, 0.55);
    // Predicted at ≥ .55: rows 0 (class 0) and 1 (class 1), both right.
    assert.deepEqual(t.precision, [1, 1, 1]);
    assert.deepEqual(t.recall, [1, 0.5, 0]);
    assert.deepEqual(t.f1, [1, 2 / 3, 0]);
    assert.equal(t.coverage, 0.5);
    assert.deepEqual(t.confusion, [
      [1, 0, 0, 0],
      [0, 1, 0, 1],
      [0, 0, 0, 1],
    ]);
    const low = atThreshold(d, 0);
    assert.deepEqual(low.precision, [0.5, 1, 0]);
    assert.deepEqual(low.recall, [1, 0.5, 0]);
  });
});

describe('multi-label metrics', () => {
  it('counts per-label decisions, exact matches and F1 by hand', () => {
    // 3 examples × 2 labels. Predictions at 0.5: [1,0] [1,1] [0,0]; truth: [1,0] [0,1] [0,1].
    const d = { n: 3, k: 2, scores: [0.9, 0.2, 0.6, 0.7, 0.1, 0.4], truth: [1, 0, 0, 1, 0, 1] };
    const m = multiLabelMetrics(d);
    // Wrong cells: (1,0) predicted 1 truth 0; (2,1) predicted 0 truth 1 → 2 of 6.
    const near = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} ≠ ${b}`);
    near(m.hammingLoss, 2 / 6);
    near(m.labelAccuracy, 4 / 6);
    near(m.exactMatch, 1 / 3);
    // Label 0: tp 1, fp 1, fn 0 → F1 2/3. Label 1: tp 1, fp 0, fn 1 → F1 2/3. Micro: tp 2, fp 1, fn 1 → 2/3.
    assert.ok(Math.abs(m.macroF1 - 2 / 3) < 1e-12);
    assert.ok(Math.abs(m.microF1 - 2 / 3) < 1e-12);
    // Label 0 AUC: positive .9 beats .6 and .1 → 1. Label 1: positives .7, .4 vs negative .2 → 1.
    assert.equal(m.macroAuc, 1);
    // A per-label threshold moves the decisions: label 1 at 0.3 also predicts example 3.
    near(multiLabelMetrics(d, [0.5, 0.3]).hammingLoss, 1 / 6);
    // Per label: label 0 tp 1 fp 1 fn 0; label 1 tp 1 fp 0 fn 1.
    assert.deepEqual(m.support, [1, 2]);
    assert.deepEqual(m.predicted, [2, 1]);
    assert.deepEqual(m.precision, [0.5, 1]);
    assert.deepEqual(m.recall, [1, 0.5]);
  });

  it('says n/a (null), never NaN, for a label nobody has or nobody is given, and leaves it out of macro F1', () => {
    // Label 1 is on no image and never reaches 0.5.
    const d = { n: 2, k: 2, scores: [0.9, 0.1, 0.2, 0.3], truth: [1, 0, 0, 0] };
    const m = multiLabelDecisions(d);
    assert.deepEqual(m.precision, [1, null]);
    assert.deepEqual(m.recall, [1, null]);
    assert.deepEqual(m.f1, [1, null]);
    assert.equal(m.macroF1, 1);
    assert.equal(multiLabelMetrics(d).auc[1], null);
  });

  it('finds the best-F1 threshold of each label among its scores, by hand', () => {
    // Label 0 scores .9(+) .8(−) .7(+) .2(−): thresholds .9 → F1 2/3, .8 → 1/2, .7 → 4/5, .2 → 2/3. Best .7.
    // Label 1 scores .6(+) .6(+) .5(−) .1(+): tied .6 cannot be split; .6 → 4/5, .5 → 2/3·…, .1 → 6/7. Best .1.
    // Label 2 has no positive: 0.5. Thresholds lie midway to the next lower score (.7 → .45), 0 below the last.
    const d = { n: 4, k: 3, scores: [0.9, 0.6, 0.3, 0.8, 0.6, 0.2, 0.7, 0.5, 0.1, 0.2, 0.1, 0.4], truth: [1, 1, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0] };
    const t = bestF1Thresholds(d);
    [0.45, 0, 0.5].forEach((x, c) => assert.ok(Math.abs(t[c] - x) < 1e-12, `label ${c}: ${t[c]}`));
    // And at those thresholds F1 is what the hand computation says.
    const m = multiLabelDecisions(d, bestF1Thresholds(d));
    assert.ok(Math.abs(m.f1[0]! - 0.8) < 1e-12);
    assert.ok(Math.abs(m.f1[1]! - 6 / 7) < 1e-12);
  });
});

describe('most confused pairs', () => {
  it('lists off-diagonal cells by count, skipping the diagonal and the "below threshold" column', () => {
    const m = [
      [5, 2, 0, 9],
      [4, 7, 1, 9],
      [2, 0, 3, 9],
    ];
    assert.deepEqual(mostConfusedPairs(m), [
      { actual: 1, predicted: 0, count: 4 },
      { actual: 0, predicted: 1, count: 2 },
      { actual: 2, predicted: 0, count: 2 },
      { actual: 1, predicted: 2, count: 1 },
    ]);
    assert.equal(mostConfusedPairs(m, 1).length, 1);
  });
});
