// A real, tiny trained model: its out-of-distribution check calibrated on VALIDATION flags images
// unlike its training data (noise, other patterns, a colour photo-sized image) far more often than
// new images like them, through the same Predictor and verdict as the prediction process.
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePng } from '../../../src/data/png';
import type { ImageTensorSet } from '../../../src/data/types';
import { buildModel } from '../../../src/engine/model/build';
import { saveModel } from '../../../src/engine/model/io';
import { Predictor } from '../../../src/engine/model/predict';
import { assessImage, trainingImageStats } from '../../../src/eval/ood';
import { calibrateOod } from '../../../src/eval/ood-calibrate';
import { rng as mulberry32 } from '../../../src/shared/random';
import type { OodCalibration } from '../../../src/shared/protocol';

const S = 12;
const K = 3;

/** Class c: a bright horizontal band in rows 4c … 4c+3 on a dark background, with noise. */
function bandImage(c: number, rand: () => number): Uint8Array {
  const px = new Uint8Array(S * S);
  for (let y = 0; y < S; y++)
    for (let x = 0; x < S; x++) {
      const on = y >= 4 * c && y < 4 * c + 4;
      px[y * S + x] = Math.round((on ? 190 : 25) + (rand() - 0.5) * 50);
    }
  return px;
}

function set(n: number, seed: number): ImageTensorSet {
  const rand = mulberry32(seed);
  const pixels = new Uint8Array(n * S * S);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % K;
    pixels.set(bandImage(labels[i], rand), i * S * S);
  }
  return { height: S, width: S, channels: 1, count: n, pixels, labels, itemIds: Int32Array.from({ length: n }, (_, i) => i) };
}

