// The panels' host classes (src/host/panels/*) against a fake `vscode` (fake-vscode.ts): the
// page set-up, the ready → init handshake, requests and responses, live events coalesced, one
// panel per experiment, hidden pages, serializers, thumbnails and prediction.
import * as assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import Module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDataset } from '../../src/data';
import type { ExperimentFeed } from '../../src/worker/feed';
import type * as PanelsModule from '../../src/host/panels';
import type { HostToWebview, ImagePrediction, WorkerEvent } from '../../src/shared/protocol';
import { writeJsonAtomic } from '../../src/store/files';
import type { ExperimentStore } from '../../src/store/store';
import type * as Fake from './fake-vscode';
import { makeSmallExperiment } from './small-experiment';

class FakeFeed implements ExperimentFeed {
  running = true;
  stopped: string[] = [];
  private readonly listeners = new Map<string, Set<(e: WorkerEvent) => void>>();
  onEvent(dir: string, l: (e: WorkerEvent) => void) {
    if (!this.listeners.has(dir)) this.listeners.set(dir, new Set());
    this.listeners.get(dir)!.add(l);
    return { dispose: () => this.listeners.get(dir)?.delete(l) };
  }
  isRunning(): boolean {
    return this.running;
  }
  stop(dir: string): void {
    this.stopped.push(dir);
  }
  emit(dir: string, e: WorkerEvent): void {
    for (const l of this.listeners.get(dir) ?? []) l(e);
  }
}

const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));

