import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { openDataset } from '../../../src/data/open';
import type { Dataset } from '../../../src/data/types';
import { cleanupTemp, codes, only, tempDir, write, writePng } from './helpers';

function partitionsOf(ds: Dataset): Record<string, string> {
  return Object.fromEntries(ds.items.map((it) => [it.display, it.partition]));
}

describe('data/csv (AutoML Vision CSV)', () => {
  after(cleanupTemp);

  it('reads partitions (any case), relative and absolute paths, and sorts classes', async () => {
    const d = tempDir();
    writePng(path.join(d, 'img/a.png'), 8, 8, 1, 1);
    writePng(path.join(d, 'img/b.png'), 8, 8, 1, 2);
    writePng(path.join(d, 'img/c.png'), 8, 8, 1, 3);
    const abs = writePng(path.join(d, 'elsewhere/d.png'), 8, 8, 1, 4);
    const csv = write(path.join(d, 'data.csv'), `train,img/a.png,dog\nValidation,img/b.png,cat\nTEST,./img/c.png,dog\nTRAIN,${abs},cat\n`);
    const ds = await openDataset(csv);
    assert.equal(ds.format, 'csv');
    assert.deepEqual(ds.classes, ['cat', 'dog']);
    assert.equal(ds.multiLabel, false);
    assert.deepEqual(partitionsOf(ds), { 'img/a.png': 'TRAIN', 'img/b.png': 'VALIDATION', './img/c.png': 'TEST', [abs]: 'TRAIN' });
    assert.ok(ds.items.every((it) => it.assigned && it.stamp !== undefined));
    assert.deepEqual(
      ds.items.map((it) => it.origin.line),
      [1, 2, 3, 4],
    );
    assert.deepEqual(ds.items[0].ref, { kind: 'file', path: path.join(d, 'img/a.png') });
    assert.deepEqual(
      ds.findings.filter((f) => f.severity !== 'info'),
      [],
    );
  });

  it('tolerates a BOM, CRLF, blank lines and a header row, keeping line numbers exact', async () => {
    const d = tempDir();
    const csv = write(path.join(d, 'data.csv'), '\uFEFFset,path,label\r\n\r\nTRAIN,a.png,cat\r\n\r\nTEST,missing.png,dog\r\n');
    writePng(path.join(d, 'a.png'));
    const ds = await openDataset(csv);
    const header = only(ds.findings, 'csv-header');
    assert.equal(header.line, 1);
    assert.equal(header.severity, 'info');
    const missing = only(ds.findings, 'missing-file');
    assert.equal(missing.severity, 'error');
    assert.equal(missing.line, 5);
    assert.equal(missing.column, 6);
    assert.equal(missing.file, csv);
    assert.match(missing.message, /missing\.png/);
    assert.match(missing.message, /Fix the path/);
    // The missing image is still an item (so counts show it), without a stamp (never decoded).
    const item = ds.items.find((it) => it.display === 'missing.png')!;
    assert.equal(item.stamp, undefined);
    assert.equal(item.origin.line, 5);
  });

  it('keeps line numbers exact after a quoted field that spans lines, and reads quoted commas', async () => {
    const d = tempDir();
    writePng(path.join(d, 'a, b.png'));
    const csv = write(path.join(d, 'data.csv'), 'TRAIN,"a, b.png","two\nline label"\nTRAIN,"gone ""x"".png",cat\n');
    const ds = await openDataset(csv);
    assert.deepEqual(ds.items[0].labels, ['two\nline label']);
    assert.equal(ds.items[0].stamp !== undefined, true);
    const missing = only(ds.findings, 'missing-file');
    assert.equal(missing.line, 3);
    assert.equal(missing.column, 7);
    assert.match(missing.message, /gone "x"\.png/);
  });

  it('hints at a file that differs only in case', async () => {
    const d = tempDir();
    writePng(path.join(d, 'img/Cat.PNG'));
    const csv = write(path.join(d, 'data.csv'), 'img/cat.png,cat\nimg/x.png,dog\n');
    const ds = await openDataset(csv);
    const missing = ds.findings.filter((f) => f.code === 'missing-file');
    assert.equal(missing.length, 2);
    assert.match(missing[0].message, /Cat\.PNG, which differs in upper\/lower case/);
    assert.doesNotMatch(missing[1].message, /differs in upper/);
  });

  it('splits rows without a partition 80/10/10 per label, deterministically for a seed', async () => {
    const d = tempDir();
    const rows: string[] = [];
    for (let i = 0; i < 50; i++) rows.push(`cats/${i}.png,cat`);
    for (let i = 0; i < 30; i++) rows.push(`UNASSIGNED,dogs/${i}.png,dog`);
    rows.push('TEST,fixed.png,dog');
    const csv = write(path.join(d, 'data.csv'), rows.join('\n'));
    const a = await openDataset(csv, { seed: 7 });
    const count = (ds: Dataset, label: string, p: string) => ds.items.filter((it) => it.labels[0] === label && it.partition === p && !it.assigned).length;
    assert.deepEqual([count(a, 'cat', 'TRAIN'), count(a, 'cat', 'VALIDATION'), count(a, 'cat', 'TEST')], [40, 5, 5]);
    assert.deepEqual([count(a, 'dog', 'TRAIN'), count(a, 'dog', 'VALIDATION'), count(a, 'dog', 'TEST')], [24, 3, 3]);
    const fixed = a.items.find((it) => it.display === 'fixed.png')!;
    assert.equal(fixed.partition, 'TEST');
    assert.equal(fixed.assigned, true);
    assert.match(only(a.findings, 'auto-split').message, /80 images have no partition.*seed 7/);
    const again = await openDataset(csv, { seed: 7 });
    assert.deepEqual(partitionsOf(again), partitionsOf(a));
    const other = await openDataset(csv, { seed: 8 });
    assert.notDeepEqual(partitionsOf(other), partitionsOf(a));
  });

  it('moves few items between partitions when one image is added (stable split)', async () => {
    const d = tempDir();
    const rows = Array.from({ length: 200 }, (_, i) => `x/${i}.png,a`);
    const before = await openDataset(write(path.join(d, 'a.csv'), rows.join('\n')));
    const after = await openDataset(write(path.join(d, 'b.csv'), [...rows, 'x/new.png,a'].join('\n')));
    const pa = partitionsOf(before);
    const pb = partitionsOf(after);
    const moved = Object.keys(pa).filter((k) => pa[k] !== pb[k]).length;
    assert.ok(moved <= 3, `${moved} items moved`);
  });

  it('maps gs:// paths through gcsPrefixMap, and says what to set when unmapped', async () => {
    const d = tempDir();
    writePng(path.join(d, 'local/flowers/rose.png'));
    const csv = write(path.join(d, 'data.csv'), 'TRAIN,gs://bucket/flowers/rose.png,rose\nTRAIN,gs://other/x/tulip.png,tulip\n');
    const ds = await openDataset(csv, { gcsPrefixMap: { 'gs://bucket/flowers/': 'local/flowers' } });
    assert.equal(ds.items.length, 1);
    assert.deepEqual(ds.items[0].ref, { kind: 'file', path: path.join(d, 'local/flowers/rose.png') });
    assert.ok(ds.items[0].stamp);
    const gcs = only(ds.findings, 'gcs-path');
    assert.equal(gcs.severity, 'error');
    assert.equal(gcs.line, 2);
    assert.equal(gcs.column, 7);
    assert.match(gcs.message, /gs:\/\/other\/x\/tulip\.png/);
    assert.match(gcs.message, /gcsPrefixMap/);
    assert.match(gcs.message, /"gs:\/\/other\/x"/);
  });

  it('rejects an unknown partition value with a suggestion and skips the row', async () => {
    const d = tempDir();
    const csv = write(path.join(d, 'data.csv'), 'TRAIN,a.png,cat\nVAL,b.png,cat\ntraining,c.png,dog\n');
    const ds = await openDataset(csv);
    const bad = ds.findings.filter((f) => f.code === 'unknown-partition');
    assert.deepEqual(
      bad.map((f) => [f.line, f.column, f.severity]),
      [
        [2, 1, 'error'],
        [3, 1, 'error'],
      ],
    );
    assert.match(bad[0].message, /"VAL".*did you mean VALIDATION\?/);
    assert.match(bad[1].message, /did you mean TRAIN\?/);
    assert.deepEqual(
      ds.items.map((it) => it.display),
      ['a.png'],
    );
  });

  it('reports a row with a path and no label as unlabelled (warning) and leaves it out', async () => {
    const d = tempDir();
    const csv = write(path.join(d, 'data.csv'), 'TRAIN,a.png,cat\nTRAIN,b.png\nTRAIN,c.png, ,\n');
    const ds = await openDataset(csv);
    const un = ds.findings.filter((f) => f.code === 'unlabelled');
    assert.deepEqual(
      un.map((f) => [f.line, f.severity, f.image]),
      [
        [2, 'warning', 'b.png'],
        [3, 'warning', 'c.png'],
      ],
    );
    assert.match(un[0].message, /no label.*unlabelled/);
    assert.deepEqual(
      ds.items.map((it) => it.display),
      ['a.png'],
    );
  });

  it('warns about an empty label between labels, and reads several labels as multi-label', async () => {
    const d = tempDir();
    const csv = write(path.join(d, 'data.csv'), 'a.png,cat\nb.png,cat,,dog\nc.png,dog,\n');
    const ds = await openDataset(csv);
    const empty = only(ds.findings, 'empty-label');
    assert.equal(empty.line, 2);
    assert.equal(empty.column, 11);
    assert.equal(empty.severity, 'warning');
    assert.equal(ds.multiLabel, true);
    assert.equal(only(ds.findings, 'multi-label').line, 2);
    assert.deepEqual(
      ds.items.map((it) => it.labels),
      [['cat'], ['cat', 'dog'], ['dog']],
    );
  });

  it('warns on each of a few stray rows with several labels that make a single-label CSV multi-label', async () => {
    const d = tempDir();
    const rows = Array.from({ length: 60 }, (_, i) => `img${i}.png,${i % 2 ? 'cat' : 'dog'}`);
    rows[10] = 'img10.png,dog,cat';
    rows[41] = 'img41.png,cat,  dog';
    const ds = await openDataset(write(path.join(d, 'data.csv'), rows.join('\n') + '\n'));
    assert.equal(ds.multiLabel, true, 'still read as multi-label (the warning says so; it does not guess)');
    const stray = ds.findings.filter((f) => f.code === 'stray-multi-label');
    assert.deepEqual(
      stray.map((f) => [f.severity, f.line, f.column]),
      [
        ['warning', 11, 15],
        ['warning', 42, 15],
      ],
    );
    assert.match(
      stray[0].message,
      /2 labels \(dog, cat\) while 58 other rows have one: the dataset is treated as multi-label because of it \(with 1 other row like it\)/,
    );
    assert.match(stray[0].message, /If that is a mistake, keep one label on this line/);
  });

  it('does not call many multi-label rows, or multi-label asked for, a mistake', async () => {
    const d = tempDir();
    const many = Array.from({ length: 60 }, (_, i) => (i % 4 === 0 ? `m${i}.png,cat,dog` : `m${i}.png,cat`));
    const a = await openDataset(write(path.join(d, 'many.csv'), many.join('\n')));
    assert.equal(a.multiLabel, true);
    assert.deepEqual(
      codes(a.findings).filter((c) => c === 'stray-multi-label'),
      [],
    );
    const few = Array.from({ length: 60 }, (_, i) => (i === 3 ? `f${i}.png,cat,dog` : `f${i}.png,cat`));
    const b = await openDataset(write(path.join(d, 'few.csv'), few.join('\n')), { multiLabel: true });
    assert.deepEqual(
      codes(b.findings).filter((c) => c === 'stray-multi-label'),
      [],
      'the user said multi-label',
    );
    const c = await openDataset(write(path.join(d, 'few2.csv'), few.join('\n')));
    assert.equal(only(c.findings, 'stray-multi-label').line, 4);
  });

  it('is multi-label with the option even when every row has one label', async () => {
    const d = tempDir();
    const ds = await openDataset(write(path.join(d, 'data.csv'), 'a.png,cat\nb.png,dog\n'), { multiLabel: true });
    assert.equal(ds.multiLabel, true);
  });

  it('reports conflicting labels for one image (error) and exact duplicate rows (warning)', async () => {
    const d = tempDir();
    const csv = write(path.join(d, 'data.csv'), 'TRAIN,a.png,cat\nTRAIN,a.png,dog\nTRAIN,b.png,dog\nTRAIN,./b.png,dog\n');
    const ds = await openDataset(csv);
    const conflict = only(ds.findings, 'conflicting-labels');
    assert.equal(conflict.severity, 'error');
    assert.equal(conflict.line, 2);
    assert.match(conflict.message, /"dog" here but "cat" on line 1/);
    const dup = only(ds.findings, 'duplicate-row');
    assert.equal(dup.line, 4);
    assert.match(dup.message, /already listed on line 3/);
    assert.equal(ds.items.length, 2);
  });

  it('merges the labels of repeated rows of a multi-label dataset', async () => {
    const d = tempDir();
    const ds = await openDataset(write(path.join(d, 'data.csv'), 'a.png,cat,dog\na.png,bird\n'));
    assert.deepEqual(
      ds.items.map((it) => it.labels),
      [['cat', 'dog', 'bird']],
    );
  });

  it('reads a non-UTF-8 CSV as Windows-1252 and names the line and byte', async () => {
    const d = tempDir();
    writePng(path.join(d, 'café.png'));
    const bytes = Buffer.concat([Buffer.from('TRAIN,a.png,cat\nTRAIN,caf', 'latin1'), Buffer.from([0xe9]), Buffer.from('.png,dog\n', 'latin1')]);
    const csv = write(path.join(d, 'data.csv'), bytes);
    const ds = await openDataset(csv);
    const enc = only(ds.findings, 'csv-encoding');
    assert.equal(enc.severity, 'warning');
    assert.equal(enc.line, 2);
    assert.equal(enc.column, 10);
    assert.match(enc.message, /Line 2, byte 10 \(0xE9\).*Save the CSV as UTF-8/);
    // Read as Windows-1252, the path resolves to the accented file name.
    assert.ok(ds.items.find((it) => it.display === 'café.png')?.stamp);
  });

  it('reads semicolon-separated files and Windows backslash paths', async () => {
    const d = tempDir();
    writePng(path.join(d, 'img/a.png'));
    const ds = await openDataset(write(path.join(d, 'data.csv'), 'TRAIN;img\\a.png;cat\n'));
    assert.equal(only(ds.findings, 'csv-delimiter').severity, 'info');
    assert.equal(ds.items.length, 1);
    if (process.platform !== 'win32') assert.deepEqual(ds.items[0].ref, { kind: 'file', path: path.join(d, 'img/a.png') });
    assert.ok(ds.items[0].stamp);
  });

  it('accepts file:// URLs and reports web addresses and folders', async () => {
    const d = tempDir();
    const img = writePng(path.join(d, 'a.png'));
    fs.mkdirSync(path.join(d, 'folder'));
    const csv = write(path.join(d, 'data.csv'), `${pathToFileURL(img).href},cat\nhttps://example.com/x.jpg,dog\nfolder,dog\n`);
    const ds = await openDataset(csv);
    assert.ok(ds.items[0].stamp);
    assert.equal(only(ds.findings, 'remote-path').line, 2);
    assert.equal(only(ds.findings, 'not-a-file').line, 3);
  });

  it("warns (naming the line) about a relative path that leaves the CSV's folder, not about absolute paths", async () => {
    const d = tempDir();
    writePng(path.join(d, 'set/img/a.png'), 8, 8, 1, 1);
    const outside = writePng(path.join(d, 'outside/b.png'), 8, 8, 1, 2);
    writePng(path.join(d, 'set/c.png'), 8, 8, 1, 3);
    const csv = write(
      path.join(d, 'set/data.csv'),
      `img/a.png,dog\n../outside/b.png,cat\n${outside},cat\nimg/../c.png,dog\n../../../../../../etc/passwd,cat\n`,
    );
    const ds = await openDataset(csv);
    const leaving = ds.findings.filter((f) => f.code === 'path-outside-dataset');
    assert.deepEqual(
      leaving.map((f) => [f.severity, f.line]),
      [
        ['warning', 2],
        ['warning', 5],
      ],
    );
    assert.match(leaving[0].message, /^\.\.\/outside\/b\.png → .*outside\/b\.png: path leaves the dataset's folder/);
    assert.equal(leaving[0].image, outside);
    // The row is still read (absolute paths are allowed by the format; this is only a warning).
    assert.ok(ds.items.some((it) => it.display === '../outside/b.png'));
  });

  it('reports an unterminated quote as a syntax error on its line', async () => {
    const d = tempDir();
    const ds = await openDataset(write(path.join(d, 'data.csv'), 'a.png,cat\n"b.png,dog\nc.png,cat\n'));
    const syntax = only(ds.findings, 'csv-syntax');
    assert.equal(syntax.severity, 'error');
    assert.equal(syntax.line, 2);
  });

  it('reports an empty CSV and an empty path', async () => {
    const d = tempDir();
    const empty = await openDataset(write(path.join(d, 'empty.csv'), '\n\n'));
    assert.equal(only(empty.findings, 'no-images').severity, 'error');
    const ds = await openDataset(write(path.join(d, 'data.csv'), 'TRAIN,,cat\n'));
    const f = only(ds.findings, 'empty-path');
    assert.deepEqual([f.line, f.column], [1, 7]);
  });

  it('caps repeated findings and sums up the rest', async () => {
    const d = tempDir();
    const rows = Array.from({ length: 30 }, (_, i) => `m${i}.png,cat`);
    const ds = await openDataset(write(path.join(d, 'data.csv'), rows.join('\n')), { maxFindingsPerCode: 5 });
    const missing = ds.findings.filter((f) => f.code === 'missing-file');
    assert.equal(missing.length, 6);
    assert.match(missing[5].message, /and 25 more "missing-file" findings/);
    assert.equal(missing[5].severity, 'error');
  });

  it('opens a folder that holds one CSV as that CSV', async () => {
    const d = tempDir();
    writePng(path.join(d, 'images/a.png'));
    write(path.join(d, 'labels.csv'), 'images/a.png,cat\n');
    const ds = await openDataset(d);
    assert.equal(ds.format, 'csv');
    assert.deepEqual(codes(ds.findings.filter((f) => f.severity !== 'info')), []);
  });
});
