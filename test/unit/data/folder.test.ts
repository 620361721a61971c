import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openDataset } from '../../../src/data/open';
import { cleanupTemp, only, tempDir, write, writePng } from './helpers';

describe('data/folder (class folders)', () => {
  after(cleanupTemp);

  it('takes classes from folder names and splits 80/10/10 per class', async () => {
    const d = tempDir();
    for (let i = 0; i < 10; i++) writePng(path.join(d, 'cats', `${i}.png`), 4, 4, 1, i);
    for (let i = 0; i < 20; i++) writePng(path.join(d, 'dogs', `${i}.png`), 4, 4, 1, 100 + i);
    const ds = await openDataset(d);
    assert.equal(ds.format, 'folder');
    assert.deepEqual(ds.classes, ['cats', 'dogs']);
    assert.equal(ds.items.length, 30);
    const n = (l: string, p: string) => ds.items.filter((it) => it.labels[0] === l && it.partition === p).length;
    assert.deepEqual([n('cats', 'TRAIN'), n('cats', 'VALIDATION'), n('cats', 'TEST')], [8, 1, 1]);
    assert.deepEqual([n('dogs', 'TRAIN'), n('dogs', 'VALIDATION'), n('dogs', 'TEST')], [16, 2, 2]);
    assert.ok(ds.items.every((it) => !it.assigned && it.stamp && it.ref.kind === 'file'));
    assert.equal(ds.items[0].display, 'cats/0.png');
    assert.equal(ds.items[0].origin.file, d);
  });

  it('reads train/ val/ test/ partition folders in any case, holding no split of its own', async () => {
    const d = tempDir();
    writePng(path.join(d, 'Train/ants/a.png'), 4, 4, 1, 1);
    writePng(path.join(d, 'Train/bees/b.png'), 4, 4, 1, 2);
    writePng(path.join(d, 'VAL/ants/c.png'), 4, 4, 1, 3);
    writePng(path.join(d, 'valid/bees/d.png'), 4, 4, 1, 4);
    writePng(path.join(d, 'test/bees/e.png'), 4, 4, 1, 5);
    const ds = await openDataset(d);
    assert.deepEqual(
      ds.items.map((it) => [it.display, it.partition, it.labels[0], it.assigned]),
      [
        ['Train/ants/a.png', 'TRAIN', 'ants', true],
        ['Train/bees/b.png', 'TRAIN', 'bees', true],
        ['VAL/ants/c.png', 'VALIDATION', 'ants', true],
        ['test/bees/e.png', 'TEST', 'bees', true],
        ['valid/bees/d.png', 'VALIDATION', 'bees', true],
      ],
    );
    assert.equal(ds.findings.filter((f) => f.code === 'auto-split').length, 0);
  });

  it('holds VALIDATION out of train/ when only train/ and test/ exist', async () => {
    const d = tempDir();
    for (let i = 0; i < 20; i++) writePng(path.join(d, 'train/a', `${i}.png`), 4, 4, 1, i);
    for (let i = 0; i < 20; i++) writePng(path.join(d, 'train/b', `${i}.png`), 4, 4, 1, 50 + i);
    writePng(path.join(d, 'test/a/x.png'), 4, 4, 1, 99);
    const ds = await openDataset(d);
    const held = ds.items.filter((it) => it.partition === 'VALIDATION');
    assert.equal(held.length, 4);
    assert.deepEqual(held.map((it) => it.labels[0]).sort(), ['a', 'a', 'b', 'b']);
    assert.ok(held.every((it) => !it.assigned));
    assert.match(only(ds.findings, 'validation-holdout').message, /4 TRAIN images/);
  });

  it('notes ignored non-image files, and skips hidden and OS files silently', async () => {
    const d = tempDir();
    writePng(path.join(d, 'cats/a.png'));
    writePng(path.join(d, 'dogs/b.png'), 8, 8, 1, 2);
    write(path.join(d, 'cats/notes.txt'), 'x');
    write(path.join(d, 'README.md'), 'x');
    write(path.join(d, 'dogs/.DS_Store'), 'x');
    write(path.join(d, 'dogs/Thumbs.db'), 'x');
    writePng(path.join(d, '.hidden/c.png'));
    const ds = await openDataset(d);
    const note = only(ds.findings, 'ignored-files');
    assert.equal(note.severity, 'info');
    assert.match(note.message, /Ignored 2 files that are not images \((\.md ×1, \.txt ×1|\.txt ×1, \.md ×1)\)/);
    assert.doesNotMatch(note.message, /DS_Store|Thumbs|hidden/);
    assert.equal(ds.items.length, 2);
  });

  it('labels images in nested folders with their top class folder, and says so', async () => {
    const d = tempDir();
    writePng(path.join(d, 'cats/persian/a.png'));
    writePng(path.join(d, 'cats/b.png'), 8, 8, 1, 2);
    writePng(path.join(d, 'dogs/c.png'), 8, 8, 1, 3);
    const ds = await openDataset(d);
    assert.deepEqual(ds.classes, ['cats', 'dogs']);
    assert.deepEqual(ds.items.find((it) => it.display === 'cats/persian/a.png')!.labels, ['cats']);
    assert.match(only(ds.findings, 'nested-folders').message, /cats\/persian\//);
  });

  it('steps into a single wrapping folder', async () => {
    const d = tempDir();
    writePng(path.join(d, 'dataset/cats/a.png'));
    writePng(path.join(d, 'dataset/dogs/b.png'), 8, 8, 1, 2);
    const ds = await openDataset(d);
    assert.deepEqual(ds.classes, ['cats', 'dogs']);
    assert.match(only(ds.findings, 'wrapper-folder').message, /dataset/);
  });

  it('warns about images outside class folders and folders beside partition folders', async () => {
    const d = tempDir();
    writePng(path.join(d, 'train/cats/a.png'));
    writePng(path.join(d, 'train/dogs/b.png'), 8, 8, 1, 2);
    writePng(path.join(d, 'train/loose.png'), 8, 8, 1, 3);
    writePng(path.join(d, 'top.png'), 8, 8, 1, 4);
    writePng(path.join(d, 'extra/cats/c.png'), 8, 8, 1, 5);
    const ds = await openDataset(d);
    const loose = ds.findings.filter((f) => f.code === 'image-without-class');
    assert.equal(loose.length, 2);
    assert.ok(loose.every((f) => f.severity === 'warning'));
    assert.match(loose.map((f) => f.message).join('\n'), /top\.png/);
    assert.match(loose.map((f) => f.message).join('\n'), /train\/loose\.png/);
    assert.match(only(ds.findings, 'ignored-folder').message, /extra\//);
    assert.equal(ds.items.length, 2);
  });

  it('reports a folder without images', async () => {
    const d = tempDir();
    write(path.join(d, 'cats/readme.txt'), 'x');
    const ds = await openDataset(d);
    assert.equal(only(ds.findings, 'no-images').severity, 'error');
  });

  it('follows symbolic links to folders without looping', async function () {
    if (process.platform === 'win32') this.skip();
    const d = tempDir();
    const store = tempDir();
    writePng(path.join(store, 'cats/a.png'));
    writePng(path.join(d, 'dogs/b.png'), 8, 8, 1, 2);
    fs.symlinkSync(path.join(store, 'cats'), path.join(d, 'cats'));
    fs.symlinkSync(d, path.join(d, 'dogs/loop'));
    const ds = await openDataset(d);
    assert.deepEqual(
      ds.items.map((it) => it.display),
      ['cats/a.png', 'dogs/b.png'],
    );
    assert.match(only(ds.findings, 'link-inside-dataset').message, /^dogs\/loop is a symbolic link to the dataset folder itself: not followed/);
  });

  it("does not follow a link from one class folder to another (c0/other -> ../c1): each image keeps its own folder's label", async function () {
    if (process.platform === 'win32') this.skip();
    const d = tempDir();
    for (let i = 0; i < 3; i++) {
      writePng(path.join(d, `c0/a${i}.png`), 8, 8, 1, i);
      writePng(path.join(d, `c1/b${i}.png`), 8, 8, 1, 10 + i);
    }
    // "a" sorts before "c1", so the link is walked before the folder it points to.
    fs.symlinkSync('../c1', path.join(d, 'c0/a-link'));
    const ds = await openDataset(d);
    assert.deepEqual(ds.classes, ['c0', 'c1']);
    assert.deepEqual(ds.items.map((it) => `${it.labels[0]}:${it.display}`).sort(), [
      'c0:c0/a0.png',
      'c0:c0/a1.png',
      'c0:c0/a2.png',
      'c1:c1/b0.png',
      'c1:c1/b1.png',
      'c1:c1/b2.png',
    ]);
    const f = only(ds.findings, 'link-inside-dataset');
    assert.equal(f.severity, 'warning');
    assert.equal(f.file, path.join(d, 'c0', 'a-link'));
    assert.match(f.message, /^c0\/a-link is a symbolic link to c1, a folder of this dataset: not followed/);
  });
});
