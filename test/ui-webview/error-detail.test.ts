// The evaluation's detail view of one image and its "Likely mislabelled" tab in real headless
// Chromium, fed with the recorded evaluation (test/fixtures/webview/evaluation.json) plus where each
// image comes from (a CSV line per item, as src/panel-data/data.ts sends it): what a click on a
// tile shows, the keyboard, the typed requests the actions post, and screenshots in both themes.
import * as assert from 'node:assert/strict';
import { likelyMislabelled, topClasses } from '../../src/eval/mislabelled';
import type { EvaluationPanelData, HostToWebview, ItemSource } from '../../src/shared/protocol';
import { useHarness, type PanelPage, type Posted } from './harness';
import type { Recording } from './record';
import type { ThemeName } from './themes';

describe('evaluation: error detail and likely mislabelled (headless Chromium)', function () {
  this.timeout(60_000);
  const harness = useHarness();

  /** The recorded evaluation with a CSV source per item: line = 10 + its position. */
  function recording(): { r: Recording; data: EvaluationPanelData } {
    const r = harness.fixture<Recording>('evaluation.json');
    const init = r.messages.find((m) => m.type === 'init') as Extract<HostToWebview, { type: 'init'; panel: 'evaluation' }>;
    const data = init.data;
    const sources: Record<string, ItemSource> = {};
    data.predictions!.itemIds.forEach((id, at) => {
      sources[String(id)] = { format: 'csv', path: `/data/fashion/${data.itemNames[String(id)]}`, origin: '/data/fashion/dataset.csv', line: 10 + at };
    });
    data.itemSources = sources;
    return { r, data };
  }

  async function open(theme: ThemeName, responders: Record<string, unknown> = {}): Promise<{ p: PanelPage; data: EvaluationPanelData; r: Recording }> {
    const { r, data } = recording();
    const p = await harness.open('evaluation', theme, {
      width: 1200,
      height: 820,
      responders: {
        thumbnails: r.images,
        // No answer to itemImage: the detail view keeps the item's thumbnail (28 × 28 here).
        relabelItem: { message: 'Line 12 of dataset.csv: coat → shirt. Saved; Ctrl+Z in the CSV’s editor undoes it.', line: 12 },
        excludeItem: { message: 'Removed line 12 of dataset.csv. Saved; Ctrl+Z in the CSV’s editor brings it back.', line: 12 },
        ...responders,
      },
    });
    await p.post(...r.messages);
    await p.page.waitForSelector('.cards');
    return { p, data, r };
  }

  const requests = async (p: PanelPage, method: string): Promise<Posted[]> => (await p.posted()).filter((m) => m.type === 'request' && m.method === method);

  /** The item key the detail view shows (from its title, the item's name). */
  async function shownRow(p: PanelPage, data: EvaluationPanelData): Promise<number> {
    const name = await p.page.innerText('#detail-title');
    const key = Object.keys(data.itemNames).find((k) => data.itemNames[k] === name)!;
    return data.predictions!.itemIds.indexOf(Number(key));
  }

  for (const theme of ['light', 'dark'] as ThemeName[]) {
    it(`a gallery tile opens the detail view: labels, score, top 5, source, actions (${theme})`, async () => {
      const { p, data } = await open(theme);
      const pr = data.predictions!;
      const k = pr.classes.length;
      await p.page.click('#tab-matrix');
      await p.page.waitForSelector('.gallery .tile');
      const tileCount = await p.page.locator('.gallery .tile').count();
      await p.page.locator('.gallery .tile').first().click();
      await p.page.waitForSelector('.detail[role="dialog"]');
      const row = await shownRow(p, data);
      assert.ok(row >= 0, 'the detail view names a gallery image');
      const y = pr.labels[row];
      const top = topClasses(pr.scores, row, k, 5);
      assert.notEqual(top[0].cls, y, 'the default gallery shows errors');
      assert.equal(await p.page.innerText('.detail-given'), pr.classes[y]);
      assert.match(await p.page.innerText('.detail-pred'), new RegExp(`^${pr.classes[top[0].cls]} · score ${top[0].score.toFixed(3)}`));
      assert.equal(await p.page.innerText('.detail-self'), pr.scores[row * k + y].toFixed(3));
      const rows = await p.page.locator('.detail-top5 li').allInnerTexts();
      assert.equal(rows.length, 5);
      rows.forEach((text, j) => {
        assert.match(text, new RegExp(`^${pr.classes[top[j].cls]}`));
        assert.match(text, new RegExp(`${top[j].score.toFixed(3)}$`));
      });
      assert.match(await p.page.innerText('.detail-line'), new RegExp(`^dataset\\.csv, line ${10 + row}$`));
      assert.match(await p.page.innerText('.detail-pos'), new RegExp(`^1 of ${tileCount} · False positives`));
      // The larger picture is asked for; meanwhile the thumbnail shows, and a small one is pixelated, not blurred.
      await p.page.waitForFunction(() => (document.querySelector('.detail-image') as HTMLImageElement | null)?.complete === true);
      await p.page.waitForSelector('.detail-image.pixelated');
      assert.equal(await p.page.$eval('.detail-image', (img) => getComputedStyle(img).imageRendering), 'pixelated');
      assert.deepEqual((await requests(p, 'itemImage')).at(-1)?.params, { key: String(pr.itemIds[row]) });
      await p.screenshot(`evaluation-detail-${theme}`, false);

      // Actions post typed requests for this item
      const key = String(pr.itemIds[row]);
      await p.page.click('#detail-open');
      await p.page.click('#detail-reveal');
      assert.deepEqual((await requests(p, 'openItem')).at(-1)?.params, { key });
      assert.deepEqual((await requests(p, 'revealItem')).at(-1)?.params, { key });
      // Relabel…: the class picked (preset to the prediction), then the button.
      assert.equal(await p.page.$eval('.detail-relabel-pick vscode-dropdown', (dd) => (dd as HTMLElement & { value: string }).value), pr.classes[top[0].cls]);
      const other = pr.classes[top[1].cls];
      await p.page.$eval(
        '.detail-relabel-pick vscode-dropdown',
        (dd, v) => {
          (dd as HTMLElement & { value: string }).value = v;
          dd.dispatchEvent(new Event('change'));
        },
        other,
      );
      await p.page.click('#detail-relabel');
      await p.waitForPosted((m) => m.method === 'relabelItem');
      assert.deepEqual((await requests(p, 'relabelItem')).at(-1)?.params, { key, label: other });
      await p.page.waitForSelector('.detail-edited');
      assert.match(await p.page.innerText('.detail-status'), /Line 12 of dataset\.csv/);
      assert.match(await p.page.innerText('.detail-given'), new RegExp(`→ ${other} \\(edited\\)`));

      // Keyboard: → and ← step through the gallery's images, Esc closes and gives the focus back.
      await p.page.keyboard.press('ArrowRight');
      assert.match(await p.page.innerText('.detail-pos'), new RegExp(`^2 of ${tileCount}`));
      assert.notEqual(await shownRow(p, data), row);
      await p.page.keyboard.press('ArrowLeft');
      assert.equal(await shownRow(p, data), row);
      await p.page.keyboard.press('ArrowLeft');
      assert.match(await p.page.innerText('.detail-pos'), new RegExp(`^${tileCount} of ${tileCount}`), 'wraps around');
      // Tab goes round the view's controls, never into the page behind it.
      for (let j = 0; j < 14; j++) {
        await p.page.keyboard.press(j % 5 === 4 ? 'Shift+Tab' : 'Tab');
        assert.equal(await p.page.evaluate(() => !!document.activeElement?.closest('.detail')), true, `focus in the view after ${j + 1} presses`);
      }
      await p.page.keyboard.press('Escape');
      assert.equal(await p.page.locator('.detail-overlay').count(), 0);
      assert.equal(await p.page.evaluate(() => document.activeElement?.classList.contains('tile')), true, 'focus back on the tile');
    });

    it(`the likely-mislabelled tab ranks confident disagreements and relabels as suggested in one click (${theme})`, async () => {
      const { p, data } = await open(theme);
      const pr = data.predictions!;
      const k = pr.classes.length;
      const expected = likelyMislabelled({ n: pr.itemIds.length, k, scores: pr.scores, labels: pr.labels });
      assert.ok(expected.length > 0, 'the recorded evaluation has candidates');
      assert.match(await p.page.innerText('#tab-mislabelled'), new RegExp(String(expected.length)));
      await p.page.click('#tab-mislabelled');
      await p.page.waitForSelector('.mislabelled-tiles .tile');
      assert.match(await p.page.innerText('.mislabelled .gallery-title'), new RegExp(`^${expected.length} images? of ${pr.itemIds.length}`));
      const captions = await p.page.locator('.mislabelled-tiles .tile .tile-caption').allInnerTexts();
      assert.equal(captions.length, Math.min(48, expected.length));
      captions.forEach((c, j) => {
        const e = expected[j];
        assert.match(
          c,
          new RegExp(`label ${pr.classes[e.given]}\\s+→ ${pr.classes[e.suggested]}\\s+${e.suggestedScore.toFixed(3)} vs ${e.selfConfidence.toFixed(3)}`),
        );
      });
      await p.page.waitForSelector('.mislabelled-tiles img');
      await p.screenshot(`evaluation-mislabelled-${theme}`, false);

      // Ranked the other way
      await p.page.click('.mislabelled .segment[data-value="self-confidence"]');
      const bySelf = likelyMislabelled({ n: pr.itemIds.length, k, scores: pr.scores, labels: pr.labels }, 'self-confidence');
      const first = await p.page.locator('.mislabelled-tiles .tile .tile-caption').first().innerText();
      assert.match(first, new RegExp(`vs ${bySelf[0].selfConfidence.toFixed(3)}`));
      await p.page.click('.mislabelled .segment[data-value="margin"]');

      // The detail view of the first: suggested label, one-click relabel, exclude
      await p.page.locator('.mislabelled-tiles .tile').first().click();
      await p.page.waitForSelector('.detail[role="dialog"]');
      const e = expected[0];
      assert.equal(await shownRow(p, data), e.index);
      assert.equal(await p.page.innerText('.detail-suggested'), pr.classes[e.suggested]);
      assert.match(await p.page.innerText('.detail-pos'), new RegExp(`^1 of ${expected.length} · Likely mislabelled`));
      await p.screenshot(`evaluation-mislabelled-detail-${theme}`, false);
      const key = String(pr.itemIds[e.index]);
      await p.page.click('#detail-accept');
      await p.waitForPosted((m) => m.method === 'relabelItem');
      assert.deepEqual((await requests(p, 'relabelItem')).at(-1)?.params, { key, label: pr.classes[e.suggested] });
      await p.page.waitForSelector('.detail-edited');
      await p.page.keyboard.press('ArrowRight');
      const key2 = String(pr.itemIds[expected[1 % expected.length].index]);
      await p.page.click('#detail-exclude');
      await p.waitForPosted((m) => m.method === 'excludeItem');
      assert.deepEqual((await requests(p, 'excludeItem')).at(-1)?.params, { key: key2 });
      await p.page.waitForSelector('#detail-exclude[disabled]');
      await p.page.keyboard.press('Escape');
      // The tiles say what was done
      const edited = await p.page.locator('.mislabelled-tiles .tile .tile-edit').allInnerTexts();
      assert.deepEqual(edited.sort(), expected.length > 1 ? ['excluded', `now ${pr.classes[e.suggested]}`].sort() : ['excluded']);
    });
  }

  it('says why an action failed, in the view', async () => {
    const { p } = await open('dark');
    // The harness answers every request with ok; a failing host is simulated by answering this one with an error.
    await p.page.click('#tab-mislabelled');
    await p.page.locator('.mislabelled-tiles .tile').first().click();
    await p.page.waitForSelector('.detail[role="dialog"]');
    await p.page.evaluate(() => {
      const w = window as unknown as { __responders: Record<string, unknown> };
      delete w.__responders.excludeItem;
    });
    await p.page.click('#detail-exclude');
    const req = await p.waitForPosted((m) => m.method === 'excludeItem');
    await p.post({ type: 'response', id: req.id!, ok: false, error: 'dataset.csv no longer lists images/x.png (it was on line 12).' });
    await p.page.waitForSelector('.detail-status.error');
    assert.match(await p.page.innerText('.detail-status'), /no longer lists images\/x\.png/);
  });
});
