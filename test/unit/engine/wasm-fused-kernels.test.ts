// The project's fused wasm kernels (batch norm, activations, dropout, optimizer updates)
// against the tf-op formulas on cpu.
import * as tf from '@tensorflow/tfjs-core';
import * as assert from 'node:assert/strict';
import * as tfl from '@tensorflow/tfjs-layers';
import { enableFusedLayers } from '../../../src/engine/training/fused-layers';
import { registerWasmTrainingKernels, useWasmKernelSet } from '../../../src/engine/runtime/wasm/kernels';
import { setSimdEnabled } from '../../../src/engine/runtime/wasm/simd';
import { arr, assertClose, ensureWasm, onBackend, runKernelOn, type Arr } from './wasm-test-utils';
import { BN_TRAIN_GRAD_KERNEL, BN_TRAIN_KERNEL } from '../../../src/engine/runtime/wasm/batchnorm';
import { RELU_GRAD_KERNEL } from '../../../src/engine/runtime/wasm/activation-grad';
import { DROPOUT_MASK_KERNEL } from '../../../src/engine/runtime/wasm/dropout';
import { dropoutMask } from '../../../src/engine/runtime/dropout-mask';
import { ADAMW_KERNEL, SGD_KERNEL } from '../../../src/engine/runtime/optimizer-update';

