// The evaluation panel of a multi-label experiment in headless Chromium. The recorded single-label
// evaluation (real Fashion-MNIST images and scores) is turned into a multi-label one: each image keeps
// its class and also carries a group label (footwear / top) when its class belongs to one; a group's
// score is the sum of its classes' scores. Metrics come from the same functions the worker uses.
import * as assert from 'node:assert/strict';
import { bestF1Thresholds, multiLabelMetrics } from '../../src/eval/metrics';
import type { EvaluationPanelData, HostToWebview } from '../../src/shared/protocol';
import { useHarness, type PanelPage } from './harness';
import type { Recording } from './record';

const GROUPS: Record<string, string[]> = {
  footwear: ['ankle_boot', 'sandal', 'sneaker'],
  top: ['coat', 'pullover', 'shirt', 'tshirt_top'],
};

function multiLabel(r: Recording): HostToWebview {
  const init = r.messages[0] as Extract<HostToWebview, { type: 'init'; panel: 'evaluation' }>;
  const data: EvaluationPanelData = JSON.parse(JSON.stringify(init.data));
  const p = data.predictions!;
  const single = p.classes;
  const classes = [...single, ...Object.keys(GROUPS)];
  const n = p.itemIds.length;
  const k = classes.length;
  const scores = new Array<number>(n * k).fill(0);
  const labels = new Array<number>(n * k).fill(0);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < single.length; c++) scores[i * k + c] = p.scores[i * single.length + c];
    labels[i * k + p.labels[i]] = 1;
    Object.values(GROUPS).forEach((members, g) => {
      const col = single.length + g;
      scores[i * k + col] = Math.min(
        1,
        members.reduce((a, m) => a + p.scores[i * single.length + single.indexOf(m)], 0),
      );
      if (members.includes(single[p.labels[i]])) labels[i * k + col] = 1;
    });
  }
  const d = { n, k, scores, truth: labels };
  const m = multiLabelMetrics(d);
  data.predictions = { ...p, classes, multiLabel: true, labels, scores };
  data.evaluation = {
    partition: p.partition,
    count: n,
    accuracy: m.labelAccuracy,
    macroAuc: m.macroAuc,
    macroAveragePrecision: m.macroAveragePrecision,
    loss: m.hammingLoss,
    classes,
    confusion: [],
    perClass: { auc: m.auc, averagePrecision: m.averagePrecision, support: m.support },
    multiLabel: true,
    multiLabelMetrics: { ...m, bestF1Thresholds: bestF1Thresholds(d) },
  };
  data.experiment = { ...data.experiment, multiLabel: true, classes };
  return { type: 'init', panel: 'evaluation', data };
}

describe('multi-label evaluation panel (headless Chromium)', function () {
  this.timeout(60_000);
  const harness = useHarness();
  let page: PanelPage | undefined;

  const read = () =>
    page!.page.evaluate(() => ({
      macroF1: document.querySelector('[data-metric="f1"] .metric-value')?.textContent,
      exact: document.querySelector('[data-metric="exact"] .metric-value')?.textContent,
      rows: [...document.querySelectorAll('vscode-data-grid-row:not([row-type="header"])')].map((row) =>
        [...row.querySelectorAll('vscode-data-grid-cell')].map((c) => c.textContent ?? ''),
      ),
    }));

  it('shows per-label metrics that a threshold recomputes, one for all or per label (best F1), with no round trip', async () => {
    const r = harness.fixture<Recording>('evaluation.json');
    const message = multiLabel(r);
    const ev = (message as { data: EvaluationPanelData }).data.evaluation!;
    page = await harness.open('evaluation', 'light', { responders: { thumbnails: r.images } });
    await page.post(message);
    await page.page.waitForSelector('.threshold-bar');
    assert.match(await page.page.innerText('.cards'), /Label accuracy[\s\S]*Exact match[\s\S]*Micro F1/i);
    assert.match(await page.page.innerText('.cards'), new RegExp((ev.accuracy * 100).toFixed(2)));
    const before = await read();
    assert.equal(before.rows.length, 12, '10 classes + 2 group labels');
    assert.ok(
      before.rows.every((row) => row[1] === '0.50'),
      'one threshold of 0.50 for all labels',
    );
    for (const row of before.rows) for (const cell of row) assert.doesNotMatch(cell, /NaN|undefined/);
    const requests = (await page.posted()).filter((m) => m.type === 'request' && m.method !== 'thumbnails').length;

    await page.page.focus('#threshold');
    for (let i = 0; i < 30; i++) await page.page.keyboard.press('ArrowLeft');
    await page.page.waitForFunction(() => document.querySelector('.slider-value')?.textContent === '0.20');
    await page.settle();
    const low = await read();
    assert.ok(low.rows.every((row) => row[1] === '0.20'));
    assert.notDeepEqual(
      low.rows.map((row) => row[3]),
      before.rows.map((row) => row[3]),
      'labels given (Predicted) change',
    );
    assert.notEqual(low.macroF1, before.macroF1);

    // Per label: each label's best-F1 threshold, from the evaluation file.
    await page.page.click('.segmented button[data-value="per-label"]');
    await page.settle();
    const per = await read();
    assert.deepEqual(
      per.rows.map((row) => row[1]),
      ev.multiLabelMetrics!.bestF1Thresholds.map((t) => t.toFixed(2)),
    );
    const f1 = (s: string) => Number(s.replace('%', ''));
    for (let c = 0; c < 12; c++)
      if (per.rows[c][6] !== 'n/a') assert.ok(f1(per.rows[c][6]) >= f1(before.rows[c][6]) - 1e-9, `label ${c}: best-F1 threshold must not do worse than 0.5`);
    assert.equal((await page.state())?.thresholdMode, 'per-label');
    assert.equal((await page.posted()).filter((m) => m.type === 'request' && m.method !== 'thumbnails').length, requests, 'no round trip to the host');
    await page.screenshot('evaluation-multilabel-light');
  });

  it('lists false positives and false negatives per label', async () => {
    const r = harness.fixture<Recording>('evaluation.json');
    page = await harness.open('evaluation', 'dark', { responders: { thumbnails: r.images } });
    await page.post(multiLabel(r));
    await page.page.waitForSelector('.threshold-bar');
    await page.page.click('vscode-panel-tab#tab-errors');
    await page.page.waitForSelector('.gallery-title');
    assert.match(await page.page.innerText('.gallery-title'), /False positives of ankle_boot/);
    await page.page.click('.segmented[aria-label="Errors shown"] button[data-value="fn"]');
    await page.page.waitForFunction(() => /False negatives of ankle_boot/.test(document.querySelector('.gallery-title')?.textContent ?? ''));
    const tiles = await page.page.locator('.gallery .tile').count();
    const count = Number(/· (\d+) image/.exec(await page.page.innerText('.gallery-title'))?.[1] ?? 0);
    assert.equal(tiles, Math.min(48, count));
    if (tiles) assert.match(await page.page.innerText('.gallery .tile >> nth=0'), /true [\s\S]*ankle_boot/);
    await page.settle();
    await page.screenshot('evaluation-multilabel-errors-dark');
  });
});
