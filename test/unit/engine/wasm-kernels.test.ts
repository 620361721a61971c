// The project's wasm training kernels against the cpu backend.
import * as tf from '@tensorflow/tfjs-core';
import * as assert from 'node:assert/strict';
import * as tfl from '@tensorflow/tfjs-layers';
import { enableFusedLayers } from '../../../src/engine/fused-layers';
import { activeWasmKernelSet, projectWasmKernelNames, registerWasmTrainingKernels, useWasmKernelSet } from '../../../src/engine/wasm/kernels';
import { matMulByTilesEitherWay, multiplyTransposed } from '../../../src/engine/wasm/matmul';
import { setSimdEnabled } from '../../../src/engine/wasm/simd';
import { filterGradByTiles, filterGradByTransposedConv } from '../../../src/engine/wasm/conv-backprop-filter';
import { convByTiles, packFilter, tileConvOf } from '../../../src/engine/wasm/conv-forward';
import { convInfoOf, type BackendWasm } from '../../../src/engine/wasm/kernel-utils';
import { arr, assertClose, compareKernel, ensureWasm, onBackend, runKernelOn, type Arr } from './wasm-test-utils';
import { BN_TRAIN_GRAD_KERNEL, BN_TRAIN_KERNEL } from '../../../src/engine/wasm/batchnorm';
import { RELU_GRAD_KERNEL } from '../../../src/engine/wasm/activation-grad';
import { DROPOUT_MASK_KERNEL } from '../../../src/engine/wasm/dropout';
import { dropoutMask } from '../../../src/engine/dropout-mask';
import { ADAMW_KERNEL, SGD_KERNEL } from '../../../src/engine/optimizer-update';

interface ConvCase {
  x: number[]; // [B, H, W, Cin]
  k: [number, number]; // filter size
  cout: number;
  stride: number | [number, number];
  pad: 'same' | 'valid' | number;
}

const CONV_CASES: ConvCase[] = [
  { x: [2, 8, 8, 3], k: [3, 3], cout: 4, stride: 1, pad: 'same' }, // im2col filter path
  { x: [2, 7, 9, 1], k: [3, 3], cout: 5, stride: 1, pad: 'valid' }, // Cin = 1, odd sizes
  { x: [1, 9, 7, 1], k: [3, 3], cout: 8, stride: 2, pad: 'same' }, // batch 1, stride 2
  { x: [3, 10, 10, 8], k: [3, 3], cout: 6, stride: 2, pad: 'valid' }, // transposed path; unused last row
  { x: [2, 11, 6, 16], k: [3, 3], cout: 16, stride: 1, pad: 'same' },
  { x: [2, 8, 8, 6], k: [1, 1], cout: 7, stride: 2, pad: 'same' }, // 1×1 shortcut
  { x: [2, 9, 9, 5], k: [5, 5], cout: 3, stride: 1, pad: 'same' },
  { x: [2, 6, 7, 4], k: [2, 3], cout: 2, stride: [2, 1], pad: 'valid' }, // anisotropic
  { x: [2, 6, 6, 8], k: [3, 3], cout: 4, stride: 1, pad: 1 }, // explicit padding
  { x: [1, 5, 5, 8], k: [3, 3], cout: 4, stride: 1, pad: 3 }, // padding > kernel-1: fallback paths
  { x: [1, 12, 12, 32], k: [3, 3], cout: 64, stride: 2, pad: 'same' },
  // Stride 1 with x smaller than dy: the filter gradient with x as XNNPACK's filter (taps flipped).
  { x: [4, 7, 9, 8], k: [3, 3], cout: 16, stride: 1, pad: 'same' },
  { x: [3, 8, 6, 6], k: [5, 3], cout: 10, stride: 1, pad: 'valid' },
  { x: [2, 6, 6, 8], k: [3, 3], cout: 12, stride: 1, pad: 2 },
  { x: [8, 40, 40, 5], k: [3, 3], cout: 8, stride: 1, pad: 'same' }, // batch in two chunks
  // Few input channels, Cout a multiple of 4: the SIMD broadcast filter gradient.
  { x: [4, 8, 8, 1], k: [3, 3], cout: 16, stride: 1, pad: 'same' }, // first layer
  { x: [3, 7, 9, 3], k: [3, 3], cout: 12, stride: 1, pad: 'valid' },
  { x: [2, 9, 8, 2], k: [5, 3], cout: 20, stride: [2, 1], pad: 'same' },
  // Batch and channels multiples of 4: the SIMD layout paths.
  { x: [4, 10, 10, 8], k: [3, 3], cout: 8, stride: 2, pad: 'valid' },
  { x: [8, 6, 7, 16], k: [3, 3], cout: 12, stride: 1, pad: 'same' },
  { x: [4, 9, 9, 4], k: [3, 3], cout: 8, stride: 2, pad: 'same' },
  { x: [4, 8, 8, 12], k: [1, 1], cout: 16, stride: 2, pad: 'valid' },
  { x: [4, 11, 10, 8], k: [4, 4], cout: 4, stride: 3, pad: 'same' }, // stride 3, even kernel
  // dx by the SIMD loop with a filter whose Cout is not a multiple of 4: packed by the JS loop.
  { x: [2, 7, 7, 8], k: [3, 3], cout: 5, stride: 1, pad: 'same' },
];

