// What the plan decides on this machine (issue 25): the backend the worker would pick, the measured
// training speed of the portfolio's first network at the input shape (as experiment/plan.ts measures
// it, without the cache), and the mode and search plan for a budget and dataset size.
//
//   node out/src/bench/plan-speed.js [--minutes 10] [--train 54000] [--eval 16000] [--size 28] [--channels 1]
//
// The defaults are the Fashion-MNIST benchmark (54k TRAIN, 6k VALIDATION + 10k TEST, 28×28×1, 10 minutes).
// A timing measurement: run it under `flock /tmp/bench.lock` on a shared machine.
import { parseArgs } from 'node:util';
import { initBackend } from '../engine/runtime/runtime';
import { measureTrainingSpeed } from '../engine/training/speed';
import { decideMode, rungZeroTrials } from '../search/plan';
import { portfolio } from '../search/portfolio';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { minutes: { type: 'string' }, train: { type: 'string' }, eval: { type: 'string' }, size: { type: 'string' }, channels: { type: 'string' } },
  });
  const minutes = Number(values.minutes ?? 10);
  const trainImages = Number(values.train ?? 54_000);
  const evalImages = Number(values.eval ?? 16_000);
  const size = Number(values.size ?? 28);
  const channels = Number(values.channels ?? 1);
  const backend = await initBackend({ preference: 'auto', runtimeDir: process.env.AUTOML_RUNTIME_DIR });
  const config = portfolio({ separable: backend.name !== 'cpu', transfer: false })[0];
  const shape = { inputShape: [size, size, channels] as [number, number, number], numClasses: 10, multiLabel: false, mean: 72, std: 90 };
  const m = await measureTrainingSpeed(config, shape);
  const { mode, plan } = decideMode({ strategy: 'search', budgetSeconds: minutes * 60, trainImages, evalImages, imagesPerSec: m.imagesPerSec });
  console.log(`backend ${backend.name}${backend.threads ? ` (${backend.threads} threads)` : ''}, input ${shape.inputShape.join('×')}`);
  console.log(`measured: ${Math.round(m.imagesPerSec)} images/s (${m.steps} timed steps, ${m.seconds.toFixed(1)} s with warm-up)`);
  console.log(`${minutes} min, ${trainImages} TRAIN images: about ${plan.affordableEpochs.toFixed(1)} epochs → mode '${mode}'`);
  if (mode === 'search') {
    console.log(
      `search ${Math.round(plan.searchSeconds)} s (rungs ${plan.minResource} → ${plan.maxResource} epochs, η=${plan.eta}, up to ~${rungZeroTrials(plan, m.imagesPerSec, trainImages)} rung-0 trials), ` +
        `final fit ${Math.round(plan.finalSeconds)} s, evaluation ${Math.round(plan.reserveSeconds)} s`,
    );
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
