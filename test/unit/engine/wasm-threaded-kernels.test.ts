// The memory-bound training kernels split between the SIMD pool's threads (split.ts): BatchNorm
// forward/backward with and without the fused ReLU, ReLU gradient, Add, Cast, MaxPool and its
// gradient, AdamW,
// each on one thread, split between threads, and in the JS loops, against the cpu backend (or the
// tf-op formulas on cpu where the cpu backend has no such kernel). Sizes above and below the split
// threshold, odd row counts and channels that are not a multiple of 4.
import * as tf from '@tensorflow/tfjs-core';
import * as assert from 'node:assert/strict';
import { registerWasmTrainingKernels } from '../../../src/engine/runtime/wasm/kernels';
import { setSimdEnabled } from '../../../src/engine/runtime/wasm/simd';
import { MIN_SPLIT, setSplitCap } from '../../../src/engine/runtime/wasm/split';
import { BN_TRAIN_GRAD_KERNEL, BN_TRAIN_KERNEL } from '../../../src/engine/runtime/wasm/batchnorm';
import { RELU_GRAD_KERNEL } from '../../../src/engine/runtime/wasm/activation-grad';
import { ADAMW_KERNEL } from '../../../src/engine/runtime/optimizer-update';
import { enableFusedLayers } from '../../../src/engine/training/fused-layers';
import { buildReferenceNet } from '../../../src/engine/model/reference-nets';
import { arr, assertClose, compareKernel, ensureWasm, onBackend, runKernelOn, type Arr } from './wasm-test-utils';

const MODES: Array<{ what: string; cap: number; simd: boolean }> = [
  { what: 'one thread', cap: 1, simd: true },
  { what: 'split between threads', cap: Infinity, simd: true },
  { what: 'JS loops', cap: Infinity, simd: false },
];

const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** BatchNorm (batch statistics) and optionally ReLU by tf ops on cpu, differentiated by tfjs: y, mean, variance, dx, dgamma, dbeta. */
async function bnReference(x: Arr, gamma: Arr, beta: Arr, dy: Arr, eps: number, relu: boolean): Promise<Arr[]> {
  return onBackend('cpu', () => {
    const t = (a: Arr): tf.Tensor => tf.tensor(a.data, a.shape);
    const [xt, gt, bt, dyt] = [t(x), t(gamma), t(beta), t(dy)];
    const axes = x.shape.slice(0, -1).map((_, k) => k);
    const f = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor): tf.Tensor => {
      const m = tf.moments(xx, axes);
      const y = tf.batchNorm(xx, m.mean, m.variance, bb, gg, eps);
      return relu ? tf.relu(y) : y;
    };
    const y = f(xt, gt, bt);
    const m = tf.moments(xt, axes);
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => f(a, b, c))([xt, gt, bt], dyt);
    const out = [y, m.mean, m.variance, ...g].map((u) => ({ shape: u.shape, data: u.dataSync().slice() as Float32Array }));
    tf.dispose([xt, gt, bt, dyt, y, m.mean, m.variance, ...g]);
    return out;
  });
}

