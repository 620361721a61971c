// The project's wasm training kernels against the cpu backend: registration, the plain JS
// fallbacks, pooling gradients, matrix products and reductions. Convolutions are in
// wasm-conv-kernels.test.ts, the fused kernels in wasm-fused-kernels.test.ts.
import * as tf from '@tensorflow/tfjs-core';
import * as assert from 'node:assert/strict';
import { activeWasmKernelSet, projectWasmKernelNames, registerWasmTrainingKernels, useWasmKernelSet } from '../../../src/engine/runtime/wasm/kernels';
import { matMulByTilesEitherWay, multiplyTransposed } from '../../../src/engine/runtime/wasm/matmul';
import { setSimdEnabled } from '../../../src/engine/runtime/wasm/simd';
import { type BackendWasm } from '../../../src/engine/runtime/wasm/kernel-utils';
import { arr, assertClose, compareKernel, convOutShape, ensureWasm, onBackend, runKernelOn, type Arr } from './wasm-test-utils';
import { BN_TRAIN_KERNEL } from '../../../src/engine/runtime/wasm/batchnorm';
import { RELU_GRAD_KERNEL } from '../../../src/engine/runtime/wasm/activation-grad';
import { DROPOUT_MASK_KERNEL } from '../../../src/engine/runtime/wasm/dropout';
import { ADAMW_KERNEL } from '../../../src/engine/runtime/optimizer-update';

