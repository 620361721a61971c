// The four panels in real headless Chromium, fed with recorded host messages
// (test/fixtures/webview/, made by record.ts): rendering in light and dark themes (screenshots in
// test-artifacts/screenshots/), and the interactions the panels promise.
import * as assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import sharp from 'sharp';
import { join } from 'node:path';
import type { HostToWebview } from '../../src/shared/protocol';
import { describeConfig } from '../../src/search/space';
import { useHarness, type PanelPage, REPO } from './harness';
import type { Recording, TrainingRecording } from './record';
import { THEMES, type ThemeName } from './themes';

// The README's screenshots (palette PNGs of the light and dark viewports). Tests write them here, not into
// the tracked media/screenshots/: `npm run screenshots` copies them there when the README should change.
const README_SHOTS = join(REPO, 'test-artifacts/readme-screenshots');

describe('webview panels (headless Chromium)', function () {
  this.timeout(60_000);
  const harness = useHarness();
  let page: PanelPage | undefined;

  const messages = (name: string): Recording => harness.fixture<Recording>(name);
  const images = (r: Recording): HostToWebview => ({ type: 'images', images: r.images });

  /** Saves a full-page screenshot for review and a viewport-sized one for the README. */
  async function shoot(p: PanelPage, name: string): Promise<void> {
    await p.screenshot(`${name}-${p.theme}`);
    if (p.theme === 'light' || p.theme === 'dark') {
      const file = await p.screenshot(`${name}-${p.theme}-viewport`, false);
      mkdirSync(README_SHOTS, { recursive: true });
      // Palette PNGs: a third of the size, for the README
      await sharp(file)
        .png({ palette: true, quality: 90, compressionLevel: 9 })
        .toFile(join(README_SHOTS, `${name}-${p.theme}.png`));
    }
  }

  for (const theme of ['light', 'dark'] as ThemeName[]) {
    describe(`${theme} theme`, () => {
      it('renders the dataset panel', async () => {
        const r = messages('dataset.json');
        page = await harness.open('dataset', theme);
        await page.post(...r.messages, images(r));
        await page.page.waitForSelector('.cards');
        assert.match(await page.page.innerText('h1'), /Dataset/);
        await shoot(page, 'dataset');
        await page.page.click('#tab-samples');
        await page.page.waitForSelector('.sample-row img');
        await page.screenshot(`dataset-samples-${theme}`);
        await page.close();
        const problems = messages('dataset-problems.json');
        page = await harness.open('dataset', theme);
        await page.post(...problems.messages, images(problems));
        await page.page.waitForSelector('.banner-error');
        await page.page.click('#tab-findings');
        await page.page.waitForSelector('.finding');
        await page.screenshot(`dataset-findings-${theme}`);
      });

      it('renders the training panel of a finished experiment', async () => {
        const r = harness.fixture<TrainingRecording>('training.json');
        page = await harness.open('training', theme);
        await page.post(r.done);
        await page.page.waitForSelector('.chart-box[data-points]');
        assert.match(await page.page.innerText('.panel-title'), /Done/);
        await shoot(page, 'training');
      });

      it('renders the evaluation panel', async () => {
        const r = messages('evaluation.json');
        page = await harness.open('evaluation', theme, { responders: { thumbnails: r.images } });
        await page.post(...r.messages);
        await page.page.waitForSelector('.threshold-bar');
        await shoot(page, 'evaluation');
        await page.page.click('#tab-matrix');
        await page.page.waitForSelector('.gallery img');
        await page.screenshot(`evaluation-matrix-${theme}`);
      });

      it('renders the predict panel', async () => {
        const r = messages('predict.json');
        page = await harness.open('predict', theme);
        await page.post(...r.messages);
        await page.page.waitForSelector('.prediction .bar-row');
        await shoot(page, 'predict');
      });
    });
  }

  describe('interactions', () => {
    it('evaluation: the threshold slider recomputes precision, recall and the matrix in the webview', async () => {
      const r = messages('evaluation.json');
      page = await harness.open('evaluation', 'dark', { responders: { thumbnails: r.images } });
      await page.post(...r.messages);
      await page.page.waitForSelector('.threshold-bar');
      const read = () =>
        page!.page.evaluate(() => ({
          coverage: document.querySelector('[data-metric="coverage"] .metric-value')?.textContent,
          precision: document.querySelector('[data-metric="precision"] .metric-value')?.textContent,
          recall: document.querySelector('[data-metric="recall"] .metric-value')?.textContent,
          rows: [...document.querySelectorAll('vscode-data-grid-row:not([row-type="header"])')].map((row) =>
            [...row.querySelectorAll('vscode-data-grid-cell')].map((c) => c.textContent),
          ),
          below: [...document.querySelectorAll('table.matrix td.cell[data-col="10"]')].map((c) => c.textContent).join(','),
        }));
      const before = await read();
      const requestsBefore = (await page.posted()).filter((m) => m.type === 'request').length;
      await page.page.focus('#threshold');
      for (let i = 0; i < 25; i++) await page.page.keyboard.press('ArrowRight');
      await page.page.waitForFunction(() => document.querySelector('.slider-value')?.textContent === '0.75');
      await page.settle();
      const after = await read();
      assert.notEqual(after.coverage, before.coverage, 'coverage changes');
      assert.notDeepEqual(
        after.rows.map((r) => r[3]),
        before.rows.map((r) => r[3]),
        'per-class precision changes',
      );
      assert.notDeepEqual(
        after.rows.map((r) => r[4]),
        before.rows.map((r) => r[4]),
        'per-class recall changes',
      );
      assert.notEqual(after.below, before.below, 'the "below threshold" column of the matrix changes');
      assert.equal(after.rows.length, 10);
      for (const row of after.rows) for (const cell of row) assert.doesNotMatch(cell ?? '', /NaN|undefined/);
      const requestsAfter = (await page.posted()).filter((m) => m.type === 'request').length;
      assert.equal(requestsAfter, requestsBefore, 'no round trip to the host');
      assert.equal((await page.state())?.threshold, 0.75, 'the threshold is kept with setState');
      await page.screenshot('evaluation-threshold-0.75-dark');
    });

    it('evaluation: clicking a matrix cell filters the gallery; the matrix works from the keyboard', async () => {
      const r = messages('evaluation.json');
      page = await harness.open('evaluation', 'dark', { responders: { thumbnails: r.images } });
      await page.post(...r.messages);
      await page.page.click('#tab-matrix');
      await page.page.waitForSelector('table.matrix td.cell');
      const cell = page.page.locator('table.matrix td.cell:not(.diag):not(.zero)[aria-label*="predicted"]').first();
      const label = (await cell.getAttribute('aria-label'))!;
      const count = Number(/: (\d+) image/.exec(label)![1]);
      await cell.click();
      await page.page.waitForSelector('table.matrix td.cell.selected');
      const title = await page.page.innerText('.gallery-title');
      const [, trueLabel, predLabel] = /^True ([^,:]+), predicted ([^,:]+):/.exec(label)!;
      assert.match(title, new RegExp(`True ${trueLabel}, predicted ${predLabel}`));
      assert.equal(await page.page.locator('.gallery .tile').count(), Math.min(count, 48));
      for (const caption of await page.page.locator('.gallery .tile .tile-caption').allInnerTexts()) {
        assert.match(caption, new RegExp(`true ${trueLabel}`));
        assert.match(caption, new RegExp(`pred ${predLabel}`));
      }
      await page.page.waitForSelector('.gallery img');
      assert.deepEqual((await page.state())?.cell, [Number(await cell.getAttribute('data-row')), Number(await cell.getAttribute('data-col'))]);
      await page.screenshot('evaluation-cell-filter-dark');
      // Keyboard: move right from the selected cell, select with Enter, clear with Escape
      await page.page.focus('table.matrix td.cell.selected');
      await page.page.keyboard.press('ArrowDown');
      await page.page.keyboard.press('Enter');
      const sel = await page.page.getAttribute('table.matrix td.cell.selected', 'data-row');
      assert.equal(Number(sel), Number(await cell.getAttribute('data-row')) + 1);
      await page.page.keyboard.press('Escape');
      assert.equal(await page.page.locator('table.matrix td.cell.selected').count(), 0);
      assert.match(await page.page.innerText('.gallery-title'), /False positives/);
    });

    it('evaluation: a reloaded panel restores threshold, tab and cell from getState', async () => {
      const r = messages('evaluation.json');
      page = await harness.open('evaluation', 'light', {
        responders: { thumbnails: r.images },
        state: { kind: 'evaluation', target: '/x', threshold: 0.3, tab: 'matrix', cell: [0, 6], normalise: true },
      });
      await page.post(...r.messages);
      await page.page.waitForSelector('table.matrix td.cell.selected');
      assert.equal(await page.page.inputValue('#threshold'), '0.3');
      assert.equal(await page.page.getAttribute('vscode-panels', 'activeid'), 'tab-matrix');
      assert.equal(await page.page.getAttribute('table.matrix td.cell.selected', 'data-col'), '6');
      assert.match(await page.page.innerText('table.matrix td.cell[data-row="0"][data-col="0"]'), /%$/);
    });

    it('training: live epochs add points to the curves; Stop posts a stop request', async () => {
      const r = harness.fixture<TrainingRecording>('training.json');
      page = await harness.open('training', 'dark', { responders: { stop: { stopped: true } } });
      // As if the host had read the store just now (the webview extrapolates the budget clock from asOf)
      const init = r.live.init as Extract<HostToWebview, { type: 'init'; panel: 'training' }>;
      await page.post({ ...init, data: { ...init.data, asOf: new Date().toISOString() } });
      await page.page.waitForSelector('.chart-box[data-points]');
      const points = () => page!.page.evaluate(() => [...document.querySelectorAll('.chart-box')].map((b) => Number(b.getAttribute('data-points'))));
      const before = await points();
      assert.match(await page.page.innerText('.panel-title'), /Running/);
      const firstEpoch = r.live.batches.findIndex((b) => b.type === 'events' && b.events.some((e) => e.type === 'epochEnded'));
      await page.post(...r.live.batches.slice(0, firstEpoch + 1));
      await page.page.waitForFunction((n) => Number(document.querySelector('.chart-box')?.getAttribute('data-points')) > n, before[0]);
      const after = await points();
      assert.ok(after[0] > before[0] && after[1] > before[1], `points ${before} → ${after}`);
      await page.post(...r.live.batches.slice(firstEpoch + 1, Math.floor(r.live.batches.length / 2)));
      await page.screenshot('training-live-dark');
      await page.page.click('vscode-button:has-text("Stop")');
      const stop = await page.waitForPosted((m) => m.type === 'request' && m.method === 'stop');
      assert.deepEqual(stop.params, {});
      // The rest of the run, then the end
      await page.post(...r.live.batches.slice(Math.floor(r.live.batches.length / 2)));
      await page.page.waitForSelector('.banner-success');
      assert.match(await page.page.innerText('.panel-title'), /Done/);
      assert.equal(await page.page.locator('vscode-button:has-text("Stop")').count(), 0);
    });

    it('training: each event re-renders only what it changes (leaderboard rows, legend and curves stay put)', async () => {
      const r = harness.fixture<TrainingRecording>('training.json');
      page = await harness.open('training', 'dark');
      const init = r.live.init as Extract<HostToWebview, { type: 'init'; panel: 'training' }>;
      await page.post({ ...init, data: { ...init.data, asOf: new Date().toISOString() } });
      await page.page.waitForSelector('.chart-box[data-points]');
      const running = init.data.trials.find((t) => t.status === 'running')!;
      const last = init.data.history[running.id].at(-1)!;
      // Tag the elements, then check which ones events replace.
      const tag = () =>
        page!.page.evaluate((id) => {
          const rows = [...document.querySelectorAll('vscode-data-grid-row:not([row-type="header"])')] as (HTMLElement & { tagged?: boolean })[];
          rows.forEach((row) => (row.tagged = true));
          (document.querySelector('.legend button.chip') as HTMLElement & { tagged?: boolean }).tagged = true;
          return rows.length && id;
        }, running.id);
      const state = () =>
        page!.page.evaluate((id) => {
          const rows = [...document.querySelectorAll('vscode-data-grid-row:not([row-type="header"])')] as (HTMLElement & { tagged?: boolean })[];
          return {
            kept: rows.filter((row) => row.tagged).map((row) => row.textContent ?? ''),
            replaced: rows.filter((row) => !row.tagged).map((row) => row.textContent ?? ''),
            legendKept: (document.querySelector('.legend button.chip') as HTMLElement & { tagged?: boolean }).tagged === true,
            points: Number(document.querySelector('.chart-box')?.getAttribute('data-points')),
            log: document.querySelector('.log-details summary')?.textContent ?? '',
            activity: document.querySelector('.activity')?.textContent ?? '',
            hasRow: rows.some((row) => row.textContent?.includes(id)),
          };
        }, running.id);
      await tag();
      const s0 = await state();
      assert.ok(s0.kept.length >= 2 && s0.hasRow, `leaderboard rows: ${s0.kept.length}`);
      // A log line: only the log changes.
      await page.post({ type: 'events', events: [{ type: 'log', level: 'info', message: 'a line from the worker' }] });
      await page.page.waitForFunction((before) => document.querySelector('.log-details summary')?.textContent !== before, s0.log);
      const s1 = await state();
      assert.equal(s1.replaced.length, 0, 'a log line rebuilt leaderboard rows');
      assert.ok(s1.legendKept && s1.points === s0.points);
      // Batch progress: the activity line.
      await page.post({
        type: 'events',
        events: [{ type: 'batchProgress', trialId: running.id, epoch: Math.floor(last.epoch), batch: 7, batches: 40, loss: 0.5, imagesPerSec: 600 }],
      });
      await page.page.waitForFunction(() => /batch 7\/40/.test(document.querySelector('.activity')?.textContent ?? ''));
      assert.equal((await state()).replaced.length, 0, 'batch progress rebuilt leaderboard rows');
      // An epoch of the running trial: its row and the curves change, the other rows are kept.
      const epoch = { ...last, epoch: last.epoch + 1, valAccuracy: 0.5, elapsed: last.elapsed + 30 };
      await page.post({ type: 'events', events: [{ type: 'epochEnded', record: epoch }] });
      await page.page.waitForFunction((n) => Number(document.querySelector('.chart-box')?.getAttribute('data-points')) > n, s0.points);
      const s2 = await state();
      assert.equal(s2.replaced.length, 1, `rows replaced: ${s2.replaced.join(' | ')}`);
      assert.ok(s2.replaced[0].includes(running.id));
      assert.equal(s2.kept.length, s0.kept.length - 1);
    });

    it('training: the activity line counts whole epochs (a segment of 3.2 epochs runs its 4th one partly)', async () => {
      const r = harness.fixture<TrainingRecording>('training.json');
      page = await harness.open('training', 'light');
      const init = r.live.init as Extract<HostToWebview, { type: 'init'; panel: 'training' }>;
      const running = init.data.trials.find((t) => t.status === 'running')!;
      const trials = init.data.trials.map((t) => (t.id === running.id ? { ...t, epochs: 3.2 } : t));
      await page.post({ ...init, data: { ...init.data, trials, asOf: new Date().toISOString() } });
      await page.page.waitForSelector('.chart-box[data-points]');
      await page.post({
        type: 'events',
        events: [{ type: 'batchProgress', trialId: running.id, epoch: 1, batch: 3, batches: 40, loss: 0.5, imagesPerSec: 600 }],
      });
      await page.page.waitForFunction(() => /batch 3\/40/.test(document.querySelector('.activity')?.textContent ?? ''));
      const activity = await page.page.innerText('.activity');
      assert.match(activity, /epoch 2 of 4 ·/);
      assert.doesNotMatch(activity, /3\.2/);
    });

    it('training: a Slurm trial shows its job and node under its model in the leaderboard', async () => {
      const r = harness.fixture<TrainingRecording>('training.json');
      const init = r.live.init as Extract<HostToWebview, { type: 'init'; panel: 'training' }>;
      const [first, second] = init.data.trials;
      const trials = init.data.trials.map((t) => (t.id === first.id ? { ...t, job: { id: '41', node: 'gpu-node-07', state: 'COMPLETED' } } : t));
      for (const theme of ['light', 'dark'] as ThemeName[]) {
        page = await harness.open('training', theme);
        await page.post({ ...init, data: { ...init.data, trials, asOf: new Date().toISOString() } });
        // A job submitted and not yet running: its id, no node.
        await page.post({ type: 'events', events: [{ type: 'trialStarted', trial: { ...second, status: 'running', job: { id: '42', state: 'PENDING' } } }] });
        await page.page.waitForFunction(() => document.querySelectorAll('.job').length >= 2);
        const cells = await page.page.$$eval('.job', (els) => els.map((e) => [e.parentElement?.firstChild?.textContent, e.textContent]));
        assert.deepEqual(
          cells.sort((a, b) => String(a[1]).localeCompare(String(b[1]))),
          [
            [describeConfig(first.config), 'Slurm job 41 on gpu-node-07'],
            [describeConfig(second.config), 'Slurm job 42 (queued)'],
          ],
        );
        await page.screenshot(`training-slurm-${theme}`);
        if (theme === 'light') await page.close();
      }
    });

    it('training: failed, stopped and interrupted experiments say so', async () => {
      const r = harness.fixture<TrainingRecording>('training.json');
      const done = r.done as Extract<HostToWebview, { type: 'init'; panel: 'training' }>;
      const variant = (patch: Record<string, unknown>, running = false): HostToWebview => ({
        ...done,
        data: { ...done.data, running, experiment: { ...done.data.experiment, ...patch } },
      });
      page = await harness.open('training', 'light');
      await page.post(variant({ status: 'failed', error: 'The dataset has 2 errors:\ndataset.csv:41: image not found', test: undefined }));
      await page.page.waitForSelector('.banner-error');
      assert.match(await page.page.innerText('.banner-error'), /failed[\s\S]*dataset\.csv:41/);
      assert.match(await page.page.innerText('.panel-title'), /Failed/);
      await page.screenshot('training-failed-light');
      await page.post(variant({ status: 'cancelled' }));
      await page.page.waitForSelector('.banner-warning');
      assert.match(await page.page.innerText('.banner-warning'), /Stopped before the budget ran out/);
      await page.post(variant({ status: 'running', test: undefined, finalModel: undefined }));
      await page.page.waitForFunction(() => /Interrupted/.test(document.querySelector('.banner-warning')?.textContent ?? ''));
      assert.match(await page.page.innerText('.panel-title'), /Interrupted/);
      await page.screenshot('training-interrupted-light');
      // A finished experiment whose final model averages in the mirror image says so, and what it bought.
      await page.post(variant({ status: 'done', finalModel: { kind: 'final-fit', trials: ['final'], valAccuracy: null, tta: 'flip', plainAccuracy: 0.7732 } }));
      await page.page.waitForSelector('.banner-success');
      assert.match(
        await page.page.innerText('.banner-success'),
        /final model: final fit on TRAIN\+VALIDATION, averaged with its mirror image \(77\.32% without\)/,
      );
      await page.screenshot('training-tta-light');
    });

    it('charts follow a theme switch (canvas colours are rebuilt from the new variables)', async () => {
      const r = harness.fixture<TrainingRecording>('training.json');
      page = await harness.open('training', 'dark');
      await page.post(r.done);
      await page.page.waitForSelector('.chart-box[data-points]');
      await page.settle();
      const before = await page.page.locator('.chart-box canvas').first().screenshot();
      await page.page.evaluate((vars) => {
        for (const [k, v] of Object.entries(vars)) document.documentElement.style.setProperty(k, v);
        document.body.classList.replace('vscode-dark', 'vscode-light');
      }, THEMES.light.vars);
      await page.page.waitForTimeout(300);
      await page.page.evaluate(() => document.documentElement.style.setProperty('--vscode-editor-background', '#ffffff'));
      await page.settle();
      const after = await page.page.locator('.chart-box canvas').first().screenshot();
      assert.notDeepEqual(after, before);
      await page.screenshot('training-switched-to-light');
    });

    it('dataset: clicking a finding asks the host to open the file at its line', async () => {
      const r = messages('dataset-problems.json');
      page = await harness.open('dataset', 'dark', { responders: { openFile: null } });
      await page.post(...r.messages);
      await page.page.click('#tab-findings');
      // Errors come first
      assert.match(await page.page.innerText('.finding >> nth=0'), /^Error/);
      await page.page.click('.finding vscode-link >> nth=0');
      const req = await page.waitForPosted((m) => m.type === 'request' && m.method === 'openFile');
      assert.equal(req.params?.path, '/workspace/problems/labels.csv');
      assert.equal(req.params?.line, 6);
      await page.page.click('button.segment:has-text("Errors")');
      assert.equal(await page.page.locator('.finding').count(), 2);
      await page.page.click('button.segment:has-text("Warnings")');
      assert.ok((await page.page.locator('.finding').allInnerTexts()).every((t) => t.startsWith('Warning')));
    });

    it('predict: Choose Images asks the host and shows top-k bars', async () => {
      const r = messages('predict.json');
      const results = (r.messages.find((m) => m.type === 'predictions') as Extract<HostToWebview, { type: 'predictions' }>).results;
      page = await harness.open('predict', 'dark', { responders: { pickImages: results.slice(0, 1) } });
      await page.post(r.messages[0]);
      await page.page.click('vscode-button:has-text("Choose Images")');
      await page.waitForPosted((m) => m.type === 'request' && m.method === 'pickImages');
      await page.page.waitForSelector('.prediction');
      assert.equal(await page.page.locator('.prediction .bar-row').count(), 5);
      const first = await page.page.innerText('.prediction .bar-row >> nth=0');
      assert.match(first, new RegExp(results[0].scores[0].label));
    });
  });

  describe('high-contrast theme', () => {
    it('renders the evaluation and training panels', async () => {
      const r = messages('evaluation.json');
      page = await harness.open('evaluation', 'high-contrast', { responders: { thumbnails: r.images } });
      await page.post(...r.messages);
      await page.page.waitForSelector('.threshold-bar');
      await page.screenshot('evaluation-high-contrast');
      await page.page.click('#tab-matrix');
      await page.screenshot('evaluation-matrix-high-contrast');
      await page.close();
      const t = harness.fixture<TrainingRecording>('training.json');
      page = await harness.open('training', 'high-contrast');
      await page.post(t.done);
      await page.page.waitForSelector('.chart-box[data-points]');
      await page.screenshot('training-high-contrast');
    });
  });
});
