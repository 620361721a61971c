// Bottleneck features through ONNX Runtime (src/engine/training/features-onnx.ts): on nsfwjs's real
// MobileNetV2 and real photos (hymenoptera when this machine has them, else generated colour
// images), the features ONNX Runtime computes equal those of the TF.js path it replaces; the
// converted extractor is cached beside the features; without ONNX Runtime (or when asked, or on a
// GPU backend, or when the extractor cannot be converted) TF.js computes them as before.
import * as assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import type { ImageTensorSet } from '../../../src/data';
import { loadBackbone } from '../../../src/engine/model/backbone';
import { saveModel } from '../../../src/engine/model/io';
import { extractNsfwjsModel, nsfwjsRoot } from '../../../src/engine/model/nsfwjs';
import { embedSet, featureExtractor } from '../../../src/engine/training/features';
import { extractorOnnxFile, openFeatureEngine } from '../../../src/engine/training/features-onnx';
import { imageBatch, maxAbsDiff } from './onnx-helpers';

const SIZE = 128;

function setOf(x: Float32Array, n: number, size: number): ImageTensorSet {
  return {
    height: size,
    width: size,
    channels: 3,
    count: n,
    pixels: Uint8Array.from(x),
    labels: Int32Array.from({ length: n }, (_, i) => i % 2),
    itemIds: Int32Array.from({ length: n }, (_, i) => i),
  };
}

const onnxFiles = (cacheDir: string) =>
  existsSync(join(cacheDir, 'features')) ? readdirSync(join(cacheDir, 'features')).filter((f) => f.endsWith('.onnx')) : [];
const absent = () => ({ mod: null, why: 'onnxruntime-node is not installed' });

