import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { openDataset } from '../../../src/data/open';
import { probeImages } from '../../../src/data/probe';
import { cleanupTemp, pngBytes, tempDir, write, writeIdxPair, writePng, zipBytes } from './helpers';

describe('data/probe', () => {
  after(cleanupTemp);

  it('reads the median side and colour from headers, for files, zips and IDX', async () => {
    const d = tempDir();
    for (let i = 0; i < 5; i++) writePng(path.join(d, 'g', `gray/${i}.png`), 28, 20, 1, i + 1);
    for (let i = 0; i < 4; i++) writePng(path.join(d, 'g', `dark/${i}.png`), 40, 10, 1, i + 10);
    const gray = await probeImages(await openDataset(path.join(d, 'g')));
    assert.deepEqual(gray, { medianSide: 28, color: false, probed: 9 });

    writePng(path.join(d, 'c/red/a.png'), 16, 16, 3, 1);
    writePng(path.join(d, 'c/blue/b.png'), 16, 16, 4, 2);
    const colour = await probeImages(await openDataset(path.join(d, 'c')));
    assert.deepEqual(colour, { medianSide: 16, color: true, probed: 2 });

    const zip = write(path.join(d, 'z.zip'), zipBytes([{ name: 'a/x.png', data: pngBytes(12, 30, 3, 1) }, { name: 'b/y.png', data: pngBytes(12, 30, 3, 2) }]));
    assert.deepEqual(await probeImages(await openDataset(zip)), { medianSide: 30, color: true, probed: 2 });

    writeIdxPair(path.join(d, 'idx'), 'train', 10, (i) => i % 2, true, 5, 7);
    assert.deepEqual(await probeImages(await openDataset(path.join(d, 'idx'))), { medianSide: 7, color: false, probed: 10 });
  });

  it('samples evenly and skips what it cannot read', async () => {
    const d = tempDir();
    for (let i = 0; i < 30; i++) writePng(path.join(d, `k${i % 2}`, `${i}.png`), 8, 8, 1, i + 1);
    write(path.join(d, 'k0/bad.png'), 'not a png');
    const r = await probeImages(await openDataset(d), { sample: 10 });
    assert.ok(r.probed >= 9 && r.probed <= 10);
    assert.equal(r.medianSide, 8);
  });
});
