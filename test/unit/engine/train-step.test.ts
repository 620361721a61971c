// Whole-model gradients on wasm (project kernels) vs cpu, and TrainStep against
// a straightforward reference built from tfjs's own losses and optimizers.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as assert from 'node:assert/strict';
import { buildReferenceNet, REFERENCE_NET_NAMES } from '../../../src/engine/model/reference-nets';
import { enableFusedLayers } from '../../../src/engine/training/fused-layers';
import { lossAndCorrect, TrainStep, type TrainStepOptions } from '../../../src/engine/training/step';
import { assertClose, ensureWasm, onBackend, rand, type Arr } from './wasm-test-utils';

const read = (t: tf.Tensor): Arr => ({ shape: t.shape.slice(), data: t.dataSync().slice() as Float32Array });

function batch(n: number, classes: number, seed: number, inputShape = [28, 28, 1], multiLabel = false): { x: Arr; y: Arr } {
  const x: Arr = { shape: [n, ...inputShape], data: rand(n * inputShape.reduce((a, b) => a * b, 1), seed, -1.5, 1.5) };
  const y = new Float32Array(n * classes);
  const r = rand(n * classes, seed + 1, 0, 1);
  for (let i = 0; i < n; i++) {
    if (multiLabel) {
      for (let k = 0; k < classes; k++) y[i * classes + k] = r[i * classes + k] > 0.6 ? 1 : 0;
    } else {
      y[i * classes + (Math.floor(r[i] * classes) % classes)] = 1;
    }
  }
  return { x, y: { shape: [n, classes], data: y } };
}

/** Gradients of the (label-smoothed) loss w.r.t. every trainable weight, on the active backend. */
function modelGrads(model: tfl.LayersModel, b: { x: Arr; y: Arr }): Arr[] {
  const x = tf.tensor(b.x.data, b.x.shape) as tf.Tensor as tf.Tensor4D;
  const y = tf.tensor(b.y.data, b.y.shape) as tf.Tensor as tf.Tensor2D;
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(() => {
    const logits = model.apply(x, { training: true }) as tf.Tensor2D;
    const r = lossAndCorrect(logits, y, 0.1, false);
    r.correct.dispose();
    return r.loss;
  }, vars);
  const out = [read(value), ...vars.map((v) => read(grads[v.name]))];
  tf.dispose([x, y, value, ...Object.values(grads)]);
  return out;
}

function copyWeights(from: tfl.LayersModel, to: tfl.LayersModel): void {
  to.setWeights(from.getWeights());
}

