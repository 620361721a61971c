// The project's wasm convolution kernels (forward, filter and input gradients, depthwise)
// against the cpu backend.
import * as tf from '@tensorflow/tfjs-core';
import * as assert from 'node:assert/strict';
import { registerWasmTrainingKernels } from '../../../src/engine/runtime/wasm/kernels';
import { filterGradByTiles, filterGradByTransposedConv, pointwiseAsBlocks, pointwiseBlock } from '../../../src/engine/runtime/wasm/conv-backprop-filter';
import { convByTiles, packFilter, tileConvOf } from '../../../src/engine/runtime/wasm/conv-forward';
import { convInfoOf, type BackendWasm } from '../../../src/engine/runtime/wasm/kernel-utils';
import { arr, assertClose, compareKernel, CONV_CASES, convOutShape, ensureWasm, onBackend, runKernelOn, type Arr, type ConvCase } from './wasm-test-utils';

/**
 * Gradients of y[b,oh,ow,c·M+q] = Σ x[b, oh·s+kh·d−top, ow·s+kw·d−left, c]·W[kh,kw,c,q]
 * straight from the definition: w.r.t. the filter (`other` = x) or the input (`other` = W).
 */
function depthwiseByDefinition(
  c: { x: number[]; k: number; mult: number; stride: number; pad: 'same' | 'valid'; dil: number },
  other: Arr,
  dy: Arr,
  filterShape: number[],
  wrt: 'filter' | 'input',
): Arr {
  const info = tf.backend_util.computeConv2DInfo(
    c.x as [number, number, number, number],
    filterShape as [number, number, number, number],
    c.stride,
    c.dil,
    c.pad,
    undefined,
    true,
  );
  const [B, H, W, C] = c.x;
  const M = c.mult;
  const { outHeight: OH, outWidth: OW } = info;
  const out = new Float64Array(wrt === 'filter' ? c.k * c.k * C * M : B * H * W * C);
  for (let b = 0; b < B; b++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++) {
        for (let kh = 0; kh < c.k; kh++)
          for (let kw = 0; kw < c.k; kw++) {
            const ih = oh * c.stride + kh * c.dil - info.padInfo.top;
            const iw = ow * c.stride + kw * c.dil - info.padInfo.left;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            for (let ch = 0; ch < C; ch++)
              for (let q = 0; q < M; q++) {
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

describe('wasm training kernels: convolutions', function () {
  this.timeout(60000);

  before(async () => {
    const info = await ensureWasm();
    assert.ok(info.threads >= 1);
    registerWasmTrainingKernels();
  });

  describe('Conv2DBackpropFilter', () => {
    CONV_CASES.forEach((c, i) => {
      it(`x ${c.x} k ${c.k} cout ${c.cout} stride ${c.stride} pad ${c.pad}`, async () => {
        const dyShape = convOutShape(c);
        await compareKernel(
          'Conv2DBackpropFilter',
          { x: arr(c.x, 10 + i), dy: arr(dyShape, 100 + i) },
          {
            strides: c.stride,
            pad: c.pad,
            dataFormat: 'NHWC',
            filterShape: [...c.k, c.x[3], c.cout],
          },
        );
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
        const want = await runKernelOn(
          'cpu',
          'Conv2DBackpropFilter',
          { x: arr(c.x, 41), dy: arr(dyShape, 42) },
          {
            strides: c.stride,
            pad: c.pad,
            dataFormat: 'NHWC',
            filterShape: [...c.k, c.x[3], c.cout],
          },
        );
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

  describe('Conv2DBackpropFilter of pointwise convolutions, in blocks of pixels', () => {
    it('picks blocks that divide the pixels, give every thread one, and stay small for wide layers', () => {
      assert.equal(pointwiseBlock(65536, 16, 96, 2), 512); // 64×64×16 → 96, batch 16: 128 blocks
      assert.equal(pointwiseBlock(256, 320, 1280, 2), 128); // 4×4, batch 16: one block a thread, not 16 images of 16 pixels
      assert.equal(pointwiseBlock(1024, 384, 64, 2), 128); // at least 128 pixels
      assert.equal(pointwiseBlock(77, 8, 8, 2), 11); // the largest divisor ≤ 77 / 2
      assert.equal(pointwiseBlock(13, 8, 8, 2), 1); // a prime: pixel by pixel
      assert.equal(pointwiseBlock(300, 16, 32, 1), 300); // one thread, small layer: one block
    });

    it('applies only to 1×1, stride-1, unpadded convolutions', () => {
      const ci = (x: number[], k: number, cout: number, stride: number, pad: 'same' | 'valid' | number) =>
        convInfoOf(x, [k, k, x[3]!, cout], { strides: stride, pad });
      const blocks = pointwiseAsBlocks(ci([3, 10, 10, 16], 1, 32, 1, 'same'), 2)!;
      assert.deepEqual([blocks.batchSize, blocks.inHeight, blocks.inWidth, blocks.outHeight, blocks.outWidth], [2, 1, 150, 1, 150]);
      assert.equal(pointwiseAsBlocks(ci([3, 10, 10, 16], 1, 32, 2, 'same'), 2), null);
      assert.equal(pointwiseAsBlocks(ci([3, 10, 10, 16], 3, 32, 1, 'same'), 2), null);
      assert.equal(pointwiseAsBlocks(ci([3, 10, 10, 16], 1, 32, 1, 1), 2), null);
    });

    const cases: ConvCase[] = [
      { x: [3, 10, 10, 16], k: [1, 1], cout: 32, stride: 1, pad: 'same' }, // 2 blocks of 150 pixels
      { x: [1, 7, 11, 8], k: [1, 1], cout: 24, stride: 1, pad: 'valid' }, // 7 blocks of 11, 4×8 tile
      { x: [16, 4, 4, 32], k: [1, 1], cout: 128, stride: 1, pad: 'same' }, // images merged into blocks
    ];
    cases.forEach((c, i) => {
      it(`x ${c.x} → ${c.cout} against the cpu backend`, async () => {
        await compareKernel(
          'Conv2DBackpropFilter',
          { x: arr(c.x, 800 + i), dy: arr(convOutShape(c), 900 + i) },
          { strides: c.stride, pad: c.pad, dataFormat: 'NHWC', filterShape: [...c.k, c.x[3], c.cout] },
        );
      });
    });
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
        await compareKernel(
          'FusedConv2D',
          { x: arr(c.x, 400 + i), filter, ...(c.bias ? { bias: arr([c.cout], 600 + i) } : {}) },
          { ...attrs, activation: c.activation },
        );
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
        await compareKernel(
          'Conv2DBackpropInput',
          { dy: arr(dyShape, 200 + i), filter: arr([...c.k, c.x[3], c.cout], 300 + i) },
          {
            strides: c.stride,
            pad: c.pad,
            dataFormat: 'NHWC',
            inputShape: c.x,
          },
        );
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
      const outShape = (): number[] =>
        tf.tidy(
          () =>
            tf.depthwiseConv2d(tf.zeros(c.x) as tf.Tensor as tf.Tensor4D, tf.zeros(filterShape) as tf.Tensor as tf.Tensor4D, c.stride, c.pad, 'NHWC', c.dil)
              .shape,
        );
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
});
