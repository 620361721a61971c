// A transfer trial that would not fit in memory trains what fits: a smaller batch, then less of the
// backbone opened, instead of failing (runTrialSegment's memory guard).
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { ImageTensorSet } from '../../../src/data';
import { loadBackbone, setBackboneTrainable } from '../../../src/engine/model/backbone';
import { buildModel, estimateTrainingMemory } from '../../../src/engine/model/build';
import { saveModel } from '../../../src/engine/model/io';
import { runTrialSegment } from '../../../src/engine/training/trial';
import { newTrialRecord } from '../../../src/search/search';
import { rng } from '../../../src/shared/random';
import { ExperimentStore } from '../../../src/store/store';

describe('transfer trials and memory', () => {
  let dir = '';
  const shape = { inputShape: [12, 12, 3] as [number, number, number], numClasses: 2, multiLabel: false, mean: 100, std: 60 };
  const set = (count: number, seed: number): ImageTensorSet => {
    const random = rng(seed);
    return {
      height: 12,
      width: 12,
      channels: 3,
      count,
      pixels: Uint8Array.from({ length: count * 12 * 12 * 3 }, () => Math.floor(random() * 256)),
      labels: Int32Array.from({ length: count }, (_, i) => i % 2),
      itemIds: Int32Array.from({ length: count }, (_, i) => i),
    };
  };
  before(async () => {
    await tf.setBackend('cpu');
    dir = mkdtempSync(join(tmpdir(), 'automl-trial-memory-'));
    const net = buildModel(
      {
        family: 'convnet',
        'convnet/blocks': 2,
        'convnet/filters': 8,
        'convnet/convs_per_block': 2,
        'convnet/batchnorm': true,
        'convnet/head': 'gap',
        'convnet/dense': 0,
      },
      { ...shape, numClasses: 4 },
      3,
    );
    await saveModel(net, join(dir, 'backbone'), { input: { range: '0-255' } });
    net.dispose();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('opens less of the backbone rather than fail when fine-tuning all of it would not fit even at batch 4', async () => {
    const config = { family: 'transfer', 'transfer/unfreeze': 1, 'transfer/dropout': 0, 'train/batch_size': 32, 'train/lr': 0.001 };
    // The limit: what the trial needs at batch 4 with the backbone frozen, less than with it all open.
    const bb = await loadBackbone(join(dir, 'backbone'), '0-255');
    const probe = buildModel(config, shape, 1, bb);
    const frozen = estimateTrainingMemory(probe, 4, 'adamw');
    setBackboneTrainable(probe, 1);
    const open = estimateTrainingMemory(probe, 4, 'adamw');
    probe.dispose();
    assert.ok(open > frozen * 1.2, `open ${open} vs frozen ${frozen}`);
    const store = ExperimentStore.create(join(dir, 'experiments'), {
      id: 'm',
      name: 'm',
      dataset: '/x.csv',
      budgetMinutes: 1,
      backend: 'cpu',
      seed: 1,
      imageSize: 0,
      fit: 'pad',
      cacheDir: '/tmp/c',
      createdAt: '2026-01-01T00:00:00Z',
    });
    const trial = newTrialRecord({ id: 't001', index: 0, config, origin: 'portfolio', epochs: 1, startedAt: '' });
    const outcome = await runTrialSegment(
      {
        store,
        shape,
        train: set(16, 1),
        validation: set(8, 2),
        seed: 1,
        memoryLimit: (frozen + open) / 2,
        isCancelled: () => false,
        onEpoch: () => undefined,
        onBatch: () => undefined,
        modelMetadata: {},
        backbone: { dir: join(dir, 'backbone'), range: '0-255', size: 12 },
      },
      trial,
      { fromEpochs: 0, toEpochs: 1, continueFrom: false, mayContinue: false, deadline: Date.now() + 60_000 },
    );
    assert.equal(outcome.status, 'done', outcome.error);
    const opened = Number(trial.config['transfer/unfreeze']);
    assert.ok(opened < 1, `unfreeze ${opened}`);
    assert.match(trial.origin, /fine-tunes \d+ % of the backbone to fit in memory/);
    assert.ok(trial.memoryEstimate <= (frozen + open) / 2);
  });
});