describe('wasm training kernels', function () {
  this.timeout(60000);

  before(async () => {
    const info = await ensureWasm();
    assert.ok(info.threads >= 1);
    registerWasmTrainingKernels();
  });

  it('are registered for wasm only', () => {
    assert.equal(activeWasmKernelSet(), 'project');
    for (const name of projectWasmKernelNames()) {
      assert.ok(tf.getKernel(name, 'wasm') !== undefined, `${name} registered for wasm`);
    }
    for (const name of [BN_TRAIN_KERNEL, RELU_GRAD_KERNEL, ADAMW_KERNEL]) {
      assert.equal(tf.getKernel(name, 'cpu'), undefined, `${name} must not exist on cpu`);
    }
  });

  it('switch to the stock kernels (+ naive Conv2DBackpropFilter) and back', async () => {
    try {
      useWasmKernelSet('stock');
      assert.equal(activeWasmKernelSet(), 'stock');
      // Kernels only the project has are gone (not mistaken for stock ones).
      for (const name of [BN_TRAIN_KERNEL, RELU_GRAD_KERNEL, ADAMW_KERNEL, DROPOUT_MASK_KERNEL]) {
        assert.equal(tf.getKernel(name, 'wasm'), undefined, `${name} in the stock set`);
      }
      // Stock kernels whose setup never ran while ours were registered must work.
      await compareKernel('BatchMatMul', { a: arr([3, 5], 1), b: arr([4, 5], 2) }, { transposeA: false, transposeB: true });
      await compareKernel('Sum', { x: arr([4, 3, 8], 3) }, { axis: [0, 1], keepDims: false });
      await compareKernel(
        'Conv2DBackpropFilter',
        { x: arr([2, 6, 6, 3], 4), dy: arr([2, 3, 3, 5], 5) },
        {
          strides: 2,
          pad: 'same',
          dataFormat: 'NHWC',
          filterShape: [3, 3, 3, 5],
        },
      );
    } finally {
      registerWasmTrainingKernels();
    }
    assert.equal(activeWasmKernelSet(), 'project');
  });

  for (const simd of [false]) {
    describe(`plain JS fallbacks (SIMD ${simd ? 'on' : 'off'})`, () => {
      before(() => setSimdEnabled(simd));
      after(() => setSimdEnabled(true));
      it('Conv2DBackpropFilter / Input with SIMD-friendly sizes', async () => {
        const c = { x: [4, 9, 9, 8], k: [3, 3] as [number, number], cout: 8, stride: 2, pad: 'same' as const };
        const dyShape = convOutShape(c);
        await compareKernel(
          'Conv2DBackpropFilter',
          { x: arr(c.x, 1), dy: arr(dyShape, 2) },
          {
            strides: c.stride,
            pad: c.pad,
            dataFormat: 'NHWC',
            filterShape: [...c.k, c.x[3], c.cout],
          },
        );
        await compareKernel(
          'Conv2DBackpropInput',
          { dy: arr(dyShape, 3), filter: arr([...c.k, c.x[3], c.cout], 4) },
          {
            strides: c.stride,
            pad: c.pad,
            dataFormat: 'NHWC',
            inputShape: c.x,
          },
        );
      });
      it('MaxPoolGrad 2×2, Sum, Mean with channels a multiple of 4', async () => {
        const x = arr([2, 6, 7, 8], 5, -3, 1);
        const attrs = { filterSize: 2, strides: 2, pad: 'valid' };
        const res: Arr[][] = [];
        for (const backend of ['wasm', 'cpu']) {
          const [y] = await runKernelOn(backend, 'MaxPool', { x }, attrs);
          res.push(await runKernelOn(backend, 'MaxPoolGrad', { dy: arr(y.shape, 6), input: x, output: y }, attrs));
        }
        assertClose(res[0][0], res[1][0], 1e-5, 'MaxPoolGrad');
        await compareKernel('Sum', { x: arr([4, 5, 6, 8], 7) }, { axis: [0, 1, 2], keepDims: false });
        await compareKernel('Mean', { x: arr([4, 5, 6, 8], 8) }, { axis: [1, 2], keepDims: true });
      });
    });
  }

  describe('MaxPoolGrad / AvgPoolGrad', () => {
    const cases: Array<{ x: number[]; f: number; s: number; pad: 'same' | 'valid' }> = [
      { x: [2, 8, 8, 3], f: 2, s: 2, pad: 'valid' },
      { x: [1, 7, 9, 5], f: 2, s: 2, pad: 'same' },
      { x: [2, 7, 7, 4], f: 3, s: 2, pad: 'same' },
      { x: [2, 6, 6, 2], f: 3, s: 1, pad: 'same' },
      { x: [3, 14, 14, 32], f: 2, s: 2, pad: 'valid' },
      { x: [2, 7, 9, 4], f: 2, s: 2, pad: 'valid' }, // SIMD path, odd sizes
      { x: [2, 8, 6, 8], f: 2, s: 2, pad: 'same' }, // SIMD path (no padding needed)
    ];
    const grad = async (kernel: 'MaxPoolGrad' | 'AvgPoolGrad', c: (typeof cases)[0], x: Arr, seed: number): Promise<void> => {
      const attrs = { filterSize: c.f, strides: c.s, pad: c.pad };
      const outShape = tf.tidy(() => tf.maxPool(tf.zeros(c.x) as tf.Tensor as tf.Tensor4D, c.f, c.s, c.pad).shape);
      const dy = arr(outShape, seed);
      if (kernel === 'AvgPoolGrad') {
        await compareKernel(kernel, { dy, input: x }, attrs);
        return;
      }
      // MaxPoolGrad also takes the forward output; compute it per backend.
      const results: Arr[][] = [];
      for (const backend of ['wasm', 'cpu']) {
        const [y] = await runKernelOn(backend, 'MaxPool', { x }, attrs);
        results.push(await runKernelOn(backend, kernel, { dy, input: x, output: y }, attrs));
      }
      assertClose(results[0][0], results[1][0], 1e-5, `${kernel} ${JSON.stringify(c)}`);
    };
    cases.forEach((c, i) => {
      it(`MaxPoolGrad ${JSON.stringify(c)}`, () => grad('MaxPoolGrad', c, arr(c.x, 800 + i), 900 + i));
      it(`AvgPoolGrad ${JSON.stringify(c)}`, () => grad('AvgPoolGrad', c, arr(c.x, 1000 + i), 1100 + i));
    });
    it('MaxPoolGrad routes the gradient correctly when whole windows are negative', async () => {
      for (const [i, c] of cases.entries()) {
        await grad('MaxPoolGrad', c, arr(c.x, 1200 + i, -5, -0.5), 1300 + i);
      }
    });
  });

  describe('BatchMatMul', () => {
    const cases: Array<{ a: number[]; b: number[]; ta: boolean; tb: boolean }> = [
      { a: [5, 7], b: [7, 3], ta: false, tb: false },
      { a: [7, 5], b: [7, 3], ta: true, tb: false },
      { a: [5, 7], b: [3, 7], ta: false, tb: true },
      { a: [7, 5], b: [3, 7], ta: true, tb: true },
      { a: [1, 33], b: [33, 10], ta: false, tb: false },
      { a: [64, 130], b: [64, 20], ta: true, tb: false }, // dense weight gradient shape
      { a: [3, 4, 6], b: [3, 6, 5], ta: false, tb: false }, // batched
      { a: [2, 6, 4], b: [1, 5, 6], ta: true, tb: true }, // batched, broadcast b
      // Computed transposed (outᵀ = bᵀ·aᵀ packs the smaller operand): dense forward and input gradient.
      { a: [8, 96], b: [96, 32], ta: false, tb: false },
      { a: [8, 32], b: [96, 32], ta: false, tb: true },
      { a: [1, 6, 30], b: [30, 41], ta: false, tb: false }, // odd sizes: the backend's transposes
    ];
    it('packs the smaller operand: a dense layer at batch 64 computes its input gradient transposed, its weight gradient directly', () => {
      // 3136 → 128 dense layer, batch 64.
      assert.equal(multiplyTransposed(64, 128, 3136, false, true), true, 'dY·Wᵀ packs dYᵀ (128×64), not Wᵀ (128×3136)');
      assert.equal(multiplyTransposed(64, 3136, 128, false, false), true, 'X·W packs Xᵀ (3136×64), not W (3136×128)');
      assert.equal(multiplyTransposed(3136, 64, 128, true, false), false, 'Xᵀ·dY packs dY (64×128) as it is');
      assert.equal(multiplyTransposed(128, 3136, 10, false, false), false, 'a narrow b stays the packed operand');
      // The SIMD loop packs by a copy: only the input gradient is worth transposing.
      assert.equal(multiplyTransposed(64, 3136, 128, false, false, true), false, 'X·W: W copied in blocks');
      assert.equal(multiplyTransposed(64, 128, 3136, false, true, true), true, 'dY·Wᵀ: dYᵀ (128×64) packed');
      assert.equal(multiplyTransposed(3136, 64, 128, true, false, true), false, 'Xᵀ·dY: dY packed');
    });
    cases.forEach((c, i) => {
      it(`${c.a} × ${c.b} transposeA ${c.ta} transposeB ${c.tb}`, async () => {
        await compareKernel('BatchMatMul', { a: arr(c.a, 1400 + i), b: arr(c.b, 1500 + i) }, { transposeA: c.ta, transposeB: c.tb });
      });
    });
    it('by the SIMD loop: all four transpose combinations, directly and transposed, on one thread and split', async () => {
      const [M, K, N] = [24, 37, 40];
      for (const ta of [false, true]) {
        for (const tb of [false, true]) {
          const aShape = ta ? [K, M] : [M, K];
          const bShape = tb ? [N, K] : [K, N];
          const a = arr(aShape, 1600 + (ta ? 1 : 0));
          const b = arr(bShape, 1700 + (tb ? 1 : 0));
          const [want] = await runKernelOn('cpu', 'BatchMatMul', { a, b }, { transposeA: ta, transposeB: tb });
          for (const swap of [false, true]) {
            for (const maxParts of [1, 8]) {
              const got = await onBackend('wasm', () => {
                const backend = tf.backend() as unknown as BackendWasm;
                const at = tf.tensor(a.data, aShape);
                const bt = tf.tensor(b.data, bShape);
                const before = tf.memory().numTensors;
                const info = matMulByTilesEitherWay(backend, at, bt, M, K, N, ta, tb, { anyBuild: true, maxParts, swap });
                assert.ok(info !== null, 'the loop applies');
                const t = tf.engine().makeTensorFromTensorInfo(info);
                const r = { shape: t.shape.slice(), data: t.dataSync().slice() as Float32Array };
                t.dispose();
                assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
                tf.dispose([at, bt]);
                return r;
              });
              assertClose(got, want, 1e-4, `transposeA ${ta} transposeB ${tb} swap ${swap} parts ${maxParts}`);
            }
          }
        }
      }
    });
  });

  describe('Tile, Sum, Mean', () => {
    it('Tile float32 and int32', async () => {
      await compareKernel('Tile', { x: arr([2, 3], 1) }, { reps: [2, 2] });
      await compareKernel('Tile', { x: arr([1, 1, 1, 5], 2) }, { reps: [4, 3, 2, 1] });
      await compareKernel('Tile', { x: arr([3, 1, 2], 3) }, { reps: [1, 4, 3] });
      await compareKernel('Tile', { x: { shape: [2, 2], data: new Int32Array([1, -2, 3, 4]), dtype: 'int32' } }, { reps: [3, 2] });
    });
    const cases: Array<{ shape: number[]; axis: number | number[]; keepDims: boolean }> = [
      { shape: [4, 5, 6, 7], axis: [0, 1, 2], keepDims: false }, // bias / BatchNorm gradient
      { shape: [4, 5, 6, 7], axis: [1, 2], keepDims: true }, // global average pooling
      { shape: [4, 5, 6, 7], axis: [0], keepDims: false },
      { shape: [4, 5, 6, 7], axis: [3], keepDims: false }, // innermost: stock path
      { shape: [4, 5, 6, 7], axis: [-2, -3], keepDims: false },
      { shape: [4, 5, 6, 7], axis: [0, 2], keepDims: true }, // non-contiguous: stock path
      { shape: [9, 1], axis: [0], keepDims: false },
      { shape: [4, 5, 6, 8], axis: [0, 1, 2], keepDims: false }, // SIMD column sums
      { shape: [3, 70, 12], axis: [1], keepDims: true }, // A > 1, more rows than a block
    ];
    cases.forEach((c, i) => {
      it(`Sum and Mean ${JSON.stringify(c)}`, async () => {
        await compareKernel('Sum', { x: arr(c.shape, 1600 + i) }, { axis: c.axis, keepDims: c.keepDims });
        await compareKernel('Mean', { x: arr(c.shape, 1700 + i) }, { axis: c.axis, keepDims: c.keepDims });
      });
    });
  });
});
