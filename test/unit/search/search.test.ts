import * as assert from 'node:assert/strict';
import { finalFitEpochs, planSearch } from '../../../src/search/plan';
import { portfolio } from '../../../src/search/portfolio';
import { type SearchHooks, type SearchOptions, runSearch } from '../../../src/search/search';
import { buildSpace, configKey } from '../../../src/search/space';
import type { TrialConfig, TrialRecord } from '../../../src/shared/protocol';

const space = buildSpace({ imageSizes: [28], channels: 1, numClasses: 10, separable: false });

/** Synthetic training: accuracy grows with epochs towards a config-dependent ceiling. */
function accuracyAfter(c: TrialConfig, epochs: number): number {
  const ceiling = 0.8 + (c.family === 'convnet' ? 0.1 : 0.05) + (c['train/optimizer'] === 'adamw' ? 0.02 : 0);
  return ceiling * (1 - Math.exp(-epochs / 3));
}

interface FakeRun {
  hooks: SearchHooks;
  clock: { t: number };
  segments: { id: string; from: number; to: number }[];
  saved: Map<string, TrialRecord>;
}

/** A fake clock: a segment takes epochs × 100 images / 50 images/s = 2 s per epoch. */
function fake(opts: { killAfterSegments?: number } = {}): FakeRun {
  const clock = { t: 0 };
  const segments: FakeRun['segments'] = [];
  const saved = new Map<string, TrialRecord>();
  const hooks: SearchHooks = {
    now: () => clock.t,
    isCancelled: () => false,
    log: () => undefined,
    saveTrial: (t) => saved.set(t.id, JSON.parse(JSON.stringify(t))),
    runTrial: async (trial, seg) => {
      if (opts.killAfterSegments !== undefined && segments.length >= opts.killAfterSegments) {
        throw new Error('killed');
      }
      segments.push({ id: trial.id, from: seg.fromEpochs, to: seg.toEpochs });
      const seconds = (seg.toEpochs - seg.fromEpochs) * 2;
      const end = Math.min(seg.deadline, clock.t + seconds * 1000);
      const done = seg.fromEpochs + (end - clock.t) / 1000 / 2;
      clock.t = end;
      const acc = accuracyAfter(trial.config, done);
      trial.hasModel = true;
      trial.bestValAccuracy = Math.max(trial.bestValAccuracy ?? 0, acc);
      return { status: 'done', valAccuracy: acc, epochsDone: done, imagesPerSec: 50 };
    },
  };
  return { hooks, clock, segments, saved };
}

const options = (deadline: number, previous?: TrialRecord[]): SearchOptions => ({
  space,
  portfolio: portfolio({ separable: false }),
  seed: 42,
  deadline,
  minResource: 1,
  maxResource: 9,
  eta: 3,
  trainImages: 100,
  estimateImagesPerSec: () => 50,
  previous,
});

describe('search engine', () => {
  it('tries the portfolio first, promotes the best, and keeps to the deadline', async () => {
    const f = fake();
    const res = await runSearch(options(120_000), f.hooks);
    assert.ok(f.clock.t <= 120_000, `clock ${f.clock.t}`);
    const first = res.trials.slice(0, 3).map((t) => t.origin.split(',')[0]);
    assert.deepEqual(first, ['portfolio', 'portfolio', 'portfolio']);
    assert.ok(res.trials.length > 6, `only ${res.trials.length} trials`);
    assert.ok(
      res.trials.some((t) => t.rung >= 1),
      'nothing was promoted',
    );
    assert.ok(res.trials.slice(3).some((t) => t.origin === 'tpe' || t.origin === 'random'));
    // The best is a promoted trial: more epochs give higher accuracy here.
    assert.ok(res.best && res.best.rung >= 1);
    // No config twice.
    assert.equal(new Set(res.trials.map((t) => configKey(t.config))).size, res.trials.length);
  });

  it('does not screen configurations the final fit could not train long enough', async () => {
    // ResNets train at 5 images/s here, convnets at 50: in the final fit's 40 s a convnet gets 18
    // epochs and a ResNet 1.8, under a third of that (and under 8).
    const ips = (c: TrialConfig) => (c.family === 'resnet' ? 5 : 50);
    const run = async (finalFit?: SearchOptions['finalFit']) => {
      const f = fake();
      const logs: string[] = [];
      f.hooks.log = (m) => void logs.push(m);
      const inner = f.hooks.runTrial;
      f.hooks.runTrial = async (trial, seg) => {
        const out = await inner(trial, seg);
        // The fake clock charged 2 s per epoch (50 images/s); a ResNet takes ten times longer.
        if (trial.config.family === 'resnet') f.clock.t = Math.min(seg.deadline, f.clock.t + (seg.toEpochs - seg.fromEpochs) * 18_000);
        return { ...out, imagesPerSec: ips(trial.config) };
      };
      const res = await runSearch({ ...options(150_000), estimateImagesPerSec: ips, finalFit }, f.hooks);
      return { res, logs };
    };
    const plain = await run();
    assert.ok(
      plain.res.trials.some((t) => t.config.family === 'resnet'),
      'without a final fit the portfolio ResNet is tried',
    );
    const guarded = await run({ seconds: 40, trainImages: 100, minEpochs: 8 });
    assert.equal(guarded.res.trials.filter((t) => t.config.family === 'resnet').length, 0);
    assert.ok(
      guarded.logs.some((m) => /Not trying resnet-8 w16 \(portfolio\): the final fit could train it for 1\.8 epochs, fewer than 6\.0/.test(m)),
      guarded.logs.join('\n'),
    );
    // The time went to configurations it could train: more trials than with the slow ResNets.
    assert.ok(guarded.res.trials.length > plain.res.trials.length, `${guarded.res.trials.length} vs ${plain.res.trials.length} trials`);
  });

  it('same seed gives the same trial sequence', async () => {
    const a = fake();
    const b = fake();
    await runSearch(options(90_000), a.hooks);
    await runSearch(options(90_000), b.hooks);
    assert.deepEqual(a.segments, b.segments);
  });

  it('resumes after a kill: finished trials are kept, the interrupted one is rerun, the sequence continues', async () => {
    const whole = fake();
    await runSearch(options(100_000), whole.hooks);

    // First run killed during its 6th segment: the trial it was running stays "running" in the store.
    const killed = fake({ killAfterSegments: 5 });
    await assert.rejects(runSearch(options(100_000), killed.hooks), /killed/);
    const stored = [...killed.saved.values()];
    assert.equal(stored.filter((t) => t.status === 'running').length, 1);
    const finishedBefore = stored.filter((t) => t.status === 'done').map((t) => t.id);
    const interruptedId = stored.find((t) => t.status === 'running')!.id;

    // Resume with the same clock and deadline.
    const resumed = fake();
    resumed.clock.t = killed.clock.t;
    const res = await runSearch(options(100_000, stored), resumed.hooks);
    // Finished trials were not run again; the interrupted segment was rerun first.
    const rerunIds = resumed.segments.map((s) => s.id);
    for (const id of finishedBefore) {
      const seg = whole.segments.find((s) => s.id === id && s.from === 0);
      if (seg) assert.ok(!resumed.segments.some((s) => s.id === id && s.from === 0), `${id} was retrained`);
    }
    assert.equal(rerunIds[0], interruptedId);
    // Together the two runs made the same segments as the uninterrupted one.
    assert.deepEqual([...killed.segments, ...resumed.segments], whole.segments);
    assert.ok(res.trials.every((t) => t.status === 'done'));
  });
});

