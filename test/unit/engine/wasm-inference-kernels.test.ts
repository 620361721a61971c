// The project's wasm inference kernels (BatchNorm with moving statistics, ReLU, ReLU6, clipping,
// the pointwise and depthwise convolutions with their activations) against the cpu backend.
import * as assert from 'node:assert/strict';
import { registerWasmTrainingKernels } from '../../../src/engine/runtime/wasm/kernels';
import { inferenceKernelsEnabled, setInferenceKernelsEnabled } from '../../../src/engine/runtime/wasm/inference';
import { arr, compareKernel, ensureWasm } from './wasm-test-utils';

describe('wasm inference kernels', function () {
  this.timeout(60000);

  before(async () => {
    const info = await ensureWasm();
    assert.ok(info.threads >= 1);
    registerWasmTrainingKernels();
    assert.ok(inferenceKernelsEnabled());
  });

  after(() => setInferenceKernelsEnabled(true));

  // Small (one thread), large enough to split between threads, channels not a multiple of 4
  // (the stock kernel), a size with a tail that is not a whole vector.
  const shapes = [
    [2, 3, 3, 8],
    [4, 24, 24, 16],
    [2, 5, 5, 6],
    [3, 7, 5, 12],
    [1, 1, 1, 4],
  ];

  describe('FusedBatchNorm', () => {
    shapes.forEach((shape, i) => {
      const C = shape[3];
      for (const withAffine of [true, false]) {
        it(`x ${shape}${withAffine ? '' : ' without scale and offset'}`, async () => {
          const inputs = {
            x: arr(shape, 2600 + i, -3, 3),
            mean: arr([C], 2610 + i),
            variance: arr([C], 2620 + i, 0.1, 2),
            ...(withAffine ? { scale: arr([C], 2630 + i, 0.5, 1.5), offset: arr([C], 2640 + i) } : {}),
          };
          await compareKernel('FusedBatchNorm', inputs, { varianceEpsilon: 1e-3 }, 1e-5);
        });
      }
    });
  });

  describe('Relu, Relu6, ClipByValue', () => {
    for (const shape of [...shapes, [5, 7, 3], [40001]]) {
      it(`x ${shape}`, async () => {
        const x = arr(shape, 2700 + shape.length, -9, 9);
        await compareKernel('Relu', { x }, {}, 0);
        await compareKernel('Relu6', { x }, {}, 0);
        await compareKernel('ClipByValue', { x }, { clipValueMin: -2.5, clipValueMax: 0.75 }, 0);
      });
    }
  });

  describe('Slice', () => {
    const cases: { shape: number[]; begin: number[]; size: number[]; dtype?: 'int32' }[] = [
      { shape: [16, 5, 5, 3], begin: [0, 0, 0, 0], size: [16, 5, 5, 3] }, // the whole batch (model.predict)
      { shape: [10, 4, 3], begin: [3, 0, 0], size: [5, 4, 3] }, // contiguous: a copy
      { shape: [6, 4, 3], begin: [2, 1, 0], size: [1, 2, 3] }, // contiguous inside one row
      { shape: [6, 4, 3], begin: [1, 1, 0], size: [2, 2, 3] }, // not contiguous: the stock kernel
      { shape: [7, 5], begin: [2, 0], size: [3, -1], dtype: 'int32' },
      { shape: [7, 5], begin: [2, 0], size: [0, 5] },
    ];
    for (const c of cases) {
      it(`x ${c.shape} begin ${c.begin} size ${c.size}${c.dtype ? ` ${c.dtype}` : ''}`, async () => {
        const a = arr(c.shape, 3000, -9, 9);
        const x = c.dtype === 'int32' ? { ...a, data: Int32Array.from(a.data, Math.round), dtype: 'int32' as const } : a;
        await compareKernel('Slice', { x }, { begin: c.begin, size: c.size }, 0);
      });
    }
  });

  describe('FusedConv2D with ReLU6 (the SIMD loop clamps as it stores)', () => {
    const cases: { x: number[]; k: number; cout: number; stride: number; pad: unknown; bias: boolean }[] = [
      {
        x: [2, 9, 9, 3],
        k: 3,
        cout: 32,
        stride: 2,
        pad: [
          [0, 0],
          [0, 1],
          [0, 1],
          [0, 0],
        ],
        bias: true,
      }, // MobileNetV2's first layer
      { x: [3, 7, 7, 24], k: 1, cout: 48, stride: 1, pad: 'valid', bias: true }, // pointwise
      { x: [2, 6, 5, 16], k: 1, cout: 8, stride: 1, pad: 'same', bias: false },
      {
        x: [2, 8, 8, 8],
        k: 3,
        cout: 16,
        stride: 1,
        pad: [
          [0, 0],
          [1, 2],
          [2, 0],
          [0, 0],
        ],
        bias: true,
      },
    ];
    cases.forEach((c, i) => {
      it(`x ${c.x} k ${c.k} cout ${c.cout} stride ${c.stride} pad ${JSON.stringify(c.pad)}`, async () => {
        const inputs = {
          x: arr(c.x, 2900 + i, -4, 4),
          filter: arr([c.k, c.k, c.x[3], c.cout], 2910 + i),
          ...(c.bias ? { bias: arr([c.cout], 2920 + i) } : {}),
        };
        await compareKernel('FusedConv2D', inputs, { strides: c.stride, pad: c.pad, dataFormat: 'NHWC', dilations: 1, activation: 'relu6' });
      });
    });
  });

  it('the stock kernels while switched off', async () => {
    setInferenceKernelsEnabled(false);
    try {
      await compareKernel('Relu6', { x: arr([4, 24, 24, 16], 2800, -9, 9) }, {}, 0);
      await compareKernel(
        'FusedBatchNorm',
        { x: arr([2, 4, 4, 8], 2801), mean: arr([8], 2802), variance: arr([8], 2803, 0.1, 2) },
        { varianceEpsilon: 1e-3 },
        1e-5,
      );
    } finally {
      setInferenceKernelsEnabled(true);
    }
  });
});
