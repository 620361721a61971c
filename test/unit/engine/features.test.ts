import * as assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import type { ImageTensorSet, StreamedImageSet } from '../../../src/data';
import { loadBackbone } from '../../../src/engine/model/backbone';
import { backboneKey, embedSet, featureExtractor, mirrorRows } from '../../../src/engine/training/features';
import { saveModel } from '../../../src/engine/model/io';
import { rng } from '../../../src/shared/random';

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

function imageSet(count: number, H: number, W: number, C: number, seed: number): ImageTensorSet {
  const random = rng(seed);
  const pixels = Uint8Array.from({ length: count * H * W * C }, () => Math.floor(random() * 256));
  return {
    height: H,
    width: W,
    channels: C,
    count,
    pixels,
    labels: Int32Array.from({ length: count }, (_, i) => i % 2),
    itemIds: Int32Array.from({ length: count }, (_, i) => i),
  };
}

const featureFiles = (cacheDir: string) =>
  existsSync(join(cacheDir, 'features')) ? readdirSync(join(cacheDir, 'features')).filter((f) => f.endsWith('.f32')) : [];

describe('bottleneck features', () => {
  let dir: string;
  before(async () => {
    await tf.setBackend('cpu');
    dir = mkdtempSync(join(tmpdir(), 'automl-features-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('mirrors rows left to right, per channel, image by image', () => {
    // Two 2×3 images with 2 channels; value = 100·image + 10·(row·3 + column) + channel.
    const H = 2;
    const W = 3;
    const C = 2;
    const rows = Uint8Array.from({ length: 2 * H * W * C }, (_, p) => {
      const c = p % C;
      const x = Math.floor(p / C) % W;
      const y = Math.floor(p / (C * W)) % H;
      const b = Math.floor(p / (C * W * H));
      return 100 * b + 10 * (y * W + x) + c;
    });
    const out = new Float32Array(rows.length).fill(-1);
    mirrorRows(rows, out, 2, H, W, C);
    assert.deepEqual(
      [...out],
      [
        // image 0, row 0: columns 2, 1, 0
        20, 21, 10, 11, 0, 1,
        // image 0, row 1
        50, 51, 40, 41, 30, 31,
        // image 1
        120, 121, 110, 111, 100, 101, 150, 151, 140, 141, 130, 131,
      ],
    );
    // One channel, one image: only the columns move.
    const gray = Float32Array.from([0, 0, 0, 0, 0, 0]);
    mirrorRows(Uint8Array.from([1, 2, 3, 4, 5, 6]), gray, 1, 2, 3, 1);
    assert.deepEqual([...gray], [3, 2, 1, 6, 5, 4]);
  });

  describe('embedSet', () => {
    const H = 6;
    const W = 5;
    const C = 3;
    let model: tfl.LayersModel;
    before(() => {
      // Conv then flatten and dense: not mirror-symmetric, so the mirror half is a real check.
      const input = tfl.input({ shape: [H, W, C] });
      const conv = tfl.layers
        .conv2d({ filters: 2, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) })
        .apply(input) as tfl.SymbolicTensor;
      const flat = tfl.layers.flatten().apply(conv) as tfl.SymbolicTensor;
      const dense = tfl.layers.dense({ units: 4, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }).apply(flat) as tfl.SymbolicTensor;
      model = tfl.model({ inputs: input, outputs: dense });
    });
    after(() => model.dispose());

    const predict = (pixels: Uint8Array, count: number, mirror: boolean) =>
      tf.tidy(() => {
        let x: tf.Tensor4D = tf.tensor4d(Float32Array.from(pixels), [count, H, W, C]);
        if (mirror) x = tf.reverse(x, 2);
        return (model.predict(x) as tf.Tensor).dataSync() as Float32Array;
      });

    it('computes the model on the pixels and on their mirror images, and caches them by pixels', async () => {
      const cacheDir = join(dir, 'embed');
      const set = imageSet(5, H, W, C, 1);
      const progress: [number, number][] = [];
      const first = await embedSet(model, set, { extractorKey: 'k1', cacheDir, mirror: true, batchSize: 2, onProgress: (d, t) => progress.push([d, t]) });
      assert.equal(first.cached, false);
      assert.equal(first.dim, 4);
      assert.equal(first.count, 5);
      assert.deepEqual(progress, [
        [2, 5],
        [4, 5],
        [5, 5],
      ]);
      assert.equal(first.plain.length, 5 * 4);
      assert.equal(first.mirror!.length, 5 * 4);
      const plain = predict(set.pixels, 5, false);
      const mirror = predict(set.pixels, 5, true);
      assert.ok(maxDiff(first.plain, plain) < 1e-4, `plain: ${maxDiff(first.plain, plain)}`);
      assert.ok(maxDiff(first.mirror!, mirror) < 1e-4, `mirror: ${maxDiff(first.mirror!, mirror)}`);
      assert.ok(maxDiff(plain, mirror) > 1e-2, 'the model is not mirror-symmetric');
      // One file under <cacheDir>/features, holding both halves.
      const files = featureFiles(cacheDir);
      assert.equal(files.length, 1);
      assert.equal(statSync(join(cacheDir, 'features', files[0])).size, 4 * 5 * 4 * 2);
      assert.deepEqual(readdirSync(join(cacheDir, 'features')), files, 'no staging file left behind');

      const again = await embedSet(model, set, { extractorKey: 'k1', cacheDir, mirror: true, batchSize: 3 });
      assert.equal(again.cached, true);
      assert.deepEqual([...again.plain], [...first.plain]);
      assert.deepEqual([...again.mirror!], [...first.mirror!]);

      // The same pixels in a set streamed from disk are the same set.
      const streamed: StreamedImageSet = {
        height: H,
        width: W,
        channels: C,
        count: 5,
        labels: set.labels,
        itemIds: set.itemIds,
        rows: {
          read: (positions, out) => {
            for (let k = 0; k < positions.length; k++) out.set(set.pixels.subarray(positions[k] * H * W * C, (positions[k] + 1) * H * W * C), k * H * W * C);
          },
        },
      };
      const fromStream = await embedSet(model, streamed, { extractorKey: 'k1', cacheDir, mirror: true });
      assert.equal(fromStream.cached, true);
      assert.deepEqual([...fromStream.plain], [...first.plain]);
    });

    it('computes again when the pixels, the extractor or the mirror option differ, or the file is damaged', async () => {
      const cacheDir = join(dir, 'changes');
      const set = imageSet(4, H, W, C, 2);
      const base = await embedSet(model, set, { extractorKey: 'k1', cacheDir, mirror: true });
      assert.equal(base.cached, false);
      const [baseFile] = featureFiles(cacheDir);
      // It holds the plain features, then the mirror features.
      assert.ok(readFileSync(join(cacheDir, 'features', baseFile)).equals(Buffer.from(new Float32Array([...base.plain, ...base.mirror!]).buffer)));

      const changed = { ...set, pixels: Uint8Array.from(set.pixels) };
      changed.pixels[2 * H * W * C + 7] ^= 0xff;
      const other = await embedSet(model, changed, { extractorKey: 'k1', cacheDir, mirror: true });
      assert.equal(other.cached, false);
      // Only image 2 changed.
      assert.ok(maxDiff(other.plain.subarray(2 * 4, 3 * 4), base.plain.subarray(2 * 4, 3 * 4)) > 0);
      assert.equal(maxDiff(other.plain.subarray(0, 2 * 4), base.plain.subarray(0, 2 * 4)), 0);
      assert.ok(maxDiff(other.plain, predict(changed.pixels, 4, false)) < 1e-4);
      assert.equal(featureFiles(cacheDir).length, 2);

      const otherKey = await embedSet(model, set, { extractorKey: 'k2', cacheDir, mirror: true });
      assert.equal(otherKey.cached, false);
      const plainOnly = await embedSet(model, set, { extractorKey: 'k1', cacheDir, mirror: false });
      assert.equal(plainOnly.cached, false);
      assert.equal(plainOnly.mirror, null);
      assert.deepEqual([...plainOnly.plain], [...base.plain]);
      assert.equal(featureFiles(cacheDir).length, 4);
      assert.equal((await embedSet(model, set, { extractorKey: 'k1', cacheDir, mirror: false })).cached, true);

      // A file of the wrong size (an interrupted write) is not trusted.
      truncateSync(join(cacheDir, 'features', baseFile), 8);
      const redone = await embedSet(model, set, { extractorKey: 'k1', cacheDir, mirror: true });
      assert.equal(redone.cached, false);
      assert.deepEqual([...redone.plain], [...base.plain]);
      assert.equal(statSync(join(cacheDir, 'features', baseFile)).size, 4 * 4 * 4 * 2);
    });

    it('stops when cancelled', async () => {
      const set = imageSet(3, H, W, C, 3);
      await assert.rejects(embedSet(model, set, { extractorKey: 'k', cacheDir: join(dir, 'cancel'), mirror: false, isCancelled: () => true }), /cancelled/);
      assert.equal(featureFiles(join(dir, 'cancel')).length, 0);
    });
  });

  describe('featureExtractor', () => {
    let bbDir: string;
    let source: tfl.LayersModel;
    before(async () => {
      // 16×16 → c1 16×16×4 → c2 8×8×8 → c3 4×4×16 → global pooling → dense.
      const input = tfl.input({ shape: [16, 16, 3] });
      const c1 = tfl.layers.conv2d({ name: 'c1', filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(input) as tfl.SymbolicTensor;
      const c2 = tfl.layers.conv2d({ name: 'c2', filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }).apply(c1) as tfl.SymbolicTensor;
      const c3 = tfl.layers.conv2d({ name: 'c3', filters: 16, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }).apply(c2) as tfl.SymbolicTensor;
      const gap = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(c3) as tfl.SymbolicTensor;
      const out = tfl.layers.dense({ name: 'out', units: 3 }).apply(gap) as tfl.SymbolicTensor;
      source = tfl.model({ inputs: input, outputs: out });
      bbDir = join(dir, 'bb');
      await saveModel(source, bbDir);
    });
    after(() => source.dispose());

    it("pools each tap into its block of one vector whose width is the blocks' dims added up", async () => {
      const bb = await loadBackbone(bbDir, '0-255');
      assert.deepEqual(bb.info.taps, ['c1', 'c2', 'c3']);
      const { model, blocks } = featureExtractor(bb);
      assert.deepEqual(blocks, [
        { layer: 'c1', offset: 0, dim: 4 },
        { layer: 'c2', offset: 4, dim: 8 },
        { layer: 'c3', offset: 12, dim: 16 },
      ]);
      const width = model.outputs[0].shape[1] as number;
      assert.equal(width, 28);
      assert.equal(
        blocks.reduce((s, b) => s + b.dim, 0),
        width,
      );
      blocks.forEach((b, i) => assert.equal(b.offset, i === 0 ? 0 : blocks[i - 1].offset + blocks[i - 1].dim));

      // Each block is the spatial mean of the source model's layer on raw pixels.
      const x = tf.randomUniform([2, 16, 16, 3], 0, 255, 'float32', 5);
      const got = (model.predict(x) as tf.Tensor).dataSync();
      for (const b of blocks) {
        const want = tf.tidy(() => {
          const part = tfl.model({ inputs: source.inputs, outputs: source.getLayer(b.layer).output as tfl.SymbolicTensor });
          return tf.mean(part.predict(x) as tf.Tensor, [1, 2]).dataSync();
        });
        for (let r = 0; r < 2; r++) {
          const row = Array.from(got.subarray(r * width + b.offset, r * width + b.offset + b.dim));
          assert.ok(maxDiff(row, Array.from(want.subarray(r * b.dim, (r + 1) * b.dim))) < 1e-3, `${b.layer} row ${r}`);
        }
      }
      tf.dispose(x);

      // Through embedSet too.
      const set = imageSet(3, 16, 16, 3, 6);
      const f = await embedSet(model, set, { extractorKey: backboneKey(bbDir), cacheDir: join(dir, 'bb-cache'), mirror: false });
      assert.equal(f.dim, 28);
      assert.ok(maxDiff(f.plain, (model.predict(tf.tensor4d(Float32Array.from(set.pixels), [3, 16, 16, 3])) as tf.Tensor).dataSync()) < 1e-4);
      bb.dispose();
    });

    it('has a single block when the backbone has one tap', async () => {
      const input = tfl.input({ shape: [8, 8, 1] });
      const c = tfl.layers.conv2d({ name: 'only', filters: 5, kernelSize: 3, padding: 'same' }).apply(input) as tfl.SymbolicTensor;
      const gap = tfl.layers.globalAveragePooling2d({}).apply(c) as tfl.SymbolicTensor;
      const m = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 2 }).apply(gap) as tfl.SymbolicTensor });
      await saveModel(m, join(dir, 'one'));
      const bb = await loadBackbone(join(dir, 'one'), '0-255');
      const { model, blocks } = featureExtractor(bb);
      assert.deepEqual(blocks, [{ layer: 'only', offset: 0, dim: 5 }]);
      assert.deepEqual(model.outputs[0].shape, [null, 5]);
      bb.dispose();
      m.dispose();
    });

    it('keys a backbone by its files: a changed weight file changes the key, source.txt does not', async () => {
      const key = backboneKey(bbDir);
      assert.match(key, /^[0-9a-f]{24}$/);
      assert.equal(backboneKey(bbDir), key);
      writeFileSync(join(bbDir, 'source.txt'), 'https://example.invalid/model.json\n');
      assert.equal(backboneKey(bbDir), key);
      const weights = join(bbDir, 'weights.bin');
      const original = readFileSync(weights);
      const changed = Buffer.from(original);
      changed[changed.length - 1] ^= 1;
      writeFileSync(weights, changed);
      const changedKey = backboneKey(bbDir);
      assert.notEqual(changedKey, key);
      writeFileSync(weights, original);
      assert.equal(backboneKey(bbDir), key);
      // A copy of the same files in another folder has the same key.
      await saveModel(source, join(dir, 'bb-copy'));
      assert.equal(backboneKey(join(dir, 'bb-copy')), key);
    });
  });
});
