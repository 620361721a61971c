// The training worker for real: a child process (out/src/worker/main.js) training on real
// Fashion-MNIST images, driven by the same WorkerClient the extension and the CLI use.
import * as assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { writeFashionMnistCsv } from '../../../src/bench/fashion-mnist';
import { encodePng } from '../../../src/data/png';
import { saveModel } from '../../../src/engine/model/io';
import { buildModel } from '../../../src/engine/model/build';
import { WorkerClient } from '../../../src/worker/client';
import type { EpochRecord, ExperimentSpec, WorkerEvent } from '../../../src/shared/protocol';
import { ExperimentStore, newExperimentId } from '../../../src/store/store';

const WORKER = join(__dirname, '..', '..', '..', 'src', 'worker', 'main.js');

describe('training worker (child process)', function () {
  this.timeout(240_000);
  let root: string;
  let csv: string;

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'automl-worker-'));
    // 10 classes × (40 TRAIN, 8 VALIDATION, 10 TEST) real images.
    csv = writeFashionMnistCsv(join(root, 'data'), { train: 40, validation: 8, test: 10 }, 3).csv;
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  function newExperiment(minutes: number, seed = 1, dataset = csv): { store: ExperimentStore; spec: ExperimentSpec } {
    const spec: ExperimentSpec = {
      id: `${newExperimentId(dataset)}-${Math.random().toString(36).slice(2, 7)}`,
      name: 'worker-test',
      dataset,
      budgetMinutes: minutes,
      backend: 'wasm',
      seed,
      imageSize: 0,
      fit: 'pad',
      cacheDir: join(root, 'cache'),
      createdAt: new Date().toISOString(),
    };
    return { store: ExperimentStore.create(join(root, 'experiments'), spec), spec };
  }

  function start(store: ExperimentStore, spec: ExperimentSpec, resume = false) {
    const client = WorkerClient.start({ experimentDir: store.dir, spec, resume, workerPath: WORKER });
    const events: WorkerEvent[] = [];
    client.onEvent((e) => events.push(e));
    return { client, events };
  }

  /** Runs an experiment to its end, which must be 'done': its record, events and log lines. */
  async function runDone(store: ExperimentStore, spec: ExperimentSpec) {
    const { client, events } = start(store, spec);
    await client.done;
    const rec = store.readRecord();
    assert.equal(rec.status, 'done', rec.error);
    return { rec, events, logs: events.flatMap((e) => (e.type === 'log' ? [e.message] : [])) };
  }

  const waitForEvent = (events: WorkerEvent[], pred: (e: WorkerEvent) => boolean, ms = 120_000) =>
    new Promise<WorkerEvent>((resolve, reject) => {
      const t0 = Date.now();
      const tick = setInterval(() => {
        const e = events.find(pred);
        if (e) {
          clearInterval(tick);
          resolve(e);
        } else if (Date.now() - t0 > ms) {
          clearInterval(tick);
          reject(new Error(`no such event in ${ms} ms; got ${events.map((x) => x.type).join(',')}`));
        }
      }, 100);
    });

  it('refuses in prepare a dataset that leaves no VALIDATION image (one image per class), naming the classes', async () => {
    const dir = join(root, 'one-each');
    for (const c of ['ant', 'bee', 'cat']) {
      mkdirSync(join(dir, c), { recursive: true });
      writeFileSync(join(dir, c, '0.png'), encodePng(8, 8, 1, new Uint8Array(64).fill(c.charCodeAt(0))));
    }
    const { store, spec } = newExperiment(1, 1, dir);
    const { client } = start(store, spec);
    await client.done;
    const rec = store.readRecord();
    assert.equal(rec.status, 'failed');
    assert.match(rec.error ?? '', /no VALIDATION images.*Classes with too few images: "ant" \(1 image\), "bee" \(1 image\), "cat" \(1 image\)/);
    assert.equal(store.readTrials().length, 0);
  });

  it('trains to clearly above chance, with its events and its store', async () => {
    const { store, spec } = newExperiment(0.5);
    const { client, events } = start(store, spec);
    const exit = await client.done;
    assert.equal(exit.interrupted, false);
    assert.equal(exit.code, 0);
    const types = events.map((e) => e.type);
    for (const t of ['backend', 'experimentStarted', 'trialStarted', 'epochEnded', 'trialEnded', 'experimentEnded']) {
      assert.ok(types.includes(t as WorkerEvent['type']), `no ${t} event (got ${[...new Set(types)].join(', ')})`);
    }
    assert.ok(types.indexOf('experimentStarted') < types.indexOf('trialStarted'));
    assert.equal(types[types.length - 1] === 'experimentEnded' || types.includes('experimentEnded'), true);
    const rec = store.readRecord();
    assert.equal(rec.status, 'done', rec.error);
    assert.equal(rec.backend?.name, 'wasm');
    assert.deepEqual(rec.inputShape, [28, 28, 1]);
    // 10 classes: chance is 10 %.
    assert.ok(rec.test && rec.test.accuracy > 0.3, `test accuracy ${rec.test?.accuracy}`);
    assert.ok(rec.secondsUsed <= spec.budgetMinutes * 60 * 1.1 + 5, `used ${rec.secondsUsed} s of ${spec.budgetMinutes * 60}`);
    // The store: trials with history and checkpoints, the final model, the evaluation, the events log.
    const trials = store.readTrials();
    assert.ok(trials.length >= 1);
    const first = trials[0];
    assert.ok(store.readHistory(first.id).length >= 1, 'no epoch history');
    assert.ok(existsSync(join(store.modelDir(first.id), 'model.json')), 'no best checkpoint');
    assert.ok(existsSync(store.file('final', 'model', 'model.json')), 'no final model');
    const evaluation = JSON.parse(readFileSync(store.file('final', 'evaluation.json'), 'utf8')) as { confusion: number[][] };
    assert.equal(evaluation.confusion.length, 10);
    const persisted = store.readEvents().map((e) => e.type);
    assert.ok(persisted.includes('epochEnded') && persisted.includes('experimentEnded'));
    assert.ok(!persisted.includes('batchProgress'), 'batch progress must not be persisted');
    const epochs = events.filter((e): e is { type: 'epochEnded'; record: EpochRecord } => e.type === 'epochEnded');
    assert.ok(epochs.every((e) => Number.isFinite(e.record.loss) && e.record.imagesPerSec > 0));
    // Test-time augmentation was judged on VALIDATION, and the final model agrees with the verdict.
    const logs = events.flatMap((e) => (e.type === 'log' ? [e.message] : []));
    const verdict = logs.find((m) => /^Test-time augmentation( not used| not tried)?:/.test(m));
    assert.ok(verdict, logs.join('\n'));
    // The plan rested on a measured speed (issue 25), logged, kept in the record and cached for the next experiment.
    assert.ok(rec.speed && rec.speed.imagesPerSec > 0 && ['measured', 'cache'].includes(rec.speed.source), JSON.stringify(rec.speed));
    const speedLog = logs.find((m) => m.startsWith("Speed: the portfolio's first network trains at "));
    assert.ok(speedLog?.includes(`${Math.round(rec.speed.imagesPerSec)} images/s on wasm`), logs.join('\n'));
    const cached = Object.values(JSON.parse(readFileSync(join(spec.cacheDir, 'speed.json'), 'utf8')) as { imagesPerSec: number }[]);
    assert.ok(cached.some((c) => Math.abs(c.imagesPerSec - rec.speed!.imagesPerSec) < 0.1));
    const finalJson = readFileSync(store.file('final', 'model', 'model.json'), 'utf8');
    if (/^Test-time augmentation:/.test(verdict)) {
      assert.equal(rec.finalModel?.tta, 'flip');
      assert.ok(finalJson.includes('"flip_reverse"'), 'the final model has no mirror layers');
      assert.equal((JSON.parse(finalJson) as { userDefinedMetadata: { tta?: string } }).userDefinedMetadata.tta, 'flip');
    } else {
      assert.equal(rec.finalModel?.tta, undefined);
      assert.ok(!finalJson.includes('"flip_reverse"'));
    }
  });

  it('with test-time augmentation off, never averages in the mirror image; auto takes no backbone for grayscale images', async () => {
    const { store, spec } = newExperiment(0.25, 3);
    // auto decides from the data alone (grayscale): no backbone, and no network.
    const { rec, events, logs } = await runDone(store, { ...spec, tta: false, backbone: 'auto' });
    assert.ok(logs.includes('no backbone: grayscale images (auto uses a pretrained backbone for RGB photos)'), logs.join('\n'));
    assert.equal(rec.backbone, 'none');
    assert.equal(rec.finalModel?.tta, undefined);
    assert.ok(!events.some((e) => e.type === 'log' && /^Test-time augmentation/.test(e.message)));
    assert.ok(!readFileSync(store.file('final', 'model', 'model.json'), 'utf8').includes('"flip_reverse"'));
  });

  it('trains a multi-label dataset (several labels on a row) and evaluates it per label', async () => {
    // The same images with a second label on footwear and tops: "TRAIN,images/sneaker/0001.png,sneaker,footwear".
    const groups: Record<string, string> = {
      ankle_boot: 'footwear',
      sandal: 'footwear',
      sneaker: 'footwear',
      coat: 'top',
      pullover: 'top',
      shirt: 'top',
      tshirt_top: 'top',
    };
    const rows = readFileSync(csv, 'utf8')
      .trim()
      .split('\n')
      .map((line) => {
        const label = line.split(',')[2];
        return groups[label] ? `${line},${groups[label]}` : line;
      });
    const multiCsv = join(root, 'data', 'multi.csv');
    writeFileSync(multiCsv, rows.join('\n') + '\n');
    const { store, spec } = newExperiment(0.5);
    const multiSpec = { ...spec, dataset: multiCsv };
    const { rec } = await runDone(store, multiSpec);
    assert.equal(rec.multiLabel, true);
    assert.equal(rec.classes?.length, 12);
    // Each label is ranked far better than chance (0.5).
    assert.ok(rec.test?.macroAuc && rec.test.macroAuc > 0.75, `macro AUC ${rec.test?.macroAuc}`);
    const evaluation = JSON.parse(readFileSync(store.file('final', 'evaluation.json'), 'utf8')) as import('../../../src/shared/protocol').EvaluationFile;
    assert.equal(evaluation.multiLabel, true);
    assert.equal(evaluation.multiLabelMetrics?.bestF1Thresholds.length, 12);
    assert.equal(evaluation.perClass.support[rec.classes!.indexOf('footwear')], 30, '3 classes × 10 TEST images');
    const predictions = JSON.parse(readFileSync(store.file('final', 'predictions.json'), 'utf8')) as import('../../../src/shared/protocol').PredictionsFile;
    assert.equal(predictions.labels.length, predictions.itemIds.length * 12, 'multi-hot labels, n × k');
    // Sigmoid scores: independent per label, not summing to one.
    const sums = predictions.itemIds.map((_, i) => predictions.scores.slice(i * 12, i * 12 + 12).reduce((a, b) => a + b, 0));
    assert.ok(sums.some((x) => Math.abs(x - 1) > 0.05));
  });

  it('learns on top of a pretrained backbone (transfer learning), trying it first', async () => {
    // A backbone as another experiment would leave it: this product's model format, raw pixels in.
    const backboneDir = join(root, 'backbone');
    await tf.setBackend('cpu');
    const net = buildModel(
      {
        family: 'convnet',
        'convnet/blocks': 2,
        'convnet/filters': 16,
        'convnet/convs_per_block': 1,
        'convnet/head': 'flatten',
        'convnet/dense': 64,
        'convnet/dropout': 0,
      },
      { inputShape: [28, 28, 1], numClasses: 4, multiLabel: false, mean: 70, std: 80 },
      5,
    );
    await saveModel(net, backboneDir, { input: { height: 28, width: 28, channels: 1, range: '0-255' } });
    net.dispose();
    const { store, spec } = newExperiment(0.4, 4);
    const { rec, logs } = await runDone(store, { ...spec, backbone: backboneDir });
    assert.ok(
      logs.some((m) => m.startsWith(`Backbone ${backboneDir}: 3 layers with weights, features 64`) && m.includes('0-255 (the model says it takes raw pixels')),
      logs.join('\n'),
    );
    const first = store.readTrials()[0];
    assert.equal(first.config.family, 'transfer');
    assert.ok(first.hasModel, `t001: ${first.status} ${first.error ?? ''}`);
    const checkpoint = readFileSync(join(store.modelDir(first.id), 'model.json'), 'utf8');
    // Which stage the backbone is cut at is the features phase's cross-validated choice (a conv stage or the dense
    // features), so any of its layers will do: the trial trains on top of the backbone, not a network of its own.
    assert.ok(/"name":\s*"backbone_(?!input_range)/.test(checkpoint), 'the backbone is part of the trained model');
    assert.ok(rec.test && rec.test.accuracy > 0.3, `test accuracy ${rec.test?.accuracy}`);
    // The features phase: cached features (the log says which engine computed them, and how fast: ONNX Runtime,
    // a devDependency here, or TF.js), a linear head chosen by cross-validation, the trial `head`.
    assert.ok(
      logs.some(
        (m) =>
          m.startsWith('Features: ') &&
          m.includes('mirror images') &&
          /: \d+ passes in [\d.]+ s by (ONNX Runtime [\d.]+ \(CPU\)|TF\.js \(\w+\)), [\d.]+ images\/s$/.test(m),
      ),
      logs.join('\n'),
    );
    assert.ok(
      logs.some((m) => /^Linear head, \d-fold cross-validation on TRAIN\+VALIDATION: .*chosen: /.test(m)),
      logs.join('\n'),
    );
    const head = store.readTrials().find((t) => t.id === 'head');
    assert.ok(head?.hasModel && head.bestValAccuracy !== null && head.config['transfer/head'] === 'linear', JSON.stringify(head));
    assert.ok(readFileSync(join(store.modelDir('head'), 'model.json'), 'utf8').includes('"backbone_'), 'the head model holds the cut backbone');
  });

  it('streams images from the cache file when they exceed the memory given to data, and still learns', async () => {
    const { store, spec } = newExperiment(0.3, 2);
    // 580 images of 28×28: 444 KB of pixels, more than the 102 KB given.
    const { rec, logs } = await runDone(store, { ...spec, dataMemoryMB: 0.1 });
    assert.ok(
      logs.some((m) => /^Images: 444 KB of pixels, more than the 102 KB given to data in memory: training reads each batch from the image cache/.test(m)),
      logs.join('\n'),
    );
    assert.ok(rec.test && rec.test.accuracy > 0.3, `test accuracy ${rec.test?.accuracy}`);
    assert.equal(rec.test?.count, 100);
  });

  it('without a final fit, searches for the whole budget and weighs an ensemble of the top trials on VALIDATION', async () => {
    const { store, spec } = newExperiment(0.75, 4);
    const { rec, logs } = await runDone(store, { ...spec, finalFit: false });
    assert.ok(
      logs.some((m) => /no final fit \(setting\)/.test(m)),
      logs.join('\n'),
    );
    const trials = store.readTrials();
    assert.ok(
      trials.every((t) => t.trainOn === 'TRAIN'),
      'no final fit',
    );
    assert.ok(trials.filter((t) => t.hasModel).length >= 2, `${trials.length} trials`);
    // Either verdict is logged with both VALIDATION accuracies; the final model follows it.
    const verdict = logs.find((m) => /^(Final model: the ensemble|Ensemble not used)/.test(m));
    assert.ok(verdict, logs.join('\n'));
    assert.match(verdict, /\d+\.\d\d % .*\d+\.\d\d %/);
    if (verdict.startsWith('Final model')) {
      assert.equal(rec.finalModel?.kind, 'ensemble');
      assert.ok((rec.finalModel?.trials.length ?? 0) >= 2);
    } else {
      assert.equal(rec.finalModel?.kind, 'trial');
    }
    assert.ok(existsSync(store.file('final', 'model', 'model.json')));
    assert.ok(rec.test && rec.test.accuracy > 0.3, `test accuracy ${rec.test?.accuracy}`);
    assert.ok(rec.secondsUsed <= spec.budgetMinutes * 60 * 1.1 + 5, `used ${rec.secondsUsed} s of ${spec.budgetMinutes * 60}`);
  });

  it('stops within a batch when cancelled and keeps the best model so far', async () => {
    const { store, spec } = newExperiment(3);
    const { client, events } = start(store, spec);
    await waitForEvent(events, (e) => e.type === 'epochEnded');
    const t0 = Date.now();
    client.cancel('test');
    const exit = await client.done;
    const stopSeconds = (Date.now() - t0) / 1000;
    assert.equal(exit.interrupted, false);
    const rec = store.readRecord();
    assert.equal(rec.status, 'cancelled');
    // Stopping takes one batch plus evaluating the best model, not the rest of the budget.
    assert.ok(stopSeconds < 60, `took ${stopSeconds} s to stop`);
    assert.ok(rec.finalModel, 'no final model after cancel');
    assert.ok(existsSync(store.file('final', 'model', 'model.json')));
    assert.ok(rec.test, 'the kept model was not evaluated');
  });

  it('survives a kill mid-trial: the experiment is marked interrupted and resumes in its remaining budget', async () => {
    const { store, spec } = newExperiment(1.5, 7);
    const first = start(store, spec);
    // Wait until one trial has finished and another is running, then kill -9.
    await waitForEvent(first.events, (e) => e.type === 'trialEnded');
    await waitForEvent(first.events, (e) => e.type === 'trialStarted' && first.events.filter((x) => x.type === 'trialStarted').length >= 2);
    await waitForEvent(first.events, (e) => e.type === 'batchProgress' && first.events.filter((x) => x.type === 'trialStarted').length >= 2, 60_000).catch(
      () => undefined,
    );
    first.client.kill('SIGKILL');
    const exit = await first.client.done;
    assert.equal(exit.signal, 'SIGKILL');
    assert.equal(exit.interrupted, true);
    const afterKill = store.readRecord();
    assert.equal(afterKill.status, 'interrupted');
    const trialsBefore = store.readTrials();
    const done = trialsBefore.filter((t) => t.status === 'done');
    const interrupted = trialsBefore.filter((t) => t.status === 'interrupted');
    assert.ok(done.length >= 1, 'no finished trial before the kill');
    assert.equal(interrupted.length, 1, `trial states after the kill: ${trialsBefore.map((t) => `${t.id}:${t.status}`).join(' ')}`);
    const historyBefore = new Map(done.map((t) => [t.id, JSON.stringify(store.readHistory(t.id))]));
    const used = afterKill.secondsUsed;
    assert.ok(used > 0 && used < spec.budgetMinutes * 60);

    const second = start(store, afterKill.spec, true);
    const exit2 = await second.client.done;
    assert.equal(exit2.interrupted, false);
    const rec = store.readRecord();
    assert.equal(rec.status, 'done', rec.error);
    assert.ok(rec.test && rec.test.accuracy > 0.2);
    // Finished trials were kept as they were, the interrupted one was run again first.
    // (A promotion to a higher rung may continue one from its checkpoint: its history goes on from where it was.)
    for (const [id, history] of historyBefore) assert.ok(JSON.stringify(store.readHistory(id)).startsWith(history.slice(0, -1)), `${id} was retrained`);
    const firstStarted = second.events.find((e) => e.type === 'trialStarted');
    assert.ok(firstStarted && firstStarted.type === 'trialStarted' && firstStarted.trial.id === interrupted[0].id);
    assert.equal(store.readTrials().find((t) => t.id === interrupted[0].id)?.status, 'done');
    // The budget is the whole experiment's: both runs together stay within it (plus start-up slack).
    assert.ok(rec.secondsUsed <= spec.budgetMinutes * 60 * 1.1 + 10, `used ${rec.secondsUsed} s`);
  });
});
