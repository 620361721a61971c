// Folding a frozen network for inference (model/fold.ts): the folded model computes what the
// layers compute, on cpu and on wasm with the project's kernels.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as assert from 'node:assert/strict';
import { foldForInference } from '../../../src/engine/model/fold';
import { registerWasmTrainingKernels } from '../../../src/engine/runtime/wasm/kernels';
import { ensureWasm, onBackend, rand } from './wasm-test-utils';

/** A small MobileNetV2-like network: padded stride-2 stem, inverted residual, a tap in the middle. */
function network(): tfl.LayersModel {
  const input = tfl.input({ shape: [12, 12, 3] });
  const bn = (name: string) => tfl.layers.batchNormalization({ name, epsilon: 1e-3 });
  let x = tfl.layers
    .zeroPadding2d({
      padding: [
        [0, 1],
        [0, 1],
      ],
      name: 'stem_pad',
    })
    .apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'valid', useBias: false, name: 'stem' }).apply(x) as tfl.SymbolicTensor;
  x = bn('stem_bn').apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.reLU({ maxValue: 6, name: 'stem_relu' }).apply(x) as tfl.SymbolicTensor;
  const shortcut = x;
  let y = tfl.layers.conv2d({ filters: 48, kernelSize: 1, padding: 'same', useBias: false, name: 'expand' }).apply(x) as tfl.SymbolicTensor;
  y = bn('expand_bn').apply(y) as tfl.SymbolicTensor;
  const tap = tfl.layers.reLU({ maxValue: 6, name: 'expand_relu' }).apply(y) as tfl.SymbolicTensor;
  y = tfl.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false, name: 'dw' }).apply(tap) as tfl.SymbolicTensor;
  y = bn('dw_bn').apply(y) as tfl.SymbolicTensor;
  y = tfl.layers.reLU({ maxValue: 6, name: 'dw_relu' }).apply(y) as tfl.SymbolicTensor;
  y = tfl.layers.conv2d({ filters: 16, kernelSize: 1, padding: 'same', useBias: true, name: 'project' }).apply(y) as tfl.SymbolicTensor;
  y = bn('project_bn').apply(y) as tfl.SymbolicTensor;
  y = tfl.layers.add({ name: 'add' }).apply([shortcut, y]) as tfl.SymbolicTensor;
  // A padded stride-2 depthwise layer ('same' padding for this size) and a plain ReLU.
  y = tfl.layers
    .zeroPadding2d({
      padding: [
        [0, 1],
        [0, 1],
      ],
      name: 'down_pad',
    })
    .apply(y) as tfl.SymbolicTensor;
  y = tfl.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'valid', useBias: false, name: 'down' }).apply(y) as tfl.SymbolicTensor;
  y = bn('down_bn').apply(y) as tfl.SymbolicTensor;
  y = tfl.layers.activation({ activation: 'relu', name: 'down_relu' }).apply(y) as tfl.SymbolicTensor;
  const pooled = [tap, y].map((t, i) => tfl.layers.globalAveragePooling2d({ name: `pool${i}` }).apply(t) as tfl.SymbolicTensor);
  const model = tfl.model({ inputs: input, outputs: tfl.layers.concatenate().apply(pooled) as tfl.SymbolicTensor });
  // Non-trivial BatchNorm statistics.
  let seed = 40;
  for (const l of model.layers.filter((l) => l.getClassName() === 'BatchNormalization')) {
    const [g, b, m, v] = l.getWeights();
    const n = g.size;
    l.setWeights([tf.tensor(rand(n, seed++, 0.5, 1.5)), tf.tensor(rand(n, seed++)), tf.tensor(rand(n, seed++)), tf.tensor(rand(n, seed++, 0.2, 2))]);
    void [b, m, v];
  }
  return model;
}

describe('foldForInference', function () {
  this.timeout(60000);

  before(async () => {
    await ensureWasm();
    registerWasmTrainingKernels();
  });

  for (const backend of ['cpu', 'wasm']) {
    it(`folds BatchNorm, padding and ReLU(6) into the convolutions and computes the same (${backend})`, async () => {
      await onBackend(backend, () => {
        const model = network();
        const x = tf.tensor(rand(2 * 12 * 12 * 3, 7, 0, 4), [2, 12, 12, 3]);
        const want = (model.predict(x) as tf.Tensor).dataSync().slice();
        const folded = foldForInference(model);
        const classes = folded.layers.map((l) => l.getClassName());
        assert.ok(!classes.includes('BatchNormalization') && !classes.includes('ZeroPadding2D') && !classes.includes('ReLU'), classes.join(', '));
        assert.equal(classes.filter((c) => c === 'AutomlFoldedConv').length, 5); // stem, expand, dw, project, down
        const got = (folded.predict(x) as tf.Tensor).dataSync();
        let diff = 0;
        for (let i = 0; i < want.length; i++) diff = Math.max(diff, Math.abs(got[i] - want[i]));
        assert.ok(diff < 1e-4, `max diff ${diff}`);
        const before = tf.memory().numTensors;
        folded.dispose();
        assert.ok(tf.memory().numTensors < before, 'dispose frees the folded filters and the original weights');
        x.dispose();
      });
    });
  }

  it('leaves a model without foldable chains as it is', () => {
    const input = tfl.input({ shape: [4] });
    const model = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 2 }).apply(input) as tfl.SymbolicTensor });
    assert.equal(foldForInference(model), model);
    model.dispose();
  });
});
