// A synthetic experiment for the webview fixtures (record.ts --synthetic): real Fashion-MNIST
// images, a real CSV, a store written the way the worker writes it, and scores that behave like a
// small convnet's (confusions between shirt, T-shirt, pullover and coat; sneaker, sandal and ankle
// boot).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { type Dataset, encodePng, openDataset } from '../../src/data';
import { accuracy, confusionMatrix, logLoss, macroAuc, macroAveragePrecision, perClass, topKAccuracy } from '../../src/eval/metrics';
import { newTrialRecord } from '../../src/search/search';
import { leaderboard } from '../../src/search/leaderboard';
import { describeConfig } from '../../src/search/space';
import type { EpochRecord, ExperimentSpec, LeaderboardRow, TestMetrics, TrialConfig, TrialRecord, WorkerEvent } from '../../src/shared/protocol';
import { rng } from '../../src/shared/random';
import { writeJsonAtomic } from '../../src/store/files';
import { ExperimentStore } from '../../src/store/store';

export const SYNTH_ROOT = '/tmp/automl-webview-fixture';
export const CLASSES = ['tshirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle_boot'];
export const CONFUSABLE: Record<number, number[]> = {
  0: [6, 2],
  2: [4, 6],
  4: [2, 6],
  6: [0, 2, 4],
  5: [7, 9],
  7: [5, 9],
  9: [7, 5],
  3: [4, 0],
  1: [3],
  8: [],
};

/** The shared state of the synthetic experiment: its random numbers, store, simulated clock and events. */
export interface Synth {
  gauss: () => number;
  store: ExperimentStore;
  at: (seconds: number) => string;
  emit: (e: WorkerEvent, dt?: number) => void;
}

