import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { applyHorizontalFlip, buildFlipTtaModel } from '../../../src/engine/model/flip-tta';
import { buildEnsembleModel } from '../../../src/engine/model/ensemble';
import { loadModel, saveModel } from '../../../src/engine/model/io';
import { buildModel } from '../../../src/engine/model/build';

const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

describe('flip test-time augmentation model', () => {
  let dir: string;
  before(async () => {
    await tf.setBackend('cpu');
    dir = mkdtempSync(join(tmpdir(), 'automl-tta-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('mirrors images exactly along the width, for any height, width and channels', () => {
    const input = tfl.input({ shape: [3, 5, 2] });
    const model = tfl.model({ inputs: input, outputs: applyHorizontalFlip(input, 5) });
    const x = tf.randomUniform([2, 3, 5, 2], 0, 255, 'float32', 3);
    const got = model.predict(x) as tf.Tensor;
    const want = tf.reverse(x, 2);
    assert.deepEqual(got.shape, [2, 3, 5, 2]);
    assert.equal(maxDiff(got, want), 0);
    tf.dispose([x, got, want]);
    model.dispose();
  });

  const shape = { inputShape: [6, 8, 3] as [number, number, number], numClasses: 4, multiLabel: false, mean: 60, std: 70 };
  const convnet = {
    family: 'convnet',
    'convnet/blocks': 1,
    'convnet/filters': 4,
    'convnet/convs_per_block': 1,
    'convnet/head': 'flatten',
    'convnet/dense': 8,
    'convnet/dropout': 0,
  };

  it('averages the scores of the image and its mirror image, and saves and loads as one plain model', async () => {
    const m = buildModel(convnet, shape, 1);
    await saveModel(m, join(dir, 'm'));
    const tta = await buildFlipTtaModel(join(dir, 'm'));
    const x = tf.randomUniform([5, 6, 8, 3], 0, 255, 'float32', 7);
    const want = tf.tidy(() => tf.div(tf.add(m.predict(x) as tf.Tensor, m.predict(tf.reverse(x, 2)) as tf.Tensor), 2));
    // A model that is not mirror-symmetric: the two halves differ, so the test can tell.
    assert.ok(tf.tidy(() => maxDiff(m.predict(x) as tf.Tensor, m.predict(tf.reverse(x, 2)) as tf.Tensor)) > 1e-3);
    assert.ok(maxDiff(tta.predict(x) as tf.Tensor, want) < 1e-6);
    await saveModel(tta, join(dir, 'tta'), { tta: 'flip' });
    const back = await loadModel(join(dir, 'tta'));
    assert.ok(maxDiff(back.predict(x) as tf.Tensor, want) < 1e-6);
    assert.deepEqual(back.inputs[0].shape, [null, 6, 8, 3]);
    // Only the wrapped model's weights are trainable; the mirror is fixed.
    assert.equal(back.trainableWeights.length, m.trainableWeights.length);
    tf.dispose([x, want]);
    for (const t of [m, tta, back]) t.dispose();
  });

  it('wraps an ensemble too', async () => {
    const a = buildModel(convnet, shape, 2);
    const b = buildModel(convnet, shape, 3);
    await saveModel(a, join(dir, 'a'));
    await saveModel(b, join(dir, 'b'));
    const ens = await buildEnsembleModel([
      { dir: join(dir, 'a'), weight: 1 },
      { dir: join(dir, 'b'), weight: 1 },
    ]);
    await saveModel(ens, join(dir, 'ens'));
    const tta = await buildFlipTtaModel(join(dir, 'ens'));
    const x = tf.randomUniform([3, 6, 8, 3], 0, 255, 'float32', 9);
    const want = tf.tidy(() => tf.div(tf.add(ens.predict(x) as tf.Tensor, ens.predict(tf.reverse(x, 2)) as tf.Tensor), 2));
    await saveModel(tta, join(dir, 'ens-tta'));
    const back = await loadModel(join(dir, 'ens-tta'));
    assert.ok(maxDiff(back.predict(x) as tf.Tensor, want) < 1e-6);
    tf.dispose([x, want]);
    for (const t of [a, b, ens, tta, back]) t.dispose();
  });
});