describe('out-of-distribution check of a trained model', function () {
  this.timeout(120_000);
  let dir: string;
  let calibration: OodCalibration;
  let predictor: Predictor;

  before(async () => {
    await tf.setBackend('cpu');
    dir = mkdtempSync(join(tmpdir(), 'automl-ood-model-'));
    const train = set(240, 1);
    const model = buildModel(
      {
        family: 'convnet',
        'convnet/blocks': 1,
        'convnet/filters': 4,
        'convnet/convs_per_block': 1,
        'convnet/head': 'flatten',
        'convnet/dense': 8,
        'convnet/dropout': 0,
      },
      { inputShape: [S, S, 1], numClasses: K, multiLabel: false, mean: 80, std: 75 },
      3,
    );
    model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
    const x = tf.tensor4d(Float32Array.from(train.pixels), [train.count, S, S, 1]);
    const y = tf.oneHot(tf.tensor1d(train.labels, 'int32'), K);
    await model.fit(x, y, { epochs: 6, batchSize: 32, verbose: 0 });
    tf.dispose([x, y]);
    const modelDir = join(dir, 'model');
    await saveModel(model, modelDir, { classes: ['top', 'middle', 'bottom'], multiLabel: false, input: { height: S, width: S, channels: 1, fit: 'pad' } });
    model.dispose();
    const images = trainingImageStats(
      Array.from({ length: train.count }, () => ({ width: S, height: S })),
      1,
    );
    calibration = await calibrateOod(modelDir, set(150, 2), { multiLabel: false, seenInTraining: false, images, train });
    predictor = await Predictor.load(modelDir);
  });
  after(() => {
    predictor?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  const flaggedShare = async (pngs: Uint8Array[], by: (v: ReturnType<typeof assessImage>) => boolean) => {
    const { results, signals } = await predictor.predictBytesWithSignals(
      pngs.map((bytes, i) => ({ name: `${i}.png`, bytes })),
      3,
    );
    assert.ok(results.every((r) => !r.error && r.scores.length === 3));
    const verdicts = signals.map((s) => assessImage(s!, calibration));
    return verdicts.filter(by).length / pngs.length;
  };

  it('stores an energy threshold that 95 % of VALIDATION stays at or below, in ood.json beside the model', () => {
    assert.equal(calibration.score?.kind, 'energy');
    assert.equal(calibration.score?.count, 150);
    assert.equal(calibration.score?.quantile, 0.95);
    assert.ok(calibration.score!.spread.p50 < calibration.score!.threshold);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'model', 'ood.json'), 'utf8')), calibration);
  });

  it('flags foreign images of the same size and colour by their score far more often than new in-distribution ones', async () => {
    const rand = mulberry32(9);
    const enc = (px: Uint8Array) => encodePng(S, S, 1, px);
    const inDist = Array.from({ length: 60 }, (_, i) => enc(bandImage(i % K, rand)));
    // Foreign: vertical bands, a checkerboard, a uniform mid-gray, pure noise.
    const foreign = Array.from({ length: 60 }, (_, i) => {
      const px = new Uint8Array(S * S);
      for (let p = 0; p < S * S; p++) {
        const [yy, xx] = [Math.floor(p / S), p % S];
        const kind = i % 4;
        px[p] =
          kind === 0
            ? xx >= 4 * (i % 3) && xx < 4 * (i % 3) + 4
              ? 190
              : 25
            : kind === 1
              ? ((xx >> 1) + (yy >> 1)) % 2
                ? 220
                : 20
              : kind === 2
                ? 110 + Math.round((rand() - 0.5) * 10)
                : Math.floor(rand() * 256);
      }
      return enc(px);
    });
    const byScore = (v: ReturnType<typeof assessImage>) => v.score?.flagged === true;
    const inShare = await flaggedShare(inDist, byScore);
    const foreignShare = await flaggedShare(foreign, byScore);
    assert.ok(inShare <= 0.2, `in-distribution flagged ${inShare}`);
    assert.ok(foreignShare >= inShare + 0.4, `foreign flagged ${foreignShare}, in-distribution ${inShare}`);
    // No mismatch check fires on new images like the training ones (same size, gray, same edges).
    assert.equal(await flaggedShare(inDist, (v) => v.warnings.length > (v.score?.flagged ? 1 : 0)), 0);
  });

  it('flags the training kind of image with light and dark swapped by its edges', async () => {
    assert.ok(calibration.images?.border, 'the border brightness of the training images is calibrated');
    const rand = mulberry32(11);
    const inverted = Array.from({ length: 30 }, (_, i) =>
      encodePng(
        S,
        S,
        1,
        bandImage(i % K, rand).map((v) => 255 - v),
      ),
    );
    const share = await flaggedShare(inverted, (v) => v.warnings.some((w) => w.startsWith('its edges are much lighter')));
    assert.equal(share, 1);
  });

  it('flags a colour image far larger than the training images at once, with the reasons in words', async () => {
    const W = 200;
    const H = 150;
    const rgb = new Uint8Array(W * H * 3);
    for (let i = 0; i < W * H; i++) rgb.set([230, 180 - (i % 60), 30], 3 * i);
    const [sig] = (await predictor.predictBytesWithSignals([{ name: 'bee.png', bytes: encodePng(W, H, 3, rgb) }])).signals;
    assert.deepEqual(
      { width: sig!.width, height: sig!.height, channels: sig!.channels, colourful: sig!.colourful },
      { width: W, height: H, channels: 3, colourful: true },
    );
    const v = assessImage(sig!, calibration);
    assert.equal(v.flagged, true);
    assert.match(v.warnings[0], /colour image, but the model was trained on grayscale images/);
    assert.match(v.warnings[1], /200×150 px, far larger than the training images \(12×12 px\)/);
  });

  it('a model that outputs no logits (an ensemble-like average) is scored by its highest probability', async () => {
    const input = tfl.input({ shape: [S, S, 1] });
    const inner = predictor.model!;
    const avg = tfl.layers.average().apply([inner.apply(input) as tfl.SymbolicTensor, inner.apply(input) as tfl.SymbolicTensor]) as tfl.SymbolicTensor;
    const wrapped = tfl.model({ inputs: input, outputs: avg });
    const wrappedDir = join(dir, 'wrapped');
    await saveModel(wrapped, wrappedDir, { classes: ['top', 'middle', 'bottom'], multiLabel: false, input: { height: S, width: S, channels: 1, fit: 'pad' } });
    const c = await calibrateOod(wrappedDir, set(30, 4), { multiLabel: false, seenInTraining: true, images: undefined });
    assert.equal(c.score?.kind, 'maxProbability');
    assert.equal(c.score?.seenInTraining, true);
    assert.ok(c.score!.threshold >= 0 && c.score!.spread.min >= 0, 'scores are −log of a probability');
    const multi = await calibrateOod(wrappedDir, set(30, 4), { multiLabel: true, seenInTraining: false, images: undefined });
    assert.equal(multi.score, undefined, 'multi-label models get no score check');
  });
});