describe('wasm training kernels: fused', function () {
  this.timeout(60000);

  before(async () => {
    const info = await ensureWasm();
    assert.ok(info.threads >= 1);
    registerWasmTrainingKernels();
  });

  describe('fused kernels (checked against the tf-op formulas on cpu)', () => {
    it('Identity shares data and stays correct after the source is disposed', async () => {
      const [w] = await runKernelOn('wasm', 'Identity', { x: arr([3, 4], 5) });
      assertClose(w, arr([3, 4], 5), 0, 'Identity');
    });

    it('BatchNorm training forward and backward', async () => {
      for (const [i, shape] of [
        [4, 5, 6, 8],
        [3, 7],
        [2, 3, 3, 1],
        [3, 50, 12],
      ].entries()) {
        const C = shape[shape.length - 1];
        const x = arr(shape, 1800 + i, -2, 3);
        const gamma = arr([C], 1810 + i, 0.5, 1.5);
        const beta = arr([C], 1820 + i);
        const dy = arr(shape, 1830 + i);
        const eps = 1e-3;
        const [y, mean, variance, invstd] = await runKernelOn('wasm', BN_TRAIN_KERNEL, { x, gamma, beta }, { epsilon: eps });
        const [dx, dgamma, dbeta] = await runKernelOn('wasm', BN_TRAIN_GRAD_KERNEL, { dy, x, mean, invstd, gamma });
        // Reference: the same graph tfjs-layers builds, differentiated by tfjs on cpu.
        const ref = await (async () => {
          const prev = tf.getBackend();
          await tf.setBackend('cpu');
          try {
            const t = (a: Arr): tf.Tensor => tf.tensor(a.data, a.shape);
            const [xt, gt, bt, dyt] = [t(x), t(gamma), t(beta), t(dy)];
            const axes = shape.slice(0, -1).map((_, k) => k);
            const f = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor): tf.Tensor => {
              const m = tf.moments(xx, axes);
              return tf.batchNorm(xx, m.mean, m.variance, bb, gg, eps);
            };
            const yRef = f(xt, gt, bt);
            const m = tf.moments(xt, axes);
            const g = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => f(a, b, c))([xt, gt, bt], dyt);
            const read = (u: tf.Tensor): Arr => ({ shape: u.shape, data: u.dataSync().slice() as Float32Array });
            const out = [yRef, m.mean, m.variance, g[0], g[1], g[2]].map(read);
            tf.dispose([xt, gt, bt, dyt, yRef, m.mean, m.variance, ...g]);
            return out;
          } finally {
            await tf.setBackend(prev);
          }
        })();
        assertClose(y, ref[0], 1e-4, 'BN y');
        assertClose(mean, ref[1], 1e-5, 'BN mean');
        assertClose(variance, ref[2], 1e-4, 'BN variance');
        assertClose(dx, ref[3], 1e-4, 'BN dx');
        assertClose(dgamma, ref[4], 1e-4, 'BN dgamma');
        assertClose(dbeta, ref[5], 1e-4, 'BN dbeta');
        const inv = Array.from(variance.data, (v) => 1 / Math.sqrt(v + eps));
        assertClose(invstd, { shape: [C], data: Float32Array.from(inv) }, 1e-5, 'BN invstd');
      }
    });

    it('Relu gradient', async () => {
      const x = arr([5, 7], 1900);
      x.data[3] = 0;
      const dy = arr([5, 7], 1901);
      for (const simd of [true, false]) {
        setSimdEnabled(simd);
        const [w] = await runKernelOn('wasm', RELU_GRAD_KERNEL, { dy, x });
        setSimdEnabled(true);
        const want = Float32Array.from(dy.data, (d, i) => (x.data[i] > 0 ? d : 0));
        assertClose(w, { shape: [5, 7], data: want }, 0, `relu grad simd=${simd}`);
      }
    });

    it('dropout mask: SIMD and JS give the mask of dropout-mask.ts exactly, tail included', async () => {
      for (const [shape, rate, seed] of [
        [[3, 7, 5], 0.25, 9],
        [[64, 3136], 0.5, 123456],
        [[2], 0.1, 0],
        [[4, 4], 0.9, 4294967295],
      ] as const) {
        const want = dropoutMask(
          shape.reduce((a, b) => a * b, 1),
          rate,
          seed,
        );
        for (const simd of [true, false]) {
          setSimdEnabled(simd);
          const [w] = await runKernelOn('wasm', DROPOUT_MASK_KERNEL, {}, { shape, rate, seed });
          setSimdEnabled(true);
          assert.deepEqual(w.shape, shape);
          assert.deepEqual(Array.from(w.data), Array.from(want), `shape ${shape} rate ${rate} seed ${seed} simd=${simd}`);
        }
      }
    });

    it("dropout layer in training: the SIMD mask on the project kernels, tfjs's own dropout on the stock ones", async () => {
      const input = tfl.input({ shape: [10, 6] });
      const layer = tfl.layers.dropout({ rate: 0.4 });
      const model = tfl.model({ inputs: input, outputs: layer.apply(input) as tfl.SymbolicTensor });
      enableFusedLayers(model);
      (layer as unknown as { seed: number }).seed = 77;
      const x = arr([3, 10, 6], 2100, 0.5, 1.5); // no zeros: a zero output is a dropped unit
      const run = () =>
        onBackend('wasm', () => {
          const out = model.apply(tf.tensor(x.data, x.shape), { training: true }) as tf.Tensor;
          return out.dataSync().slice();
        });
      const mask = dropoutMask(x.data.length, 0.4, 77);
      assert.deepEqual(
        Array.from(await run()),
        Array.from(x.data, (v, i) => Math.fround(v * mask[i])),
      );
      try {
        useWasmKernelSet('stock');
        const own = await run();
        const sameZeros = own.every((v, i) => (v === 0) === (mask[i] === 0));
        assert.ok(!sameZeros, "the stock kernels keep tfjs's dropout (another mask)");
      } finally {
        registerWasmTrainingKernels();
      }
      model.dispose();
    });

    it('AdamW and SGD updates (in place on the state)', async () => {
      const p = arr([5, 3], 2000);
      const g = arr([5, 3], 2001);
      const m = arr([5, 3], 2002, -0.1, 0.1);
      const v = arr([5, 3], 2003, 0, 0.01);
      const h = { lr: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weightDecay: 0.05, step: 3 };
      const res = await (async () => {
        const prev = tf.getBackend();
        await tf.setBackend('wasm');
        try {
          const [pt, gt, mt, vt] = [p, g, m, v].map((a) => tf.tensor(a.data, a.shape));
          const out = tf.engine().runKernel(ADAMW_KERNEL, { param: pt, grad: gt, m: mt, v: vt }, h) as tf.Tensor;
          const r = [out, mt, vt].map((t) => t.dataSync().slice() as Float32Array);
          tf.dispose([pt, gt, mt, vt, out]);
          return r;
        } finally {
          await tf.setBackend(prev);
        }
      })();
      const bc1 = 1 - Math.pow(h.beta1, h.step);
      const bc2 = 1 - Math.pow(h.beta2, h.step);
      const wantM = m.data.map((mi, i) => h.beta1 * mi + (1 - h.beta1) * g.data[i]);
      const wantV = v.data.map((vi, i) => h.beta2 * vi + (1 - h.beta2) * g.data[i] * g.data[i]);
      const wantP = p.data.map((pi, i) => pi - h.lr * (wantM[i] / bc1 / (Math.sqrt(wantV[i] / bc2) + h.epsilon) + h.weightDecay * pi));
      assertClose({ shape: [15], data: res[0] }, { shape: [15], data: Float32Array.from(wantP) }, 1e-6, 'adamw param');
      assertClose({ shape: [15], data: res[1] }, { shape: [15], data: Float32Array.from(wantM) }, 1e-6, 'adamw m');
      assertClose({ shape: [15], data: res[2] }, { shape: [15], data: Float32Array.from(wantV) }, 1e-6, 'adamw v');

      for (const nesterov of [false, true]) {
        const [out] = await runKernelOn('wasm', SGD_KERNEL, { param: p, grad: g, buf: m }, { lr: 0.1, momentum: 0.9, nesterov, weightDecay: 0.01 });
        const want = p.data.map((pi, i) => {
          const b = 0.9 * m.data[i] + g.data[i];
          const d = nesterov ? g.data[i] + 0.9 * b : b;
          return pi - 0.1 * (d + 0.01 * pi);
        });
        assertClose(out, { shape: [5, 3], data: Float32Array.from(want) }, 1e-6, `sgd nesterov=${nesterov}`);
      }
    });
  });
});
