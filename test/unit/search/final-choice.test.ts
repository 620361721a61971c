import * as assert from 'node:assert/strict';
import { chooseFinalFit, extrapolate, learningCurve } from '../../../src/search/final-choice';
import { newTrialRecord } from '../../../src/search/search';
import type { EpochRecord, TrialRecord } from '../../../src/shared/protocol';

const rec = (trialId: string, epoch: number, valAccuracy: number | null): EpochRecord => ({
  trialId,
  epoch,
  loss: 1,
  accuracy: 0.5,
  valLoss: 1,
  valAccuracy,
  lr: 1e-3,
  imagesPerSec: 1,
  elapsed: 1,
});

function trial(id: string, imagesPerSec: number, curve: [number, number][]): { t: TrialRecord; h: EpochRecord[] } {
  const t = newTrialRecord({ id, index: 0, config: { family: 'convnet' }, origin: 'portfolio', epochs: 1, startedAt: '' });
  t.status = 'done';
  t.hasModel = true;
  t.imagesPerSec = imagesPerSec;
  t.epochsDone = curve[curve.length - 1][0];
  t.bestValAccuracy = Math.max(...curve.map((c) => c[1]));
  return { t, h: curve.map(([e, a]) => rec(id, e, a)) };
}

describe('final fit choice', () => {
  it('makes a learning curve of the best validation accuracy so far, one point per epoch', () => {
    const c = learningCurve([rec('t', 2, 0.7), rec('t', 1, 0.6), rec('t', 3, 0.65), rec('t', 3, 0.72), rec('t', 4, null)]);
    assert.deepEqual(c, [
      { epochs: 1, accuracy: 0.6 },
      { epochs: 2, accuracy: 0.7 },
      { epochs: 3, accuracy: 0.72 },
    ]);
  });

  it('extrapolates the error as a power law of the epochs, by hand', () => {
    // Error 0.1685 at 0.48 epochs, 0.1175 at 1.44: alpha = ln(0.1685/0.1175)/ln 3.
    const curve = [
      { epochs: 0.48, accuracy: 0.8315 },
      { epochs: 1.44, accuracy: 0.8825 },
    ];
    const alpha = Math.log(0.1685 / 0.1175) / Math.log(3);
    const r = extrapolate(curve, 14.4);
    assert.ok(Math.abs(r.alpha - alpha) < 1e-12);
    assert.ok(Math.abs(r.accuracy - (1 - 0.1175 * 10 ** -alpha)) < 1e-12);
    // Fewer epochs than already trained: what the curve reached, never worse.
    assert.equal(extrapolate(curve, 1).accuracy, 0.8825);
    // A runaway exponent is clamped.
    assert.equal(
      extrapolate(
        [
          { epochs: 1, accuracy: 0.1 },
          { epochs: 2, accuracy: 0.99 },
        ],
        4,
      ).alpha,
      0.7,
    );
  });

  it('retrains the fast network that can train ten times longer, not the slow one that led at equal epochs', () => {
    // The 60-minute Fashion-MNIST search: a 2-conv net (650 images/s) and a ResNet-20 (56 images/s).
    const fast = trial('t001', 650, [
      [0.48, 0.8315],
      [1.44, 0.8825],
    ]);
    const slow = trial('t005', 56, [
      [0.48, 0.839],
      [1.44, 0.8942],
    ]);
    const weak = trial('t004', 2000, [[0.48, 0.7197]]); // fast but far behind: not a candidate
    const hist = new Map([fast, slow, weak].map((x) => [x.t.id, x.h]));
    const c = chooseFinalFit([slow.t, fast.t, weak.t], (id) => hist.get(id)!, { seconds: 2138, trainImages: 60000 });
    assert.equal(c?.trial.id, 't001');
    assert.ok(Math.abs(c!.epochs - (0.9 * 2138 * 650) / 60000) < 1e-9);
    // At equal speed the better curve wins.
    const even = trial('t001', 56, [
      [0.48, 0.8315],
      [1.44, 0.8825],
    ]);
    assert.equal(chooseFinalFit([slow.t, even.t], (id) => (id === 't001' ? even.h : slow.h), { seconds: 2138, trainImages: 60000 })?.trial.id, 't005');
    // Nothing usable: null.
    assert.equal(
      chooseFinalFit([{ ...fast.t, hasModel: false }], () => [], { seconds: 10, trainImages: 10 }),
      null,
    );
  });
});
