// The real-photo dataset of the development machine (ants and bees); skipped where absent.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { prepareImages } from '../../../src/data/cache';
import { openDataset } from '../../../src/data/open';
import { computeStats } from '../../../src/data/stats';
import { validateDataset } from '../../../src/data/validate';
import { cleanupTemp, tempDir } from './helpers';

const ROOT = process.env.AUTOML_HYMENOPTERA ?? '/work/shared/data/hymenoptera';

describe('data: hymenoptera photos (if present)', function () {
  this.timeout(180000);
  before(function () {
    if (!fs.existsSync(path.join(ROOT, 'train'))) this.skip();
  });
  after(cleanupTemp);

  it('reads train/ and val/ folders of JPEGs (and the odd GIF and .jpeg) and prepares them', async () => {
    const ds = await openDataset(ROOT);
    assert.equal(ds.format, 'folder');
    assert.deepEqual(ds.classes, ['ants', 'bees']);
    assert.ok(ds.items.length > 300);
    assert.ok(ds.items.some((it) => it.display.endsWith('.jpeg')));
    assert.ok(ds.items.some((it) => it.display.endsWith('.gif')));
    assert.ok(ds.items.every((it) => it.partition !== 'TEST'));
    assert.ok(ds.findings.some((f) => f.code === 'no-test-set'));

    const cacheDir = tempDir();
    const size = { height: 32, width: 32, channels: 3 as const };
    const result = await validateDataset(ds, { level: 'images', size, cacheDir });
    assert.deepEqual(
      result.filter((f) => f.severity === 'error'),
      [],
    );
    const stats = computeStats(ds, result);
    assert.equal(stats.images!.decoded, ds.items.length);
    assert.ok(stats.images!.formats.jpeg > 300);
    assert.ok(stats.images!.width.median > 100);
    const data = await prepareImages(ds, { size, cacheDir });
    assert.equal(data.train.count + data.validation.count, ds.items.length);
    // Photos are not blank: the mean pixel is well inside (0, 255).
    let sum = 0;
    for (const v of data.train.pixels) sum += v;
    const mean = sum / data.train.pixels.length;
    assert.ok(mean > 40 && mean < 220, `mean ${mean}`);
  });
});
