import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { buildEnsembleModel } from '../../../src/engine/model/ensemble';
import { loadModel, saveModel } from '../../../src/engine/model/io';
import { buildModel } from '../../../src/engine/model/build';

describe('ensemble model', () => {
  let dir: string;
  before(async () => {
    await tf.setBackend('cpu');
    dir = mkdtempSync(join(tmpdir(), 'automl-ensemble-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const shape = { inputShape: [8, 8, 1] as [number, number, number], numClasses: 3, multiLabel: false, mean: 60, std: 70 };
  const convnet = {
    family: 'convnet',
    'convnet/blocks': 1,
    'convnet/filters': 4,
    'convnet/convs_per_block': 1,
    'convnet/head': 'flatten',
    'convnet/dense': 8,
    'convnet/dropout': 0,
  };
  const resnet = { family: 'resnet', 'resnet/depth': 8, 'resnet/width': 4, 'resnet/dropout': 0 };

  it('averages its members with their weights, and saves and loads as one plain model', async () => {
    const a = buildModel(convnet, shape, 1);
    const b = buildModel(resnet, shape, 2);
    await saveModel(a, join(dir, 'a'));
    await saveModel(b, join(dir, 'b'));
    // A second copy of `a` saved as if by another process: the same layer and weight names.
    await saveModel(a, join(dir, 'a2'));
    const ens = await buildEnsembleModel([
      { dir: join(dir, 'a'), weight: 2 },
      { dir: join(dir, 'b'), weight: 1 },
      { dir: join(dir, 'a2'), weight: 1 },
    ]);
    const x = tf.randomUniform([5, 8, 8, 1], 0, 255, 'float32', 7);
    const pa = a.predict(x) as tf.Tensor;
    const pb = b.predict(x) as tf.Tensor;
    const want = tf.tidy(() => tf.add(tf.mul(pa, 0.75), tf.mul(pb, 0.25)));
    const got = ens.predict(x) as tf.Tensor;
    assert.ok(tf.max(tf.abs(tf.sub(got, want))).dataSync()[0] < 1e-6);
    // Rows still sum to one (a weighted average of probabilities).
    for (const s of tf.sum(got, 1).dataSync() as Float32Array) assert.ok(Math.abs(s - 1) < 1e-5);
    await saveModel(ens, join(dir, 'ensemble'), { classes: ['x', 'y', 'z'] });
    const back = await loadModel(join(dir, 'ensemble'));
    assert.ok(tf.max(tf.abs(tf.sub(back.predict(x) as tf.Tensor, want))).dataSync()[0] < 1e-6);
    assert.deepEqual(back.inputs[0].shape, [null, 8, 8, 1]);
    tf.dispose([x, pa, pb, want, got]);
    for (const m of [a, b, ens, back]) m.dispose();
  });

  it('refuses members with different inputs, and a single member', async () => {
    const c = buildModel(convnet, { ...shape, inputShape: [10, 10, 1] }, 3);
    await saveModel(c, join(dir, 'c'));
    await assert.rejects(
      buildEnsembleModel([
        { dir: join(dir, 'a'), weight: 1 },
        { dir: join(dir, 'c'), weight: 1 },
      ]),
      /takes \[10,10,1\], not \[8,8,1\]/,
    );
    await assert.rejects(buildEnsembleModel([{ dir: join(dir, 'a'), weight: 1 }]), /at least two members/);
    c.dispose();
  });
});
