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
    for (const [s, t] of [[42, 43], [0, 1], [1000, 2000]]) {
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
