// Records what the host sends the four panels, from an experiment folder, into small JSON
// fixtures under test/fixtures/webview/ (plus the thumbnails the panels show). The webview
// harness replays them in headless Chromium.
//
//   node out/test/ui-webview/record.js <experimentDir>      record a real experiment
//                                                            (npm run build && node dist/cli.js train examples/fashion-sample/dataset.csv --time 2 --out /tmp/exp)
//   node out/test/ui-webview/record.js --synthetic           make a small Fashion-MNIST experiment first
//   … --problems                                             also record dataset-problems.json: a CSV
//                                                            with the mistakes the dataset panel lists
//
// The messages are produced by the host's own readers (src/panel-data/data.ts), so the fixtures
// are exactly what `init` carries; the live part of the training panel replays events.jsonl.
import { mkdirSync, readdirSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { computeStats, encodePng, openDataset, validateDataset } from '../../src/data';
import { datasetPanelData, readEvaluationData, readPredictData, readTrainingData } from '../../src/panel-data/data';
import { ThumbnailCache } from '../../src/panel-data/thumbnails';
import type { EpochRecord, ExperimentRecord, HostToWebview, PredictionView, TrainingPanelData, TrialRecord, WorkerEvent } from '../../src/shared/protocol';
import { ExperimentStore } from '../../src/store/store';
import { SYNTH_ROOT, synthesize } from './synthetic';

export const FIXTURES = resolve(__dirname, '../../../test/fixtures/webview');

// ---------------------------------------------------------------------------------------------
// Recording

export interface Recording {
  /** Image key → path relative to the fixtures folder. */
  images: Record<string, string>;
  messages: HostToWebview[];
}

export interface TrainingRecording {
  /** The panel opened mid-run: history so far, then the rest as live `events` batches. */
  live: { init: HostToWebview; batches: HostToWebview[] };
  /** The panel opened after the end. */
  done: HostToWebview;
}

async function record(experimentDir: string): Promise<void> {
  const store = new ExperimentStore(experimentDir);
  const rec = store.readRecord();
  if (!experimentDir.startsWith(SYNTH_ROOT)) experimentsParent = dirname(experimentDir);
  rmSync(FIXTURES, { recursive: true, force: true });
  mkdirSync(join(FIXTURES, 'images'), { recursive: true });

  // Dataset panel
  const dataset = await openDataset(rec.spec.dataset, { seed: rec.spec.seed, multiLabel: rec.spec.multiLabel });
  const result = await validateDataset(dataset, { level: 'structure' });
  const dsData = datasetPanelData(rec.spec.dataset, { dataset, stats: computeStats(dataset, result), findings: [...result] }, 6);
  const dsImages = await imageMap(
    dataset,
    dsData.samples.flatMap((s) => s.images.map((i) => i.key)),
  );
  save('dataset.json', anonymise({ images: dsImages, messages: [{ type: 'init', panel: 'dataset', data: dsData }] }));

  // Training panel: done, and a replay from 40 % of the events
  const done = readTrainingData(experimentDir, false);
  const events = store.readEvents();
  const split = Math.max(
    1,
    Math.floor(events.findIndex((e) => e.type === 'trialEnded') + (events.length - events.findIndex((e) => e.type === 'trialEnded')) * 0.35),
  );
  const init = replay(rec, events.slice(0, split));
  const batches: HostToWebview[] = [];
  let batch: WorkerEvent[] = [];
  for (const e of events.slice(split)) {
    const { time: _t, ...ev } = e;
    batch.push(ev as WorkerEvent);
    if (e.type === 'epochEnded' || e.type === 'trialEnded' || e.type === 'experimentEnded' || batch.length >= 5) {
      batches.push({ type: 'events', events: batch });
      batch = [];
    }
  }
  if (batch.length) batches.push({ type: 'events', events: batch });
  const training: TrainingRecording = {
    live: { init: { type: 'init', panel: 'training', data: init }, batches },
    done: { type: 'init', panel: 'training', data: done },
  };
  save('training.json', anonymise(training));

  // Evaluation panel
  const ev = readEvaluationData(experimentDir, dataset);
  const keys = (ev.predictions?.itemIds ?? []).map(String);
  const evImages = await imageMap(dataset, keys);
  save('evaluation.json', anonymise({ images: evImages, messages: [{ type: 'init', panel: 'evaluation', data: ev }] }));

  // Predict panel: a few TEST images "predicted" with their stored scores
  const pd = readPredictData(experimentDir, true);
  const predictions: PredictionView[] = [];
  if (ev.predictions) {
    const p = ev.predictions;
    const k = p.classes.length;
    for (const i of [0, Math.floor(p.itemIds.length / 3), Math.floor((2 * p.itemIds.length) / 3)]) {
      const it = dataset.items[p.itemIds[i]];
      const scores = p.classes.map((label, c) => ({ label, score: p.scores[i * k + c] })).sort((a, b) => b.score - a.score);
      const thumb = evImages[String(p.itemIds[i])];
      predictions.push({
        path: it?.display ?? `item ${p.itemIds[i]}`,
        name: basename(it?.display ?? `item-${p.itemIds[i]}.png`),
        scores,
        ms: 12 + (i % 7),
        preview: thumb ? `fixture:${thumb}` : undefined,
      });
    }
  }
  save(
    'predict.json',
    anonymise({
      images: {},
      messages: [
        { type: 'init', panel: 'predict', data: pd },
        { type: 'predictions', results: predictions },
      ],
    }),
  );
  console.log(`recorded ${experimentDir} into ${FIXTURES}`);
}

const thumbs = new ThumbnailCache(join('/tmp', `automl-fixture-thumbs-${process.pid}`));

/** Thumbnails of these items, copied into the fixtures (image key → relative path). */
async function imageMap(dataset: import('../../src/data').Dataset, keys: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  mkdirSync(join(FIXTURES, 'images'), { recursive: true });
  for (const key of keys) {
    const it = dataset.items[Number(key)];
    if (!it) continue;
    const p = await thumbs.get(it);
    if (!p) continue;
    copyFileSync(p, join(FIXTURES, 'images', basename(p)));
    out[key] = `images/${basename(p)}`;
  }
  return out;
}

/** The dataset panel of a CSV with mistakes: missing file, unknown partition, duplicate row, a tiny class. */
async function recordProblems(): Promise<void> {
  const dir = join(SYNTH_ROOT, 'problems');
  rmSync(dir, { recursive: true, force: true });
  const rows: string[] = ['set,path,label'];
  const classes: [string, number][] = [
    ['cat', 14],
    ['dog', 12],
    ['fox', 3],
  ];
  for (const [ci, [label, n]] of classes.entries()) {
    mkdirSync(join(dir, 'images', label), { recursive: true });
    for (let i = 0; i < n; i++) {
      const px = new Uint8Array(48 * 36 * 3);
      for (let p = 0; p < 48 * 36; p++) {
        const x = p % 48;
        const y = Math.floor(p / 48);
        px[p * 3] = (x * 5 + ci * 90) & 255;
        px[p * 3 + 1] = (y * 7 + i * 20) & 255;
        px[p * 3 + 2] = ((x ^ y) * 3 + ci * 40) & 255;
      }
      writeFileSync(join(dir, 'images', label, `${label}-${i}.png`), encodePng(48, 36, 3, px));
      rows.push(`${i % 5 === 4 ? 'TEST' : i % 5 === 3 ? 'VALIDATION' : 'TRAIN'},images/${label}/${label}-${i}.png,${label}`);
    }
  }
  rows.splice(5, 0, 'TRAIN,images/cat/cat-99.png,cat');
  rows.splice(9, 0, 'TRAINING,images/dog/dog-0.png,dog');
  rows.splice(12, 0, 'TRAIN,images/cat/cat-1.png,cat');
  writeFileSync(join(dir, 'labels.csv'), rows.join('\n') + '\n');
  const csv = join(dir, 'labels.csv');
  const dataset = await openDataset(csv, { seed: 1 });
  const result = await validateDataset(dataset, { level: 'structure' });
  const data = datasetPanelData(csv, { dataset, stats: computeStats(dataset, result), findings: [...result] }, 6);
  const images = await imageMap(
    dataset,
    data.samples.flatMap((x) => x.images.map((i) => i.key)),
  );
  save('dataset-problems.json', anonymise({ images, messages: [{ type: 'init', panel: 'dataset', data }] }));
  console.log(`recorded ${csv}: ${data.findings.length} findings`);
}

/** The training panel's state part-way through: the store as it was after `events`. */
function replay(rec: ExperimentRecord, events: (WorkerEvent & { time: string })[]): TrainingPanelData {
  const trials = new Map<string, TrialRecord>();
  const history: Record<string, EpochRecord[]> = {};
  let experiment: ExperimentRecord = { ...rec, status: 'running', test: undefined, finalModel: undefined, bestTrialId: undefined, endedAt: undefined };
  let counts: Record<string, number> | undefined;
  const log: TrainingPanelData['log'] = [];
  for (const e of events) {
    if (e.type === 'backend') experiment = { ...experiment, backend: e.backend };
    else if (e.type === 'experimentStarted') counts = e.counts;
    else if (e.type === 'trialStarted' || e.type === 'trialEnded') trials.set(e.trial.id, e.trial);
    else if (e.type === 'epochEnded') (history[e.record.trialId] ??= []).push(e.record);
    else if (e.type === 'log' && e.level !== 'debug') log.push({ time: e.time, level: e.level, message: e.message });
  }
  const t0 = Date.parse(events[0]?.time ?? new Date().toISOString());
  const t1 = Date.parse(events[events.length - 1]?.time ?? new Date().toISOString());
  return {
    experimentDir: '/workspace/.automl/experiments/' + rec.spec.id,
    title: rec.spec.name || rec.spec.id,
    experiment: { ...experiment, secondsUsed: (t1 - t0) / 1000 },
    trials: [...trials.values()].sort((a, b) => a.index - b.index),
    history,
    leaderboard: [],
    running: true,
    secondsUsed: (t1 - t0) / 1000,
    asOf: new Date(t1).toISOString(),
    counts,
    log,
  };
}

const REPO = resolve(__dirname, '../../..');
let experimentsParent = '/tmp/automl-webview-fixture';

/** Replaces machine-specific absolute paths with stable ones (fixtures are committed). */
function anonymise<T>(x: T): T {
  let json = JSON.stringify(x);
  for (const [from, to] of [
    [SYNTH_ROOT, '/workspace'],
    [experimentsParent, '/workspace/.automl/experiments'],
    [REPO, '/workspace'],
  ]) {
    json = json.split(from).join(to);
  }
  return JSON.parse(json) as T;
}

function save(name: string, value: unknown): void {
  writeFileSync(join(FIXTURES, name), JSON.stringify(value) + '\n');
}

if (require.main === module) {
  const args = process.argv.slice(2);
  (async () => {
    const target = args.find((a) => !a.startsWith('--'));
    const dir = args.includes('--synthetic') ? await synthesize() : target ? resolve(target) : '';
    if (!dir && !args.includes('--problems')) throw new Error('usage: record.js <experimentDir> | --synthetic [--problems]');
    if (dir) await record(dir);
    if (args.includes('--problems')) await recordProblems();
    thumbs.dispose();
    console.log(
      readdirSync(FIXTURES)
        .map((f) => relative(process.cwd(), join(FIXTURES, f)))
        .join('\n'),
    );
  })().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
