import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { openDataset } from '../../../src/data/open';
import { loadSharp } from '../../../src/data/decode';
import { encodePng } from '../../../src/data/png';
import { probeImages } from '../../../src/data/probe';
import { cleanupTemp, pattern, pngBytes, tempDir, write, writeIdxPair, writePng, zipBytes } from './helpers';

describe('data/probe', () => {
  after(cleanupTemp);

  it('reads the median side and colour from headers, for files, zips and IDX', async () => {
    const d = tempDir();
    for (let i = 0; i < 5; i++) writePng(path.join(d, 'g', `gray/${i}.png`), 28, 20, 1, i + 1);
    for (let i = 0; i < 4; i++) writePng(path.join(d, 'g', `dark/${i}.png`), 40, 10, 1, i + 10);
    const gray = await probeImages(await openDataset(path.join(d, 'g')));
    assert.deepEqual(gray, { medianSide: 28, color: false, grayStoredAsColor: 0, probed: 9 });

    writePng(path.join(d, 'c/red/a.png'), 16, 16, 3, 1);
    writePng(path.join(d, 'c/blue/b.png'), 16, 16, 4, 2);
    const colour = await probeImages(await openDataset(path.join(d, 'c')));
    assert.deepEqual(colour, { medianSide: 16, color: true, grayStoredAsColor: 0, probed: 2 });

    const zip = write(
      path.join(d, 'z.zip'),
      zipBytes([
        { name: 'a/x.png', data: pngBytes(12, 30, 3, 1) },
        { name: 'b/y.png', data: pngBytes(12, 30, 3, 2) },
      ]),
    );
    assert.deepEqual(await probeImages(await openDataset(zip)), { medianSide: 30, color: true, grayStoredAsColor: 0, probed: 2 });

    writeIdxPair(path.join(d, 'idx'), 'train', 10, (i) => i % 2, true, 5, 7);
    assert.deepEqual(await probeImages(await openDataset(path.join(d, 'idx'))), { medianSide: 7, color: false, grayStoredAsColor: 0, probed: 10 });
  });

  it('takes gray images stored as RGB (PNG and JPEG) for gray, and colour ones for colour', async () => {
    const d = tempDir();
    const grayRgb = (seed: number) => {
      const g = pattern(24, 24, 1, seed);
      const rgb = new Uint8Array(24 * 24 * 3);
      for (let i = 0; i < g.length; i++) rgb.fill(g[i], 3 * i, 3 * i + 3);
      return rgb;
    };
    for (let i = 0; i < 6; i++) write(path.join(d, 'g', `k${i % 2}`, `${i}.png`), encodePng(24, 24, 3, grayRgb(i + 1)));
    for (let i = 0; i < 4; i++) {
      write(
        path.join(d, 'g', `k${i % 2}`, `${i}.jpg`),
        await loadSharp()(Buffer.from(grayRgb(i + 9)), { raw: { width: 24, height: 24, channels: 3 } })
          .jpeg({ quality: 80 })
          .toBuffer(),
      );
    }
    const gray = await probeImages(await openDataset(path.join(d, 'g')));
    assert.deepEqual(gray, { medianSide: 24, color: false, grayStoredAsColor: 10, probed: 10 });
    // One real colour image among them is over 1 % of the sample: colour.
    write(path.join(d, 'g', 'k0', 'colour.png'), pngBytes(24, 24, 3, 5));
    const mixed = await probeImages(await openDataset(path.join(d, 'g')));
    assert.equal(mixed.color, true); // (and once that is sure, the rest are not decoded)
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
