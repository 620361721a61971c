// The host side of the panels without VS Code: what `init` carries, read from a small experiment
// folder and dataset, and the thumbnail cache.
import * as assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDataset } from '../../src/data';
import { contentSecurityPolicy, makeNonce, panelHtml } from '../../src/panel-data/html';
import { datasetPanelData, pickSamples, readEvaluationData, readPredictData, readTrainingData } from '../../src/panel-data/data';
import { ThumbnailCache } from '../../src/panel-data/thumbnails';
import type { EpochRecord, TrialRecord } from '../../src/shared/protocol';
import { writeJsonAtomic } from '../../src/store/files';
import type { ExperimentStore } from '../../src/store/store';
import { makeSmallExperiment } from './small-experiment';

describe('panels: host data', () => {
  let root: string;
  let csv: string;
  let store: ExperimentStore;

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'automl-panels-'));
    ({ csv, store } = makeSmallExperiment(root));
  });

  after(() => rmSync(root, { recursive: true, force: true }));

  it('reads the training state: trials, history in epoch order, counts and log from the events', () => {
    const trial: TrialRecord = {
      id: 't0',
      index: 0,
      config: { family: 'convnet' },
      origin: 'portfolio',
      status: 'running',
      rung: 0,
      epochs: 2,
      epochsDone: 2,
      trainOn: 'TRAIN',
      rungScores: [],
      bestValAccuracy: 0.5,
      bestValLoss: 0.7,
      bestEpoch: 2,
      params: 1000,
      memoryEstimate: 1,
      startedAt: new Date().toISOString(),
      hasModel: true,
    };
    store.writeTrial(trial);
    const rec = (epoch: number): EpochRecord => ({
      trialId: 't0',
      epoch,
      loss: 1 / epoch,
      accuracy: 0.4,
      valLoss: null,
      valAccuracy: null,
      lr: 0.01,
      imagesPerSec: 100,
      elapsed: epoch,
    });
    store.appendHistory(rec(2));
    store.appendHistory(rec(1));
    store.appendEvent({
      type: 'experimentStarted',
      experimentId: 'e1',
      classes: ['cat', 'dog'],
      counts: { TRAIN: 8, VALIDATION: 0, TEST: 4 },
      budgetSeconds: 60,
      resumed: false,
    });
    store.appendEvent({ type: 'log', level: 'info', message: 'hello' });
    store.appendEvent({ type: 'log', level: 'debug', message: 'not shown' });
    store.updateRecord({ status: 'running', secondsUsed: 12 });
    const d = readTrainingData(store.dir, true);
    assert.equal(d.running, true);
    assert.equal(d.secondsUsed, 12);
    assert.ok(Math.abs(Date.parse(d.asOf) - Date.now()) < 60_000, 'asOf is when experiment.json was written');
    assert.deepEqual(
      d.history.t0.map((r) => r.epoch),
      [1, 2],
    );
    assert.deepEqual(d.counts, { TRAIN: 8, VALIDATION: 0, TEST: 4 });
    assert.deepEqual(
      d.log.map((l) => l.message),
      ['hello'],
    );
    assert.equal(d.title, 'pets');
  });

  it('says why there is no evaluation, then reads it with item names', async () => {
    store.updateRecord({ status: 'running' });
    assert.match(readEvaluationData(store.dir, undefined).error ?? '', /still running/);
    const ds = await openDataset(csv, { seed: 1 });
    const test = ds.items.filter((i) => i.partition === 'TEST');
    writeJsonAtomic(store.file('final', 'evaluation.json'), {
      partition: 'TEST',
      count: test.length,
      accuracy: 1,
      macroAuc: 1,
      macroAveragePrecision: 1,
      loss: 0.1,
      classes: ['cat', 'dog'],
      confusion: [
        [2, 0],
        [0, 2],
      ],
      perClass: { auc: [1, 1], averagePrecision: [1, 1], support: [2, 2] },
    });
    writeJsonAtomic(store.file('final', 'predictions.json'), {
      partition: 'TEST',
      classes: ['cat', 'dog'],
      itemIds: test.map((i) => i.id),
      labels: test.map((i) => (i.labels[0] === 'cat' ? 0 : 1)),
      scores: test.flatMap((i) => (i.labels[0] === 'cat' ? [0.9, 0.1] : [0.2, 0.8])),
    });
    store.updateRecord({ status: 'done', finalModel: { kind: 'trial', trials: ['t0'], valAccuracy: 0.5 } });
    const e = readEvaluationData(store.dir, ds);
    assert.equal(e.error, undefined);
    assert.equal(e.predictions?.itemIds.length, 4);
    assert.equal(e.itemNames[String(test[0].id)], test[0].display);
    // A broken predictions file is reported, not shown
    writeJsonAtomic(store.file('final', 'predictions.json'), { partition: 'TEST', classes: ['cat', 'dog'], itemIds: [0], labels: [0], scores: [1] });
    assert.match(readEvaluationData(store.dir, ds).error ?? '', /inconsistent/);
    // Multi-label predictions carry n × k multi-hot labels
    const multi = { partition: 'TEST', classes: ['cat', 'dog'], multiLabel: true, itemIds: [0, 1], scores: [0.9, 0.8, 0.1, 0.7] };
    writeJsonAtomic(store.file('final', 'predictions.json'), { ...multi, labels: [1, 1, 0, 1] });
    assert.equal(readEvaluationData(store.dir, ds).error, undefined);
    writeJsonAtomic(store.file('final', 'predictions.json'), { ...multi, labels: [0, 1] });
    assert.match(readEvaluationData(store.dir, ds).error ?? '', /inconsistent/);
  });

  it('says whether prediction is available', () => {
    assert.equal(readPredictData(store.dir, true).available, false, 'no final/model folder');
    mkdirSync(store.file('final', 'model'), { recursive: true });
    assert.equal(readPredictData(store.dir, true).available, true);
    const off = readPredictData(store.dir, false);
    assert.equal(off.available, false);
    assert.match(off.reason ?? '', /not wired/);
  });

  it('picks samples per label, usable images first, spread over the label', async () => {
    const ds = await openDataset(csv, { seed: 1 });
    const samples = pickSamples(ds, ['cat', 'dog'], 3);
    assert.deepEqual(
      samples.map((s) => [s.label, s.total, s.images.length]),
      [
        ['cat', 6, 3],
        ['dog', 7, 3],
      ],
    );
    assert.ok(samples[1].images.every((i) => !i.display.includes('missing')));
    const panel = datasetPanelData(csv, { dataset: ds, findings: ds.findings });
    assert.equal(panel.title, 'Dataset · labels.csv');
    assert.equal(panel.stats, null);
  });

  it('makes small PNG thumbnails once, keyed by the image and its stamp', async () => {
    const ds = await openDataset(csv, { seed: 1 });
    const cache = new ThumbnailCache(join(root, 'thumbs'), 2, 16);
    const item = ds.items.find((i) => i.stamp)!;
    assert.equal(cache.existing(item), undefined);
    const got: Record<string, string> = {};
    await cache.getMany(
      [
        { key: String(item.id), item },
        { key: 'x', item: ds.items.find((i) => !i.stamp)! },
      ],
      (p) => Object.assign(got, p),
      10,
    );
    assert.deepEqual(Object.keys(got), [String(item.id)], 'a missing image gives no thumbnail');
    const png = readFileSync(got[String(item.id)]);
    assert.equal(png.readUInt32BE(16), 16, 'width 16 (the longer side)');
    assert.equal(png.readUInt32BE(20), 12, 'height keeps the aspect ratio');
    assert.equal(cache.existing(item), got[String(item.id)]);
    assert.notEqual(cache.fileFor({ ...item, stamp: 'other' }), cache.fileFor(item), 'a changed image gets a new thumbnail');
    cache.dispose();
    assert.ok(existsSync(got[String(item.id)]));
  });

  it('builds the page with a strict CSP and a nonce on every script and stylesheet', () => {
    const nonce = makeNonce();
    assert.match(nonce, /^[A-Za-z0-9]{16,}$/);
    assert.notEqual(makeNonce(), nonce);
    const html = panelHtml({
      kind: 'evaluation',
      title: 'E <1>',
      cspSource: 'vscode-webview://abc',
      scriptUri: 'vscode-webview://abc/dist/webview.js',
      styleUri: 'vscode-webview://abc/dist/webview.css',
      nonce,
    });
    const csp = contentSecurityPolicy('vscode-webview://abc', nonce);
    assert.match(csp, /default-src 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
    assert.ok(html.includes(`<script nonce="${nonce}" src="vscode-webview://abc/dist/webview.js">`));
    assert.ok(html.includes('data-panel="evaluation"'));
    assert.ok(html.includes('E &lt;1&gt;'));
    assert.doesNotMatch(html, /<script(?![^>]*nonce)/, 'no script without the nonce');
    assert.doesNotMatch(html, /\son\w+=/, 'no inline handlers');
  });
});
