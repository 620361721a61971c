// The composed Conv2DBackpropFilter (im2col + batched matrix product; used on webgpu) against the
// cpu backend's own kernel, on the cpu backend: the same code path the webgpu backend runs.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as assert from 'node:assert/strict';
import { conv2dBackpropFilterComposed, imagesPerChunk, imagesPerPiece } from '../../../src/engine/runtime/webgpu/conv-backprop';

interface Case {
  x: [number, number, number, number];
  k: [number, number];
  cout: number;
  stride: number | [number, number];
  pad: 'same' | 'valid' | number;
  dilation?: number | [number, number];
  /** Patch elements per piece (forces the batch into pieces). */
  maxElements?: number;
}

const CASES: Case[] = [
  { x: [2, 8, 8, 3], k: [3, 3], cout: 4, stride: 1, pad: 'same' },
  { x: [2, 7, 9, 1], k: [3, 3], cout: 5, stride: 1, pad: 'valid' }, // Cin = 1, odd sizes
  { x: [1, 9, 7, 1], k: [3, 3], cout: 8, stride: 2, pad: 'same' }, // batch 1, stride 2
  { x: [3, 10, 10, 8], k: [3, 3], cout: 6, stride: 2, pad: 'valid' }, // unused last row
  { x: [2, 8, 8, 6], k: [1, 1], cout: 7, stride: 2, pad: 'same' }, // 1×1 shortcut
  { x: [2, 9, 9, 5], k: [5, 5], cout: 3, stride: 1, pad: 'same' },
  { x: [2, 6, 7, 4], k: [2, 3], cout: 2, stride: [2, 1], pad: 'valid' }, // anisotropic
  { x: [2, 6, 6, 8], k: [3, 3], cout: 4, stride: 1, pad: 1 }, // explicit padding
  { x: [12, 6, 6, 4], k: [3, 3], cout: 5, stride: 1, pad: 'same' }, // 36 positions: chunks of several images
  { x: [7, 6, 6, 4], k: [3, 3], cout: 5, stride: 1, pad: 'same', maxElements: 6 * 6 * 9 * 4 * 3 }, // pieces of 3, 3, 1
];

function rand(shape: number[], seed: number): tf.Tensor {
  return tf.randomUniform(shape, -1, 1, 'float32', seed);
}

describe('composed Conv2DBackpropFilter (webgpu)', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  CASES.forEach((c, i) => {
    it(`matches the cpu kernel: x ${c.x.join('×')}, ${c.k.join('×')} → ${c.cout}, stride ${c.stride}, pad ${c.pad}${c.dilation ? `, dilation ${c.dilation}` : ''}${c.maxElements ? ', in pieces' : ''}`, () => {
      const x = rand(c.x, i + 1);
      const filterShape: [number, number, number, number] = [c.k[0], c.k[1], c.x[3], c.cout];
      const y = tf.conv2d(x as tf.Tensor4D, tf.zeros(filterShape) as tf.Tensor4D, c.stride, c.pad, 'NHWC', c.dilation ?? 1);
      const dy = rand(y.shape, 100 + i);
      const attrs = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: undefined, filterShape, dilations: c.dilation ?? 1 };
      const expected = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
      const backend = tf.backend();
      const before = backend.numDataIds();
      const info = conv2dBackpropFilterComposed('cpu', backend, x, dy, attrs, c.maxElements);
      // Only the result is left behind.
      assert.equal(backend.numDataIds(), before + 1);
      const got = tf.engine().makeTensorFromTensorInfo(info);
      assert.deepEqual(got.shape, filterShape);
      const e = expected.dataSync();
      const g = got.dataSync();
      let worst = 0;
      for (let j = 0; j < e.length; j++) worst = Math.max(worst, Math.abs(e[j] - g[j]) / (1 + Math.abs(e[j])));
      assert.ok(worst < 1e-5, `max relative difference ${worst}`);
      tf.dispose([x, y, dy, expected, got]);
    });
  });

  it("refuses dilation, as tfjs-core's conv2d gradient does", () => {
    const x = rand([1, 6, 6, 2], 1);
    const dy = rand([1, 6, 6, 3], 2);
    const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 2, 3], dilations: 2 };
    assert.throws(() => conv2dBackpropFilterComposed('cpu', tf.backend(), x, dy, attrs), /dilation/);
    tf.dispose([x, dy]);
  });

  it('chunks the batch by whole images of at least 1024 positions and pieces it to bound memory', () => {
    assert.equal(imagesPerChunk(256, 28, 28), 2); // 1568 positions a chunk
    assert.equal(imagesPerChunk(256, 14, 14), 8);
    assert.equal(imagesPerChunk(6, 14, 14), 6); // no divisor of 6 reaches 1024 before 6 itself
    assert.equal(imagesPerChunk(3, 7, 7), 3);
    assert.equal(imagesPerPiece(256, 14, 14, 9, 32), 256); // 14.5 M elements: one piece
    assert.equal(imagesPerPiece(256, 64, 64, 9, 64), 14); // 2^25 / (4096·576)
    assert.equal(imagesPerPiece(4, 512, 512, 9, 64), 1); // never less than one image
  });
});
