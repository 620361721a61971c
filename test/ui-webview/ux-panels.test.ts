// What a demanding user reads on the panels at 1400 px (issue 22), in headless Chromium with the
// recorded fixtures: the search trials and the final fit on separate curves, what each accuracy
// means, even rows of summary cards, one "Open Evaluation", errors that stand out in the confusion
// matrix, coloured PR curves with a legend beside the table, and the dataset chart without an empty
// partition. Screenshots in both themes under test-artifacts/screenshots/ (ux-*.png).
import * as assert from 'node:assert/strict';
import type { DatasetPanelData, EvaluationPanelData, HostToWebview, TrainingPanelData } from '../../src/shared/protocol';
import { useHarness, type PanelPage } from './harness';
import type { Recording, TrainingRecording } from './record';
import type { ThemeName } from './themes';

type Init<T> = { type: 'init'; panel: string; data: T };

describe('panels as a demanding user reads them (headless Chromium, 1400 px)', function () {
  this.timeout(60_000);
  const harness = useHarness();
  let page: PanelPage | undefined;

  /** The cards' rows (by top edge): how many cards each row holds. */
  async function cardRows(p: PanelPage): Promise<number[]> {
    const tops = await p.page.$$eval('.cards .card', (els) => els.map((e) => Math.round(e.getBoundingClientRect().top)));
    const rows = new Map<number, number>();
    for (const t of tops) rows.set(t, (rows.get(t) ?? 0) + 1);
    return [...rows.values()];
  }

  const attr = (p: PanelPage, sel: string, name: string) => p.page.getAttribute(sel, name);

  for (const theme of ['light', 'dark'] as ThemeName[]) {
    describe(`${theme} theme`, () => {
      it('training: search trials and the final fit have charts of their own; the final fit shows no "validation" score', async () => {
        const r = harness.fixture<TrainingRecording>('training.json');
        const data = (r.done as Init<TrainingPanelData>).data;
        const searchEpochs = Math.max(...data.trials.filter((t) => t.trainOn === 'TRAIN').flatMap((t) => (data.history[t.id] ?? []).map((h) => h.epoch)));
        const fitEpochs = Math.max(...(data.history.final ?? []).map((h) => h.epoch));
        assert.ok(fitEpochs > searchEpochs, 'the fixture has a final fit longer than the search trials');
        page = await harness.open('training', theme, { width: 1400, height: 900 });
        await page.post(r.done);
        await page.page.waitForSelector('.final-curves[data-points]');
        // Separate x ranges: the search trials are not squeezed by the final fit's epochs.
        const searchMax = Number(await attr(page, '.search-curves', 'data-x-max'));
        const fitMax = Number(await attr(page, '.final-curves', 'data-x-max'));
        assert.ok(searchMax <= Math.ceil(searchEpochs) + 1, `search x axis ends at ${searchMax} for trials of ${searchEpochs} epochs`);
        assert.ok(fitMax >= fitEpochs, `final-fit x axis ends at ${fitMax} for ${fitEpochs} epochs`);
        const searchSeries = (await attr(page, '.search-curves', 'data-series'))!.split('|');
        assert.ok(searchSeries.length > 0 && searchSeries.every((s) => !s.startsWith('final')), `search chart: ${searchSeries.join(', ')}`);
        const fitSeries = (await page.page.$$eval('.final-curves', (els) => els.map((e) => e.getAttribute('data-series') ?? ''))).join('|').split('|');
        assert.ok(
          fitSeries.some((s) => /training accuracy \(TRAIN\+VALIDATION\)/.test(s)),
          `final-fit series: ${fitSeries.join(', ')}`,
        );
        assert.ok(
          fitSeries.every((s) => !/\bvalidation\b/.test(s) || /seen VALIDATION/.test(s)),
          `a final-fit series is called validation: ${fitSeries.join(', ')}`,
        );
        const fitText = await page.page.innerText('.final-fit-curves');
        assert.match(fitText, /Training accuracy \(the final fit trains on TRAIN\+VALIDATION\)/);
        assert.match(fitText, /no validation score/);
        // What each accuracy means, next to the cards.
        const note = await page.page.innerText('.accuracy-note');
        assert.match(note, /Best validation accuracy: the best search trial on VALIDATION/);
        assert.match(note, /TEST accuracy [\d.]+%: the final model on TEST/);
        // Six cards, one row; one "Open Evaluation".
        assert.deepEqual(await cardRows(page), [6]);
        const openEval = await page.page.locator('vscode-button', { hasText: 'Open Evaluation' }).count();
        assert.equal(openEval, 1, '"Open Evaluation" once (the header), not again in the banner');
        await page.screenshot(`ux-training-1400-${theme}`);
        // At the width a 1400 px window leaves a panel beside the sidebar, the cards stay in even rows.
        await page.page.setViewportSize({ width: 900, height: 900 });
        await page.settle();
        assert.deepEqual(await cardRows(page), [3, 3]);
      });

      it('evaluation: even cards; PR chart beside the table from 1050 px, coloured with a legend; errors stand out in the matrix', async () => {
        const r = harness.fixture<Recording>('evaluation.json');
        const classes = (r.messages[0] as Init<EvaluationPanelData>).data.evaluation!.classes;
        page = await harness.open('evaluation', theme, { width: 1400, height: 900, responders: { thumbnails: r.images } });
        await page.post(...r.messages);
        await page.page.waitForSelector('.pr-legend .chip');
        assert.deepEqual(await cardRows(page), [6]);
        assert.match(await page.page.innerText('.accuracy-note'), /TEST accuracy: the final model on TEST images, used neither to train nor to choose it/);
        // The legend names every class (and the micro-average); a click focuses a class.
        const legend = await page.page.$$eval('.pr-legend .chip', (els) => els.map((e) => (e as HTMLElement).innerText.trim()));
        assert.deepEqual(legend, ['All classes (micro-average)', ...classes]);
        const swatches = await page.page.$$eval('.pr-legend .chip .pr-swatch', (els) => new Set(els.map((e) => getComputedStyle(e).backgroundColor)).size);
        assert.ok(swatches >= Math.min(classes.length + 1, 7), `only ${swatches} distinct colours for ${classes.length} classes`);
        await page.page.click('.pr-legend .chip[data-class="2"]');
        assert.equal(await attr(page, '.pr-legend .chip[data-class="2"]', 'aria-pressed'), 'true');
        assert.equal((await page.state())?.prClass, 2);
        const series = (await attr(page, '.pr-side .chart-box', 'data-series'))!.split('|');
        assert.ok(series.includes(classes[2]) && series.some((s) => s.startsWith(`${classes[2]} at `)), `PR series: ${series.join(', ')}`);
        await page.screenshot(`ux-evaluation-1400-${theme}`);
        for (const width of [1400, 1200, 1050]) {
          await page.page.setViewportSize({ width, height: 900 });
          await page.settle();
          const [table, chart] = await Promise.all(
            ['.pr-table', '.pr-side .chart-box'].map((s) => page!.page.$eval(s, (e) => e.getBoundingClientRect().toJSON() as DOMRect)),
          );
          assert.ok(chart.left >= table.right, `${width} px: the PR chart (left ${chart.left}) is not beside the table (right ${table.right})`);
          assert.ok(chart.bottom <= 900, `${width} px: the PR chart ends below the viewport (${chart.bottom})`);
          const cut: string[] = await page!.page.$$eval('.pr-table vscode-data-grid-cell', (els) =>
            els.filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => `${(e as HTMLElement).innerText.trim()} (${e.scrollWidth} px in ${e.clientWidth})`),
          );
          assert.deepEqual(cut, [], `${width} px: numbers cut short beside the chart`);
        }
        await page.page.setViewportSize({ width: 1400, height: 900 });
        // The matrix: the diagonal in one hue by row share, errors in another, the worst error strong.
        await page.page.click('#tab-matrix');
        await page.page.waitForSelector('.matrix td.cell[data-shade]');
        const cells = await page.page.$$eval('.matrix td.cell[data-shade]', (els) =>
          els.map((e) => {
            const [hue, mix] = e.getAttribute('data-shade')!.split(' ');
            const m = /(\d+(?:\.\d+)?)[, ]+(\d+(?:\.\d+)?)[, ]+(\d+(?:\.\d+)?)/.exec(getComputedStyle(e).backgroundColor)!;
            return {
              diag: e.classList.contains('diag'),
              col: Number(e.getAttribute('data-col')),
              hue,
              mix: Number(mix),
              rgb: [1, 2, 3].map((i) => Number(m[i])),
            };
          }),
        );
        const diag = cells.filter((c) => c.diag);
        const errors = cells.filter((c) => !c.diag && c.col < classes.length);
        assert.ok(diag.length && errors.length, 'the fixture has right and wrong predictions');
        assert.ok(diag.every((c) => c.hue === 'good') && errors.every((c) => c.hue === 'bad'));
        assert.equal(Math.max(...errors.map((c) => c.mix)), 75, 'the worst confusion is shaded as strongly as a perfect row');
        assert.ok(Math.min(...errors.map((c) => c.mix)) >= 15, 'every error is visible');
        const bgDiag = diag[0].rgb;
        const bgErr = errors.sort((a, b) => b.mix - a.mix)[0].rgb;
        assert.notDeepEqual(bgDiag, bgErr);
        assert.ok(bgErr[0] > bgErr[2], `an error cell is reddish: rgb(${bgErr.join(', ')})`);
        assert.ok(bgDiag[2] > bgDiag[0], `a diagonal cell is bluish: rgb(${bgDiag.join(', ')})`);
        await page.screenshot(`ux-evaluation-matrix-${theme}`);
      });

      it('dataset: no empty TEST slot in the chart; share bars are shares of 100 %', async () => {
        const r = harness.fixture<Recording>('dataset.json');
        const init = r.messages[0] as Init<DatasetPanelData>;
        const stats = init.data.stats!;
        // The same dataset without TEST rows (its TEST images moved to TRAIN).
        const counts = stats.counts.map((c) => ({ ...c, train: c.train + c.test, test: 0 }));
        const noTest: HostToWebview = {
          ...init,
          data: { ...init.data, stats: { ...stats, counts, totals: { ...stats.totals, train: stats.totals.train + stats.totals.test, test: 0 } } },
        } as HostToWebview;
        page = await harness.open('dataset', theme, { width: 1400, height: 900 });
        await page.post(noTest, { type: 'images', images: r.images });
        await page.page.waitForSelector('.chart-box[data-series]');
        assert.deepEqual((await attr(page, '.chart-box', 'data-series'))!.split('|'), ['TRAIN', 'VALIDATION']);
        const shares = await page.page.$$eval('.inline-bar[data-share]', (els) =>
          els.map((e) => ({
            share: Number(e.getAttribute('data-share')),
            fill: (e.firstElementChild as HTMLElement).getBoundingClientRect().width / e.getBoundingClientRect().width,
          })),
        );
        assert.equal(shares.length, counts.length);
        assert.ok(Math.abs(shares.reduce((a, s) => a + s.share, 0) - 1) < 1e-3, 'single-label shares add up to 100 %');
        for (const s of shares) assert.ok(Math.abs(s.fill - s.share) < 0.02, `a bar of ${s.share} fills ${s.fill} of its track`);
        await page.screenshot(`ux-dataset-no-test-${theme}`);
      });
    });
  }
});
