import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { openDataset } from '../../../src/data/open';
import { classFolderMove, itemPreview } from '../../../src/panel-data/item-actions';
import { cleanupTemp, tempDir, write, writePng } from '../data/helpers';

describe('panel-data/item-actions (detail view: picture, class-folder moves)', () => {
  after(cleanupTemp);

  it('moves a class-folder image to the other class folder, keeping its partition and sub-folders', async () => {
    const d = tempDir();
    for (const f of ['train/cat/a.png', 'train/dog/b.png', 'test/cat/deep/c.png', 'test/dog/d.png']) writePng(path.join(d, f), 8, 8, 1, f.length);
    const ds = await openDataset(d);
    const item = (display: string) => ds.items.find((i) => i.display === display)!;
    assert.deepEqual(classFolderMove(ds, item('train/cat/a.png'), 'dog'), {
      from: path.join(d, 'train/cat/a.png'),
      to: path.join(d, 'train/dog/a.png'),
      display: 'train/dog/a.png',
    });
    assert.equal(classFolderMove(ds, item('test/cat/deep/c.png'), 'dog').display, 'test/dog/deep/c.png');
    writePng(path.join(d, 'train/cat/b.png'), 8, 8, 1, 9);
    assert.throws(() => classFolderMove(ds, item('train/dog/b.png'), 'cat'), /train\/cat\/b\.png exists already/);
  });

  it('a CSV dataset is relabelled in its CSV, not by moving files', async () => {
    const d = tempDir();
    writePng(path.join(d, 'img/a.png'), 8, 8, 1, 1);
    writePng(path.join(d, 'img/b.png'), 8, 8, 1, 2);
    const ds = await openDataset(write(path.join(d, 'x.csv'), 'TRAIN,img/a.png,cat\nTRAIN,img/b.png,dog\n'));
    assert.throws(() => classFolderMove(ds, ds.items[0], 'dog'), /CSV datasets from the panel is not supported/);
  });

  it('makes a PNG data URI of at most 512 px, never enlarged; null when the image is unreadable', async () => {
    const d = tempDir();
    writePng(path.join(d, 'c/a.png'), 28, 20, 1, 1);
    writePng(path.join(d, 'c/b.png'), 8, 8, 1, 1);
    const ds = await openDataset(d);
    const uri = await itemPreview(ds.items[0]);
    assert.match(uri!, /^data:image\/png;base64,/);
    const png = Buffer.from(uri!.split(',')[1], 'base64');
    assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [28, 20]);
    assert.equal(await itemPreview({ ...ds.items[0], ref: { kind: 'file', path: path.join(d, 'gone.png') } }), null);
  });
});
