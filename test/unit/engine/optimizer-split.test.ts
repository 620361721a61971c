// The split optimizer kernels' contract (used on webgpu, whose programs write one output): state
// and weights each from one kernel, new tensors returned. Checked here with reference kernels of
// those names on the cpu backend, against the op-by-op arithmetic; the WGSL itself was checked on a GPU.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as assert from 'node:assert/strict';
import {
  ADAMW_PARAM_KERNEL,
  MOMENT_KERNEL,
  SGD_PARAM_KERNEL,
  adamwUpdate,
  sgdUpdate,
  splitKernelsAvailable,
} from '../../../src/engine/runtime/optimizer-update';

type Backend = { data: { get(id: object): { values: Float32Array } }; makeTensorInfo(shape: number[], dtype: 'float32', values: Float32Array): tf.TensorInfo };
const vals = (b: Backend, t: tf.TensorInfo) => b.data.get(t.dataId).values;

function elementwise(name: string, fn: (i: number, x: Record<string, Float32Array>, a: Record<string, number | boolean>) => number): tf.KernelConfig {
  return {
    kernelName: name,
    backendName: 'cpu',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const b = backend as unknown as Backend;
      const x = Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, vals(b, t as tf.TensorInfo)]));
      const first = Object.values(inputs)[0] as tf.TensorInfo;
      const out = new Float32Array(x[Object.keys(x)[0]].length);
      for (let i = 0; i < out.length; i++) out[i] = fn(i, x, attrs as Record<string, number | boolean>);
      return b.makeTensorInfo(first.shape, 'float32', out);
    },
  };
}

const REFERENCE = [
  elementwise(MOMENT_KERNEL, (i, x, a) => (a.decay as number) * x.s[i] + (a.scale as number) * (a.square ? x.g[i] * x.g[i] : x.g[i])),
  elementwise(ADAMW_PARAM_KERNEL, (i, x, a) => {
    const step = x.m[i] / (a.bc1 as number) / (Math.sqrt(x.v[i] / (a.bc2 as number)) + (a.epsilon as number)) + (a.weightDecay as number) * x.p[i];
    return x.p[i] - (a.lr as number) * step;
  }),
  elementwise(SGD_PARAM_KERNEL, (i, x, a) => {
    const d = a.nesterov ? x.g[i] + (a.momentum as number) * x.b[i] : x.b[i];
    return x.p[i] - (a.lr as number) * (d + (a.weightDecay as number) * x.p[i]);
  }),
];

function close(a: tf.Tensor, b: tf.Tensor): void {
  const x = a.dataSync();
  const y = b.dataSync();
  for (let i = 0; i < x.length; i++) assert.ok(Math.abs(x[i] - y[i]) <= 1e-6 * (1 + Math.abs(y[i])), `${i}: ${x[i]} vs ${y[i]}`);
}

describe('split optimizer kernels (webgpu contract)', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });
  afterEach(() => {
    for (const k of REFERENCE) if (tf.getKernel(k.kernelName, 'cpu')) tf.unregisterKernel(k.kernelName, 'cpu');
  });

  it('AdamW and SGD (plain and Nesterov) through the split kernels equal the op-by-op update', () => {
    const p = tf.randomNormal([5, 7], 0, 1, 'float32', 1);
    const g = tf.randomNormal([5, 7], 0, 1, 'float32', 2);
    const m = tf.randomNormal([5, 7], 0, 0.1, 'float32', 3);
    const v = tf.abs(tf.randomNormal([5, 7], 0, 0.1, 'float32', 4));
    const h = { lr: 3e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weightDecay: 1e-2, step: 7 };
    const s = { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 };
    assert.equal(splitKernelsAvailable(), false);
    const opsA = adamwUpdate(false, p, g, m, v, h);
    const opsS = sgdUpdate(false, p, g, m, { ...s, nesterov: false });
    const opsN = sgdUpdate(false, p, g, m, { ...s, nesterov: true });
    for (const k of REFERENCE) tf.registerKernel(k);
    assert.equal(splitKernelsAvailable(), true);
    const before = tf.memory().numTensors;
    const kA = adamwUpdate(false, p, g, m, v, h);
    // Three new tensors and nothing else; the old state is left to the caller.
    assert.equal(tf.memory().numTensors, before + 3);
    assert.ok(kA.m !== m && kA.v !== v);
    close(kA.param, opsA.param);
    close(kA.m, opsA.m);
    close(kA.v, opsA.v);
    const kS = sgdUpdate(false, p, g, m, { ...s, nesterov: false });
    close(kS.param, opsS.param);
    close(kS.m, opsS.m);
    const kN = sgdUpdate(false, p, g, m, { ...s, nesterov: true });
    close(kN.param, opsN.param);
    close(kN.m, opsN.m);
    tf.dispose([p, g, m, v, opsA.param, opsA.m, opsA.v, opsS.param, opsS.m, opsN.param, opsN.m, kA.param, kA.m, kA.v, kS.param, kS.m, kN.param, kN.m]);
  });
});
