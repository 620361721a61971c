import * as assert from 'node:assert/strict';
import { selectEnsemble } from '../../../src/search/ensemble';
import { judgeFlipTta } from '../../../src/search/tta';
import { rng } from '../../../src/shared/random';

/** Log loss and accuracy of n × 2 scores against labels. */
function scorer(labels: number[]) {
  return (s: Float32Array) => {
    let loss = 0;
    let hit = 0;
    labels.forEach((y, i) => {
      loss -= Math.log(Math.max(1e-7, s[i * 2 + y]));
      if ((s[i * 2 + 1] > s[i * 2] ? 1 : 0) === y) hit++;
    });
    return { loss: loss / labels.length, accuracy: hit / labels.length };
  };
}

/** A model right on a given share of the examples (confident when right, unsure when wrong). */
function model(labels: number[], right: (i: number) => boolean): Float32Array {
  const s = new Float32Array(labels.length * 2);
  labels.forEach((y, i) => {
    const p = right(i) ? 0.8 : 0.4;
    s[i * 2 + y] = p;
    s[i * 2 + 1 - y] = 1 - p;
  });
  return s;
}

describe('ensemble selection', () => {
  const random = rng(3);
  const labels = Array.from({ length: 300 }, () => (random() < 0.5 ? 0 : 1));

  it('combines models whose errors differ, and beats the best single one', () => {
    // Each is wrong on a different third; any two of them together are right wherever one is confident.
    const a = model(labels, (i) => i % 3 !== 0);
    const b = model(labels, (i) => i % 3 !== 1);
    const c = model(labels, (i) => i % 3 !== 2);
    const r = selectEnsemble(
      [
        { id: 'a', scores: a },
        { id: 'b', scores: b },
        { id: 'c', scores: c },
      ],
      scorer(labels),
    )!;
    assert.ok(Math.abs(r.single.accuracy - 2 / 3) < 1e-9);
    assert.equal(r.accuracy, 1);
    assert.equal(r.better, true);
    assert.deepEqual(r.members.map((m) => m.id).sort(), ['a', 'b', 'c']);
  });

  it('keeps the single model when the others only repeat its mistakes', () => {
    const a = model(labels, (i) => i % 4 !== 0);
    const worse = model(labels, (i) => i % 4 !== 0 && i % 5 !== 0);
    const r = selectEnsemble(
      [
        { id: 'worse', scores: worse },
        { id: 'a', scores: a },
      ],
      scorer(labels),
    )!;
    assert.equal(r.single.id, 'a');
    assert.equal(r.better, false);
    assert.deepEqual(r.members, [{ id: 'a', count: 1 }]);
  });

  it('weights by repeats, stops at the pick limit, and is deterministic', () => {
    const strong = model(labels, (i) => i % 10 !== 0);
    const weak = model(labels, (i) => i % 10 === 0 || i % 3 === 0);
    const cands = [
      { id: 'strong', scores: strong },
      { id: 'weak', scores: weak },
    ];
    const r1 = selectEnsemble(cands, scorer(labels), { maxPicks: 4 })!;
    const r2 = selectEnsemble(cands, scorer(labels), { maxPicks: 4 })!;
    assert.deepEqual(r1, r2);
    assert.ok(r1.members.reduce((n, m) => n + m.count, 0) <= 4);
    assert.equal(r1.members[0].id, 'strong');
    assert.equal(selectEnsemble([], scorer(labels)), null);
  });
});

describe('flip test-time augmentation decision', () => {
  // Scores of 4 validation images, 2 classes; labels 0, 1, 0, 1.
  const labels = [0, 1, 0, 1];
  const score = (s: Float32Array) => {
    let loss = 0;
    let hit = 0;
    for (let i = 0; i < labels.length; i++) {
      const p = s[i * 2 + labels[i]];
      loss -= Math.log(Math.max(1e-7, p));
      if (p > 0.5) hit++;
    }
    return { loss: loss / labels.length, accuracy: hit / labels.length };
  };
  const plain = new Float32Array([0.9, 0.1, 0.4, 0.6, 0.45, 0.55, 0.3, 0.7]); // 3 of 4 right
  it('keeps the mirror mean when it is right on more images by the margin, with no worse loss', () => {
    const tta = new Float32Array([0.9, 0.1, 0.35, 0.65, 0.6, 0.4, 0.3, 0.7]); // 4 of 4
    const d = judgeFlipTta(plain, tta, score, 4000);
    assert.equal(d.use, true);
    assert.equal(d.plain.accuracy, 0.75);
    assert.equal(d.flipped.accuracy, 1);
    assert.equal(d.margin, 0.001);
    // On a set of 4 images, two more images right are needed: one is not enough.
    assert.equal(judgeFlipTta(plain, tta, score, 4).use, false);
    assert.equal(judgeFlipTta(plain, tta, score, 4).margin, 0.5);
  });
  it('refuses a tie, a loss, and a gain bought with a worse log loss', () => {
    assert.equal(judgeFlipTta(plain, plain, score, 4000).use, false);
    const worse = new Float32Array([0.6, 0.4, 0.6, 0.4, 0.45, 0.55, 0.4, 0.6]);
    assert.equal(judgeFlipTta(plain, worse, score, 4000).use, false);
    // More right, but far less sure of the right answers: the loss rises.
    const unsure = new Float32Array([0.51, 0.49, 0.49, 0.51, 0.51, 0.49, 0.01, 0.99]);
    const d = judgeFlipTta(plain, unsure, score, 4000);
    assert.equal(d.flipped.accuracy, 1);
    assert.ok(d.flipped.loss > d.plain.loss);
    assert.equal(d.use, false);
  });
});
