import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openImageCache } from '../../../src/data/cache';
import { openDataset } from '../../../src/data/open';
import { validateDataset, validateStructure } from '../../../src/data/validate';
import { encodePng } from '../../../src/data/png';
import { cleanupTemp, only, pngBytes, tempDir, write, writePng } from './helpers';

/** A CSV with `perClass[label]` rows per label (files need not exist for structural checks). */
function rows(perClass: Record<string, number>, partition = (i: number) => (i % 10 === 0 ? 'TEST' : i % 10 === 1 ? 'VALIDATION' : 'TRAIN')): string {
  const out: string[] = [];
  for (const [label, n] of Object.entries(perClass)) for (let i = 0; i < n; i++) out.push(`${partition(i)},${label}/${i}.png,${label}`);
  return out.join('\n');
}

describe('data/validate', () => {
  after(cleanupTemp);

  describe('structure (no decoding)', () => {
    it('an error for a single class', async () => {
      const d = tempDir();
      const ds = await openDataset(write(path.join(d, 'd.csv'), rows({ cat: 20 })));
      const f = only(validateStructure(ds), 'single-class');
      assert.equal(f.severity, 'error');
      assert.match(f.message, /"cat".*at least two classes/);
    });

    it('an error for a class without TRAIN images', async () => {
      const d = tempDir();
      const ds = await openDataset(write(path.join(d, 'd.csv'), rows({ cat: 20 }) + '\nTEST,dog/1.png,dog\nVALIDATION,dog/2.png,dog'));
      const f = only(validateStructure(ds), 'no-train-images');
      assert.equal(f.severity, 'error');
      assert.match(f.message, /"dog" has no TRAIN images \(1 VALIDATION, 1 TEST\)/);
    });

    it("a warning under 10 images per class, a note under 100 (AutoML's advice)", async () => {
      const d = tempDir();
      const ds = await openDataset(write(path.join(d, 'd.csv'), rows({ few: 9, some: 50, many: 100 })));
      const findings = validateStructure(ds);
      const warn = only(findings, 'too-few-images');
      assert.equal(warn.severity, 'warning');
      assert.match(warn.message, /"few" has only 9 images; at least 10.*about 100/);
      const note = only(findings, 'few-images');
      assert.equal(note.severity, 'info');
      assert.match(note.message, /"some" has 50 images/);
    });

    it('a warning for labels imbalanced over 100×', async () => {
      const d = tempDir();
      const ds = await openDataset(write(path.join(d, 'd.csv'), rows({ big: 1010, small: 10 })));
      const f = only(validateStructure(ds), 'label-imbalance');
      assert.equal(f.severity, 'warning');
      assert.match(f.message, /"big" has 1,010 images, "small" only 10 \(101×/);
      const ok = await openDataset(write(path.join(d, 'e.csv'), rows({ big: 1000, small: 10 })));
      assert.equal(validateStructure(ok).filter((x) => x.code === 'label-imbalance').length, 0);
    });

    it('a warning for a class without VALIDATION images', async () => {
      const d = tempDir();
      const ds = await openDataset(write(path.join(d, 'd.csv'), rows({ a: 20 }) + '\n' + rows({ b: 20 }, () => 'TRAIN')));
      const f = only(validateStructure(ds), 'no-validation-images');
      assert.match(f.message, /"b" has no VALIDATION images/);
    });

    it("carries the dataset's own findings (rows, files) and says when nothing is usable", async () => {
      const d = tempDir();
      const ds = await openDataset(write(path.join(d, 'd.csv'), 'a.png,cat\nb.png,dog\n'));
      const findings = validateStructure(ds);
      assert.equal(findings.filter((f) => f.code === 'missing-file').length, 2);
      assert.match(only(findings, 'no-images').message, /None of the 2 images can be found/);
    });
  });

  describe('images (one decode pass)', () => {
    it('reports corrupt, empty and non-image files on their CSV lines', async () => {
      const d = tempDir();
      for (let i = 0; i < 12; i++) writePng(path.join(d, `ok${i}.png`), 8, 8, 1, i + 1);
      const good = pngBytes(8, 8, 1, 50);
      write(path.join(d, 'cut.png'), good.subarray(0, good.length - 20));
      write(path.join(d, 'zero.png'), '');
      write(path.join(d, 'page.jpg'), '<html>404</html>');
      const lines = [...Array.from({ length: 12 }, (_, i) => `ok${i}.png,${i % 2 ? 'a' : 'b'}`), 'cut.png,a', 'zero.png,b', 'page.jpg,a'];
      const csv = write(path.join(d, 'd.csv'), lines.join('\n'));
      const ds = await openDataset(csv);
      const result = await validateDataset(ds, { level: 'images', cacheDir: path.join(d, 'cache'), workers: 0 });
      const corrupt = only(result, 'corrupt-image');
      assert.deepEqual([corrupt.severity, corrupt.file, corrupt.line, corrupt.image], ['error', csv, 13, 'cut.png']);
      assert.match(corrupt.message, /cut\.png \(line 13\) cannot be decoded: the image is damaged or incomplete/);
      const empty = only(result, 'empty-file');
      assert.deepEqual([empty.severity, empty.line], ['error', 14]);
      assert.match(empty.message, /0 bytes\)\. Replace it/);
      const page = only(result, 'unsupported-format');
      assert.equal(page.line, 15);
      assert.match(page.message, /\(an HTML page, 16 bytes: a web page saved instead of the image\?\)/);
      assert.doesNotMatch(page.message, /404/, "the file's content is not quoted");
      assert.equal(result.findings, result, 'the result is the findings array, also as .findings');
    });

    it('finds leakage (same bytes in two partitions), conflicting duplicates and plain duplicates', async () => {
      const d = tempDir();
      const same = pngBytes(8, 8, 1, 7);
      write(path.join(d, 'a.png'), same);
      write(path.join(d, 'copy-in-test.png'), same);
      write(path.join(d, 'copy-other-label.png'), same);
      write(path.join(d, 'copy-same.png'), same);
      writePng(path.join(d, 'b.png'), 8, 8, 1, 8);
      writePng(path.join(d, 'v.png'), 8, 8, 1, 9);
      // v.png: a VALIDATION image, so that no TRAIN image is held out for validation.
      const csv = write(
        path.join(d, 'd.csv'),
        'TRAIN,a.png,cat\nTEST,copy-in-test.png,cat\nTRAIN,copy-other-label.png,dog\nTRAIN,copy-same.png,cat\nTRAIN,b.png,dog\nVALIDATION,b.png,dog\nVALIDATION,v.png,dog\n',
      );
      const ds = await openDataset(csv);
      const result = await validateDataset(ds, { level: 'images', cacheDir: path.join(d, 'cache'), workers: 0 });
      const leak = only(result, 'leakage');
      assert.deepEqual([leak.severity, leak.line], ['warning', 2]);
      assert.match(leak.message, /copy-in-test\.png \(line 2\) \(TEST\) is the same image as a\.png \(line 1\) \(TRAIN\)/);
      const conflict = only(result, 'conflicting-duplicate');
      assert.equal(conflict.line, 3);
      assert.match(conflict.message, /labelled "dog" but the identical image a\.png \(line 1\) is labelled "cat"/);
      assert.equal(only(result, 'duplicate-image').line, 4);
    });

    it('warns about images far larger than needed: over 4096 px, or over 16× the training size', async () => {
      const d = tempDir();
      write(path.join(d, 'wide.png'), encodePng(4100, 2, 1, new Uint8Array(8200)));
      writePng(path.join(d, 'big.png'), 100, 100, 1, 1);
      writePng(path.join(d, 'fine.png'), 20, 20, 1, 2);
      const csv = write(path.join(d, 'd.csv'), 'wide.png,a\nbig.png,b\nfine.png,a\n');
      const ds = await openDataset(csv);
      const noSize = await validateDataset(ds, { level: 'images', cacheDir: path.join(d, 'cache') });
      assert.deepEqual(
        noSize.filter((f) => f.code === 'oversized-image').map((f) => f.line),
        [1],
      );
      const withSize = await validateDataset(ds, { level: 'images', cacheDir: path.join(d, 'cache'), size: { height: 6, width: 6, channels: 1 } });
      const big = withSize.filter((f) => f.code === 'oversized-image');
      assert.deepEqual(
        big.map((f) => f.line),
        [1, 2],
      );
      assert.match(big[1].message, /100×100 px, 17× the training size 6×6/);
      // The pass with a size filled the pixel cache: preparing that size decodes nothing.
      const r = await openImageCache(ds, { size: { height: 6, width: 6, channels: 1 }, cacheDir: path.join(d, 'cache') });
      r.close();
      assert.equal(r.decoded, 0);
    });

    it('warns about images too small to learn from (under 8 px on a side), naming the file', async () => {
      const d = tempDir();
      writePng(path.join(d, 'dot.png'), 1, 1, 1, 1);
      writePng(path.join(d, 'strip.png'), 40, 4, 1, 2);
      writePng(path.join(d, 'fine.png'), 8, 8, 1, 3);
      const csv = write(path.join(d, 'd.csv'), 'dot.png,a\nstrip.png,b\nfine.png,a\n');
      const ds = await openDataset(csv);
      const tiny = (await validateDataset(ds, { level: 'images', cacheDir: path.join(d, 'cache'), workers: 0 })).filter((f) => f.code === 'tiny-image');
      assert.deepEqual(
        tiny.map((f) => [f.severity, f.line]),
        [
          ['warning', 1],
          ['warning', 2],
        ],
      );
      assert.match(tiny[0].message, /^dot\.png \(line 1\): image is 1×1 px: too small to learn from/);
      assert.match(tiny[1].message, /strip\.png \(line 2\): image is 40×4 px/);
    });

    it('names the image file itself for folder datasets', async () => {
      const d = tempDir();
      for (let i = 0; i < 3; i++) writePng(path.join(d, 'a', `${i}.png`), 8, 8, 1, i + 1);
      writePng(path.join(d, 'b/0.png'), 8, 8, 1, 9);
      write(path.join(d, 'b/broken.png'), 'nope');
      const ds = await openDataset(d);
      const result = await validateDataset(ds, { level: 'images', cacheDir: path.join(d, 'cache') });
      const f = only(result, 'unsupported-format');
      assert.equal(f.file, path.join(d, 'b/broken.png'));
      assert.equal(f.line, undefined);
      assert.equal(f.image, 'b/broken.png');
    });

    it('summarises size and colour for choosing the input, and fingerprints the data', async () => {
      const d = tempDir();
      writePng(path.join(d, 'a.png'), 30, 10, 3, 1);
      writePng(path.join(d, 'b.png'), 20, 20, 1, 2);
      writePng(path.join(d, 'c.png'), 40, 12, 1, 3);
      const csv = write(path.join(d, 'd.csv'), 'a.png,x\nb.png,y\nc.png,y\n');
      const ds = await openDataset(csv);
      const structural = await validateDataset(ds);
      assert.equal(structural.medianSide, 0);
      const r = await validateDataset(ds, { level: 'images', cacheDir: path.join(d, 'cache') });
      assert.equal(r.medianSide, 30);
      assert.equal(r.color, true);
      assert.equal(r.fingerprint, structural.fingerprint);
      fs.writeFileSync(csv, 'a.png,x\nb.png,x\nc.png,y\n');
      const relabelled = await validateDataset(await openDataset(csv));
      assert.notEqual(relabelled.fingerprint, r.fingerprint);
    });
  });
});
