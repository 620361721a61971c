// The PyTorch side by side: nets.json built with tfjs layers (shapes and parameter counts, equal to
// torch's when torch is importable), and the table with PyTorch's best setting and the ratio.
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { buildSpecNet, loadNets, parseNets, TORCH_SCRIPT, trainableParams } from '../../../src/bench/peer/net-spec';
import { bestPerCase, formatRate, peerTable, torchPython, type PeerRow } from '../../../src/bench/peer/side-by-side';
import { buildReferenceNet } from '../../../src/engine/model/reference-nets';
import { layersModelToOnnx } from '../../../src/engine/training/features-onnx';
import { rng } from '../../../src/shared/random';
import { maxAbsDiff, randomiseBatchNorm, runOnnx } from '../engine/onnx-helpers';

describe('bench: PyTorch side by side', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  const nets = loadNets();
  const tfParams = new Map<string, number>();

  it('builds every net of nets.json with tfjs layers: logits of the classes, the reference nets’ parameter counts', () => {
    assert.deepEqual(
      nets.map((n) => n.name),
      ['2-conv', 'autokeras', 'resnet8', 'mobilenetv2-128', 'mobilenetv2-224'],
    );
    for (const n of nets) {
      const m = buildSpecNet(n);
      try {
        assert.deepEqual(m.outputs[0].shape, [null, n.classes], n.name);
        tfParams.set(n.name, trainableParams(m));
      } finally {
        m.dispose();
      }
    }
    // The same networks as the engine's reference nets (src/engine/model/reference-nets.ts)…
    for (const name of ['2-conv', 'autokeras', 'resnet8']) {
      const ref = buildReferenceNet(name, [28, 28, 1], 10, { seed: 1 });
      try {
        assert.equal(tfParams.get(name), trainableParams(ref), name);
      } finally {
        ref.dispose();
      }
    }
    // …and MobileNetV2 (width 1, 1000 classes) has torchvision's 3,504,872 parameters at any input size.
    assert.equal(tfParams.get('mobilenetv2-128'), 3_504_872);
    assert.equal(tfParams.get('mobilenetv2-224'), 3_504_872);
  });

  it('runs a forward pass of MobileNetV2 at 128×128×3 down to 4×4 before pooling', () => {
    const m = buildSpecNet(nets.find((n) => n.name === 'mobilenetv2-128')!);
    try {
      const last4d = m.layers.filter((l) => (l.outputShape as number[]).length === 4).at(-1)!;
      assert.deepEqual(last4d.outputShape, [null, 4, 4, 1280]);
      const y = tf.tidy(() => (m.predict(tf.zeros([1, 128, 128, 3])) as tf.Tensor).shape);
      assert.deepEqual(y, [1, 1000]);
    } finally {
      m.dispose();
    }
  });

  it('gives ONNX Runtime the same MobileNetV2 for its forward rows: the exported net’s logits are the tfjs net’s', async () => {
    const spec = nets.find((n) => n.name === 'mobilenetv2-128')!;
    const m = buildSpecNet(spec);
    // Fresh BatchNorm statistics make the logits vanish (~1e-9): real-looking ones make them comparable.
    assert.equal(randomiseBatchNorm(m, 3), 52);
    const random = rng(3);
    const x = Float32Array.from({ length: 2 * 128 * 128 * 3 }, () => random() * 2 - 1);
    try {
      const want = tf.tidy(() => (m.predict(tf.tensor4d(x, [2, 128, 128, 3])) as tf.Tensor).dataSync() as Float32Array);
      const got = await runOnnx(await layersModelToOnnx(m, spec.name), x, [2, 128, 128, 3]);
      assert.ok(Math.max(...want) - Math.min(...want) > 1e-3, 'the logits vary');
      assert.ok(maxAbsDiff(got, want) < 1e-4, `max abs diff ${maxAbsDiff(got, want)}`);
    } finally {
      m.dispose();
    }
  });

  it('counts the same trainable parameters as torch_train.py builds from the same JSON (skipped without torch)', function () {
    const python = torchPython();
    if (!python) this.skip();
    const r = spawnSync(python!, [TORCH_SCRIPT, '--params'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    const torchParams = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { net: string; params: number });
    assert.equal(torchParams.length, nets.length);
    for (const t of torchParams) assert.equal(tfParams.get(t.net), t.params, t.net);
  });

  it('refuses a net that names a layer list nets.json does not have, naming the file', () => {
    assert.throws(
      () => parseNets(JSON.stringify({ nets: [{ name: 'x', input: [8, 8, 1], classes: 2, cases: [], layers: 'nope' }] }), 'f.json'),
      /f\.json: net "x" names the layer list "nope"/,
    );
  });

  it('tables the project against PyTorch’s best setting per net, mode and batch, with the ratio', () => {
    const row = (net: string, mode: 'train' | 'forward', batch: number, ips: number, setting: string): PeerRow => ({
      net,
      mode,
      batch,
      imagesPerSec: ips,
      setting,
    });
    const project = [
      row('2-conv', 'train', 64, 1553, 'wasm'),
      row('resnet8', 'train', 128, 862.4, 'wasm'),
      row('mnv2', 'forward', 16, 12.34, 'wasm'),
      { ...row('resnet8', 'forward', 128, 3100, 'ONNX Runtime 1.31.1, 2 threads'), engine: 'onnxruntime' as const },
    ];
    const torch = [
      row('2-conv', 'train', 64, 1700, 'reference BLAS, NCHW'),
      row('2-conv', 'train', 64, 1790, 'OpenBLAS, NCHW'),
      row('2-conv', 'train', 64, 1500, 'OpenBLAS, channels_last'),
      row('2-conv', 'train', 128, 9999, 'OpenBLAS, NCHW'), // another batch: not 64's best
      row('resnet8', 'train', 128, 2641, 'reference BLAS, channels_last'),
      row('resnet8', 'forward', 128, 6200, 'OpenBLAS, channels_last'),
    ];
    assert.equal(bestPerCase(torch).get('2-conv|train|64')!.setting, 'OpenBLAS, NCHW');
    assert.deepEqual(peerTable(project, torch).split('\n'), [
      '| net | mode | batch | project img/s | PyTorch best img/s (setting) | project / PyTorch |',
      '|---|---|---|---|---|---|',
      '| 2-conv | training | 64 | 1,553 | 1,790 (OpenBLAS, NCHW) | 0.87 |',
      '| resnet8 | training | 128 | 862 | 2,641 (reference BLAS, channels_last) | 0.33 |',
      '| mnv2 | forward | 16 | 12.3 | n/a | n/a |',
      '| resnet8 | forward, ONNX Runtime | 128 | 3,100 | 6,200 (OpenBLAS, channels_last) | 0.50 |',
    ]);
    assert.equal(formatRate(99.96), '100');
    assert.equal(formatRate(99.94), '99.9');
    assert.equal(formatRate(100.4), '100');
  });
});
