// The ONNX export checked by ONNX Runtime: every model family the search builds, a transfer model
// as the product assembles it (a small backbone with the layers of Keras MobileNet and Inception,
// and nsfwjs's real MobileNetV2), an ensemble and mirror-image test-time augmentation are saved,
// exported with convertLayersModel, run in onnxruntime-node on real images and compared with the
// TF.js model's scores (max abs diff ≤ 1e-4).
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { loadBackbone } from '../../../src/engine/model/backbone';
import { type ModelShape, buildModel } from '../../../src/engine/model/build';
import { buildEnsembleModel } from '../../../src/engine/model/ensemble';
import { buildFlipTtaModel } from '../../../src/engine/model/flip-tta';
import { loadModel, saveModel } from '../../../src/engine/model/io';
import { extractNsfwjsModel, nsfwjsRoot } from '../../../src/engine/model/nsfwjs';
import { convertLayersModel } from '../../../src/engine/model/onnx/convert';
import { decodeModel } from '../../../src/engine/model/onnx/proto';
import type { TrialConfig } from '../../../src/shared/protocol';
import { imageBatch, maxAbsDiff, randomiseBatchNorm, runOnnx } from './onnx-helpers';

const TOLERANCE = 1e-4;
const diffs: Record<string, number> = {};

/** Exports the model saved in `dir`, runs it in ONNX Runtime and TF.js on `n` real images; returns the max abs diff. */
async function check(label: string, dir: string, n = 6): Promise<{ diff: number; ops: Set<string> }> {
  const model = await loadModel(dir);
  const [, h, w, c] = model.inputs[0].shape as number[];
  const { x } = await imageBatch(n, h, w, c as 1 | 3);
  const shape = [n, h, w, c];
  const want = tf.tidy(() => (model.predict(tf.tensor4d(x, shape as [number, number, number, number])) as tf.Tensor).dataSync() as Float32Array);
  model.dispose();
  const converted = convertLayersModel(dir);
  const got = await runOnnx(converted.bytes, x, shape);
  const diff = maxAbsDiff(got, want);
  diffs[label] = diff;
  // The scores are not all alike (a broken graph often gives constant or uniform outputs).
  assert.ok(Math.max(...want) - Math.min(...want) > 1e-3, `${label}: the TF.js scores vary`);
  assert.ok(diff <= TOLERANCE, `${label}: max abs diff ${diff} > ${TOLERANCE}`);
  return { diff, ops: new Set(converted.proto.graph.node.map((nd) => nd.opType)) };
}

