// `npm run test:ui`: what a user does with AutoML in VS Code, done with mouse and keyboard in a real
// workbench (code-server 4.100.3 + headless chromium), one window for the whole file, in order: the
// training scenario leaves the experiment the later ones look at. Screenshots: test-artifacts/vscode/.
//
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FrameLocator, Locator } from 'playwright-core';
import { waitFor } from '../vscode/wait';
import { SAMPLE_CSV, SAMPLE_IMAGE } from '../vscode/workspace';
import { Workbench } from './workbench';

/** Budget typed into the "Custom…" budget box (minutes); AUTOML_TEST_BUDGET_MIN overrides it. */
const BUDGET_MIN = Number(process.env.AUTOML_TEST_BUDGET_MIN || 0.5);
const CLASSES = ['ankle_boot', 'bag', 'coat', 'dress', 'pullover', 'sandal', 'shirt', 'sneaker', 'trouser', 'tshirt_top'];

/** Pixels of a canvas that are clearly coloured (series colours), as opposed to grey axes, grid and text. */
function colouredPixels(canvas: Locator): Promise<number> {
  return canvas.evaluate((c: HTMLCanvasElement) => {
    const ctx = c.getContext('2d');
    if (!ctx) return 0;
    const { data } = ctx.getImageData(0, 0, c.width, c.height);
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
      const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
      if (a > 128 && Math.max(r, g, b) - Math.min(r, g, b) > 60) n++;
    }
    return n;
  });
}

/**
 * Waits until the first `n` images of a webview's tile gallery have loaded (scrolled into view: they load lazily) and
 * returns their natural widths and URLs. An image whose URL the webview may not load (outside localResourceRoots, or
 * not an asWebviewUri of the remote host's file) never gets a natural width.
 */
async function loadedTiles(view: FrameLocator, n: number): Promise<{ width: number; src: string }[]> {
  const imgs = view.locator('.tile-frame img');
  await imgs.first().waitFor({ timeout: 60_000 });
  const count = Math.min(n, await imgs.count());
  const out: { width: number; src: string }[] = [];
  for (let i = 0; i < count; i++) {
    const img = imgs.nth(i);
    await img.scrollIntoViewIfNeeded();
    const loaded = await waitFor(
      `thumbnail ${i + 1} to load`,
      async () => {
        const r = await img.evaluate((e: HTMLImageElement) => ({ done: e.complete, width: e.naturalWidth, src: e.currentSrc || e.src }));
        return r.done && r.width > 0 ? r : undefined;
      },
      20_000,
    ).catch(async (e: Error) => {
      const src = await img.getAttribute('src');
      throw new Error(`${e.message}: ${src}`);
    });
    out.push({ width: loaded.width, src: loaded.src });
  }
  return out;
}

