// The plan's mode decision with injected training speeds (pure): what a 10-minute Fashion-MNIST run
// does at the old hard-coded guess and at measured speeds.
import * as assert from 'node:assert/strict';
import { MIN_SEARCH_EPOCHS, decideMode, rungZeroTrials } from '../../../src/search/plan';

// The benchmark's Fashion-MNIST split: 54k TRAIN, 6k VALIDATION, 10k TEST.
const FASHION = { trainImages: 54_000, evalImages: 16_000 };

describe('plan mode from the measured speed', () => {
  it('10 minutes of Fashion-MNIST at the old guess of 350 images/s: short budget (about 3.7 epochs)', () => {
    const { mode, plan } = decideMode({ strategy: 'search', budgetSeconds: 600, ...FASHION, imagesPerSec: 350 });
    assert.equal(mode, 'short-budget');
    assert.ok(plan.affordableEpochs > 3 && plan.affordableEpochs < 4, String(plan.affordableEpochs));
  });

  it('10 minutes of Fashion-MNIST at a measured ~2,000 images/s: a search screening many trials', () => {
    const { mode, plan } = decideMode({ strategy: 'search', budgetSeconds: 600, ...FASHION, imagesPerSec: 2000 });
    assert.equal(mode, 'search');
    assert.ok(plan.affordableEpochs >= MIN_SEARCH_EPOCHS);
    assert.ok(rungZeroTrials(plan, 2000, FASHION.trainImages) >= 5, `rung-0 trials ${rungZeroTrials(plan, 2000, FASHION.trainImages)}`);
  });

  it('the threshold is MIN_SEARCH_EPOCHS affordable epochs: the speed just below it trains one network, just above it searches', () => {
    const at = (ips: number) => decideMode({ strategy: 'search', budgetSeconds: 600, ...FASHION, imagesPerSec: ips });
    let lo = 100;
    let hi = 5000;
    for (let i = 0; i < 40; i++) {
      const mid = (lo + hi) / 2;
      if (at(mid).mode === 'search') hi = mid;
      else lo = mid;
    }
    assert.ok(Math.abs(at(hi).plan.affordableEpochs - MIN_SEARCH_EPOCHS) < 0.01);
    assert.equal(at(hi * 0.98).mode, 'short-budget');
    assert.equal(at(hi * 1.02).mode, 'search');
  });

  it('the fixed strategy stays fixed whatever the speed; a faster machine never searches less', () => {
    assert.equal(decideMode({ strategy: 'fixed', budgetSeconds: 3600, ...FASHION, imagesPerSec: 1e5 }).mode, 'fixed');
    const trials = [500, 1000, 2000, 4000].map((ips) =>
      rungZeroTrials(decideMode({ strategy: 'search', budgetSeconds: 3600, ...FASHION, imagesPerSec: ips }).plan, ips, 54_000),
    );
    for (let i = 1; i < trials.length; i++) assert.ok(trials[i] >= trials[i - 1], trials.join(' '));
  });
});