export async function synthesize(): Promise<string> {
  const { dsDir, gauss } = writeSyntheticDataset();
  const dataset = await openDataset(join(dsDir, 'dataset.csv'), { seed: 1 });
  const spec: ExperimentSpec = {
    id: '20261122-101500-fashion',
    name: 'fashion',
    dataset: join(dsDir, 'dataset.csv'),
    budgetMinutes: 2,
    backend: 'auto',
    seed: 1,
    imageSize: 0,
    fit: 'pad',
    cacheDir: join(SYNTH_ROOT, 'cache'),
    createdAt: '2026-11-22T10:15:00.000Z',
  };
  const store = ExperimentStore.create(join(SYNTH_ROOT, 'experiments'), spec);
  let now = Date.parse('2026-11-22T10:15:02.000Z');
  const at = (s: number) => {
    now += s * 1000;
    return new Date(now).toISOString();
  };
  const events: (WorkerEvent & { time: string })[] = [];
  const emit = (e: WorkerEvent, dt = 0.2) => {
    const time = at(dt);
    events.push({ time, ...e } as WorkerEvent & { time: string });
  };
  const backend = {
    name: 'wasm' as const,
    reasons: [
      'tensorflow-gpu: no CUDA 11.2 runtime found (run "AutoML: Install GPU Runtime")',
      'tensorflow: @tensorflow/tfjs-node is not installed for this platform',
    ],
    threads: 2,
    versions: { 'tfjs-core': '4.22.0', 'automl-vscode': '0.1.0', node: '20.19.0' },
  };
  emit({ type: 'backend', backend });
  emit({ type: 'log', level: 'info', message: 'Input 28×28×1: the images are 28×28 gray' });
  const counts = {
    TRAIN: dataset.items.filter((i) => i.partition === 'TRAIN' && i.stamp).length,
    VALIDATION: dataset.items.filter((i) => i.partition === 'VALIDATION').length,
    TEST: dataset.items.filter((i) => i.partition === 'TEST').length,
  };
  emit({ type: 'experimentStarted', experimentId: spec.id, classes: CLASSES, counts, budgetSeconds: 120, resumed: false }, 1.5);
  emit({ type: 'log', level: 'info', message: 'Plan: 84 s of search (rungs from 1 to 9 epochs, η=3), 24 s for the final fit, 12 s for evaluation' });
  emit({ type: 'log', level: 'warn', message: `${join(dsDir, 'dataset.csv')}:41: images/coat/missing-0001.png does not exist` });

  const synth: Synth = { gauss, store, at, emit };
  const trials = synthTrials(synth);
  const { best, fit } = synthFinalFit(synth, trials);
  const { board, metrics } = synthEvaluation(synth, dataset, [...trials, fit]);
  const record = store.updateRecord({
    status: 'done',
    backend,
    versions: backend.versions,
    classes: CLASSES,
    multiLabel: false,
    inputShape: [28, 28, 1],
    startedAt: '2026-11-22T10:15:02.000Z',
    endedAt: at(0.5),
    secondsUsed: (now - Date.parse('2026-11-22T10:15:02.000Z')) / 1000,
    bestTrialId: best.id,
    finalModel: { kind: 'final-fit', trials: ['final'], valAccuracy: null },
    test: metrics,
  });
  emit({ type: 'experimentEnded', experiment: record, leaderboard: board });
  for (const e of events) store.appendEvent(e);
  // appendEvent stamps its own time; rewrite with the simulated clock so replays have realistic gaps
  writeFileSync(store.file('events.jsonl'), events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  return store.dir;
}

/** Real Fashion-MNIST images as PNG files and an AutoML CSV with two problems the dataset panel lists. */
export function writeSyntheticDataset(): { dsDir: string; gauss: () => number } {
  rmSync(SYNTH_ROOT, { recursive: true, force: true });
  const dsDir = join(SYNTH_ROOT, 'fashion');
  const rand = rng(7);
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const rows: string[] = [];
  for (let c = 0; c < CLASSES.length; c++) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const raw = (require(`fashion-mnist/src/clothes/${c}.json`) as { data: number[][] }).data;
    mkdirSync(join(dsDir, 'images', CLASSES[c]), { recursive: true });
    const nTrain = CLASSES[c] === 'bag' ? 8 : 24;
    const plan: string[] = [...Array(nTrain).fill('TRAIN'), ...Array(4).fill('VALIDATION'), ...Array(14).fill('TEST')];
    plan.forEach((part, i) => {
      const file = join(dsDir, 'images', CLASSES[c], `${String(i).padStart(4, '0')}.png`);
      writeFileSync(file, encodePng(28, 28, 1, Uint8Array.from(raw[i * 37])));
      rows.push(`${part},images/${CLASSES[c]}/${basename(file)},${CLASSES[c]}`);
    });
  }
  // Problems the dataset panel lists
  rows.splice(40, 0, 'TRAIN,images/coat/missing-0001.png,coat');
  rows.splice(90, 0, 'TRIAN,images/dress/0001.png,dress');
  writeFileSync(join(dsDir, 'dataset.csv'), rows.join('\n') + '\n');

  return { dsDir, gauss };
}

