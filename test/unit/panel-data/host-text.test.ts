import * as assert from 'node:assert/strict';
import { endedNotification, epochLine, experimentRowText, predictEndpoint, serverText, trialRowText } from '../../../src/panel-data/host-text';
import type { EpochRecord, ExperimentRecord, TrialRecord } from '../../../src/shared/protocol';

const experiment = (o: Partial<ExperimentRecord> = {}): ExperimentRecord =>
  ({
    spec: { name: 'dataset.csv', id: 'x', dataset: '/d/dataset.csv', budgetMinutes: 2, seed: 1 },
    status: 'done',
    secondsUsed: 190,
    test: { partition: 'TEST', accuracy: 0.8604, count: 50 },
    ...o,
  }) as unknown as ExperimentRecord;

const trial = (o: Partial<TrialRecord> = {}): TrialRecord =>
  ({
    id: 't007',
    index: 6,
    config: { family: 'convnet', 'convnet/filters': 32, 'convnet/blocks': 3, 'convnet/batchnorm': true, 'convnet/head': 'gap', 'train/lr': 0.003 },
    origin: 'tpe',
    status: 'done',
    rung: 1,
    epochs: 3,
    epochsDone: 3,
    trainOn: 'TRAIN',
    bestValAccuracy: 0.7667,
    bestValLoss: 0.6,
    seconds: 12.4,
    ...o,
  }) as unknown as TrialRecord;

describe('panel-data/host-text (the host text outside the panels)', () => {
  it('an experiment row puts the accuracy first, the name alone in the label, and all of it in the tooltip', () => {
    const t = experimentRowText(experiment(), 'done');
    assert.equal(t.label, 'dataset.csv');
    assert.equal(t.description, '86.0% test · done · 3m 10s');
    assert.match(t.tooltip, /TEST accuracy 86\.0%/);
    assert.equal(experimentRowText(experiment({ test: undefined, status: 'running' }), 'running').description, 'running · 3m 10s');
  });

  it('a trial row is short (id, score, epochs, time); the long configuration is in the tooltip', () => {
    const t = trialRowText(trial());
    assert.equal(t.label, 't007');
    assert.equal(t.description, '76.7% val · 3 ep · 12s');
    assert.ok(t.description.length <= 24, `too long for a sidebar: "${t.description}"`);
    assert.match(t.tooltip, /convnet 3×32 bn gap/);
    assert.match(t.tooltip, /best validation accuracy 76\.7%/);
    assert.equal(trialRowText(trial({ status: 'pruned', epochsDone: 0.55, bestValAccuracy: 0.5 })).description, '50.0% val · pruned · 0.6 ep · 12s');
    const fit = trialRowText(trial({ id: 'final', trainOn: 'TRAIN+VALIDATION', bestValAccuracy: null, epochsDone: 58 }));
    assert.equal(fit.description, 'final fit · 58 ep · 12s');
    assert.match(fit.tooltip, /TRAIN\+VALIDATION \(no validation score\)/);
  });

  it('"Open Results" opens the evaluation when there are TEST metrics, else the dashboard', () => {
    const done = endedNotification(experiment());
    assert.equal(done.message, 'AutoML: dataset.csv done — test accuracy 86.0%');
    assert.equal(done.action, 'Open Results');
    assert.equal(done.command, 'automl.openEvaluation');
    assert.equal(endedNotification(experiment({ status: 'cancelled', test: undefined })).command, 'automl.openDashboard');
  });

  it('the server notification and status bar name the full predict endpoint', () => {
    assert.equal(predictEndpoint('http://127.0.0.1:4321', 'my-exp'), 'http://127.0.0.1:4321/v1/models/my-exp:predict');
    const s = serverText('http://127.0.0.1:4321', 'my-exp');
    assert.match(s.notification, /POST http:\/\/127\.0\.0\.1:4321\/v1\/models\/my-exp:predict/);
    assert.match(s.statusText, /my-exp/);
    assert.match(s.statusTooltip, /\/v1\/models\/my-exp:predict/);
  });

  it("the output channel calls the final fit's VALIDATION score what it is (seen in training)", () => {
    const r: EpochRecord = { trialId: 't001', epoch: 2, loss: 0.5, accuracy: 0.8, valLoss: 0.6, valAccuracy: 0.75, lr: 0.001, imagesPerSec: 300.4, elapsed: 3 };
    assert.equal(epochLine(r), 't001 epoch 2: loss 0.5000 val_acc 75.00% (300 img/s)');
    assert.equal(epochLine({ ...r, trialId: 'final', valAccuracy: 0.99 }), 'final epoch 2: loss 0.5000 acc on seen VALIDATION 99.00% (300 img/s)');
  });
});
