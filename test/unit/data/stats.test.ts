import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { openDataset } from '../../../src/data/open';
import { formatReport } from '../../../src/data/report';
import { computeStats, distribution } from '../../../src/data/stats';
import { validateDataset } from '../../../src/data/validate';
import { cleanupTemp, pngBytes, tempDir, write, writePng } from './helpers';

describe('data/stats and report', () => {
  after(cleanupTemp);

  it('summarises a distribution with a histogram', () => {
    const d = distribution([10, 20, 20, 30, 100]);
    assert.deepEqual([d.min, d.median, d.max, d.mean], [10, 20, 100, 36]);
    assert.equal(
      d.histogram.counts.reduce((a, b) => a + b, 0),
      5,
    );
    assert.equal(d.histogram.edges[0], 10);
    assert.equal(d.histogram.edges[d.histogram.edges.length - 1], 100);
    assert.equal(d.histogram.counts[d.histogram.counts.length - 1], 1);
    assert.deepEqual(distribution([28, 28]).histogram, { edges: [28, 28], counts: [2] });
  });

  it('counts labels per partition, image sizes, channels, formats and duplicates', async () => {
    const d = tempDir();
    writePng(path.join(d, 'a.png'), 10, 20, 1, 1);
    writePng(path.join(d, 'b.png'), 30, 40, 3, 2);
    writePng(path.join(d, 'c.png'), 50, 60, 4, 3);
    write(path.join(d, 'dup.png'), pngBytes(10, 20, 1, 1));
    write(path.join(d, 'bad.png'), 'x');
    const csv = write(
      path.join(d, 'd.csv'),
      'TRAIN,a.png,cat\nTRAIN,b.png,dog\nVALIDATION,c.png,dog\nTEST,dup.png,cat\nTRAIN,bad.png,dog\nTRAIN,gone.png,cat\n',
    );
    const ds = await openDataset(csv);
    const result = await validateDataset(ds, { level: 'images', cacheDir: path.join(d, 'cache') });
    const s = computeStats(ds, result);
    assert.deepEqual(s.counts, [
      { label: 'cat', train: 2, validation: 0, test: 1, total: 3 },
      { label: 'dog', train: 2, validation: 1, test: 0, total: 3 },
    ]);
    assert.deepEqual(s.totals, { train: 4, validation: 1, test: 1, total: 6 });
    assert.equal(s.unusable, 2);
    assert.equal(s.images!.decoded, 4);
    assert.equal(s.images!.failed, 1);
    assert.deepEqual([s.images!.width.min, s.images!.width.max, s.images!.height.median], [10, 50, 30]);
    assert.deepEqual(s.images!.channels, { gray: 2, grayAlpha: 0, rgb: 1, rgba: 1 });
    assert.deepEqual(s.images!.formats, { png: 4 });
    assert.equal(s.duplicates!.groups, 1);
    assert.equal(s.duplicates!.leakageGroups, 1);
    assert.deepEqual(s.duplicates!.examples[0].items, [0, 3]);
    assert.deepEqual(s.findings, {
      error: result.filter((f) => f.severity === 'error').length,
      warning: result.filter((f) => f.severity === 'warning').length,
      info: result.filter((f) => f.severity === 'info').length,
    });
    assert.ok(s.findings.error >= 2);
    // Plain JSON for the webview.
    assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
  });

  it('formats a report: label × partition table, image summary, findings by severity with file:line', async () => {
    const d = tempDir();
    for (let i = 0; i < 12; i++) writePng(path.join(d, `i${i}.png`), 8, 8, 1, i + 1);
    const csv = write(
      path.join(d, 'd.csv'),
      [
        ...Array.from({ length: 12 }, (_, i) => `${i < 8 ? 'TRAIN' : i < 10 ? 'VALIDATION' : 'TEST'},i${i}.png,${i % 2 ? 'dog' : 'cat'}`),
        'TRAIN,missing.png,dog',
        'WHAT,i1.png,cat',
      ].join('\n'),
    );
    const ds = await openDataset(csv);
    const result = await validateDataset(ds, { level: 'images', cacheDir: path.join(d, 'cache') });
    const text = formatReport(ds, computeStats(ds, result), result, { cwd: d });
    assert.match(text, /Format: {2}AutoML CSV, single-label, 2 classes, 13 images/);
    assert.match(text, /Label\s+TRAIN\s+VALIDATION\s+TEST\s+Total/);
    assert.match(text, /cat\s+4\s+1\s+1\s+6\n/);
    assert.match(text, /dog\s+5\s+1\s+1\s+7\n/);
    assert.match(text, /Total images\s+9\s+2\s+2\s+13/);
    assert.match(text, /Size: {4}width min\/median\/max 8\/8\/8 px/);
    assert.match(text, /Errors \(2\)\n {2}d\.csv:13:7 {2}\[missing-file\]/);
    assert.match(text, /d\.csv:14:1 {2}\[unknown-partition\]/);
    assert.ok(text.indexOf('Errors (2)') < text.indexOf('Warnings (2)'));
    assert.match(text, /Warnings \(2\)\n {2}d\.csv {2}\[too-few-images\] {2}Class "cat" has only 6 images/);
    assert.match(text, /Result: 2 errors.*fix the errors before training\.\n$/);
  });
});
