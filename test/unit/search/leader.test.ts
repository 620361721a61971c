import * as assert from 'node:assert/strict';
import { chooseFinalFit } from '../../../src/search/final-choice';
import { isFeatureHead, leadingTrial } from '../../../src/search/leader';
import { newTrialRecord } from '../../../src/search/search';
import type { TrialRecord } from '../../../src/shared/protocol';

function trial(id: string, valAccuracy: number, config: TrialRecord['config'] = { family: 'convnet' }): TrialRecord {
  const t = newTrialRecord({ id, index: 0, config, origin: 'test', epochs: 1, startedAt: '' });
  return { ...t, status: 'done', hasModel: true, bestValAccuracy: valAccuracy, imagesPerSec: 100 };
}
const head = (acc: number) => trial('head', acc, { family: 'transfer', 'transfer/head': 'linear', 'transfer/cut': 'x', 'transfer/l2': 1 });

describe('the leading trial', () => {
  it('is the best on VALIDATION when no linear head on cached features is among the trials', () => {
    assert.equal(leadingTrial([trial('t001', 0.7), trial('t002', 0.8)], 24)?.id, 't002');
    assert.equal(leadingTrial([], 24), null);
  });

  it('keeps the feature head unless a trained trial beats it by more than a standard error of VALIDATION', () => {
    // 24 images at 70.8 %: one standard error is 9.3 points.
    const h = head(17 / 24);
    assert.ok(isFeatureHead(h));
    assert.equal(leadingTrial([h, trial('t001', 19 / 24)], 24)?.id, 'head');
    assert.equal(leadingTrial([h, trial('t001', 20 / 24)], 24)?.id, 't001');
    // With 2,400 VALIDATION images the same 8-point lead is far beyond the noise.
    assert.equal(leadingTrial([head(0.708), trial('t001', 0.79)], 2400)?.id, 't001');
    assert.equal(leadingTrial([head(0.708), trial('t001', 0.73)], 2400)?.id, 't001');
    assert.equal(leadingTrial([head(0.708), trial('t001', 0.715)], 2400)?.id, 'head');
    // The head leading outright stays the leader.
    assert.equal(leadingTrial([head(0.9), trial('t001', 0.7)], 24)?.id, 'head');
  });

  it('is never the feature head for the final fit by extrapolated learning curves (it has no epochs)', () => {
    const trials = [head(0.95), trial('t001', 0.7)];
    const choice = chooseFinalFit(
      trials,
      () => [{ trialId: 't001', epoch: 1, loss: 1, accuracy: 0.6, valLoss: 1, valAccuracy: 0.7, lr: 0.001, elapsed: 1, imagesPerSec: 100 }],
      { seconds: 100, trainImages: 100 },
    );
    assert.equal(choice?.trial.id, 't001');
  });
});
