import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { openDataset } from '../../../src/data/open';
import { cleanupTemp, idxBytes, only, tempDir, write, writeIdxPair } from './helpers';

describe('data/idx (MNIST files)', () => {
  after(cleanupTemp);

  it('reads train-* as TRAIN (10 % held out for VALIDATION per label) and t10k-* as TEST, with class names from labels.txt', async () => {
    const d = tempDir();
    writeIdxPair(d, 'train', 100, (i) => i % 3, true);
    writeIdxPair(d, 't10k', 12, (i) => i % 3, false);
    write(path.join(d, 'labels.txt'), 'zero\r\none\r\ntwo\r\n');
    const ds = await openDataset(d, { seed: 3 });
    assert.equal(ds.format, 'idx');
    assert.deepEqual(ds.classes, ['one', 'two', 'zero']);
    assert.equal(ds.items.length, 112);
    const n = (p: string) => ds.items.filter((it) => it.partition === p).length;
    assert.deepEqual([n('TRAIN'), n('VALIDATION'), n('TEST')], [91, 9, 12]);
    const val = ds.items.filter((it) => it.partition === 'VALIDATION');
    // 34/33/33 TRAIN images per label → round(3.4) = round(3.3) = 3 held out of each.
    assert.deepEqual(
      ['one', 'two', 'zero'].map((l) => val.filter((it) => it.labels[0] === l).length),
      [3, 3, 3],
    );
    assert.ok(val.every((it) => !it.assigned));
    const first = ds.items[0];
    assert.equal(first.display, 't10k-images-idx3-ubyte#0');
    assert.deepEqual(first.ref, { kind: 'idx', file: path.join(d, 't10k-images-idx3-ubyte'), index: 0, width: 4, height: 4 });
    assert.deepEqual(first.labels, ['zero']);
    const again = await openDataset(d, { seed: 3 });
    assert.deepEqual(
      again.items.map((it) => it.partition),
      ds.items.map((it) => it.partition),
    );
  });

  it('names classes "0".."9" without a labels file (natural order)', async () => {
    const d = tempDir();
    writeIdxPair(d, 'train', 24, (i) => i % 12);
    const ds = await openDataset(d);
    assert.deepEqual(ds.classes, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11']);
  });

  it('opens one pair when pointed at one of its files', async () => {
    const d = tempDir();
    writeIdxPair(d, 'train', 20, (i) => i % 2);
    writeIdxPair(d, 't10k', 5, (i) => i % 2);
    const ds = await openDataset(path.join(d, 'train-labels-idx1-ubyte.gz'));
    assert.equal(ds.items.length, 20);
    assert.ok(ds.items.every((it) => it.partition !== 'TEST'));
  });

  it('reports mismatched counts, missing label names, and a labels file without images', async () => {
    const d = tempDir();
    write(path.join(d, 'train-images-idx3-ubyte'), idxBytes([5, 2, 2], new Uint8Array(20)));
    write(path.join(d, 'train-labels-idx1-ubyte'), idxBytes([4], Uint8Array.from([0, 1, 2, 1])));
    write(path.join(d, 'labels.txt'), 'a\nb\n');
    write(path.join(d, 'extra-labels-idx1-ubyte'), idxBytes([1], Uint8Array.from([0])));
    const ds = await openDataset(d);
    const mismatch = only(ds.findings, 'idx-count-mismatch');
    assert.equal(mismatch.severity, 'error');
    assert.match(mismatch.message, /5 images but train-labels-idx1-ubyte has 4 labels/);
    assert.equal(ds.items.length, 4);
    const names = only(ds.findings, 'idx-labels-file');
    assert.equal(names.file, path.join(d, 'labels.txt'));
    assert.match(names.message, /uses label 2 \(image 2\).*no name on line 3/);
    assert.match(only(ds.findings, 'idx-missing-images').message, /extra-labels-idx1-ubyte/);
  });

  it('reports a file that is not IDX, and one cut short', async () => {
    const d = tempDir();
    write(path.join(d, 'train-images-idx3-ubyte'), Buffer.from('<html>not found</html>'));
    write(path.join(d, 'train-labels-idx1-ubyte'), idxBytes([1], Uint8Array.from([0])));
    const bad = await openDataset(d);
    const f = bad.findings.find((x) => x.code === 'idx-format')!;
    assert.equal(f.file, path.join(d, 'train-images-idx3-ubyte'));
    assert.match(f.message, /not an IDX file/);

    const e = tempDir();
    write(path.join(e, 'train-images-idx3-ubyte'), idxBytes([10, 4, 4], new Uint8Array(100)));
    write(path.join(e, 'train-labels-idx1-ubyte'), idxBytes([10], new Uint8Array(10)));
    const short = await openDataset(e);
    assert.match(only(short.findings, 'idx-format').message, /cut short/);
  });
});
