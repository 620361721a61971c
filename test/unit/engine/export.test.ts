import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportModel } from '../../../src/engine/export';
import { loadModel, saveModel } from '../../../src/engine/model-io';
import { buildModel } from '../../../src/engine/models';
import type { ExperimentSpec } from '../../../src/shared/protocol';
import { ExperimentStore } from '../../../src/store/store';

describe('export', () => {
  let root: string;
  before(async () => {
    await tf.setBackend('cpu');
  });
  beforeEach(() => (root = mkdtempSync(join(tmpdir(), 'automl-export-'))));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const spec: ExperimentSpec = {
    id: 'e1', name: 'shapes.csv', dataset: '/d/shapes.csv', budgetMinutes: 1, backend: 'cpu', seed: 1, imageSize: 0, fit: 'pad', cacheDir: '/tmp/c',
    createdAt: '2026-01-01T00:00:00Z',
  };

  it('writes a TF.js layers model with labels, preprocessing and a README, loadable and predicting the same', async () => {
    const store = ExperimentStore.create(root, spec);
    store.updateRecord({ status: 'done', classes: ['circle', 'square'], inputShape: [8, 8, 1] });
    const model = buildModel({ family: 'convnet', 'convnet/blocks': 1, 'convnet/filters': 4 }, { inputShape: [8, 8, 1], numClasses: 2, multiLabel: false, mean: 10, std: 20 }, 3);
    await saveModel(model, store.file('final', 'model'), { classes: ['circle', 'square'], input: { height: 8, width: 8, channels: 1, fit: 'pad' } });
    const out = join(root, 'export');
    const r = exportModel(store, out, 'tfjs');
    assert.deepEqual(r.files, ['README.md', 'labels.json', 'model.json', 'preprocessing.json', 'weights.bin']);
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'labels.json'), 'utf8')), ['circle', 'square']);
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'preprocessing.json'), 'utf8')).input, [8, 8, 1]);
    assert.match(readFileSync(join(out, 'README.md'), 'utf8'), /tf\.loadLayersModel/);
    const loaded = await loadModel(out);
    const x = tf.randomUniform([1, 8, 8, 1], 0, 255);
    const a = (model.predict(x) as tf.Tensor).dataSync();
    const b = (loaded.predict(x) as tf.Tensor).dataSync();
    assert.deepEqual(Array.from(a), Array.from(b));
    // The model.json uses only standard layer classes (a browser's plain tfjs can read it).
    const topology = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')).modelTopology.config.layers as { class_name: string }[];
    for (const l of topology) assert.ok(['InputLayer', 'Rescaling', 'Conv2D', 'Activation', 'MaxPooling2D', 'Flatten', 'Dense', 'Dropout', 'GlobalAveragePooling2D'].includes(l.class_name), l.class_name);
    // A SavedModel needs tfjs-node; without it the message says how to get it.
    assert.throws(() => exportModel(store, join(root, 'sm'), 'savedmodel'), /automl install-runtime/);
  });

  it('says what to do when there is no model yet', () => {
    const store = ExperimentStore.create(root, spec);
    assert.throws(() => exportModel(store, join(root, 'x'), 'tfjs'), /no final model yet/);
  });
});
