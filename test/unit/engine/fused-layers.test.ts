// The training-mode layer patches that are backend-independent: dropout masks from a hash.
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { dropoutMask } from '../../../src/engine/runtime/dropout-mask';
import { enableFusedLayers } from '../../../src/engine/training/fused-layers';

describe('dropout masks from a hash', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  it('keeps a share 1-rate of the units, scaled by 1/(1-rate), and drops the rest', () => {
    for (const rate of [0.1, 0.25, 0.5]) {
      const m = dropoutMask(200_000, rate, 7);
      let kept = 0;
      for (const v of m) {
        if (v !== 0) {
          assert.equal(v, Math.fround(1 / (1 - rate)));
          kept++;
        }
      }
      // Binomial: the standard deviation of the kept share is ~0.001 here.
      assert.ok(Math.abs(kept / m.length - (1 - rate)) < 0.005, `rate ${rate}: kept ${kept / m.length}`);
    }
  });

  it('gives the same mask for a seed, and independent-looking masks for neighbouring seeds and positions', () => {
    const n = 100_000;
    assert.deepEqual(dropoutMask(n, 0.25, 42), dropoutMask(n, 0.25, 42));
    const agree = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + ((v === 0) === (b[i] === 0) ? 1 : 0), 0) / a.length;
    // Two independent masks that keep 75 % agree on 0.75² + 0.25² = 62.5 % of the units.
    for (const [s, t] of [
      [42, 43],
      [0, 1],
      [1000, 2000],
    ]) {
      const a = agree(dropoutMask(n, 0.25, s), dropoutMask(n, 0.25, t));
      assert.ok(Math.abs(a - 0.625) < 0.01, `seeds ${s}, ${t}: agree on ${a}`);
    }
    // Neighbouring units are not correlated either: runs of kept units are as long as chance makes them.
    const m = dropoutMask(n, 0.5, 3);
    let same = 0;
    for (let i = 1; i < n; i++) if ((m[i] === 0) === (m[i - 1] === 0)) same++;
    assert.ok(Math.abs(same / (n - 1) - 0.5) < 0.01, `neighbours agree on ${same / (n - 1)}`);
  });

  it("replaces a seeded Dropout's mask in training (forward and gradient), and leaves inference and unseeded layers alone", () => {
    const input = tfl.input({ shape: [6, 5] });
    const layer = tfl.layers.dropout({ rate: 0.3 });
    const model = tfl.model({ inputs: input, outputs: layer.apply(input) as tfl.SymbolicTensor });
    assert.equal(enableFusedLayers(model), 1);
    const x = tf.randomNormal([4, 6, 5], 0, 1, 'float32', 3);
    const mask = tf.tensor(dropoutMask(x.size, 0.3, 11), x.shape);
    const seeded = layer as unknown as { seed?: number };
    seeded.seed = 11;
    const y = model.apply(x, { training: true }) as tf.Tensor;
    assert.deepEqual(Array.from(y.dataSync()), Array.from(tf.mul(x, mask).dataSync()));
    // d(sum(y · w))/dx = w · mask.
    const w = tf.randomNormal(x.shape, 0, 1, 'float32', 4);
    const g = tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(model.apply(xi, { training: true }) as tf.Tensor, w)))(x);
    assert.deepEqual(Array.from(g.dataSync()), Array.from(tf.mul(w, mask).dataSync()));
    // Inference: the identity.
    assert.deepEqual(Array.from((model.apply(x, { training: false }) as tf.Tensor).dataSync()), Array.from(x.dataSync()));
    // No seed: tfjs's own dropout (the same rate, another mask).
    seeded.seed = undefined;
    const own = (model.apply(x, { training: true }) as tf.Tensor).dataSync();
    const zeros = Array.from(own).filter((v) => v === 0).length;
    assert.ok(zeros > 0 && zeros < x.size, `tfjs dropout zeroed ${zeros} of ${x.size}`);
    model.dispose();
  });
});

describe('BatchNormalization in training', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  const bnModel = (o: { scale: boolean; trainable: boolean }) => {
    const input = tfl.input({ shape: [3, 3, 4] });
    const bn = tfl.layers.batchNormalization({ scale: o.scale, momentum: 0.5, name: 'bn' });
    const model = tfl.model({ inputs: input, outputs: bn.apply(input) as tfl.SymbolicTensor });
    // Moving statistics far from the batch's, so that which ones normalise is visible.
    bn.setWeights(bn.getWeights().map((w, i, all) => (i === all.length - 1 ? tf.fill(w.shape, 4) : i === all.length - 2 ? tf.fill(w.shape, 10) : w)));
    bn.trainable = o.trainable;
    enableFusedLayers(model);
    return { model, bn };
  };
  const x = () => tf.randomNormal([8, 3, 3, 4], 0, 1, 'float32', 5);

  it('without a scale (gamma) trains with batch statistics and updates its moving averages instead of throwing', () => {
    const { model, bn } = bnModel({ scale: false, trainable: true });
    const y = model.apply(x(), { training: true }) as tf.Tensor;
    // Normalised by the batch: mean ≈ 0, variance ≈ 1 per channel.
    const { mean, variance } = tf.moments(y, [0, 1, 2]);
    for (const m of mean.dataSync()) assert.ok(Math.abs(m) < 1e-4, `mean ${m}`);
    for (const v of variance.dataSync()) assert.ok(Math.abs(v - 1) < 1e-2, `variance ${v}`);
    // momentum 0.5: the moving mean moved half-way from 10 towards the batch mean (≈ 0).
    const movingMean = bn.getWeights()[bn.getWeights().length - 2].dataSync();
    for (const m of movingMean) assert.ok(m > 4 && m < 6, `moving mean ${m}`);
  });

  it('frozen, normalises with its moving statistics in training as in inference, and leaves them unchanged', () => {
    for (const scale of [true, false]) {
      const { model, bn } = bnModel({ scale, trainable: false });
      const input = x();
      const trained = model.apply(input, { training: true }) as tf.Tensor;
      const inferred = model.apply(input, { training: false }) as tf.Tensor;
      assert.ok(tf.max(tf.abs(tf.sub(trained, inferred))).dataSync()[0] < 1e-6);
      // (x − 10) / √(4 + ε): far from zero mean.
      assert.ok(Math.abs(tf.mean(trained).dataSync()[0] + 5) < 0.5);
      assert.deepEqual(Array.from(bn.getWeights()[bn.getWeights().length - 2].dataSync()), [10, 10, 10, 10]);
    }
  });

  it('frozen and without a scale, passes gradients to the trainable layers below it', () => {
    const input = tfl.input({ shape: [4, 4, 2] });
    const conv = tfl.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', name: 'conv' });
    const bn = tfl.layers.batchNormalization({ scale: false, name: 'bn' });
    const out = tfl.layers.globalAveragePooling2d({}).apply(bn.apply(conv.apply(input))) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: out });
    bn.trainable = false;
    enableFusedLayers(model);
    const xs = tf.randomNormal([2, 4, 4, 2], 0, 1, 'float32', 9);
    const { grads } = tf.variableGrads(() => tf.sum(tf.square(model.apply(xs, { training: true }) as tf.Tensor)) as tf.Scalar);
    const kernel = grads[conv.trainableWeights[0].originalName] ?? Object.values(grads)[0];
    assert.ok(kernel, 'a gradient for the convolution');
    assert.ok(Array.from(kernel.dataSync()).every(Number.isFinite));
    assert.ok(tf.max(tf.abs(kernel)).dataSync()[0] > 0);
  });
});