describe('ONNX export, checked by onnxruntime-node', function () {
  this.timeout(120_000);
  let dir: string;
  before(async () => {
    await tf.setBackend('cpu');
    dir = mkdtempSync(join(tmpdir(), 'automl-onnx-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
    console.log(
      `      max abs diff ONNX Runtime vs TF.js: ${Object.entries(diffs)
        .map(([k, v]) => `${k} ${v.toExponential(1)}`)
        .join(', ')}`,
    );
  });

  const gray: ModelShape = { inputShape: [28, 28, 1], numClasses: 10, multiLabel: false, mean: 72, std: 90 };
  const rgb: ModelShape = { inputShape: [32, 32, 3], numClasses: 4, multiLabel: false, mean: 110, std: 64 };

  async function saved(name: string, config: TrialConfig, shape: ModelShape, seed: number): Promise<string> {
    const m = buildModel(config, shape, seed);
    if (JSON.stringify(config).includes('batchnorm') || config.family !== 'convnet') assert.ok(randomiseBatchNorm(m, seed) > 0);
    await saveModel(m, join(dir, name));
    m.dispose();
    return join(dir, name);
  }

  const convnetBn: TrialConfig = {
    family: 'convnet',
    'convnet/blocks': 2,
    'convnet/filters': 6,
    'convnet/convs_per_block': 2,
    'convnet/batchnorm': true,
    'convnet/head': 'flatten',
    'convnet/dense': 16,
    'convnet/dropout': 0.3,
  };

  it('convnet (conv + BatchNorm + max pooling, flatten in NHWC order, dense, dropout, softmax) on the fashion PNGs', async () => {
    const { ops } = await check('convnet', await saved('convnet', convnetBn, gray, 1));
    for (const op of ['Conv', 'BatchNormalization', 'Relu', 'MaxPool', 'Flatten', 'Gemm', 'Softmax']) assert.ok(ops.has(op), op);
    assert.ok(!ops.has('Dropout'));
  });

  it('convnet with biases and a global-average head, multi-label (sigmoid)', async () => {
    const config = { family: 'convnet', 'convnet/blocks': 3, 'convnet/filters': 4, 'convnet/head': 'gap', 'convnet/dense': 0, 'convnet/dropout': 0.2 };
    const { ops } = await check('convnet-sigmoid', await saved('convnet-sig', config, { ...rgb, multiLabel: true }, 2));
    assert.ok(ops.has('Sigmoid') && ops.has('GlobalAveragePool') && !ops.has('Softmax'));
  });

  it('resnet (strided convs, 1×1 shortcuts, residual adds)', async () => {
    const { ops } = await check('resnet', await saved('resnet', { family: 'resnet', 'resnet/depth': 8, 'resnet/width': 4, 'resnet/dropout': 0.1 }, rgb, 3));
    assert.ok(ops.has('Add'));
  });

  it('mobilenet (depthwise convolutions as grouped Conv)', async () => {
    const d = await saved('mobilenet', { family: 'mobilenet', 'mobilenet/width': 8, 'mobilenet/blocks_per_stage': 2 }, gray, 4);
    const converted = convertLayersModel(d);
    assert.ok(converted.proto.graph.node.some((nd) => nd.opType === 'Conv' && nd.attribute.some((a) => a.name === 'group' && Number(a.i) > 1)));
    await check('mobilenet', d);
  });

  it('an ensemble (members inlined, weighted sum) and mirror-image TTA around it (Gather on the width axis, average)', async () => {
    const a = await saved(
      'ens-a',
      { family: 'convnet', 'convnet/blocks': 2, 'convnet/filters': 4, 'convnet/head': 'flatten', 'convnet/batchnorm': true },
      rgb,
      5,
    );
    const b = await saved('ens-b', { family: 'mobilenet', 'mobilenet/width': 4 }, rgb, 6);
    const ens = await buildEnsembleModel([
      { dir: a, weight: 3 },
      { dir: b, weight: 1 },
    ]);
    await saveModel(ens, join(dir, 'ensemble'));
    ens.dispose();
    await check('ensemble', join(dir, 'ensemble'));
    const tta = await buildFlipTtaModel(join(dir, 'ensemble'));
    await saveModel(tta, join(dir, 'tta'));
    tta.dispose();
    const { ops } = await check('ensemble+tta', join(dir, 'tta'));
    assert.ok(ops.has('Gather') && !ops.has('MatMul'), 'the mirror image is a Gather, not a matrix product');
    // Each member's weights are stored once although TTA calls the ensemble twice.
    const proto = decodeModel(convertLayersModel(join(dir, 'tta')).bytes);
    const names = proto.graph.initializer.map((t) => t.name);
    assert.equal(new Set(names).size, names.length);
    assert.equal(names.filter((nm) => nm.endsWith('/kernel') && nm.includes('m0_conv2d')).length, 2);
  });

  it('a transfer model as the product assembles it, on a backbone with ZeroPadding2D, ReLU6, depthwise, separable, average pooling and Concatenate', async () => {
    // The backbone: Keras MobileNet- and Inception-style layers, with a classifier the loader cuts off.
    const input = tfl.input({ shape: [40, 40, 3] });
    let x = tfl.layers
      .zeroPadding2d({
        padding: [
          [0, 1],
          [0, 1],
        ],
      })
      .apply(input) as tfl.SymbolicTensor;
    x = tfl.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'valid', useBias: false }).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.batchNormalization({ scale: false, epsilon: 1e-3 }).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.reLU({ maxValue: 6 }).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same', useBias: true }).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.batchNormalization({}).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.activation({ activation: 'relu6' }).apply(x) as tfl.SymbolicTensor;
    const a = tfl.layers.conv2d({ filters: 6, kernelSize: 1, activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
    let b = tfl.layers.averagePooling2d({ poolSize: 3, strides: 1, padding: 'same' }).apply(x) as tfl.SymbolicTensor;
    b = tfl.layers.separableConv2d({ filters: 5, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(b) as tfl.SymbolicTensor;
    x = tfl.layers.concatenate({ axis: -1 }).apply([a, b]) as tfl.SymbolicTensor;
    x = tfl.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(x) as tfl.SymbolicTensor;
    const out = tfl.layers.dense({ units: 3, activation: 'softmax' }).apply(tfl.layers.globalAveragePooling2d({}).apply(x)) as tfl.SymbolicTensor;
    const backboneModel = tfl.model({ inputs: input, outputs: out });
    randomiseBatchNorm(backboneModel, 7);
    await saveModel(backboneModel, join(dir, 'backbone'));
    backboneModel.dispose();
    const bb = await loadBackbone(join(dir, 'backbone'), '-1-1');
    const model = buildModel({ family: 'transfer', 'transfer/dropout': 0.2 }, { ...rgb, inputShape: [40, 40, 3] }, 8, bb);
    randomiseBatchNorm(model, 9);
    await saveModel(model, join(dir, 'transfer'));
    model.dispose();
    const { ops } = await check('transfer', join(dir, 'transfer'));
    for (const op of ['Pad', 'Clip', 'Concat', 'AveragePool']) assert.ok(ops.has(op), op);
  });

  it('names the model file and the layer it cannot convert', async () => {
    const input = tfl.input({ shape: [4, 4, 1] });
    const up = tfl.layers.upSampling2d({ size: [2, 2], name: 'grow' }).apply(input) as tfl.SymbolicTensor;
    const m = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 2 }).apply(tfl.layers.flatten().apply(up)) as tfl.SymbolicTensor });
    await saveModel(m, join(dir, 'unsupported'));
    m.dispose();
    assert.throws(
      () => convertLayersModel(join(dir, 'unsupported')),
      /unsupported[/\\]model\.json: layer grow \(UpSampling2D\) is of a type the ONNX export does not convert \(it converts .*Conv2D/,
    );
  });

  it("a transfer model on nsfwjs's real MobileNetV2 (at 96 px)", async function () {
    if (!nsfwjsRoot()) this.skip();
    const bbDir = await extractNsfwjsModel('mobilenet_v2', join(dir, 'nsfwjs-mobilenet-v2'));
    const bb = await loadBackbone(bbDir, 'auto', { size: 96, cut: 'out_relu' });
    const model = buildModel({ family: 'transfer', 'transfer/dropout': 0 }, { ...rgb, inputShape: [96, 96, 3] }, 10, bb);
    // Only the new head's BatchNorm gets random statistics; the backbone's are the real ones.
    assert.equal(
      randomiseBatchNorm(model, 11, (name) => !name.startsWith('backbone_')),
      1,
    );
    await saveModel(model, join(dir, 'nsfwjs-transfer'));
    model.dispose();
    await check('nsfwjs-mobilenet-v2', join(dir, 'nsfwjs-transfer'), 3);
  });
});