describe('budget plan', () => {
  it('splits the budget into search, final fit and reserve that add up', () => {
    const p = planSearch({ remainingSeconds: 600, trainImages: 54000, evalImages: 16000, imagesPerSec: 500 });
    assert.ok(Math.abs(p.searchSeconds + p.finalSeconds + p.reserveSeconds - 600) < 1e-6);
    assert.ok(p.reserveSeconds <= 60);
    assert.ok(p.minResource > 0 && p.minResource <= p.maxResource);
    // The top rung is r0·ηᵏ.
    const k = Math.round(Math.log(p.maxResource / p.minResource) / Math.log(p.eta));
    assert.ok(Math.abs(p.minResource * p.eta ** k - p.maxResource) < 1e-9);
  });

  it('gives the final fit more of the budget when few epochs are affordable', () => {
    const small = planSearch({ remainingSeconds: 600, trainImages: 1000, evalImages: 500, imagesPerSec: 500 }); // ~300 epochs
    const large = planSearch({ remainingSeconds: 600, trainImages: 54000, evalImages: 16000, imagesPerSec: 500 }); // ~5 epochs
    const share = (p: typeof small) => p.finalSeconds / (p.finalSeconds + p.searchSeconds);
    assert.ok(Math.abs(share(small) - 0.35) < 1e-9, `${share(small)}`);
    assert.ok(Math.abs(share(large) - 0.85) < 1e-9, `${share(large)}`);
    const hour = planSearch({ remainingSeconds: 3600, trainImages: 54000, evalImages: 16000, imagesPerSec: 600 }); // ~39 epochs
    assert.ok(share(hour) > 0.7 && share(hour) < 0.75, `${share(hour)}`);
  });

  it('searches only when the budget affords enough epochs to compare configurations', () => {
    const short = planSearch({ remainingSeconds: 600, trainImages: 54000, evalImages: 16000, imagesPerSec: 350 }); // Fashion-MNIST, 10 min, wasm
    assert.ok(short.affordableEpochs > 3 && short.affordableEpochs < 4, `${short.affordableEpochs}`);
    assert.equal(short.searchWorthwhile, false);
    const hour = planSearch({ remainingSeconds: 3600, trainImages: 54000, evalImages: 16000, imagesPerSec: 350 });
    assert.ok(hour.affordableEpochs > 20, `${hour.affordableEpochs}`);
    assert.equal(hour.searchWorthwhile, true);
    const sample = planSearch({ remainingSeconds: 180, trainImages: 1200, evalImages: 400, imagesPerSec: 350 }); // the demo
    assert.equal(sample.searchWorthwhile, true);
  });

  it('skips a final fit that would not train longer than the best trial', () => {
    assert.equal(finalFitEpochs({ seconds: 30, imagesPerSec: 100, trainImages: 1000, bestTrialEpochs: 3 }), 0);
    assert.equal(finalFitEpochs({ seconds: 100, imagesPerSec: 100, trainImages: 1000, bestTrialEpochs: 3 }), 9);
  });
});
