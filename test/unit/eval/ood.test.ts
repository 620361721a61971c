import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { borderBrightness, looksColourful, oodScores } from '../../../src/engine/model/ood-score';
import { assessImage, calibrateScores, mismatchWarnings, oodText, quantile, readOodCalibration, spreadOf, trainingImageStats } from '../../../src/eval/ood';
import type { OodCalibration } from '../../../src/shared/protocol';

const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) < eps, `${a} ≠ ${b}`);

describe('out-of-distribution checks', () => {
  describe('scores', () => {
    it('energy is −logsumexp of the logits, stable for large logits', () => {
      const s = oodScores([0, 0, 0, 1, 2, 3, 1000, 0, 0], 3, 3, 'energy');
      close(s[0], -Math.log(3));
      close(s[1], -Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)));
      // exp(1000) overflows a double: the max is taken out first.
      close(s[2], -1000, 1e-9);
      // A confident image (one large logit) has a lower energy than an undecided one.
      assert.ok(s[1] < s[0]);
    });

    it('maxProbability is −log of the highest probability', () => {
      const s = oodScores([0.9, 0.05, 0.05, 0.4, 0.3, 0.3, 0, 0, 0], 3, 3, 'maxProbability');
      close(s[0], -Math.log(0.9));
      close(s[1], -Math.log(0.4));
      assert.ok(Number.isFinite(s[2]) && s[2] > s[1], 'an all-zero row is the least confident, not infinite');
    });

    it('tells colour pixels from gray ones stored as RGB, with JPEG-like noise tolerated', () => {
      const gray = new Uint8Array(300);
      for (let i = 0; i < 100; i++) gray.set([100 + (i % 5), 100, 102], 3 * i);
      assert.equal(looksColourful(gray), false);
      const colour = Uint8Array.from(gray);
      colour.set([200, 120, 20], 0);
      colour.set([200, 120, 20], 3);
      assert.equal(looksColourful(colour), true, '2 % of the pixels are orange');
      const one = Uint8Array.from(gray);
      one.set([200, 120, 20], 0);
      assert.equal(looksColourful(one), false, '1 % is within the tolerance');
    });
  });

  describe('calibration', () => {
    it('quantiles interpolate linearly between sorted values', () => {
      const v = [1, 2, 3, 4, 5];
      assert.equal(quantile(v, 0), 1);
      assert.equal(quantile(v, 0.5), 3);
      assert.equal(quantile(v, 1), 5);
      close(quantile(v, 0.95), 4.8);
      close(quantile([10, 20], 0.25), 12.5);
      assert.ok(Number.isNaN(quantile([], 0.5)));
      assert.deepEqual(spreadOf([3, 1, 2]), { min: 1, p01: 1.02, p05: 1.1, p50: 2, p95: 2.9, p99: 2.98, max: 3 });
    });

    it('the threshold lets the chosen share of VALIDATION pass, and the verdict flags what lies above', () => {
      // 1000 scores −1.000 … −0.001 (shuffled): 95 % of them lie at or below the threshold.
      const scores = Array.from({ length: 1000 }, (_, i) => -((i * 7919) % 1000) / 1000 - 0.001);
      const c = calibrateScores(scores, 'energy', false);
      assert.equal(c.count, 1000);
      assert.equal(c.quantile, 0.95);
      const passing = scores.filter((s) => s <= c.threshold).length;
      assert.equal(passing, 950);
      close(c.spread.p50, -0.5005, 1e-4);
      const cal: OodCalibration = { version: 1, score: c };
      const inside = assessImage({ width: 28, height: 28, channels: 1, score: c.threshold - 0.01 }, cal);
      assert.deepEqual(inside.warnings, []);
      assert.equal(inside.flagged, false);
      assert.equal(inside.score?.flagged, false);
      const outside = assessImage({ width: 28, height: 28, channels: 1, score: 2.5 }, cal);
      assert.equal(outside.flagged, true);
      assert.equal(outside.score?.value, 2.5);
      assert.equal(outside.warnings.length, 1);
      assert.match(outside.warnings[0], /^unlike the training data \(OOD score 2\.50; 95 % of validation images score below -0\.05\)$/);
      assert.equal(oodText(outside), outside.warnings[0]);
      assert.equal(oodText(inside), '');
      assert.throws(() => calibrateScores([], 'energy', false), /No VALIDATION images/);
    });

    it('a model from before the calibration, or without a score, gets no score check; a grayscale one still the colour check', () => {
      assert.deepEqual(assessImage({ width: 10, height: 10, channels: 1, score: 100 }, undefined), { flagged: false, warnings: [] });
      const colour = { width: 500, height: 375, channels: 3, colourful: true, score: 100 };
      assert.deepEqual(assessImage(colour, undefined, 3), { flagged: false, warnings: [] });
      assert.deepEqual(assessImage(colour, undefined, 1).warnings, [
        'a colour image, but the model was trained on grayscale images: it sees only the brightness',
      ]);
      const onlyImages: OodCalibration = { version: 1, images: trainingImageStats([{ width: 10, height: 10 }], 1) };
      assert.equal(assessImage({ width: 10, height: 10, channels: 1, score: 100 }, onlyImages).score, undefined);
    });

    it('reads ood.json from a model folder; a missing, damaged or unknown-version file is no calibration', () => {
      const dir = mkdtempSync(join(tmpdir(), 'automl-ood-'));
      try {
        assert.equal(readOodCalibration(dir), undefined);
        writeFileSync(join(dir, 'ood.json'), '{ not json');
        assert.equal(readOodCalibration(dir), undefined);
        writeFileSync(join(dir, 'ood.json'), JSON.stringify({ version: 2 }));
        assert.equal(readOodCalibration(dir), undefined);
        const c: OodCalibration = { version: 1, score: calibrateScores([1, 2, 3], 'maxProbability', true) };
        writeFileSync(join(dir, 'ood.json'), JSON.stringify(c));
        assert.deepEqual(readOodCalibration(dir), c);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('mismatch checks', () => {
    // Fashion-MNIST: every training image 28×28 gray.
    const fashion = trainingImageStats(
      Array.from({ length: 50 }, () => ({ width: 28, height: 28 })),
      1,
    )!;
    // Photos: 300–600 px on a side, 4:3 to 3:4, colour.
    const photos = trainingImageStats(
      Array.from({ length: 100 }, (_, i) => (i % 2 ? { width: 400 + 2 * i, height: 300 + i } : { width: 300 + i, height: 400 + 2 * i })),
      3,
    )!;

    it('a colour photo to the grayscale 28×28 model: colour, size and shape, in plain language', () => {
      const w = mismatchWarnings({ width: 500, height: 375, channels: 3, colourful: true }, fashion);
      assert.deepEqual(w, [
        'a colour image, but the model was trained on grayscale images: it sees only the brightness',
        "500×375 px, far larger than the training images (28×28 px): it is shrunk to the model's input and fine detail is lost",
      ]);
      const wide = mismatchWarnings({ width: 600, height: 200, channels: 1 }, fashion);
      assert.equal(wide.length, 2);
      assert.equal(wide[1], '3.00:1 wide, while the training images are square');
    });

    it('an image like the training ones passes; gray pixels stored as RGB are no colour mismatch', () => {
      assert.deepEqual(mismatchWarnings({ width: 28, height: 28, channels: 1 }, fashion), []);
      assert.deepEqual(mismatchWarnings({ width: 28, height: 28, channels: 3, colourful: false }, fashion), []);
      // Moderately larger (4× at most) and a 4:3 shape are within the tolerances.
      assert.deepEqual(mismatchWarnings({ width: 112, height: 84, channels: 1 }, fashion), []);
      assert.deepEqual(mismatchWarnings({ width: 500, height: 375, channels: 3, colourful: true }, photos), []);
    });

    it('far smaller, and far taller, than photos', () => {
      const tiny = mismatchWarnings({ width: 28, height: 28, channels: 1 }, photos);
      assert.equal(tiny.length, 1);
      assert.match(tiny[0], /^28×28 px, far smaller than the training images \(between \d+×\d+ px and \d+×\d+ px\): it is enlarged/);
      const tall = mismatchWarnings({ width: 300, height: 1200, channels: 3 }, photos);
      assert.deepEqual(tall, ['1:4.00 tall, while the training images are 1:1.49 tall to 1.50:1 wide']);
    });

    it("edges much lighter or darker than the training images' (light and dark swapped)", () => {
      // An 8×8 gray image: a white frame one pixel wide (the outer eighth) around black.
      const px = new Uint8Array(64);
      for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) px[y * 8 + x] = y === 0 || y === 7 || x === 0 || x === 7 ? 255 : 0;
      assert.equal(borderBrightness(px, 8, 8, 1), 255);
      // Two channels, at an offset in a batch: every channel of every edge pixel counts.
      const rgb = new Uint8Array(10 + 8 * 8 * 2).fill(0);
      for (let i = 0; i < 64; i++) rgb[10 + 2 * i] = px[i];
      assert.equal(borderBrightness(rgb, 8, 8, 2, 10), 127.5);
      const dark = { ...fashion, border: spreadOf(Array.from({ length: 100 }, (_, i) => i % 20)) };
      assert.deepEqual(mismatchWarnings({ width: 28, height: 28, channels: 1, border: 19 + 24 }, dark), [], 'within the margin');
      assert.deepEqual(mismatchWarnings({ width: 28, height: 28, channels: 1, border: 240 }, dark), [
        "its edges are much lighter (brightness 240 of 255) than the training images' (0–19): a different background, or light and dark swapped",
      ]);
      const light = { ...fashion, border: spreadOf(Array.from({ length: 100 }, () => 250)) };
      assert.match(
        mismatchWarnings({ width: 28, height: 28, channels: 1, border: 3 }, light)[0],
        /^its edges are much darker \(brightness 3 of 255\) than the training images' \(250–250\)/,
      );
      assert.deepEqual(mismatchWarnings({ width: 28, height: 28, channels: 1 }, light), [], 'no border measured: no check');
    });

    it('all checks add up in one verdict', () => {
      const cal: OodCalibration = { version: 1, images: fashion, score: calibrateScores([-5, -4, -3], 'energy', true) };
      const v = assessImage({ width: 500, height: 375, channels: 3, colourful: true, score: -1 }, cal);
      assert.equal(v.flagged, true);
      assert.equal(v.warnings.length, 3);
      assert.match(v.warnings[2], /unlike the training data \(OOD score -1\.00/);
    });
  });
});