describe('bottleneck features through ONNX Runtime', function () {
  this.timeout(300_000);
  let dir: string;
  before(async () => {
    await tf.setBackend('cpu');
    dir = mkdtempSync(join(tmpdir(), 'automl-features-onnx-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe("nsfwjs's MobileNetV2", () => {
    let bbDir: string;
    let set: ImageTensorSet;
    let source = '';
    let want: { plain: Float32Array; mirror: Float32Array | null };
    before(async function () {
      if (!nsfwjsRoot()) this.skip();
      bbDir = await extractNsfwjsModel('mobilenet_v2', join(dir, 'nsfwjs-mobilenet-v2'));
      const batch = await imageBatch(4, SIZE, SIZE, 3);
      source = batch.source;
      set = setOf(batch.x, 4, SIZE);
      // The TF.js path as it was: the folded extractor through embedSet.
      const bb = await loadBackbone(bbDir, 'auto', { size: SIZE });
      const { model } = featureExtractor(bb);
      want = await embedSet(model, set, { extractorKey: 'tfjs', cacheDir: join(dir, 'tfjs-cache'), mirror: true });
      model.dispose();
    });

    it('gives the TF.js features (and the mirror images’) to 1e-4, and caches the converted extractor beside them', async () => {
      const bb = await loadBackbone(bbDir, 'auto', { size: SIZE });
      const { model, blocks } = featureExtractor(bb, { fold: false });
      assert.deepEqual(
        blocks.map((b) => b.layer),
        ['block_6_expand_relu', 'block_13_expand_relu', 'out_relu'],
      );
      const cacheDir = join(dir, 'ort-cache');
      const engine = openFeatureEngine(model, { extractorKey: 'mnv2', cacheDir, threads: 2 });
      assert.equal(engine.name, 'not run');
      try {
        const got = await embedSet(engine, set, { extractorKey: 'mnv2', cacheDir, mirror: true, batchSize: 3 });
        assert.match(engine.name, /^ONNX Runtime \d+\.\d+\.\d+ \(CPU, 2 threads\)$/);
        assert.equal(got.dim, 192 + 576 + 1280);
        const plainDiff = maxAbsDiff(got.plain, want.plain);
        const mirrorDiff = maxAbsDiff(got.mirror!, want.mirror!);
        const largest = Math.max(...want.plain);
        console.log(
          `      ${source}: max abs diff ${plainDiff.toExponential(1)} (mirror ${mirrorDiff.toExponential(1)}), largest feature ${largest.toFixed(2)}`,
        );
        // Real features: not constant, and the mirror images' differ from the images'.
        assert.ok(largest > 0.5 && Math.min(...want.plain) >= 0);
        assert.ok(maxAbsDiff(want.plain, want.mirror!) > 1e-2);
        assert.ok(plainDiff <= 1e-4, `plain: ${plainDiff}`);
        assert.ok(mirrorDiff <= 1e-4, `mirror: ${mirrorDiff}`);
        assert.deepEqual(onnxFiles(cacheDir), [extractorOnnxFile(cacheDir, 'mnv2').split(/[\\/]/).pop()]);
        assert.ok(statSync(extractorOnnxFile(cacheDir, 'mnv2')).size > 8e6, 'the weights are in the file');
      } finally {
        await engine.dispose();
      }
    });

    it('reads cached features without starting an engine; a damaged cached extractor is converted again', async () => {
      const cacheDir = join(dir, 'ort-cache');
      const bb = await loadBackbone(bbDir, 'auto', { size: SIZE });
      const first = openFeatureEngine(featureExtractor(bb, { fold: false }).model, { extractorKey: 'mnv2', cacheDir });
      const cached = await embedSet(first, set, { extractorKey: 'mnv2', cacheDir, mirror: true });
      assert.equal(cached.cached, true);
      assert.equal(first.name, 'not run');
      await first.dispose();

      // New pixels (a new features file), the cached ONNX file damaged: converted again, same features.
      const file = extractorOnnxFile(cacheDir, 'mnv2');
      writeFileSync(file, 'not an onnx model');
      const bb2 = await loadBackbone(bbDir, 'auto', { size: SIZE });
      const second = openFeatureEngine(featureExtractor(bb2, { fold: false }).model, { extractorKey: 'mnv2', cacheDir });
      try {
        const flipped = setOf(
          Float32Array.from(set.pixels, (v) => 255 - v),
          set.count,
          SIZE,
        );
        const got = await embedSet(second, flipped, { extractorKey: 'mnv2', cacheDir, mirror: false });
        assert.equal(got.cached, false);
        assert.match(second.name, /^ONNX Runtime/);
        assert.ok(statSync(file).size > 8e6);
        assert.ok(maxAbsDiff(got.plain, want.plain) > 1e-2, 'other pixels, other features');
      } finally {
        await second.dispose();
      }
    });

    it('falls back to TF.js, silently, when ONNX Runtime is absent; also when asked or on a GPU backend', async () => {
      const cases = [
        { label: 'absent', o: { loadRuntime: absent } },
        { label: 'AUTOML_FEATURES_ENGINE=tfjs', o: { env: { AUTOML_FEATURES_ENGINE: 'tfjs' } } },
        { label: 'webgpu', o: { backend: 'webgpu' } },
      ];
      for (const [i, c] of cases.entries()) {
        const cacheDir = join(dir, `fallback-${i}`);
        const messages: string[] = [];
        const bb = await loadBackbone(bbDir, 'auto', { size: SIZE });
        const engine = openFeatureEngine(featureExtractor(bb, { fold: false }).model, {
          extractorKey: 'mnv2',
          cacheDir,
          onMessage: (m) => messages.push(m),
          ...c.o,
        });
        try {
          const got = await embedSet(engine, set, { extractorKey: 'mnv2', cacheDir, mirror: false });
          assert.equal(engine.name, 'TF.js (cpu)', c.label);
          assert.ok(maxAbsDiff(got.plain, want.plain) < 1e-6, c.label);
          assert.deepEqual(onnxFiles(cacheDir), [], c.label);
          assert.deepEqual(messages, [], c.label);
        } finally {
          await engine.dispose();
        }
      }
    });
  });

  it('falls back to TF.js, saying why, when the extractor has a layer the ONNX export does not convert', async () => {
    const input = tfl.input({ shape: [8, 8, 3] });
    const c1 = tfl.layers.conv2d({ name: 'c1', filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(input) as tfl.SymbolicTensor;
    const up = tfl.layers.upSampling2d({ name: 'grow', size: [2, 2] }).apply(c1) as tfl.SymbolicTensor;
    const c2 = tfl.layers.conv2d({ name: 'c2', filters: 6, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }).apply(up) as tfl.SymbolicTensor;
    const gap = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(c2) as tfl.SymbolicTensor;
    const m = tfl.model({ inputs: input, outputs: tfl.layers.dense({ name: 'out', units: 2 }).apply(gap) as tfl.SymbolicTensor });
    await saveModel(m, join(dir, 'upsampling'));
    m.dispose();
    const bb = await loadBackbone(join(dir, 'upsampling'), '0-255');
    const { model } = featureExtractor(bb, { fold: false });
    const x = tf.tidy(() => (model.predict(tf.randomUniform([2, 8, 8, 3], 0, 255, 'float32', 3)) as tf.Tensor).shape);
    assert.deepEqual(x, [2, 4 + 6]);
    const messages: string[] = [];
    const cacheDir = join(dir, 'upsampling-cache');
    const engine = openFeatureEngine(model, { extractorKey: 'up', cacheDir, where: join(dir, 'upsampling'), onMessage: (l) => messages.push(l) });
    const pixels = Float32Array.from({ length: 2 * 8 * 8 * 3 }, (_, i) => (i * 37) % 256);
    const set: ImageTensorSet = { ...setOf(pixels, 2, 8) };
    try {
      const got = await embedSet(engine, set, { extractorKey: 'up', cacheDir, mirror: false });
      assert.equal(engine.name, 'TF.js (cpu)');
      assert.equal(got.dim, 10);
      assert.equal(messages.length, 1);
      assert.match(
        messages[0],
        /^ONNX Runtime cannot extract these features \(.*upsampling: layer backbone_grow \(UpSampling2D\) is of a type the ONNX export does not convert/,
      );
      assert.match(messages[0], /TF\.js extracts them$/);
      assert.deepEqual(onnxFiles(cacheDir), []);
    } finally {
      await engine.dispose();
    }
  });
});
