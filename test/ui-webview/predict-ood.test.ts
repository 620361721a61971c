// The predict panel warns, above the labels, about an image unlike the training data (a colour photo
// given to the grayscale Fashion-MNIST model), in both themes; an image like them gets no warning.
import * as assert from 'node:assert/strict';
import sharp from 'sharp';
import type { HostToWebview, PredictionView } from '../../src/shared/protocol';
import { useHarness, type PanelPage } from './harness';
import type { Recording } from './record';
import type { ThemeName } from './themes';

/** A bee-coloured photo stand-in: yellow and black stripes, 120×90, as the host's data: preview. */
async function beePreview(): Promise<string> {
  const W = 120;
  const H = 90;
  const px = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) px.set(Math.floor((x + y) / 15) % 2 ? [245, 190, 30] : [40, 30, 20], 3 * (y * W + x));
  const png = await sharp(px, { raw: { width: W, height: H, channels: 3 } })
    .png()
    .toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}

const WARNINGS = [
  'a colour image, but the model was trained on grayscale images: it sees only the brightness',
  "500×375 px, far larger than the training images (28×28 px): it is shrunk to the model's input and fine detail is lost",
  'unlike the training data (OOD score -2.31; 95 % of validation images score below -6.84)',
];

describe('predict panel: images unlike the training data (headless Chromium)', function () {
  this.timeout(60_000);
  const harness = useHarness();
  let page: PanelPage | undefined;

  for (const theme of ['light', 'dark'] as ThemeName[]) {
    it(`shows a warning banner above the labels of the foreign image only (${theme})`, async () => {
      const r = harness.fixture<Recording>('predict.json');
      const recorded = (r.messages.find((m) => m.type === 'predictions') as Extract<HostToWebview, { type: 'predictions' }>).results;
      const like: PredictionView = {
        ...recorded[0],
        ood: { flagged: false, warnings: [], score: { kind: 'energy', value: -9.12, threshold: -6.84, quantile: 0.95, flagged: false } },
      };
      const bee: PredictionView = {
        path: '/data/hymenoptera/val/bees/bee.jpg',
        name: 'bee.jpg',
        preview: await beePreview(),
        ms: 9,
        scores: [
          { label: 'bag', score: 0.991 },
          { label: 'sandal', score: 0.006 },
          { label: 'shirt', score: 0.002 },
          { label: 'sneaker', score: 0.0007 },
          { label: 'coat', score: 0.0003 },
        ],
        ood: { flagged: true, warnings: WARNINGS, score: { kind: 'energy', value: -2.31, threshold: -6.84, quantile: 0.95, flagged: true } },
      };
      page = await harness.open('predict', theme);
      // Newest first: the bee is shown above the boot.
      await page.post(r.messages[0], { type: 'predictions', results: [like] }, { type: 'predictions', results: [bee] });
      await page.page.waitForSelector('.prediction .ood-warning');
      const articles = page.page.locator('article.prediction');
      assert.equal(await articles.count(), 2);
      const beeCard = page.page.locator('article.prediction[aria-label="Prediction for bee.jpg"]');
      const banner = beeCard.locator('.ood-warning');
      assert.ok(await banner.isVisible());
      const text = await banner.innerText();
      assert.match(text, /^This image is not like the training images: the labels below may mean little\./);
      for (const w of WARNINGS) assert.ok(text.includes(w.charAt(0).toUpperCase() + w.slice(1)), `${w} in ${text}`);
      // Above the labels, inside the card; the boot like the training images has none.
      const [bannerBox, barsBox] = await Promise.all([banner.boundingBox(), beeCard.locator('ol.bars').boundingBox()]);
      assert.ok(bannerBox && barsBox && bannerBox.y + bannerBox.height <= barsBox.y, 'the warning is above the labels');
      assert.equal(await page.page.locator(`article.prediction[aria-label="Prediction for ${like.name}"] .ood-warning`).count(), 0);
      // It stands out: its border is the theme's warning colour, not the plain border.
      const colours = await banner.evaluate((el) => {
        const s = getComputedStyle(el);
        return {
          left: s.borderLeftColor,
          width: s.borderLeftWidth,
          text: getComputedStyle(el.querySelector('strong')!).color,
          bg: getComputedStyle(document.body).backgroundColor,
        };
      });
      assert.equal(colours.width, '4px');
      assert.notEqual(colours.left, colours.bg);
      assert.notEqual(colours.text, colours.bg);
      await page.screenshot(`predict-ood-${theme}`);
    });
  }
});
