import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { buildModel, estimateTrainingMemory, logitsModel, modelFlops } from '../../../src/engine/model/build';
import { buildSpace, sampleConfig } from '../../../src/search/space';
import { rng } from '../../../src/shared/random';

describe('model builder', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  const shape = { inputShape: [12, 12, 1] as [number, number, number], numClasses: 4, multiLabel: false, mean: 100, std: 40 };

  it('normalises raw 0–255 pixels to zero mean and unit variance with the dataset statistics', () => {
    const model = buildModel({ family: 'convnet', 'convnet/blocks': 2, 'convnet/filters': 8 }, shape, 1);
    const normalise = tfl.model({ inputs: model.inputs, outputs: model.getLayer('normalise').output as tfl.SymbolicTensor });
    // Pixels with mean 100 and std 40: ±40 around 100.
    const pixels = Float32Array.from({ length: 2 * 144 }, (_, i) => (i % 2 ? 140 : 60));
    const out = Array.from((normalise.predict(tf.tensor4d(pixels, [2, 12, 12, 1])) as tf.Tensor).dataSync());
    const mean = out.reduce((a, b) => a + b, 0) / out.length;
    const std = Math.sqrt(out.reduce((a, b) => a + (b - mean) ** 2, 0) / out.length);
    assert.ok(Math.abs(mean) < 1e-5, `mean ${mean}`);
    assert.ok(Math.abs(std - 1) < 1e-5, `std ${std}`);
  });

  it('builds every family of the space; probabilities sum to one; the logits model shares weights', () => {
    const space = buildSpace({ imageSizes: [12], channels: 1, numClasses: 4, separable: true });
    const random = rng(4);
    const families = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const config = sampleConfig(space, random);
      families.add(String(config.family));
      const model = buildModel(config, shape, i);
      const x = tf.randomUniform([3, 12, 12, 1], 0, 255);
      const p = model.predict(x) as tf.Tensor2D;
      assert.deepEqual(p.shape, [3, 4]);
      const sums = tf.sum(p, 1).dataSync();
      for (const s of sums) assert.ok(Math.abs(s - 1) < 1e-5);
      const logits = logitsModel(model).predict(x) as tf.Tensor2D;
      const soft = tf.softmax(logits).dataSync();
      const pd = p.dataSync();
      for (let j = 0; j < pd.length; j++) assert.ok(Math.abs(pd[j] - soft[j]) < 1e-5);
      model.dispose();
    }
    assert.deepEqual([...families].sort(), ['convnet', 'mobilenet', 'resnet']);
  });

  it('multi-label models end in a sigmoid', () => {
    const model = buildModel({ family: 'resnet', 'resnet/depth': 8, 'resnet/width': 8 }, { ...shape, multiLabel: true }, 1);
    const p = Array.from((model.predict(tf.zeros([1, 12, 12, 1])) as tf.Tensor).dataSync());
    assert.ok(p.every((v) => v > 0 && v < 1));
    assert.notEqual(Math.round(p.reduce((a, b) => a + b, 0) * 1000), 1000);
  });

  it('counts forward FLOPs of convolutions and dense layers by hand', () => {
    const model = buildModel(
      { family: 'convnet', 'convnet/blocks': 2, 'convnet/filters': 32, 'convnet/convs_per_block': 1, 'convnet/head': 'flatten', 'convnet/dense': 128 },
      { inputShape: [28, 28, 1], numClasses: 10, multiLabel: false, mean: 0, std: 1 },
      1,
    );
    const conv1 = 2 * 28 * 28 * 32 * 9 * 1;
    const conv2 = 2 * 14 * 14 * 64 * 9 * 32;
    const dense = 2 * 7 * 7 * 64 * 128;
    const logits = 2 * 128 * 10;
    assert.equal(modelFlops(model), conv1 + conv2 + dense + logits);
  });

  it('memory estimate grows with the batch and the optimizer state', () => {
    const model = buildModel({ family: 'convnet', 'convnet/blocks': 2, 'convnet/filters': 16, 'convnet/dense': 64 }, shape, 1);
    const small = estimateTrainingMemory(model, 32, 'adamw');
    assert.ok(estimateTrainingMemory(model, 64, 'adamw') > small);
    assert.ok(estimateTrainingMemory(model, 32, 'sgd') < small);
    // At least weights + two Adam slots + gradients.
    assert.ok(small >= 4 * model.countParams() * 4);
  });
});