/**
 * Gradients of y[b,oh,ow,c·M+q] = Σ x[b, oh·s+kh·d−top, ow·s+kw·d−left, c]·W[kh,kw,c,q]
 * straight from the definition: w.r.t. the filter (`other` = x) or the input (`other` = W).
 */
function depthwiseByDefinition(
  c: { x: number[]; k: number; mult: number; stride: number; pad: 'same' | 'valid'; dil: number },
  other: Arr, dy: Arr, filterShape: number[], wrt: 'filter' | 'input',
): Arr {
  const info = tf.backend_util.computeConv2DInfo(
    c.x as [number, number, number, number], filterShape as [number, number, number, number], c.stride, c.dil, c.pad, undefined, true);
  const [B, H, W, C] = c.x;
  const M = c.mult;
  const { outHeight: OH, outWidth: OW } = info;
  const out = new Float64Array(wrt === 'filter' ? c.k * c.k * C * M : B * H * W * C);
  for (let b = 0; b < B; b++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    for (let kh = 0; kh < c.k; kh++) for (let kw = 0; kw < c.k; kw++) {
      const ih = oh * c.stride + kh * c.dil - info.padInfo.top;
      const iw = ow * c.stride + kw * c.dil - info.padInfo.left;
      if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
      for (let ch = 0; ch < C; ch++) for (let q = 0; q < M; q++) {
        const g = dy.data[((b * OH + oh) * OW + ow) * C * M + ch * M + q];
        const xi = ((b * H + ih) * W + iw) * C + ch;
        const wi = ((kh * c.k + kw) * C + ch) * M + q;
        if (wrt === 'filter') out[wi] += other.data[xi] * g;
        else out[xi] += other.data[wi] * g;
      }
    }
  }
  return { shape: wrt === 'filter' ? filterShape : c.x, data: Float32Array.from(out) };
}

