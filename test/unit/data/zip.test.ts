import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openDataset } from '../../../src/data/open';
import { scanImages } from '../../../src/data/cache';
import { cleanupTemp, only, pngBytes, tempDir, write, zipBytes } from './helpers';

describe('data/zip', () => {
  after(cleanupTemp);

  it('reads a zip of class folders in place, inside a wrapping folder', async () => {
    const d = tempDir();
    const zip = write(
      path.join(d, 'pets.zip'),
      zipBytes([
        { name: 'pets/cats/a.png', data: pngBytes(4, 4, 1, 1) },
        { name: 'pets/cats/b.png', data: pngBytes(4, 4, 1, 2), method: 0 },
        { name: 'pets/dogs/c.png', data: pngBytes(4, 4, 1, 3) },
        { name: '__MACOSX/pets/._a.png', data: Buffer.from('junk') },
      ]),
    );
    const ds = await openDataset(zip);
    assert.equal(ds.format, 'zip');
    assert.deepEqual(ds.classes, ['cats', 'dogs']);
    assert.deepEqual(
      ds.items.map((it) => it.display),
      ['cats/a.png', 'cats/b.png', 'dogs/c.png'],
    );
    const ref = ds.items[1].ref;
    assert.equal(ref.kind, 'zip');
    if (ref.kind === 'zip') {
      assert.equal(ref.entry, 'pets/cats/b.png');
      assert.equal(ref.at?.method, 0);
    }
    assert.match(ds.items[0].stamp!, /^[0-9a-f]+-\d+$/);
    // Entries decode straight from the zip (stored and deflated).
    const scan = await scanImages(ds, { cacheDir: path.join(d, 'cache'), workers: 0 });
    assert.deepEqual(
      scan.images.map((i) => [i?.width, i?.format, i?.error]),
      [
        [4, 'png', undefined],
        [4, 'png', undefined],
        [4, 'png', undefined],
      ],
    );
  });

  it('reads a zip with a CSV whose paths point into the zip, with partitions', async () => {
    const d = tempDir();
    const csv = 'TRAIN,images/a.png,cat\nTEST,images/b.png,dog\nVALIDATION,images/nope.png,dog\n';
    const zip = write(
      path.join(d, 'data.zip'),
      zipBytes([
        { name: 'export/labels.csv', data: Buffer.from(csv) },
        { name: 'export/images/a.png', data: pngBytes(4, 4, 3, 1) },
        { name: 'export/images/b.png', data: pngBytes(4, 4, 3, 2) },
      ]),
    );
    const ds = await openDataset(zip);
    assert.deepEqual(
      ds.items.map((it) => [it.display, it.partition, it.labels[0]]),
      [
        ['images/a.png', 'TRAIN', 'cat'],
        ['images/b.png', 'TEST', 'dog'],
        ['images/nope.png', 'VALIDATION', 'dog'],
      ],
    );
    const missing = only(ds.findings, 'missing-file');
    assert.equal(missing.file, zip);
    assert.equal(missing.line, 3);
    assert.match(missing.message, /^export\/labels\.csv in data\.zip: Image not found in the zip: images\/nope\.png → export\/images\/nope\.png/);
    assert.match(only(ds.findings, 'zip-csv').message, /export\/labels\.csv/);
  });

  it('detects a damaged entry through its checksum when decoding', async () => {
    const d = tempDir();
    const good = pngBytes(4, 4, 1, 1);
    const bytes = zipBytes([
      { name: 'a/x.png', data: good, method: 0 },
      { name: 'b/y.png', data: pngBytes(4, 4, 1, 2), method: 0 },
    ]);
    // Flip a byte inside the first (stored) entry's data.
    bytes[30 + 'a/x.png'.length + 20] ^= 0xff;
    const zip = write(path.join(d, 'bad.zip'), bytes);
    const ds = await openDataset(zip);
    const scan = await scanImages(ds, { cacheDir: path.join(d, 'cache'), workers: 0 });
    assert.equal(scan.images[0]?.error?.code, 'corrupt-image');
    assert.match(scan.images[0]!.error!.message, /checksum/);
    assert.equal(scan.images[1]?.error, undefined);
  });

  it('throws a clear error for a file that is not a zip', async () => {
    const d = tempDir();
    const zip = write(path.join(d, 'broken.zip'), Buffer.from('this is not a zip file at all, just text'));
    await assert.rejects(openDataset(zip), /cannot be read as a zip.*re-create it/);
  });

  it('is not confused by a zip without images', async () => {
    const d = tempDir();
    const zip = write(path.join(d, 'empty.zip'), zipBytes([{ name: 'readme.txt', data: Buffer.from('hi') }]));
    const ds = await openDataset(zip);
    assert.equal(only(ds.findings, 'no-images').severity, 'error');
    assert.ok(fs.existsSync(zip));
  });
});
