import * as assert from 'node:assert/strict';
import { NO_AUGMENTATION, makeBatch, sampleBeta } from '../../../src/engine/training/augment';
import { learningRateAt } from '../../../src/engine/training/schedule';
import { rng } from '../../../src/shared/random';

const shape = { height: 4, width: 4, channels: 1 };
// Two 4×4 images: image 0 counts 0..15, image 1 is all 200.
const pixels = new Uint8Array(32);
for (let i = 0; i < 16; i++) pixels[i] = i;
pixels.fill(200, 16);
const labels = new Int32Array([2, 0]);

describe('augmentation', () => {
  it('without augmentation copies pixels and one-hot labels', () => {
    const b = makeBatch(pixels, labels, [1, 0], shape, 3, false, NO_AUGMENTATION, rng(1));
    assert.deepEqual(
      Array.from(b.x.subarray(16)),
      Array.from({ length: 16 }, (_, i) => i),
    );
    assert.ok(b.x.subarray(0, 16).every((v) => v === 200));
    assert.deepEqual(Array.from(b.y), [1, 0, 0, 0, 0, 1]);
  });

  it('flip mirrors rows and crop-padding shifts with zero fill', () => {
    const flips = new Set<string>();
    for (let s = 0; s < 20; s++) {
      const b = makeBatch(pixels, labels, [0], shape, 3, false, { ...NO_AUGMENTATION, flip: true }, rng(s));
      flips.add(Array.from(b.x.subarray(0, 4)).join(','));
    }
    assert.deepEqual([...flips].sort(), ['0,1,2,3', '3,2,1,0']);
    let shifted = false;
    for (let s = 0; s < 20; s++) {
      const b = makeBatch(pixels, labels, [0], shape, 3, false, { ...NO_AUGMENTATION, cropPad: 1 }, rng(s));
      const row = Array.from(b.x.subarray(0, 16));
      // Every output pixel is either 0 (padding) or a source pixel of the same image.
      assert.ok(row.every((v) => v >= 0 && v <= 15));
      if (row.join() !== Array.from({ length: 16 }, (_, i) => i).join()) shifted = true;
    }
    assert.ok(shifted, 'crop padding never moved the image');
  });

  it('mixup keeps targets summing to 1 and mixes pixels consistently with them', () => {
    const b = makeBatch(pixels, labels, [0, 1], shape, 3, false, { ...NO_AUGMENTATION, mix: 'mixup', mixAlpha: 1 }, rng(5));
    for (let r = 0; r < 2; r++) {
      const sum = b.y[r * 3] + b.y[r * 3 + 1] + b.y[r * 3 + 2];
      assert.ok(Math.abs(sum - 1) < 1e-6);
    }
    // Row 0's weight on class 2 (image 0's label) is λ or 1 (mixed with itself); check pixel 0.
    const w = b.y[2];
    const expected = w * 0 + (1 - w) * 200;
    assert.ok(Math.abs(b.x[0] - expected) < 1e-3 || Math.abs(b.x[0] - 0) < 1e-3);
  });

  it('cutmix label weights equal the kept area', () => {
    const b = makeBatch(pixels, labels, [0, 1], shape, 3, false, { ...NO_AUGMENTATION, mix: 'cutmix', mixAlpha: 1 }, rng(9));
    for (let r = 0; r < 2; r++) {
      const own = r === 0 ? 2 : 0;
      const img = b.x.subarray(r * 16, r * 16 + 16);
      const foreign = Array.from(img).filter((v) => (r === 0 ? v === 200 : v !== 200)).length;
      // The other image may be itself when the permutation maps a row to itself.
      if (foreign > 0) assert.ok(Math.abs(b.y[r * 3 + own] - (1 - foreign / 16)) < 1e-6, `row ${r}`);
    }
  });

  it('Beta samples have the right mean', () => {
    const random = rng(2);
    let s = 0;
    for (let i = 0; i < 4000; i++) s += sampleBeta(2, 6, random);
    assert.ok(Math.abs(s / 4000 - 0.25) < 0.01);
  });
});

describe('learning-rate schedules', () => {
  it('one-cycle rises to the peak at the end of warm-up and falls to ~0', () => {
    const o = { name: 'onecycle' as const, lr: 0.01, warmup: 0.3 };
    assert.ok(Math.abs(learningRateAt(0, o) - 0.0004) < 1e-12);
    assert.ok(Math.abs(learningRateAt(0.3, o) - 0.01) < 1e-12);
    assert.ok(learningRateAt(1, o) < 1e-7);
    assert.ok(learningRateAt(0.15, o) < 0.01 && learningRateAt(0.15, o) > 0.0004);
  });

  it('cosine with warm-up is linear then cosine', () => {
    const o = { name: 'cosine' as const, lr: 0.1, warmup: 0.1 };
    assert.ok(Math.abs(learningRateAt(0.05, o) - 0.05) < 1e-12);
    assert.ok(Math.abs(learningRateAt(0.55, o) - 0.05) < 1e-12);
    assert.equal(learningRateAt(1, o), 0);
  });
});