function convOutShape(c: ConvCase): number[] {
  return tf.tidy(() => tf.conv2d(tf.zeros(c.x) as tf.Tensor as tf.Tensor4D, tf.zeros([...c.k, c.x[3], c.cout]) as tf.Tensor as tf.Tensor4D, c.stride as [number, number], c.pad).shape);
}

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
      await compareKernel('Conv2DBackpropFilter', { x: arr([2, 6, 6, 3], 4), dy: arr([2, 3, 3, 5], 5) }, {
        strides: 2, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 3, 5],
      });
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
        await compareKernel('Conv2DBackpropFilter', { x: arr(c.x, 1), dy: arr(dyShape, 2) }, {
          strides: c.stride, pad: c.pad, dataFormat: 'NHWC', filterShape: [...c.k, c.x[3], c.cout],
        });
        await compareKernel('Conv2DBackpropInput', { dy: arr(dyShape, 3), filter: arr([...c.k, c.x[3], c.cout], 4) }, {
          strides: c.stride, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x,
        });
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

  describe('Conv2DBackpropFilter', () => {
    CONV_CASES.forEach((c, i) => {
      it(`x ${c.x} k ${c.k} cout ${c.cout} stride ${c.stride} pad ${c.pad}`, async () => {
        const dyShape = convOutShape(c);
        await compareKernel('Conv2DBackpropFilter', { x: arr(c.x, 10 + i), dy: arr(dyShape, 100 + i) }, {
          strides: c.stride, pad: c.pad, dataFormat: 'NHWC', filterShape: [...c.k, c.x[3], c.cout],
        });
      });
    });
  });

  describe('Conv2DBackpropFilter: the SIMD tiles, on one thread and split between threads, against the XNNPACK path', () => {
    const cases: ConvCase[] = [
      { x: [6, 14, 14, 32], k: [3, 3], cout: 64, stride: 1, pad: 'same' }, // 2×16 tile
      { x: [5, 9, 7, 8], k: [3, 3], cout: 24, stride: 2, pad: 'valid' }, // 4×8 tile, odd batch
      { x: [3, 8, 8, 16], k: [1, 1], cout: 32, stride: 2, pad: 'same' },
    ];
    for (const c of cases) {
      it(`x ${c.x} k ${c.k} cout ${c.cout} stride ${c.stride} pad ${c.pad}`, async () => {
        const dyShape = convOutShape(c);
        const want = await runKernelOn('cpu', 'Conv2DBackpropFilter', { x: arr(c.x, 41), dy: arr(dyShape, 42) }, {
          strides: c.stride, pad: c.pad, dataFormat: 'NHWC', filterShape: [...c.k, c.x[3], c.cout],
        });
        const got = await onBackend('wasm', () => {
          const backend = tf.backend() as unknown as BackendWasm;
          const x = tf.tensor(arr(c.x, 41).data, c.x);
          const dy = tf.tensor(arr(dyShape, 42).data, dyShape);
          const ci = convInfoOf(c.x, [...c.k, c.x[3], c.cout], { strides: c.stride, pad: c.pad });
          const read = (info: tf.TensorInfo | null): Arr => {
            assert.ok(info !== null, 'the tile path applies');
            const t = tf.engine().makeTensorFromTensorInfo(info);
            const r = { shape: t.shape.slice(), data: t.dataSync().slice() as Float32Array };
            t.dispose();
            return r;
          };
          const before = tf.memory().numTensors;
          const r = {
            one: read(filterGradByTiles(backend, x, dy, ci, 1)),
            split: read(filterGradByTiles(backend, x, dy, ci)),
            xnn: read(filterGradByTransposedConv(backend, x, dy, ci)),
          };
          assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
          tf.dispose([x, dy]);
          return r;
        });
        assertClose(got.one, want[0], 1e-4, 'one thread');
        assertClose(got.split, want[0], 1e-4, 'split between threads');
        assertClose(got.xnn, want[0], 1e-4, 'XNNPACK path');
      });
    }
  });

  describe('Conv2D / FusedConv2D (the SIMD loop where it applies, XNNPACK otherwise)', () => {
    const cases: Array<ConvCase & { activation?: string; bias?: boolean; dil?: number }> = [
      { x: [3, 14, 14, 32], k: [3, 3], cout: 64, stride: 1, pad: 'same', activation: 'relu', bias: true },
      { x: [2, 28, 28, 1], k: [3, 3], cout: 32, stride: 1, pad: 'same', activation: 'relu', bias: true },
      { x: [2, 9, 11, 3], k: [3, 3], cout: 8, stride: 2, pad: 'valid', activation: 'linear', bias: true },
      { x: [2, 9, 11, 4], k: [5, 3], cout: 24, stride: [2, 1], pad: 'same', activation: 'linear', bias: false },
      { x: [1, 12, 10, 8], k: [3, 3], cout: 16, stride: 1, pad: 'same', dil: 2, activation: 'relu', bias: true },
      { x: [2, 6, 6, 8], k: [3, 3], cout: 16, stride: 1, pad: 2, activation: 'relu', bias: true },
      { x: [2, 7, 7, 8], k: [1, 1], cout: 32, stride: 2, pad: 'valid', activation: 'linear', bias: false },
      // Not covered by the loop: the stock kernel runs.
      { x: [2, 8, 8, 4], k: [3, 3], cout: 6, stride: 1, pad: 'same', activation: 'relu', bias: true },
      { x: [2, 8, 8, 4], k: [3, 3], cout: 8, stride: 1, pad: 'same', activation: 'elu', bias: true },
    ];
    cases.forEach((c, i) => {
      it(`x ${c.x} k ${c.k} cout ${c.cout} stride ${c.stride} pad ${c.pad}${c.dil ? ` dilation ${c.dil}` : ''} ${c.activation}${c.bias ? ' + bias' : ''}`, async () => {
        const filter = arr([...c.k, c.x[3], c.cout], 500 + i);
        const attrs = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC', dilations: c.dil ?? 1 };
        await compareKernel('FusedConv2D', { x: arr(c.x, 400 + i), filter, ...(c.bias ? { bias: arr([c.cout], 600 + i) } : {}) }, { ...attrs, activation: c.activation });
        await compareKernel('Conv2D', { x: arr(c.x, 700 + i), filter }, attrs);
      });
    });

    it('gives the same output on one thread and split between threads', async () => {
      const c = { x: [5, 14, 14, 16], k: [3, 3] as [number, number], cout: 32 };
      const res = await onBackend('wasm', () => {
        const backend = tf.backend() as unknown as BackendWasm;
        const x = tf.tensor(arr(c.x, 51).data, c.x);
        const w = tf.tensor(arr([...c.k, c.x[3], c.cout], 52).data, [...c.k, c.x[3], c.cout]);
        const ci = convInfoOf(c.x, w.shape, { strides: 1, pad: 'same' });
        const run = (maxParts: number): Float32Array => {
          const info = convByTiles(backend, x, tileConvOf(ci), packFilter(backend, w, 3, 3, c.x[3], c.cout), null, true, { anyBuild: true, maxParts });
          assert.ok(info !== null, 'the loop applies');
          const t = tf.engine().makeTensorFromTensorInfo(info);
          const d = t.dataSync().slice() as Float32Array;
          t.dispose();
          return d;
        };
        const r = [run(1), run(8)];
        tf.dispose([x, w]);
        return r;
      });
      assert.deepEqual(Array.from(res[1]), Array.from(res[0]));
      assert.ok(res[0].some((v) => v > 0) && res[0].some((v) => v === 0), 'ReLU applied to a real output');
    });
  });

  describe('Conv2DBackpropInput', () => {
    CONV_CASES.forEach((c, i) => {
      it(`x ${c.x} k ${c.k} cout ${c.cout} stride ${c.stride} pad ${c.pad}`, async () => {
        const dyShape = convOutShape(c);
        await compareKernel('Conv2DBackpropInput', { dy: arr(dyShape, 200 + i), filter: arr([...c.k, c.x[3], c.cout], 300 + i) }, {
          strides: c.stride, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x,
        });
      });
    });
  });

  describe('depthwise backprops', () => {
    const cases: Array<{ x: number[]; k: number; mult: number; stride: number; pad: 'same' | 'valid'; dil: number }> = [
      { x: [2, 8, 8, 4], k: 3, mult: 1, stride: 1, pad: 'same', dil: 1 },
      { x: [1, 9, 7, 3], k: 3, mult: 2, stride: 2, pad: 'same', dil: 1 },
      { x: [2, 9, 9, 1], k: 3, mult: 3, stride: 1, pad: 'valid', dil: 1 },
      { x: [2, 10, 10, 5], k: 3, mult: 1, stride: 2, pad: 'valid', dil: 1 },
      { x: [2, 11, 11, 4], k: 3, mult: 1, stride: 1, pad: 'same', dil: 2 },
      { x: [1, 12, 12, 2], k: 3, mult: 2, stride: 1, pad: 'valid', dil: 2 },
      { x: [4, 9, 9, 8], k: 3, mult: 1, stride: 2, pad: 'same', dil: 1 }, // SIMD filter gradient
      { x: [2, 6, 7, 12], k: 5, mult: 1, stride: 1, pad: 'valid', dil: 1 },
    ];
    cases.forEach((c, i) => {
      const name = `x ${c.x} k ${c.k} mult ${c.mult} stride ${c.stride} pad ${c.pad} dilation ${c.dil}`;
      const filterShape = [c.k, c.k, c.x[3], c.mult];
      const outShape = (): number[] => tf.tidy(() => tf.depthwiseConv2d(
        tf.zeros(c.x) as tf.Tensor as tf.Tensor4D, tf.zeros(filterShape) as tf.Tensor as tf.Tensor4D, c.stride, c.pad, 'NHWC', c.dil).shape);
      // The cpu backend ignores dilation in these two kernels (tfjs does not
      // differentiate dilated depthwise convolutions); dilated cases are checked
      // against loops written from the definition instead.
      it(`filter: ${name}`, async () => {
        const x = arr(c.x, 400 + i);
        const dy = arr(outShape(), 500 + i);
        const attrs = { strides: c.stride, pad: c.pad, dilations: c.dil, filterShape };
        if (c.dil === 1) {
          await compareKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, attrs);
        } else {
          const [w] = await runKernelOn('wasm', 'DepthwiseConv2dNativeBackpropFilter', { x, dy }, attrs);
          assertClose(w, depthwiseByDefinition(c, x, dy, filterShape, 'filter'), 1e-4, name);
        }
      });
      it(`input: ${name}`, async () => {
        const dy = arr(outShape(), 600 + i);
        const filter = arr(filterShape, 700 + i);
        const attrs = { strides: c.stride, pad: c.pad, dilations: c.dil, inputShape: c.x };
        if (c.dil === 1) {
          await compareKernel('DepthwiseConv2dNativeBackpropInput', { dy, filter }, attrs);
        } else {
          const [w] = await runKernelOn('wasm', 'DepthwiseConv2dNativeBackpropInput', { dy, filter }, attrs);
          assertClose(w, depthwiseByDefinition(c, filter, dy, filterShape, 'input'), 1e-4, name);
        }
      });
    });
  });

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

  describe('fused kernels (checked against the tf-op formulas on cpu)', () => {
    it('Identity shares data and stays correct after the source is disposed', async () => {
      const [w] = await runKernelOn('wasm', 'Identity', { x: arr([3, 4], 5) });
      assertClose(w, arr([3, 4], 5), 0, 'Identity');
    });

    it('BatchNorm training forward and backward', async () => {
      for (const [i, shape] of [[4, 5, 6, 8], [3, 7], [2, 3, 3, 1], [3, 50, 12]].entries()) {
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
      for (const [shape, rate, seed] of [[[3, 7, 5], 0.25, 9], [[64, 3136], 0.5, 123456], [[2], 0.1, 0], [[4, 4], 0.9, 4294967295]] as const) {
        const want = dropoutMask(shape.reduce((a, b) => a * b, 1), rate, seed);
        for (const simd of [true, false]) {
          setSimdEnabled(simd);
          const [w] = await runKernelOn('wasm', DROPOUT_MASK_KERNEL, {}, { shape, rate, seed });
          setSimdEnabled(true);
          assert.deepEqual(w.shape, shape);
          assert.deepEqual(Array.from(w.data), Array.from(want), `shape ${shape} rate ${rate} seed ${seed} simd=${simd}`);
        }
      }
    });

    it('dropout layer in training: the SIMD mask on the project kernels, tfjs\'s own dropout on the stock ones', async () => {
      const input = tfl.input({ shape: [10, 6] });
      const layer = tfl.layers.dropout({ rate: 0.4 });
      const model = tfl.model({ inputs: input, outputs: layer.apply(input) as tfl.SymbolicTensor });
      enableFusedLayers(model);
      (layer as unknown as { seed: number }).seed = 77;
      const x = arr([3, 10, 6], 2100, 0.5, 1.5); // no zeros: a zero output is a dropped unit
      const run = () => onBackend('wasm', () => {
        const out = model.apply(tf.tensor(x.data, x.shape), { training: true }) as tf.Tensor;
        return out.dataSync().slice();
      });
      const mask = dropoutMask(x.data.length, 0.4, 77);
      assert.deepEqual(Array.from(await run()), Array.from(x.data, (v, i) => Math.fround(v * mask[i])));
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
      const wantP = p.data.map((pi, i) => pi - h.lr * ((wantM[i] / bc1) / (Math.sqrt(wantV[i] / bc2) + h.epsilon) + h.weightDecay * pi));
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