describe('AutoML in the VS Code workbench', function () {
  this.timeout(120_000);
  let w: Workbench;
  let trained = false;

  const experimentsPane = () => w.viewPane('Experiments');
  const experimentRow = () => w.treeRows(experimentsPane()).filter({ hasText: 'dataset.csv' }).first();
  const needTrained = () => assert.ok(trained, 'needs the experiment of the training scenario above, which did not finish');
  const showAutoml = async () => {
    await w.showContainer('AutoML');
    await experimentsPane().waitFor();
  };

  before(async function () {
    this.timeout(180_000);
    w = await Workbench.open();
  });

  after(async () => {
    await w?.close();
  });

  afterEach(async function () {
    const t = this.currentTest;
    if (t?.state === 'failed' && w) {
      const file = await w.shot(`FAILED-${t.title.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}`).catch(() => '(no screenshot)');
      console.log(`    screenshot: ${file}`);
      const recent = w.log.slice(-15).join('\n    ');
      if (recent) console.log(`    workbench log (last lines):\n    ${recent}`);
    }
  });

  it('shows the AutoML activity bar with the Experiments and Datasets views', async () => {
    await showAutoml();
    const experiments = experimentsPane();
    await experiments.getByText('No experiments yet.').waitFor();
    const datasets = w.viewPane('Datasets');
    await w.treeRows(datasets).filter({ hasText: 'examples/fashion-sample/dataset.csv' }).first().waitFor();
    await w.treeRows(datasets).filter({ hasText: 'examples/broken-rows.csv' }).first().waitFor();
    await w.shot('automl-views');
  });

  it(`trains from the Explorer: right-click dataset.csv, "Train AutoML Model…", a ${BUDGET_MIN}-minute custom budget`, async function () {
    this.timeout(BUDGET_MIN * 60_000 + 300_000);
    const csv = await w.revealInExplorer('examples/fashion-sample/dataset.csv');
    await w.contextMenu(csv, 'Train AutoML Model…');
    await w.quickPickRow('Custom…').first().waitFor();
    await w.shot('budget-quick-pick');
    await w.pickQuickPick('Custom…');
    await w.answerInputBox(String(BUDGET_MIN));

    // The experiment appears in the Experiments view, running, and the status bar follows it.
    await showAutoml();
    const exp = experimentRow();
    await exp.waitFor({ timeout: 30_000 });
    await w.page
      .locator('.part.statusbar .statusbar-item', { hasText: /AutoML \d/ })
      .first()
      .waitFor({ timeout: 30_000 });
    await w.shot('experiment-running');

    // Its trials appear under it as the search runs.
    if ((await exp.getAttribute('aria-expanded')) !== 'true') await exp.locator('.monaco-tl-twistie').click();
    const trialRows = experimentsPane().locator('.monaco-list-row[aria-level="2"]');
    await trialRows.first().waitFor({ timeout: 150_000 });
    await w.shot('trials-in-tree');

    // It ends "done" with a test accuracy, and says so.
    await exp.filter({ hasText: /done/ }).waitFor({ timeout: BUDGET_MIN * 60_000 + 240_000 });
    // (How good the model is, is the extension-host suite's training test; here: that the user sees it.)
    const description = await exp.locator('.label-description').innerText();
    // The key number first, so that a narrow side bar cuts the time rather than the accuracy.
    assert.match(description, /^\d+(\.\d+)?% test · done · /, `no test accuracy first in the experiment's row: "${description}"`);
    assert.ok((await trialRows.count()) >= 1);
    const trialDescription = await trialRows.first().locator('.label-description').innerText();
    assert.match(trialDescription, /^(\d+(\.\d+)?% val|final fit)( · \w+)? · [\d.]+ ep · /, `trial row: "${trialDescription}"`);
    await waitFor('the "done" notification', async () => (await w.notifications()).find((n) => /AutoML: dataset\.csv done/.test(n)), 20_000);
    await w.shot('experiment-done');
    trained = true;
    // Its "Open Results" opens the evaluation (the training panel may be on screen already).
    await w.page
      .locator('.notifications-toasts .notification-list-item', { hasText: 'AutoML: dataset.csv done' })
      .locator('a.monaco-button', { hasText: 'Open Results' })
      .click();
    await w.webview().locator('input#threshold[type="range"]').waitFor({ timeout: 30_000 });
    await w.page.locator('.tabs-container .tab.active', { hasText: /Evaluation/ }).waitFor();
    await w.shot('open-results-evaluation');
  });

  it('opens the training panel and sees the loss and accuracy curves drawn', async () => {
    needTrained();
    await showAutoml();
    await w.contextMenu(experimentRow(), 'Open Dashboard');
    const view = w.webview();
    // The search trials' curves, and the final fit's on charts of their own when there is one.
    const names = ['Loss per epoch of each search trial', 'Accuracy per epoch of each search trial'];
    await view.locator(`canvas[aria-label^="${names[0]}"]`).waitFor();
    if (await view.locator('.final-fit-curves:not([hidden])').count()) names.push('Loss per epoch of the final fit', 'Accuracy per epoch of the final fit');
    for (const name of names) {
      const canvas = view.locator(`canvas[aria-label^="${name}"]`);
      await canvas.waitFor();
      const n = await waitFor(
        `${name} curves to be drawn`,
        async () => {
          const px = await colouredPixels(canvas);
          return px > 300 ? px : undefined;
        },
        20_000,
      );
      assert.ok(n > 300, `${name}: only ${n} coloured pixels`);
    }
    await w.shot('training-panel');
  });

  it('opens the evaluation panel; moving the threshold slider changes precision and recall', async () => {
    needTrained();
    await showAutoml();
    await w.contextMenu(experimentRow(), 'Open Evaluation');
    const view = w.webview();
    const slider = view.locator('input#threshold[type="range"]');
    const precision = view.locator('.threshold-info [data-metric="precision"] .metric-value');
    const recall = view.locator('.threshold-info [data-metric="recall"] .metric-value');
    await slider.waitFor();
    const before = { precision: await precision.innerText(), recall: await recall.innerText() };
    await w.shot('evaluation-panel');
    // As a user with the keyboard: focus the slider, End moves it to the highest threshold.
    await slider.focus();
    await slider.press('End');
    const after = await waitFor(
      'precision/recall to follow the threshold',
      async () => {
        const a = { precision: await precision.innerText(), recall: await recall.innerText() };
        return a.recall !== before.recall ? a : undefined;
      },
      10_000,
    );
    const pctOf = (s: string) => Number(s.replace('%', ''));
    assert.ok(pctOf(after.recall) < pctOf(before.recall), `recall did not drop at the highest threshold: ${before.recall} → ${after.recall}`);
    assert.notEqual(after.precision, before.precision, 'precision did not change with the threshold');
    await w.shot('evaluation-threshold-moved');
  });

  it('shows a misclassified image enlarged, relabels its CSV row (Ctrl+Z undoes it) and opens the file', async () => {
    needTrained();
    const view = w.webview();
    // Back to the lowest threshold (the scenario above left it at the highest, where nothing is
    // predicted), then to the errors gallery.
    const slider = view.locator('input#threshold[type="range"]');
    await slider.focus();
    await slider.press('Home');
    await w.dismissHover();
    await view.locator('vscode-panel-tab#tab-matrix').click();
    const wrong = view.locator('button.tile.tile-wrong').first();
    await wrong.waitFor();
    const label = (await wrong.getAttribute('aria-label')) ?? '';
    assert.match(label, /labelled (\w+), predicted (\w+)/);
    const [, truth, predicted] = /labelled (\w+), predicted (\w+)/.exec(label)!;
    assert.notEqual(truth, predicted, `a tile in the errors gallery is right: ${label}`);
    // A click shows it enlarged in the panel: labels, score, the top 5, its CSV line.
    await wrong.click();
    await view.locator('.detail[role="dialog"]').waitFor();
    assert.equal(await view.locator('.detail-given').innerText(), truth);
    assert.match(await view.locator('.detail-pred').innerText(), new RegExp(`^${predicted} · score 0\\.\\d{3}`));
    assert.equal(await view.locator('.detail-top5 li').count(), 5);
    const line = Number(/^dataset\.csv, line (\d+)$/.exec(await view.locator('.detail-line').innerText())?.[1]);
    assert.ok(line > 0, 'the CSV line is shown');
    await view.locator('.detail-image.pixelated').waitFor();
    await w.shot('error-detail');
    // Relabel… (preset to the prediction): the CSV row is edited, saved, and shown beside the panel.
    const csvPath = join(w.workspace, SAMPLE_CSV);
    const before = readFileSync(csvPath, 'utf8');
    const row = before.split('\n')[line - 1];
    assert.match(row, new RegExp(`,${truth}$`));
    await view.locator('#detail-relabel').click();
    await view.locator('.detail-edited').waitFor({ timeout: 20_000 });
    const edited = readFileSync(csvPath, 'utf8').split('\n');
    assert.equal(edited[line - 1], row.replace(new RegExp(`,${truth}$`), `,${predicted}`));
    assert.deepEqual([...edited.slice(0, line - 1), ...edited.slice(line)], [...before.split('\n').slice(0, line - 1), ...before.split('\n').slice(line)]);
    const csvTab = w.page.locator('.tabs-container .tab[data-resource-name="dataset.csv"]');
    await csvTab.waitFor();
    await w.shot('relabelled-csv-row');
    // Ctrl+Z in the CSV's editor takes the edit back; saving writes the file as it was.
    await csvTab.click();
    await w.page.locator('.editor-group-container.active .monaco-editor .view-lines').click();
    await w.page.keyboard.press('Control+Z');
    await w.page.keyboard.press('Control+S');
    await waitFor('the CSV to be as before', async () => (readFileSync(csvPath, 'utf8') === before ? true : undefined), 15_000);
    // Open file: the image itself in VS Code.
    await view.locator('#detail-open').click();
    await w.page.locator('.tabs-container .tab.active', { hasText: /\.png/ }).waitFor();
    await w.shot('misclassified-image');
  });

  it('loads the thumbnails of the evaluation gallery and the dataset panel from the (remote) extension host', async () => {
    needTrained();
    // code-server is VS Code Remote's split: the extension host (and the images) on the server, the webview in the
    // browser, which gets the files only through asWebviewUri URLs inside the panel's localResourceRoots.
    await showAutoml();
    await w.contextMenu(experimentRow(), 'Open Evaluation');
    await w.webview().locator('vscode-panel-tab#tab-matrix').waitFor();
    // The scenario before left an image's detail view open in this panel: Esc closes it.
    const detail = w.webview().locator('.detail[role="dialog"]');
    if (await detail.isVisible()) {
      await detail.press('Escape');
      await detail.waitFor({ state: 'hidden', timeout: 10_000 });
    }
    await w.webview().locator('vscode-panel-tab#tab-matrix').click();
    const gallery = await loadedTiles(w.webview(), 4);
    assert.ok(gallery.length >= 1, 'no image in the errors gallery');
    for (const t of gallery) assert.ok(t.width > 0 && !t.src.startsWith('file:'), `thumbnail not loaded: ${t.src}`);
    await w.shot('evaluation-thumbnails');

    const csv = await w.revealInExplorer('examples/fashion-sample/dataset.csv');
    await w.contextMenu(csv, 'Show Dataset');
    // The dataset panel's Samples tab (its page, not the evaluation page that is going away).
    const samplesTab = w.webview().locator('vscode-panel-tab#tab-samples');
    await samplesTab.waitFor({ timeout: 60_000 });
    await samplesTab.click();
    const samples = await loadedTiles(w.webview(), 4);
    assert.ok(samples.length >= 1, 'no sample image in the dataset panel');
    for (const t of samples) assert.ok(t.width > 0, `thumbnail not loaded: ${t.src}`);
    await w.shot('dataset-thumbnails');
  });

  it('serves the model: the notification shows an address the browser can fetch (asExternalUri), and Stop ends it', async () => {
    needTrained();
    await w.page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: w.server.origin });
    await showAutoml();
    await w.contextMenu(experimentRow(), 'Start Prediction Server');
    const pattern = /AutoML: serving (\S+) on (\S+) \(([^)]*)\)/;
    const text = await waitFor('the server notification', async () => (await w.notifications()).find((n) => pattern.test(n)), 60_000);
    const [, name, url, where] = pattern.exec(text)!;
    await w.shot('server-notification');
    // The extension host is remote to this browser: the address is VS Code's forwarded one, not the server's own.
    assert.match(where, /forwarded from http:\/\/127\.0\.0\.1:\d+/, text);
    type Answer = { status: number; body: string };
    const fetchIn = (args: { url: string; token?: string; body?: string }) =>
      w.page.evaluate(async ({ url, token, body }): Promise<Answer> => {
        const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
        const r = await fetch(url, { method: body ? 'POST' : 'GET', headers, body });
        return { status: r.status, body: await r.text() };
      }, args);

    // The browser reaches the server (its own 401, not a 421 for the forwarded Host, nor the proxy's error) …
    const anonymous = await fetchIn({ url: `${url}/v1/models` });
    assert.equal(anonymous.status, 401, anonymous.body);
    assert.match(anonymous.body, /bearer token/i);
    // … and with the token from the notification's "Copy Token", lists and predicts.
    const toast = w.page.locator('.notifications-toasts .notification-list-item', { hasText: 'AutoML: serving' }).first();
    await toast.locator('.monaco-button', { hasText: 'Copy Token' }).click();
    const token = await waitFor(
      'the token on the clipboard',
      async () => {
        const t = await w.page.evaluate(() => navigator.clipboard.readText()).catch(() => '');
        return /^[0-9a-f]{64}$/.test(t) ? t : undefined;
      },
      10_000,
    );
    const models = await fetchIn({ url: `${url}/v1/models`, token });
    assert.equal(models.status, 200, models.body);
    assert.deepEqual(
      (JSON.parse(models.body) as { models: { name: string }[] }).models.map((m) => m.name),
      [name],
    );
    const imageBytes = readFileSync(join(w.workspace, SAMPLE_IMAGE)).toString('base64');
    const predicted = await fetchIn({ url: `${url}/v1/models/${name}:predict`, token, body: JSON.stringify({ payload: { image: { imageBytes } } }) });
    assert.equal(predicted.status, 200, predicted.body);
    const top = (JSON.parse(predicted.body) as { payload: { displayName: string }[] }).payload[0];
    assert.ok(CLASSES.includes(top.displayName), predicted.body);

    await w.contextMenu(experimentRow(), 'Stop Prediction Server');
    await waitFor(
      'the server to stop answering',
      async () => {
        const r = await fetchIn({ url: `${url}/v1/models`, token }).catch(() => ({ status: 0, body: '' }));
        return r.status !== 200 ? true : undefined;
      },
      20_000,
    );
  });

  it('predicts an image from the Explorer with "Predict with AutoML Model"', async () => {
    needTrained();
    const image = await w.revealInExplorer(SAMPLE_IMAGE);
    await w.contextMenu(image, 'Predict with AutoML Model');
    // With one trained experiment there is nothing to choose; with several, a quick pick asks.
    const view = w.webview();
    const result = view.locator('[aria-label="Prediction for 0006.png"]');
    await result.waitFor({ timeout: 60_000 });
    const labels = await result.locator('li.bar-row .bar-label').allInnerTexts();
    assert.ok(labels.length >= 1, 'no labels predicted');
    for (const l of labels) assert.ok(CLASSES.includes(l), `predicted label "${l}" is not a class of the dataset`);
    await w.shot('predict-panel');
  });

  it('serves the model: the notification names the predict URL; a status-bar item copies it or stops the server', async () => {
    needTrained();
    await w.runCommand('AutoML: Start Prediction Server');
    const note = await waitFor('the server notification', async () => (await w.notifications()).find((n) => /AutoML: serving/.test(n)), 30_000);
    assert.match(note, /POST http:\/\/127\.0\.0\.1:\d+(\/proxy\/\d+)?\/v1\/models\/[\w.-]+:predict/);
    const item = w.page.locator('.part.statusbar .statusbar-item', { hasText: /AutoML serving/ }).first();
    await item.waitFor({ timeout: 10_000 });
    await w.shot('server-status-bar');
    await item.click();
    for (const label of ['Copy URL', 'Copy Token', 'Copy curl Example']) await w.quickPickRow(label).first().waitFor();
    await w.shot('server-actions');
    await w.pickQuickPick('Stop Prediction Server');
    await item.waitFor({ state: 'hidden', timeout: 10_000 });
  });

  it('lists the broken rows of a CSV in the Problems panel', async () => {
    const csv = await w.revealInExplorer('examples/broken-rows.csv');
    await csv.dblclick();
    await w.page.locator('.tabs-container .tab.active', { hasText: 'broken-rows.csv' }).waitFor();
    await w.page.keyboard.press('Control+Shift+M');
    const problems = w.page.locator('.markers-panel .monaco-list-row');
    await problems.filter({ hasText: 'TRIAN' }).first().waitFor({ timeout: 30_000 });
    const texts = await problems.allInnerTexts();
    assert.ok(
      texts.some((t) => /not found|does-not-exist/i.test(t)),
      `no missing-image problem in: ${texts.join(' | ')}`,
    );
    assert.ok(
      texts.some((t) => /path is empty/i.test(t)),
      `no empty-path problem in: ${texts.join(' | ')}`,
    );
    await w.shot('problems-panel');
  });
});