describe('panels: host classes (fake vscode)', function () {
  this.timeout(20_000);
  let fake: typeof Fake;
  let panels: typeof PanelsModule;
  let root: string;
  let store: ExperimentStore;
  let csv: string;
  let feed: FakeFeed;
  let api: PanelsModule.Panels;
  const resolve = (Module as unknown as { _resolveFilename: (r: string, ...a: unknown[]) => string })._resolveFilename;

  before(() => {
    (Module as unknown as { _resolveFilename: (r: string, ...a: unknown[]) => string })._resolveFilename = function (request: string, ...rest: unknown[]) {
      return request === 'vscode' ? require.resolve('./fake-vscode') : resolve.call(this, request, ...rest);
    };
    // Loaded after the hook above, so that their `import 'vscode'` gets the fake.
    /* eslint-disable @typescript-eslint/no-require-imports */
    fake = require('./fake-vscode') as typeof Fake;
    panels = require('../../src/host/panels') as typeof PanelsModule;
    /* eslint-enable @typescript-eslint/no-require-imports */
    root = mkdtempSync(join(tmpdir(), 'automl-host-panels-'));
    ({ store, csv } = makeSmallExperiment(root));
    store.updateRecord({ status: 'running', classes: ['cat', 'dog'] });
  });

  after(() => {
    (Module as unknown as { _resolveFilename: unknown })._resolveFilename = resolve;
    rmSync(root, { recursive: true, force: true });
  });

  beforeEach(() => {
    fake.fake.reset();
    feed = new FakeFeed();
    const subscriptions: { dispose(): void }[] = [];
    const context = { extensionUri: fake.Uri.file('/ext'), globalStorageUri: fake.Uri.file(join(root, 'global')), subscriptions };
    api = panels.registerPanelSerializers(context as never, {
      feed,
      predict: async (_dir, paths): Promise<ImagePrediction[]> =>
        paths.map((p) => ({
          path: p,
          scores: [
            { label: 'cat', score: 0.2 },
            { label: 'dog', score: 0.8 },
          ],
          ms: 3,
        })),
    });
  });

  afterEach(() => {
    for (const p of fake.fake.panels) p.dispose();
  });

  const sent = (p: Fake.FakePanel) => p.webview.sent as HostToWebview[];
  const request = async (p: Fake.FakePanel, id: number, method: string, params: unknown = {}) => {
    p.webview.fromPage({ type: 'request', id, method, params });
    for (let i = 0; i < 100; i++) {
      const r = sent(p).find((m) => m.type === 'response' && m.id === id);
      if (r) return r as Extract<HostToWebview, { type: 'response' }>;
      await tick(10);
    }
    throw new Error(`no response to ${method}`);
  };

  it('builds the page: CSP with a nonce, bundle URIs, resource roots, no retained context', () => {
    api.showTraining(store.dir);
    const p = fake.fake.panels[0];
    assert.equal(p.viewType, 'automl.training');
    assert.equal(p.title, 'Training · pets');
    assert.equal(p.createOptions.retainContextWhenHidden, false);
    const html = p.webview.html;
    const nonce = /<script nonce="([^"]+)"/.exec(html)![1];
    assert.ok(html.includes(`script-src &#39;nonce-${nonce}&#39;`), 'the CSP allows that nonce (attribute-escaped quotes)');
    assert.ok(html.includes(`<script nonce="${nonce}" src="https://fake.vscode-cdn.net/ext/dist/webview.js">`));
    assert.ok(html.includes('href="https://fake.vscode-cdn.net/ext/dist/webview.css"'));
    assert.match(html, /default-src &#39;none&#39;; img-src https:\/\/fake\.vscode-cdn\.net data: blob:/);
    assert.deepEqual(
      p.webview.options.localResourceRoots!.map((u) => u.fsPath),
      ['/ext/dist', '/ext/media', store.dir],
    );
  });

  it('answers ready with init, coalesces live events, and reveals instead of opening twice', async () => {
    const panel = api.showTraining(store.dir);
    const p = fake.fake.panels[0];
    feed.emit(store.dir, { type: 'log', level: 'info', message: 'before ready: dropped, the store has it' });
    p.webview.fromPage({ type: 'ready' });
    await tick();
    const init = sent(p).find((m) => m.type === 'init') as Extract<HostToWebview, { type: 'init'; panel: 'training' }>;
    assert.equal(init.panel, 'training');
    assert.equal(init.data.running, true);
    assert.equal(init.data.experimentDir, store.dir);
    for (let b = 0; b < 5; b++) feed.emit(store.dir, { type: 'batchProgress', trialId: 't0', epoch: 0, batch: b, batches: 5, loss: 1, imagesPerSec: 10 });
    feed.emit(store.dir, { type: 'log', level: 'info', message: 'hello' });
    assert.equal(sent(p).filter((m) => m.type === 'events').length, 0, 'not sent at once');
    await tick(250);
    const batches = sent(p).filter((m) => m.type === 'events') as Extract<HostToWebview, { type: 'events' }>[];
    assert.equal(batches.length, 1, 'one message for the burst');
    assert.deepEqual(
      batches[0].events.map((e) => e.type),
      ['batchProgress', 'log'],
      'batch progress reduced to the latest',
    );
    assert.equal((batches[0].events[0] as { batch: number }).batch, 4);
    assert.equal(api.showTraining(store.dir), panel);
    assert.equal(fake.fake.panels.length, 1);
    assert.equal(p.revealed, 1);
  });

  it('stops only after the user confirms', async () => {
    api.showTraining(store.dir);
    const p = fake.fake.panels[0];
    p.webview.fromPage({ type: 'ready' });
    fake.fake.warningAnswer = undefined;
    assert.deepEqual((await request(p, 1, 'stop')) as unknown, { type: 'response', id: 1, ok: true, result: { stopped: false } });
    assert.deepEqual(feed.stopped, []);
    fake.fake.warningAnswer = 'Stop';
    assert.deepEqual(((await request(p, 2, 'stop')) as { result: unknown }).result, { stopped: true });
    assert.deepEqual(feed.stopped, [store.dir]);
    const bad = await request(p, 3, 'openFile', { path: '/etc/passwd' });
    assert.equal(bad.ok, false, 'files the panel did not show cannot be opened');
  });

  it('stops posting while hidden and sends init again when the page comes back', async () => {
    api.showTraining(store.dir);
    const p = fake.fake.panels[0];
    p.webview.fromPage({ type: 'ready' });
    await tick();
    p.setVisible(false);
    feed.emit(store.dir, { type: 'log', level: 'info', message: 'while hidden' });
    await tick(250);
    assert.equal(sent(p).filter((m) => m.type === 'events').length, 0);
    p.setVisible(true);
    p.webview.fromPage({ type: 'ready' });
    await tick();
    assert.equal(sent(p).filter((m) => m.type === 'init').length, 2);
  });

  it('restores panels through the serializers, and drops one without state', async () => {
    const s = fake.fake.serializers.get('automl.evaluation')!;
    assert.ok(s, 'a serializer per view type');
    assert.deepEqual([...fake.fake.serializers.keys()].sort(), ['automl.dataset', 'automl.evaluation', 'automl.predict', 'automl.training']);
    const restored = new fake.FakePanel('automl.evaluation', 'old title');
    await s.deserializeWebviewPanel(restored, { kind: 'evaluation', target: store.dir, threshold: 0.3 });
    assert.equal(restored.title, 'Evaluation · pets');
    assert.match(restored.webview.html, /data-panel="evaluation"/);
    const empty = new fake.FakePanel('automl.evaluation', 'x');
    await s.deserializeWebviewPanel(empty, undefined);
    assert.equal(empty.disposed, true);
    restored.dispose();
  });

  it('evaluation: init with item names, thumbnails answered then pushed, images opened', async () => {
    const ds = await openDataset(csv, { seed: 1 });
    const test = ds.items.filter((i) => i.partition === 'TEST');
    writeJsonAtomic(store.file('final', 'evaluation.json'), {
      partition: 'TEST',
      count: 4,
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
    store.updateRecord({
      status: 'done',
      test: { partition: 'TEST', count: 4, accuracy: 1, macroAuc: 1, macroAveragePrecision: 1, loss: 0.1 },
      finalModel: { kind: 'trial', trials: ['t0'], valAccuracy: 1 },
    });
    api.showEvaluation(store.dir);
    const p = fake.fake.panels[0];
    p.webview.fromPage({ type: 'ready' });
    for (let i = 0; i < 100 && !sent(p).some((m) => m.type === 'init'); i++) await tick(20);
    assert.equal(sent(p)[0].type, 'loading');
    const init = sent(p).find((m) => m.type === 'init') as Extract<HostToWebview, { type: 'init'; panel: 'evaluation' }>;
    assert.equal(init.data.itemNames[String(test[0].id)], test[0].display);
    const keys = test.map((i) => String(i.id));
    const first = await request(p, 1, 'thumbnails', { keys: [...keys, '999999'] });
    assert.deepEqual(first, { type: 'response', id: 1, ok: true, result: {} }, 'nothing made yet; unknown keys ignored');
    for (
      let i = 0;
      i < 100 &&
      sent(p)
        .filter((m) => m.type === 'images')
        .flatMap((m) => Object.keys((m as { images: object }).images)).length < 4;
      i++
    )
      await tick(20);
    const pushed = Object.assign(
      {},
      ...sent(p)
        .filter((m) => m.type === 'images')
        .map((m) => (m as { images: object }).images),
    ) as Record<string, string>;
    assert.deepEqual(Object.keys(pushed).sort(), [...keys].sort());
    assert.ok(Object.values(pushed).every((u) => u.startsWith('https://fake.vscode-cdn.net') && u.includes('/thumbnails/')));
    const again = await request(p, 2, 'thumbnails', { keys });
    assert.equal(Object.keys((again as { result: object }).result).length, 4, 'made once, then answered at once');
    const opened = await request(p, 3, 'openItem', { key: keys[0] });
    assert.equal(opened.ok, true);
    assert.deepEqual(fake.fake.commands.at(-1), { command: 'vscode.open', args: [fake.Uri.file(test[0].ref.kind === 'file' ? test[0].ref.path : '')] });
    // The panel asks for the training panel
    await request(p, 4, 'openPanel', { kind: 'training' });
    assert.equal(fake.fake.panels.at(-1)!.viewType, 'automl.training');
  });

  it('dataset: stats and findings from the data layer, sample thumbnails pushed, findings open at their line', async () => {
    api.showDataset(csv);
    const p = fake.fake.panels[0];
    assert.equal(p.title, 'Dataset · labels.csv');
    p.webview.fromPage({ type: 'ready' });
    for (let i = 0; i < 100 && !sent(p).some((m) => m.type === 'images'); i++) await tick(20);
    const init = sent(p).find((m) => m.type === 'init') as Extract<HostToWebview, { type: 'init'; panel: 'dataset' }>;
    // Each class with two or more unassigned images keeps one for VALIDATION (data/split.ts): one cat, one dog.
    assert.deepEqual(init.data.stats?.totals, { train: 7, validation: 2, test: 4, total: 13 });
    assert.deepEqual(
      init.data.samples.map((x) => x.label),
      ['cat', 'dog'],
    );
    const missing = init.data.findings.find((f) => f.code === 'missing-file')!;
    assert.ok(missing.line, 'the finding has a line');
    const images = Object.assign(
      {},
      ...sent(p)
        .filter((m) => m.type === 'images')
        .map((m) => (m as { images: object }).images),
    ) as Record<string, string>;
    assert.ok(Object.keys(images).length > 0);
    assert.ok(
      Object.values(images).every((u) => u.includes('/global/thumbnails/')),
      'thumbnails in the global storage',
    );
    const opened = await request(p, 1, 'openFile', { path: missing.file, line: missing.line, column: 2 });
    assert.equal(opened.ok, true);
    const doc = fake.fake.shownDocuments.at(-1)!;
    assert.equal(doc.uri.fsPath, csv);
    assert.equal((doc.options as { selection: { start: { line: number; character: number } } }).selection.start.line, missing.line! - 1);
    assert.equal((await request(p, 2, 'openFile', { path: join(root, 'elsewhere.txt') })).ok, false);
    await request(p, 3, 'reveal');
    assert.equal(fake.fake.commands.at(-1)!.command, 'revealFileInOS');
  });

  it('predict: picked, dropped and dragged images are predicted with previews', async () => {
    mkdirSync(store.file('final', 'model'), { recursive: true });
    api.showPredict(store.dir);
    const p = fake.fake.panels[0];
    p.webview.fromPage({ type: 'ready' });
    await tick();
    const init = sent(p).find((m) => m.type === 'init') as Extract<HostToWebview, { type: 'init'; panel: 'predict' }>;
    assert.equal(init.data.available, true);
    const img = join(root, 'data', 'cat', '0.png');
    fake.fake.openDialogAnswer = [fake.Uri.file(img)];
    const picked = (await request(p, 1, 'pickImages')) as { result: { name: string; preview?: string; scores: { label: string }[] }[] };
    assert.equal(picked.result[0].name, '0.png');
    assert.match(picked.result[0].preview ?? '', /^data:image\/png;base64,/);
    assert.equal(picked.result[0].scores[0].label, 'dog', 'highest first');
    const bytes = readFileSync(img).toString('base64');
    const dropped = (await request(p, 2, 'predictBytes', { images: [{ name: 'my cat.png', base64: bytes }] })) as { result: { name: string; path: string }[] };
    assert.equal(dropped.result[0].name, 'my cat.png');
    const dragged = (await request(p, 3, 'predictUris', { uris: [fake.Uri.file(img).toString(), 'https://example.com/x.png'] })) as { result: unknown[] };
    assert.equal(dragged.result.length, 1, 'only local image files');
    await api.predictFiles(store.dir, [img]);
    assert.equal(sent(p).filter((m) => m.type === 'predictions').length, 1);
  });

  it('predict: an untrusted workspace predicts nothing (picked, dropped, dragged or sent) and says why', async () => {
    mkdirSync(store.file('final', 'model'), { recursive: true });
    fake.fake.trusted = false;
    let predicted = 0;
    const subscriptions: { dispose(): void }[] = [];
    const context = { extensionUri: fake.Uri.file('/ext'), globalStorageUri: fake.Uri.file(join(root, 'global')), subscriptions };
    api = panels.registerPanelSerializers(context as never, {
      feed,
      predict: async (_dir, paths): Promise<ImagePrediction[]> => {
        predicted++;
        return paths.map((p) => ({ path: p, scores: [], ms: 1 }));
      },
    });
    api.showPredict(store.dir);
    const p = fake.fake.panels[0];
    p.webview.fromPage({ type: 'ready' });
    await tick();
    const init = sent(p).find((m) => m.type === 'init') as Extract<HostToWebview, { type: 'init'; panel: 'predict' }>;
    assert.equal(init.data.available, false);
    assert.match(init.data.reason ?? '', /untrusted workspace/);
    const img = join(root, 'data', 'cat', '0.png');
    fake.fake.openDialogAnswer = [fake.Uri.file(img)];
    for (const [id, method, params] of [
      [1, 'pickImages', {}],
      [2, 'predictBytes', { images: [{ name: 'x.png', base64: readFileSync(img).toString('base64') }] }],
      [3, 'predictUris', { uris: [fake.Uri.file(img).toString()] }],
    ] as const) {
      const r = await request(p, id, method, params);
      assert.equal(r.ok, false, method);
      assert.match((r as { error?: string }).error ?? '', /does not predict in an untrusted workspace/, method);
    }
    await assert.rejects(api.predictFiles(store.dir, [img]), /untrusted workspace/);
    assert.equal(predicted, 0, 'the predictor was called');
  });

  it('training: an untrusted workspace does not stop a worker from the panel', async () => {
    fake.fake.trusted = false;
    api.showTraining(store.dir);
    const p = fake.fake.panels[0];
    p.webview.fromPage({ type: 'ready' });
    fake.fake.warningAnswer = 'Stop';
    const r = await request(p, 1, 'stop');
    assert.equal(r.ok, false);
    assert.deepEqual(feed.stopped, []);
  });
});