describe('wasm training: whole models and TrainStep', function () {
  this.timeout(120000);

  before(async () => {
    await ensureWasm();
  });

  for (const name of REFERENCE_NET_NAMES) {
    for (const fused of name === '2-conv' ? [false] : [false, true]) {
      it(`${name}: gradients on wasm match cpu${fused ? ' (fused BatchNorm)' : ''}`, async () => {
        // 12×12 inputs keep the cpu reference (its Conv2DBackpropFilter is slow) fast;
        // the layers are those of the 28×28 nets.
        const model = await onBackend('cpu', () => buildReferenceNet(name, [12, 12, 1], 10, { seed: 11, dropout: 0 }));
        if (fused) enableFusedLayers(model);
        const b = batch(2, 10, 42, [12, 12, 1]);
        const cpu = await onBackend('cpu', () => modelGrads(model, b));
        const wasm = await onBackend('wasm', () => modelGrads(model, b));
        assert.equal(wasm.length, cpu.length);
        wasm.forEach((g, i) => assertClose(g, cpu[i], 2e-4, `${name} ${i === 0 ? 'loss' : model.trainableWeights[i - 1].name}`));
        model.dispose();
      });
    }
  }

  /** The reference step: tfjs losses + tfjs optimizers + decoupled decay applied by hand. */
  function referenceStep(model: tfl.LayersModel, opt: tf.Optimizer, o: TrainStepOptions, x: tf.Tensor4D, y: tf.Tensor2D): void {
    tf.tidy(() => {
      const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const { grads } = tf.variableGrads(() => {
        const logits = model.apply(x, { training: true }) as tf.Tensor2D;
        return (
          o.multiLabel
            ? tf.losses.sigmoidCrossEntropy(y, logits, undefined, o.labelSmoothing)
            : tf.losses.softmaxCrossEntropy(y, logits, undefined, o.labelSmoothing)
        ) as tf.Scalar;
      }, vars);
      for (const v of vars) {
        if (v.rank >= 2 && o.weightDecay !== 0) v.assign(tf.sub(v, tf.mul(v, o.learningRate * o.weightDecay)));
      }
      opt.applyGradients(grads);
    });
  }

  const OPTIONS: Array<[string, TrainStepOptions]> = [
    ['adamw + label smoothing', { optimizer: 'adamw', learningRate: 2e-3, weightDecay: 0.05, labelSmoothing: 0.1, multiLabel: false, epsilon: 1e-3 }],
    ['sgd + nesterov', { optimizer: 'sgd', learningRate: 0.05, weightDecay: 1e-3, momentum: 0.9, nesterov: true, labelSmoothing: 0, multiLabel: false }],
    ['adamw multi-label', { optimizer: 'adamw', learningRate: 1e-3, weightDecay: 0.01, labelSmoothing: 0.05, multiLabel: true, epsilon: 1e-3 }],
  ];

  for (const [what, o] of OPTIONS) {
    it(`TrainStep (${what}) on cpu and on wasm matches the reference on cpu`, async () => {
      // resnet8: BatchNorm (fused on wasm), moving statistics, residual adds.
      const net = o.optimizer === 'adamw' && !o.multiLabel ? 'resnet8' : '2-conv';
      const classes = 10;
      const shape = [8, 8, 1]; // small images keep the cpu reference fast
      const [ref, onCpu, onWasm] = await onBackend('cpu', () => [0, 1, 2].map(() => buildReferenceNet(net, shape, classes, { seed: 5, dropout: 0 })));
      copyWeights(ref, onCpu);
      copyWeights(ref, onWasm);
      const steps = 3;
      const batches = [0, 1, 2].map((s) => batch(4, classes, 70 + s, shape, o.multiLabel));
      const tensors = (s: number): [tf.Tensor4D, tf.Tensor2D] => [
        tf.tensor(batches[s].x.data, batches[s].x.shape) as tf.Tensor as tf.Tensor4D,
        tf.tensor(batches[s].y.data, batches[s].y.shape) as tf.Tensor as tf.Tensor2D,
      ];

      await onBackend('cpu', () => {
        const eps = o.epsilon ?? 1e-7;
        const opt =
          o.optimizer === 'adamw'
            ? tf.train.adam(o.learningRate, o.beta1 ?? 0.9, o.beta2 ?? 0.999, eps)
            : tf.train.momentum(o.learningRate, o.momentum ?? 0.9, o.nesterov ?? false);
        for (let s = 0; s < steps; s++) {
          const [x, y] = tensors(s);
          referenceStep(ref, opt, o, x, y);
          tf.dispose([x, y]);
        }
        opt.dispose();
      });

      for (const [backend, model] of [
        ['cpu', onCpu],
        ['wasm', onWasm],
      ] as const) {
        await onBackend(backend, async () => {
          const step = new TrainStep(model, o);
          let before = -1;
          for (let s = 0; s < steps; s++) {
            const [x, y] = tensors(s);
            const r = step.run(x, y);
            assert.equal(r.total, o.multiLabel ? 4 * classes : 4);
            tf.dispose([x, y]);
            if (s === 0) before = tf.memory().numTensors;
          }
          // Optimizer state is created on the first step; later steps must not leak.
          assert.equal(tf.memory().numTensors, before, `${backend}: tensor count stable across steps`);
          const m = await step.takeMetrics();
          assert.equal(m.samples, 4 * steps);
          assert.ok(Number.isFinite(m.loss) && m.accuracy >= 0 && m.accuracy <= 1);
          step.dispose();
        });
        // Weights (trainable and BatchNorm moving statistics) after the same steps.
        const tol = backend === 'cpu' ? 2e-5 : 5e-4;
        const w1 = ref.weights;
        model.weights.forEach((w, i) => assertClose(read(w.read()), read(w1[i].read()), tol, `${what} ${backend} ${w.name}`));
      }
      [ref, onCpu, onWasm].forEach((m) => m.dispose());
    });
  }

  it('TrainStep can run inside tf.tidy without losing its state or leaking', async () => {
    await onBackend('wasm', async () => {
      const model = buildReferenceNet('resnet8', [8, 8, 1], 3, { seed: 3 });
      const step = new TrainStep(model, { optimizer: 'adamw', learningRate: 1e-3, weightDecay: 0.01, labelSmoothing: 0, multiLabel: false });
      const b = batch(4, 3, 9, [8, 8, 1]);
      const x = tf.tensor(b.x.data, b.x.shape) as tf.Tensor as tf.Tensor4D;
      const y = tf.tensor(b.y.data, b.y.shape) as tf.Tensor as tf.Tensor2D;
      tf.tidy(() => {
        step.run(x, y); // creates the optimizer state inside a tidy
      });
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) {
        tf.tidy(() => {
          step.run(x, y);
        });
      }
      assert.equal(tf.memory().numTensors, before);
      const m = await step.takeMetrics();
      assert.ok(Number.isFinite(m.loss));
      step.dispose();
      model.dispose();
      tf.dispose([x, y]);
    });
  });

  it('TrainStep loss equals tfjs softmax cross-entropy with label smoothing', async () => {
    await onBackend('cpu', () => {
      const logits = tf.tensor2d(rand(12, 3, -3, 3), [3, 4]);
      const y = tf.cast(tf.oneHot(tf.tensor1d([0, 3, 1], 'int32'), 4), 'float32') as tf.Tensor2D;
      const mine = lossAndCorrect(logits as tf.Tensor2D, y, 0.2, false);
      const ref = tf.losses.softmaxCrossEntropy(y, logits, undefined, 0.2);
      assertClose(read(mine.loss), read(ref), 1e-6, 'softmax CE');
      const ml = lossAndCorrect(logits as tf.Tensor2D, y, 0.2, true);
      const mlRef = tf.losses.sigmoidCrossEntropy(y, logits, undefined, 0.2);
      assertClose(read(ml.loss), read(mlRef), 1e-6, 'sigmoid CE');
      tf.dispose([logits, y, mine.loss, mine.correct, ref, ml.loss, ml.correct, mlRef]);
    });
  });
});
