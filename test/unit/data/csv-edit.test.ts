import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { applyCsvEdit, CsvEditError, excludeCsvRow, lineOffset, relabelCsvRow } from '../../../src/data/csv-edit';
import { openDataset } from '../../../src/data/open';
import { cleanupTemp, tempDir, write, writePng } from './helpers';

const lines = (s: string) => s.split(/\r\n|\r|\n/);

describe('data/csv-edit (relabel and exclude one CSV row)', () => {
  after(cleanupTemp);

  it('finds line starts for LF, CRLF and lone CR', () => {
    const t = 'a\r\nb\nc\rd';
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((l) => lineOffset(t, l)),
      [0, 3, 5, 7, -1],
    );
  });

  it('relabels the label field only: partition, path, spacing and the other lines stay byte for byte', () => {
    const text = 'TRAIN,img/a.png,cat\r\nTEST,img/b.png, dog \r\nVALIDATION,img/c.png,cat\r\n';
    const e = relabelCsvRow(text, 2, 'img/b.png', 'cat');
    assert.equal(e.before, 'TEST,img/b.png, dog ');
    assert.equal(e.after, 'TEST,img/b.png, cat ');
    const out = applyCsvEdit(text, e);
    assert.equal(out, 'TRAIN,img/a.png,cat\r\nTEST,img/b.png, cat \r\nVALIDATION,img/c.png,cat\r\n');
    // Without a partition column, and the last line without a line break.
    const bare = 'img/a.png,cat\nimg/b.png,dog';
    assert.equal(applyCsvEdit(bare, relabelCsvRow(bare, 2, 'img/b.png', 'bird')), 'img/a.png,cat\nimg/b.png,bird');
  });

  it('keeps quoting, quotes a label that needs it, and edits a row that follows a multi-line quoted field', () => {
    const text = 'TRAIN,"img/x, y.png","ankle boot"\nTRAIN,"img/multi\nline.png",cat\nTEST,img/z.png,cat\n';
    const q = applyCsvEdit(text, relabelCsvRow(text, 1, 'img/x, y.png', 'say "hi"'));
    assert.equal(lines(q)[0], 'TRAIN,"img/x, y.png","say ""hi"""');
    assert.deepEqual(lines(q).slice(1), lines(text).slice(1));
    // The CSV row on line 4 (the quoted path spans lines 2–3).
    const r = applyCsvEdit(text, relabelCsvRow(text, 4, 'img/z.png', 'shoe, left'));
    assert.equal(r, 'TRAIN,"img/x, y.png","ankle boot"\nTRAIN,"img/multi\nline.png",cat\nTEST,img/z.png,"shoe, left"\n');
    // A label after an empty label field (read as the row's one label).
    const gap = 'TRAIN,img/a.png,,cat\n';
    assert.equal(applyCsvEdit(gap, relabelCsvRow(gap, 1, 'img/a.png', 'dog')), 'TRAIN,img/a.png,,dog\n');
  });

  it('excludes a row with its line break; the last row takes the line break before it', () => {
    const text = 'TRAIN,img/a.png,cat\r\nTEST,img/b.png,dog\r\nTEST,img/c.png,cat';
    const mid = excludeCsvRow(text, 2, 'img/b.png');
    assert.equal(mid.before, 'TEST,img/b.png,dog');
    assert.equal(applyCsvEdit(text, mid), 'TRAIN,img/a.png,cat\r\nTEST,img/c.png,cat');
    assert.equal(applyCsvEdit(text, excludeCsvRow(text, 3, 'img/c.png')), 'TRAIN,img/a.png,cat\r\nTEST,img/b.png,dog');
    const multi = 'TRAIN,"img/multi\nline.png",cat\nTEST,img/z.png,cat\n';
    assert.equal(applyCsvEdit(multi, excludeCsvRow(multi, 1, 'img/multi\nline.png')), 'TEST,img/z.png,cat\n');
  });

  it('follows the row when lines moved, and refuses clearly when it cannot tell which row', () => {
    const text = 'TRAIN,img/new.png,cat\nTRAIN,img/a.png,cat\nTEST,img/b.png,dog\n';
    // Read when img/b.png was on line 2; a row was added above since.
    const e = relabelCsvRow(text, 2, 'img/b.png', 'cat', 'data.csv');
    assert.equal(e.line, 3);
    assert.equal(applyCsvEdit(text, e), 'TRAIN,img/new.png,cat\nTRAIN,img/a.png,cat\nTEST,img/b.png,cat\n');
    assert.throws(() => relabelCsvRow(text, 2, 'img/gone.png', 'cat', 'data.csv'), /data\.csv no longer lists img\/gone\.png \(it was on line 2\)/);
    const twice = 'TRAIN,img/a.png,cat\nTEST,img/a.png,cat\nTRAIN,img/q.png,dog\n';
    assert.throws(() => excludeCsvRow(twice, 3, 'img/a.png', 'data.csv'), /lists img\/a\.png on 2 lines \(1, 2\)/);
    const multiLabel = 'TRAIN,img/a.png,cat,dog\n';
    assert.throws(
      () => relabelCsvRow(multiLabel, 1, 'img/a.png', 'bird'),
      (err: Error) => err instanceof CsvEditError && /2 labels \(cat, dog\)/.test(err.message),
    );
    assert.throws(() => relabelCsvRow(multiLabel, 1, 'img/a.png', ' '), /not a label/);
  });

  it('the dataset reader sees the new label and the same partition, and no longer sees an excluded row', async () => {
    const d = tempDir();
    for (const n of ['a', 'b', 'c']) writePng(path.join(d, `img/${n}.png`), 8, 8, 1, n.charCodeAt(0));
    const text = 'TRAIN,img/a.png,cat\nTEST,"img/b.png",dog\nVALIDATION,img/c.png,cat\n';
    const relabelled = write(path.join(d, 'r.csv'), applyCsvEdit(text, relabelCsvRow(text, 2, 'img/b.png', 'cat')));
    const ds = await openDataset(relabelled);
    const b = ds.items.find((it) => it.display === 'img/b.png')!;
    assert.deepEqual([b.labels, b.partition, b.origin.line], [['cat'], 'TEST', 2]);
    const excluded = write(path.join(d, 'x.csv'), applyCsvEdit(text, excludeCsvRow(text, 2, 'img/b.png')));
    assert.deepEqual(
      (await openDataset(excluded)).items.map((it) => [it.display, it.origin.line]),
      [
        ['img/a.png', 1],
        ['img/c.png', 2],
      ],
    );
  });
});