/** Six search trials (one failed, some pruned) with learning curves, written the way the worker writes them. */
export function synthTrials({ gauss, store, at, emit }: Synth): TrialRecord[] {
  const configs: {
    config: TrialConfig;
    origin: string;
    acc: number;
    tau: number;
    epochs: number;
    status: TrialRecord['status'];
    params: number;
    error?: string;
  }[] = [
    {
      config: { family: 'convnet', 'convnet/blocks': 2, 'convnet/filters': 32, 'convnet/batchnorm': true, 'convnet/head': 'gap' },
      origin: 'portfolio',
      acc: 0.8,
      tau: 1.6,
      epochs: 3,
      status: 'done',
      params: 29354,
    },
    {
      config: { family: 'resnet', 'resnet/depth': 14, 'resnet/width': 16 },
      origin: 'portfolio',
      acc: 0.74,
      tau: 2.2,
      epochs: 3,
      status: 'pruned',
      params: 175258,
    },
    {
      config: { family: 'mobilenet', 'mobilenet/width': 0.5, 'mobilenet/blocks_per_stage': 1 },
      origin: 'portfolio',
      acc: 0.66,
      tau: 2.5,
      epochs: 1,
      status: 'failed',
      params: 81210,
      error: 'Out of memory: the model needs about 2.3 GB for batch 128; try a smaller batch or image size.',
    },
    {
      config: { family: 'convnet', 'convnet/blocks': 3, 'convnet/filters': 24, 'convnet/batchnorm': false, 'convnet/head': 'flatten' },
      origin: 'tpe',
      acc: 0.77,
      tau: 1.8,
      epochs: 3,
      status: 'pruned',
      params: 61450,
    },
    {
      config: { family: 'convnet', 'convnet/blocks': 2, 'convnet/filters': 48, 'convnet/batchnorm': true, 'convnet/head': 'gap' },
      origin: 'tpe',
      acc: 0.83,
      tau: 1.5,
      epochs: 3,
      status: 'done',
      params: 62218,
    },
    {
      config: { family: 'convnet', 'convnet/blocks': 2, 'convnet/filters': 48, 'convnet/batchnorm': true, 'convnet/head': 'gap' },
      origin: 'promotion of t4',
      acc: 0.86,
      tau: 2.4,
      epochs: 9,
      status: 'done',
      params: 62218,
    },
  ];
  const trials: TrialRecord[] = [];
  configs.forEach((c, index) => {
    const id = `t${index}`;
    const t: TrialRecord = newTrialRecord({
      id,
      index,
      config: c.config,
      origin: c.origin,
      rung: c.epochs > 3 ? 1 : 0,
      epochs: c.epochs,
      params: c.params,
      memoryEstimate: c.params * 4 * 40,
      startedAt: at(0.5),
    });
    emit({ type: 'trialStarted', trial: { ...t } });
    emit({ type: 'log', level: 'info', message: `Trial ${id} (${c.origin}): ${describeConfig(c.config)}, epochs 0 → ${c.epochs}` }, 0.1);
    let elapsed = 0;
    const ips = Math.round(420 * (30000 / (c.params + 30000)) + 80);
    const n = c.status === 'failed' ? 0 : c.epochs;
    for (let e = 1; e <= n; e++) {
      elapsed += 240 / ips;
      const a = c.acc * (1 - Math.exp(-e / c.tau)) + 0.1 * Math.exp(-e / c.tau);
      const trainAcc = Math.min(0.99, a + 0.03 + 0.01 * e + gauss() * 0.01);
      const valAcc = Math.max(0.1, Math.min(0.98, a + gauss() * 0.015));
      const r: EpochRecord = {
        trialId: id,
        epoch: e,
        loss: Math.max(0.05, -Math.log(trainAcc) * 1.1 + gauss() * 0.02),
        accuracy: trainAcc,
        valLoss: Math.max(0.08, -Math.log(valAcc) * 1.15 + gauss() * 0.03),
        valAccuracy: valAcc,
        lr: 0.003 * (1 - e / (n + 1)),
        imagesPerSec: ips + gauss() * 8,
        elapsed,
      };
      store.appendHistory(r);
      emit({ type: 'epochEnded', record: r }, 240 / ips);
      if (t.bestValAccuracy === null || valAcc > t.bestValAccuracy) {
        t.bestValAccuracy = valAcc;
        t.bestValLoss = r.valLoss;
        t.bestEpoch = e;
        t.hasModel = true;
      }
      t.epochsDone = e;
    }
    t.status = c.status;
    t.error = c.error;
    t.seconds = elapsed + 0.8;
    t.imagesPerSec = ips;
    t.endedAt = at(0.3);
    t.rungScores = t.bestValAccuracy === null ? [] : [t.bestValAccuracy];
    store.writeTrial(t);
    trials.push(t);
    emit({ type: 'trialEnded', trial: { ...t } });
    if (c.error) emit({ type: 'log', level: 'warn', message: `Trial ${id} failed: ${c.error}` });
  });
  return trials;
}

