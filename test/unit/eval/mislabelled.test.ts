import * as assert from 'node:assert/strict';
import { classThresholds, likelyMislabelled, topClasses } from '../../../src/eval/mislabelled';
import { rng } from '../../../src/shared/random';

/**
 * n examples of k classes whose held-out scores come from a decent model of their TRUE class
 * (true class 0.55–0.95, the rest spread), with the labels of `flipped` rows changed to another class.
 */
function planted(k: number, perClass: number, flipped: Map<number, number>, seed = 7) {
  const rand = rng(seed);
  const n = k * perClass;
  const scores = new Float64Array(n * k);
  const labels = new Int32Array(n);
  const truth = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const y = i % k;
    truth[i] = y;
    labels[i] = flipped.get(i) ?? y;
    const top = 0.55 + 0.4 * rand();
    const rest = Array.from({ length: k - 1 }, () => rand());
    const s = rest.reduce((a, b) => a + b, 0);
    let r = 0;
    for (let j = 0; j < k; j++) scores[i * k + j] = j === y ? top : ((1 - top) * rest[r++]) / s;
  }
  return { n, k, scores, labels, truth };
}

describe('likely mislabelled (confident learning)', () => {
  it('thresholds are the mean self-confidence per class; a class nobody has is NaN', () => {
    const t = classThresholds({
      n: 3,
      k: 3,
      scores: [0.8, 0.2, 0, 0.6, 0.4, 0, 0.1, 0.7, 0.2],
      labels: [0, 0, 1],
    });
    assert.ok(Math.abs(t[0] - 0.7) < 1e-12);
    assert.ok(Math.abs(t[1] - 0.7) < 1e-12);
    assert.ok(Number.isNaN(t[2]));
  });

  it('finds the planted label flips and none of the clean examples', () => {
    // Rows 5, 22, 41, 70 and 99 get a wrong label: their true class plus 1, 2 or 3 (mod 4), never the true one.
    const k = 4;
    const flips = new Map<number, number>();
    for (const row of [5, 22, 41, 70, 99]) flips.set(row, ((row % k) + 1 + (row % 3)) % k);
    for (const [row, l] of flips) assert.notEqual(l, row % k, 'a real flip');
    const d = planted(k, 30, flips);
    const found = likelyMislabelled(d);
    const t = classThresholds(d);
    // Confident learning finds a flip when the model is at least as sure of the true class as it is on
    // average for that class's examples: these must all be found, and nothing clean may be.
    const sure = [...flips.keys()].filter((row) => d.scores[row * k + d.truth[row]] >= t[d.truth[row]]);
    assert.ok(sure.length >= 4, `the planted flips are mostly confident (${sure.length})`);
    for (const row of sure)
      assert.ok(
        found.some((c) => c.index === row),
        `flip on row ${row} found`,
      );
    for (const c of found) assert.ok(flips.has(c.index), `row ${c.index} is clean but was flagged`);
    for (const c of found) {
      assert.equal(c.given, flips.get(c.index));
      assert.equal(c.suggested, d.truth[c.index], 'the suggested label is the true one');
      assert.ok(Math.abs(c.margin - (c.suggestedScore - c.selfConfidence)) < 1e-12);
    }
  });

  it('an uncertain but correctly labelled example is not a candidate', () => {
    // Class 1's examples are predicted confidently (t_1 = 0.9): 0.45 for class 1 is below it.
    const d = {
      n: 4,
      k: 2,
      scores: [0.55, 0.45, 0.7, 0.3, 0.1, 0.9, 0.1, 0.9],
      labels: [0, 0, 1, 1],
    };
    assert.deepEqual(likelyMislabelled(d), []);
    // Label row 1 as class 1 instead: p_0 = 0.7 ≥ t_0 = 0.55, so it is counted for class 0.
    const flipped = likelyMislabelled({ ...d, labels: [0, 1, 1, 1] });
    assert.deepEqual(
      flipped.map((c) => [c.index, c.given, c.suggested]),
      [[1, 1, 0]],
    );
  });

  it('ranks by margin (largest first) or by self-confidence (smallest first)', () => {
    // Three rows labelled 0 that the model puts in class 1, with different margins; rows 3–5 set t_0 and t_1.
    const d = {
      n: 6,
      k: 3,
      scores: [0.3, 0.6, 0.1, 0.05, 0.9, 0.05, 0.2, 0.7, 0.1, 0.9, 0.05, 0.05, 0.95, 0.05, 0, 0.3, 0.4, 0.3],
      labels: [0, 0, 0, 0, 0, 1],
    };
    const byMargin = likelyMislabelled(d, 'margin');
    assert.deepEqual(
      byMargin.map((c) => c.index),
      [1, 2, 0],
    );
    assert.deepEqual(
      byMargin.map((c) => Number(c.margin.toFixed(2))),
      [0.85, 0.5, 0.3],
    );
    // Row 2 has a lower self-confidence than row 0 (0.2 < 0.3) but a smaller margin (0.25 < 0.3).
    const d2 = { ...d, scores: [0.3, 0.6, 0.1, 0.05, 0.9, 0.05, 0.2, 0.45, 0.35, 0.9, 0.05, 0.05, 0.95, 0.05, 0, 0.3, 0.4, 0.3] };
    assert.deepEqual(
      likelyMislabelled(d2, 'self-confidence').map((c) => c.index),
      [1, 2, 0],
    );
    assert.deepEqual(
      likelyMislabelled(d2, 'margin').map((c) => c.index),
      [1, 0, 2],
    );
  });

  it('top classes of a row, highest first', () => {
    const s = [0.1, 0.5, 0.05, 0.2, 0.15, 0, 0];
    assert.deepEqual(
      topClasses(s, 0, 7, 5).map((c) => c.cls),
      [1, 3, 4, 0, 2],
    );
    assert.deepEqual(
      topClasses([0.2, 0.8], 0, 2).map((c) => c.cls),
      [1, 0],
    );
  });
});