describe('wasm training kernels split between threads', function () {
  this.timeout(120000);

  before(async () => {
    const info = await ensureWasm();
    assert.ok(info.threads >= 1);
    registerWasmTrainingKernels();
  });

  afterEach(() => {
    setSplitCap(Infinity);
    setSimdEnabled(true);
  });

  const use = (mode: (typeof MODES)[0]): void => {
    setSplitCap(mode.cap);
    setSimdEnabled(mode.simd);
  };

  // Large enough to split (above MIN_SPLIT floats), an odd row count, small, C not a multiple of 4.
  const BN_SHAPES = [
    [32, 16, 16, 8],
    [5, 19, 11, 20],
    [3, 7, 5, 12],
    [4, 9, 9, 6],
  ];

  for (const mode of MODES) {
    for (const relu of [false, true]) {
      it(`BatchNorm training forward and backward${relu ? ' with the fused ReLU' : ''} (${mode.what})`, async () => {
        assert.ok(size(BN_SHAPES[0]) > MIN_SPLIT && size(BN_SHAPES[1]) > MIN_SPLIT);
        for (const [i, shape] of BN_SHAPES.entries()) {
          const C = shape[shape.length - 1];
          const x = arr(shape, 3100 + i, -2, 3);
          const gamma = arr([C], 3110 + i, 0.5, 1.5);
          const beta = arr([C], 3120 + i);
          const dy = arr(shape, 3130 + i);
          const eps = 1e-3;
          use(mode);
          const [y, mean, variance] = await runKernelOn('wasm', BN_TRAIN_KERNEL, { x, gamma, beta }, { epsilon: eps, relu });
          // The kernel's own statistics, as the layer saves them for the gradient.
          const [, , , invstd] = await runKernelOn('wasm', BN_TRAIN_KERNEL, { x, gamma, beta }, { epsilon: eps });
          const [dx, dgamma, dbeta] = await runKernelOn('wasm', BN_TRAIN_GRAD_KERNEL, { dy, x, mean, invstd, gamma, beta }, { relu });
          const ref = await bnReference(x, gamma, beta, dy, eps, relu);
          const what = `${shape} relu=${relu}`;
          assertClose(y, ref[0], 1e-4, `${what} y`);
          if (relu) assert.ok(Math.min(...y.data) === 0, `${what}: the ReLU clamps`);
          assertClose(mean, ref[1], 1e-5, `${what} mean`);
          assertClose(variance, ref[2], 1e-4, `${what} variance`);
          assertClose(dx, ref[3], 1e-4, `${what} dx`);
          assertClose(dgamma, ref[4], 1e-4, `${what} dgamma`);
          assertClose(dbeta, ref[5], 1e-4, `${what} dbeta`);
        }
      });
    }

    it(`ReLU gradient, Add and Cast (${mode.what})`, async () => {
      for (const [i, shape] of [[8, 14, 14, 16], [40001], [5, 7, 3]].entries()) {
        const x = arr(shape, 3200 + i);
        const dy = arr(shape, 3210 + i);
        use(mode);
        const [w] = await runKernelOn('wasm', RELU_GRAD_KERNEL, { dy, x });
        assertClose(w, { shape, data: Float32Array.from(dy.data, (d, k) => (x.data[k] > 0 ? d : 0)) }, 0, `relu grad ${shape}`);
        await compareKernel('Add', { a: x, b: dy }, {}, 0);
        await compareKernel('Cast', { x }, { dtype: 'float32' }, 0);
        await compareKernel('Cast', { x }, { dtype: 'int32' }, 0);
      }
      // Broadcasting and int32: the stock kernel.
      await compareKernel('Add', { a: arr([4, 6, 8], 3220), b: arr([8], 3221) }, {}, 0);
      await compareKernel(
        'Add',
        {
          a: { shape: [5], data: Int32Array.from([1, 2, 3, 4, 5]), dtype: 'int32' },
          b: { shape: [5], data: Int32Array.from([5, 4, 3, 2, -1]), dtype: 'int32' },
        },
        {},
        0,
      );
    });

    it(`MaxPool and MaxPoolGrad 2×2 stride 2, unpadded and 'same' with partial windows (${mode.what})`, async () => {
      for (const [i, [shape, pad]] of (
        [
          [[16, 28, 28, 32], 'valid'],
          [[32, 7, 7, 16], 'same'],
          [[3, 7, 6, 8], 'same'],
          [[2, 9, 9, 12], 'valid'],
          [[2, 5, 5, 6], 'same'],
          [[2, 6, 6, 8], 'same'],
        ] as Array<[number[], 'same' | 'valid']>
      ).entries()) {
        // Some all-negative windows: the first maximum gets the gradient.
        const x = arr(shape, 3300 + i, -3, 1);
        const attrs = { filterSize: 2, strides: 2, pad };
        const [out] = await runKernelOn('cpu', 'MaxPool', { x }, attrs);
        use(mode);
        await compareKernel('MaxPool', { x }, attrs, 0);
        await compareKernel('MaxPoolGrad', { dy: arr(out.shape, 3310 + i), input: x, output: out }, attrs, 1e-6);
      }
    });

    it(`AdamW update (${mode.what})`, async () => {
      const shape = [3, 3, 64, 33];
      const n = size(shape);
      const [p, g] = [arr(shape, 3400), arr(shape, 3401)];
      const [m, v] = [arr(shape, 3402, -0.1, 0.1), arr(shape, 3403, 0, 0.01)];
      const h = { lr: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weightDecay: 0.05, step: 3 };
      use(mode);
      const res = await onBackend('wasm', () => {
        const [pt, gt, mt, vt] = [p, g, m, v].map((a) => tf.tensor(a.data, a.shape));
        const out = tf.engine().runKernel(ADAMW_KERNEL, { param: pt, grad: gt, m: mt, v: vt }, h) as tf.Tensor;
        const r = [out, mt, vt].map((t) => t.dataSync().slice() as Float32Array);
        tf.dispose([pt, gt, mt, vt, out]);
        return r;
      });
      const [bc1, bc2] = [1 - Math.pow(h.beta1, h.step), 1 - Math.pow(h.beta2, h.step)];
      const wantM = m.data.map((mi, k) => h.beta1 * mi + (1 - h.beta1) * g.data[k]);
      const wantV = v.data.map((vi, k) => h.beta2 * vi + (1 - h.beta2) * g.data[k] * g.data[k]);
      const wantP = p.data.map((pi, k) => pi - h.lr * (wantM[k] / bc1 / (Math.sqrt(wantV[k] / bc2) + h.epsilon) + h.weightDecay * pi));
      const flat = (d: ArrayLike<number>): Arr => ({ shape: [n], data: Float32Array.from(d) });
      assertClose(flat(res[0]), flat(wantP), 1e-6, 'adamw param');
      assertClose(flat(res[1]), flat(wantM), 1e-6, 'adamw m');
      assertClose(flat(res[2]), flat(wantV), 1e-6, 'adamw v');
    });
  }

  it('conv-BN-ReLU in training: the ReLU runs inside the BatchNorm kernels on wasm, as its own kernels on cpu', async () => {
    const model = await onBackend('cpu', () => buildReferenceNet('autokeras', [12, 12, 1], 10, { seed: 3, dropout: 0 }));
    // 3 BatchNorms, the 3 ReLU Activations after them, the first convolution, the dropout.
    assert.equal(enableFusedLayers(model), 8);
    const kernels = (backend: string): Promise<string[]> =>
      onBackend(backend, async () => {
        const x = tf.randomNormal([2, 12, 12, 1], 0, 1, 'float32', 7);
        const info = await tf.profile(() => {
          const g = tf.grads((xx: tf.Tensor) => tf.sum(model.apply(xx, { training: true }) as tf.Tensor))([x]);
          tf.dispose(g);
        });
        x.dispose();
        return info.kernels.map((k) => k.name);
      });
    const count = (names: string[], name: string): number => names.filter((n) => n === name).length;
    const onWasm = await kernels('wasm');
    assert.equal(count(onWasm, BN_TRAIN_KERNEL), 3);
    assert.equal(count(onWasm, BN_TRAIN_GRAD_KERNEL), 3);
    assert.equal(count(onWasm, 'Relu') + count(onWasm, RELU_GRAD_KERNEL), 0, onWasm.join(' '));
    const onCpu = await kernels('cpu');
    assert.equal(count(onCpu, 'Relu'), 3);
    model.dispose();
  });
});