/** The final fit of the best trial on TRAIN+VALIDATION. */
export function synthFinalFit({ gauss, store, at, emit }: Synth, trials: TrialRecord[]): { best: TrialRecord; fit: TrialRecord } {
  emit({ type: 'log', level: 'info', message: 'Search ended (budget) after 6 trials' });
  const best = trials[5];
  const fit: TrialRecord = {
    ...best,
    id: 'final',
    index: 6,
    origin: `final fit of ${best.id}`,
    trainOn: 'TRAIN+VALIDATION',
    epochs: 9,
    epochsDone: 0,
    startedAt: at(0.2),
    status: 'running',
    bestValAccuracy: null,
    bestValLoss: null,
    bestEpoch: null,
    rungScores: [],
    hasModel: false,
  };
  emit({ type: 'trialStarted', trial: { ...fit } });
  let elapsed = 0;
  for (let e = 1; e <= 9; e++) {
    elapsed += 0.9;
    const a = 0.9 * (1 - Math.exp(-e / 2)) + 0.1 * Math.exp(-e / 2);
    const r: EpochRecord = {
      trialId: 'final',
      epoch: e,
      loss: -Math.log(a) * 1.05,
      accuracy: a,
      valLoss: -Math.log(a + 0.02) * 1.05,
      valAccuracy: Math.min(0.99, a + 0.02),
      lr: 0.002,
      imagesPerSec: 300 + gauss() * 6,
      elapsed,
    };
    store.appendHistory(r);
    emit({ type: 'epochEnded', record: r }, 0.9);
  }
  Object.assign(fit, { status: 'done', epochsDone: 9, seconds: elapsed + 0.5, hasModel: true, endedAt: at(0.4), imagesPerSec: 300 });
  store.writeTrial(fit);
  emit({ type: 'trialEnded', trial: { ...fit } });
  return { best, fit };
}

/** Evaluation on TEST with scores that look like a small convnet's, its files, and the leaderboard of `trials`. */
export function synthEvaluation({ gauss, store, emit }: Synth, dataset: Dataset, trials: TrialRecord[]): { board: LeaderboardRow[]; metrics: TestMetrics } {
  const test = dataset.items.filter((i) => i.partition === 'TEST' && i.stamp);
  const k = CLASSES.length;
  const scores: number[] = [];
  const labels: number[] = [];
  for (const it of test) {
    const y = CLASSES.indexOf(it.labels[0]);
    const logits = CLASSES.map(() => gauss() * 0.8);
    logits[y] += 2.6 + gauss() * 1.3;
    for (const c of CONFUSABLE[y]) logits[c] += 1.2 + gauss() * 1.0;
    const m = Math.max(...logits);
    const ex = logits.map((l) => Math.exp(l - m));
    const s = ex.reduce((a, b) => a + b, 0);
    scores.push(...ex.map((x) => Math.round((x / s) * 1e5) / 1e5));
    labels.push(y);
  }
  const d = { n: test.length, k, scores, labels };
  const metrics = {
    partition: 'TEST' as const,
    count: test.length,
    accuracy: accuracy(d),
    top5Accuracy: topKAccuracy(d, 5),
    macroAuc: macroAuc(d),
    macroAveragePrecision: macroAveragePrecision(d),
    loss: logLoss(d),
  };
  writeJsonAtomic(store.file('final', 'evaluation.json'), { ...metrics, classes: CLASSES, confusion: confusionMatrix(d), perClass: perClass(d) });
  writeJsonAtomic(store.file('final', 'predictions.json'), { partition: 'TEST', classes: CLASSES, itemIds: test.map((i) => i.id), labels, scores });
  mkdirSync(store.file('final', 'model'), { recursive: true });
  emit({
    type: 'log',
    level: 'info',
    message: `TEST: accuracy ${(metrics.accuracy * 100).toFixed(2)} %, macro AUC ${metrics.macroAuc?.toFixed(4)}, macro AP ${metrics.macroAveragePrecision?.toFixed(4)} (${test.length} images)`,
  });
  const board = leaderboard(trials);
  store.writeLeaderboard(board);
  return { board, metrics };
}
