// The evaluation panel's host side of the detail view (src/host/panels/evaluation-actions.ts)
// against a fake `vscode` (fake-vscode.ts): where each image comes from in `init`, the larger
// picture, revealing the CSV line, relabelling and excluding through a WorkspaceEdit on the CSV
// (saved, shown beside the panel, every other line byte for byte), and the refusals.
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import Module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { openDataset } from '../../src/data';
import type * as PanelsModule from '../../src/host/panels';
import type { HostToWebview, ItemEditResult, WorkerEvent } from '../../src/shared/protocol';
import { writeJsonAtomic } from '../../src/store/files';
import type { ExperimentStore } from '../../src/store/store';
import type { ExperimentFeed } from '../../src/worker/feed';
import type * as Fake from './fake-vscode';
import { makeSmallExperiment } from './small-experiment';

const feed: ExperimentFeed = {
  onEvent: (_dir: string, _l: (e: WorkerEvent) => void) => ({ dispose: () => undefined }),
  isRunning: () => false,
  stop: () => undefined,
};

const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));

describe('evaluation panel: detail-view actions on the dataset (fake vscode)', function () {
  this.timeout(20_000);
  let fake: typeof Fake;
  let panels: typeof PanelsModule;
  let root: string;
  let store: ExperimentStore;
  let csv: string;
  let original: string;
  const resolve = (Module as unknown as { _resolveFilename: (r: string, ...a: unknown[]) => string })._resolveFilename;

  before(async () => {
    (Module as unknown as { _resolveFilename: (r: string, ...a: unknown[]) => string })._resolveFilename = function (request: string, ...rest: unknown[]) {
      return request === 'vscode' ? require.resolve('./fake-vscode') : resolve.call(this, request, ...rest);
    };
    /* eslint-disable @typescript-eslint/no-require-imports */
    fake = require('./fake-vscode') as typeof Fake;
    panels = require('../../src/host/panels') as typeof PanelsModule;
    /* eslint-enable @typescript-eslint/no-require-imports */
    root = mkdtempSync(join(tmpdir(), 'automl-host-errors-'));
    ({ store, csv } = makeSmallExperiment(root));
    original = readFileSync(csv, 'utf8');
    const ds = await openDataset(csv, { seed: 1 });
    const test = ds.items.filter((i) => i.partition === 'TEST');
    writeJsonAtomic(store.file('final', 'evaluation.json'), {
      partition: 'TEST',
      count: test.length,
      accuracy: 0.75,
      macroAuc: 1,
      macroAveragePrecision: 1,
      loss: 0.3,
      classes: ['cat', 'dog'],
      confusion: [
        [1, 1],
        [0, 2],
      ],
      perClass: { auc: [1, 1], averagePrecision: [1, 1], support: [2, 2] },
    });
    writeJsonAtomic(store.file('final', 'predictions.json'), {
      partition: 'TEST',
      classes: ['cat', 'dog'],
      itemIds: test.map((i) => i.id),
      labels: test.map((i) => (i.labels[0] === 'cat' ? 0 : 1)),
      // cat/4.png is predicted dog with confidence
      scores: test.flatMap((i) => (i.display === 'cat/4.png' ? [0.05, 0.95] : i.labels[0] === 'cat' ? [0.9, 0.1] : [0.2, 0.8])),
    });
    store.updateRecord({
      status: 'done',
      classes: ['cat', 'dog'],
      test: { partition: 'TEST', count: test.length, accuracy: 0.75, macroAuc: 1, macroAveragePrecision: 1, loss: 0.3 },
      finalModel: { kind: 'trial', trials: ['t0'], valAccuracy: 1 },
    });
  });

  after(() => {
    (Module as unknown as { _resolveFilename: unknown })._resolveFilename = resolve;
    rmSync(root, { recursive: true, force: true });
  });

  let panel: Fake.FakePanel;
  let keyOf: Record<string, string>;

  beforeEach(async () => {
    fake.fake.reset();
    const context = { extensionUri: fake.Uri.file('/ext'), globalStorageUri: fake.Uri.file(join(root, 'global')), subscriptions: [] };
    const api = panels.registerPanelSerializers(context as never, { feed });
    api.showEvaluation(store.dir);
    panel = fake.fake.panels.at(-1)!;
    panel.webview.fromPage({ type: 'ready' });
    for (let i = 0; i < 100 && !sent().some((m) => m.type === 'init'); i++) await tick(20);
    const init = sent().find((m) => m.type === 'init') as Extract<HostToWebview, { type: 'init'; panel: 'evaluation' }>;
    keyOf = Object.fromEntries(Object.entries(init.data.itemNames).map(([k, name]) => [name, k]));
  });

  afterEach(() => {
    for (const p of fake.fake.panels) p.dispose();
  });

  const sent = () => panel.webview.sent as HostToWebview[];
  let nextId = 1;
  async function request(method: string, params: unknown): Promise<Extract<HostToWebview, { type: 'response' }>> {
    const id = nextId++;
    panel.webview.fromPage({ type: 'request', id, method, params });
    for (let i = 0; i < 200; i++) {
      const r = sent().find((m) => m.type === 'response' && m.id === id);
      if (r) return r as Extract<HostToWebview, { type: 'response' }>;
      await tick(10);
    }
    throw new Error(`no response to ${method}`);
  }
  const ok = (r: Extract<HostToWebview, { type: 'response' }>) => {
    assert.ok(r.ok, r.ok ? '' : r.error);
    return r.result as ItemEditResult;
  };

  it('init says where each evaluated image comes from: its file and CSV line', () => {
    const init = sent().find((m) => m.type === 'init') as Extract<HostToWebview, { type: 'init'; panel: 'evaluation' }>;
    assert.deepEqual(init.data.itemSources?.[keyOf['cat/4.png']], { format: 'csv', path: join(root, 'data', 'cat', '4.png'), origin: csv, line: 5 });
    assert.equal(init.data.itemSources?.[keyOf['dog/5.png']]?.line, 12);
  });

  it('a larger picture (never enlarged) and the CSV opened at the row', async () => {
    const r = await request('itemImage', { key: keyOf['dog/4.png'] });
    const uri = (r as { result: { uri: string } }).result.uri;
    assert.match(uri, /^data:image\/png;base64,/);
    const meta = await sharp(Buffer.from(uri.split(',')[1], 'base64')).metadata();
    assert.deepEqual([meta.width, meta.height], [40, 30]);
    ok(await request('revealItem', { key: keyOf['dog/4.png'] }));
    const shown = fake.fake.shownDocuments.at(-1)!;
    assert.equal(shown.uri.fsPath, csv);
    assert.equal((shown.options as { selection: Fake.Range }).selection.start.line, 10, 'line 11, 0-based');
  });

  it('relabels through a WorkspaceEdit of the label field only, saves and shows the row; Ctrl+Z restores the file', async () => {
    const res = ok(await request('relabelItem', { key: keyOf['cat/4.png'], label: 'dog' }));
    assert.match(res.message, /^Line 5 of labels\.csv: cat → dog\. Saved; Ctrl\+Z/);
    const now = readFileSync(csv, 'utf8').split('\n');
    const before = original.split('\n');
    assert.equal(now[4], 'TEST,cat/4.png,dog');
    assert.deepEqual([...now.slice(0, 4), ...now.slice(5)], [...before.slice(0, 4), ...before.slice(5)], 'every other line unchanged');
    assert.equal(fake.fake.appliedEdits.length, 1);
    const e = fake.fake.appliedEdits[0].edits[0] as { kind: string; range: Fake.Range; text: string };
    assert.deepEqual([e.kind, e.range.start.line, e.range.start.character, e.range.end.character, e.text], ['replace', 4, 15, 18, 'dog']);
    const doc = fake.fake.documents.get(csv)!;
    assert.equal(doc.saves, 1);
    const shown = fake.fake.shownDocuments.at(-1)! as { uri: Fake.Uri; options: { viewColumn: number; preserveFocus: boolean; selection: Fake.Range } };
    assert.deepEqual(
      [shown.uri.fsPath, shown.options.viewColumn, shown.options.preserveFocus, shown.options.selection.start.line],
      [csv, fake.ViewColumn.Beside, true, 4],
    );
    // The same image again: it has that label now.
    const again = await request('relabelItem', { key: keyOf['cat/4.png'], label: 'dog' });
    assert.equal(again.ok, false);
    assert.match(again.ok ? '' : again.error, /labelled dog already/);
    // Ctrl+Z in the editor (the edit's undo) and save: the file is as it was.
    doc.text = doc.undo.pop()!;
    await doc.save();
    assert.equal(readFileSync(csv, 'utf8'), original);
  });

  it('excludes a row; a later edit finds its row although the lines moved', async () => {
    const res = ok(await request('excludeItem', { key: keyOf['cat/5.png'] }));
    assert.match(res.message, /^Removed line 6 of labels\.csv \(TEST,cat\/5\.png,cat\)\. Saved/);
    const lines = readFileSync(csv, 'utf8').split('\n');
    assert.deepEqual(lines, [...original.split('\n').slice(0, 5), ...original.split('\n').slice(6)]);
    // dog/5.png was read on line 12; it is on line 11 now.
    const moved = ok(await request('relabelItem', { key: keyOf['dog/5.png'], label: 'cat' }));
    assert.equal(moved.line, 11);
    assert.equal(readFileSync(csv, 'utf8').split('\n')[10], 'TEST,dog/5.png,cat');
    // Excluded already: said clearly.
    const twice = await request('excludeItem', { key: keyOf['cat/5.png'] });
    assert.equal(twice.ok, false);
    assert.match(twice.ok ? '' : twice.error, /labels\.csv no longer lists cat\/5\.png \(it was on line 6\)/);
    const doc = fake.fake.documents.get(csv)!;
    doc.text = original;
    await doc.save();
  });

  it('does not save a CSV that has unsaved changes of the user: the edit waits in the editor', async () => {
    const doc = await fake.workspace.openTextDocument(fake.Uri.file(csv));
    doc.text = `${original}TRAIN,cat/0.png,cat\n`;
    const res = ok(await request('relabelItem', { key: keyOf['dog/4.png'], label: 'cat' }));
    assert.match(res.message, /Not saved: the CSV has other unsaved changes/);
    assert.equal(doc.saves, 0);
    assert.equal(readFileSync(csv, 'utf8'), original, 'the file on disk is untouched');
    assert.equal(doc.text.split('\n')[10], 'TEST,dog/4.png,cat', 'the edit is in the editor');
    doc.text = original;
  });

  it('refuses a label that is not a class, and images the panel does not show', async () => {
    const bad = await request('relabelItem', { key: keyOf['dog/4.png'], label: 'bird' });
    assert.equal(bad.ok, false);
    assert.match(bad.ok ? '' : bad.error, /"bird" is not one of the classes/);
    const train = await request('excludeItem', { key: '0' });
    assert.equal(train.ok, false, 'a TRAIN image is not part of the evaluation');
    assert.equal(readFileSync(csv, 'utf8'), original);
    assert.equal(fake.fake.appliedEdits.length, 0);
  });
});
