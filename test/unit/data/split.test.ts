// Splits of small classes (issue 21): 200 classes × 3 unassigned images used to become 600
// TRAIN, 0 VALIDATION, 0 TEST and be reported as a success.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { openDataset } from '../../../src/data/open';
import { noValidationMessage, perClassCounts } from '../../../src/data/validate';
import { cleanupTemp, only, tempDir, write } from './helpers';

function counts(ds: { items: { partition: string }[] }): Record<string, number> {
  const c: Record<string, number> = { TRAIN: 0, VALIDATION: 0, TEST: 0 };
  for (const it of ds.items) c[it.partition]++;
  return c;
}

describe('data/split: small classes', () => {
  after(cleanupTemp);

  it('gives each class of 3 unassigned images one TRAIN, one VALIDATION and one TEST image, and says so', async () => {
    const d = tempDir();
    const rows: string[] = [];
    for (let c = 0; c < 200; c++) for (let i = 0; i < 3; i++) rows.push(`,c${c}/${i}.png,c${c}`);
    const ds = await openDataset(write(path.join(d, 'd.csv'), rows.join('\n')));
    assert.deepEqual(counts(ds), { TRAIN: 200, VALIDATION: 200, TEST: 200 });
    for (const r of perClassCounts(ds).values()) assert.deepEqual(r, { TRAIN: 1, VALIDATION: 1, TEST: 1 });
    const f = only(ds.findings, 'small-class-split');
    assert.equal(f.severity, 'info');
    assert.match(f.message, /^200 classes \("c0", "c1", .*, … 190 more\) have too few images for 10 %: each keeps one VALIDATION image/);
  });

  it('gives a class of 2 one VALIDATION image, leaves a class of 1 in TRAIN, and 10 % of larger classes as before', async () => {
    const d = tempDir();
    const rows: string[] = [];
    const sizes: Record<string, number> = { one: 1, two: 2, four: 4, twenty: 20 };
    for (const [c, n] of Object.entries(sizes)) for (let i = 0; i < n; i++) rows.push(`,${c}/${i}.png,${c}`);
    const ds = await openDataset(write(path.join(d, 'd.csv'), rows.join('\n')));
    const per = perClassCounts(ds);
    assert.deepEqual(per.get('one'), { TRAIN: 1, VALIDATION: 0, TEST: 0 });
    assert.deepEqual(per.get('two'), { TRAIN: 1, VALIDATION: 1, TEST: 0 });
    assert.deepEqual(per.get('four'), { TRAIN: 2, VALIDATION: 1, TEST: 1 });
    assert.deepEqual(per.get('twenty'), { TRAIN: 16, VALIDATION: 2, TEST: 2 });
    assert.match(only(ds.findings, 'small-class-split').message, /^2 classes \("two", "four"\) have/);
  });

  it('holds out one TRAIN image of each class with 2 or more when the data has no VALIDATION', async () => {
    const d = tempDir();
    const rows: string[] = [];
    for (let c = 0; c < 5; c++) for (let i = 0; i < 3; i++) rows.push(`TRAIN,c${c}/${i}.png,c${c}`);
    rows.push('TEST,c0/t.png,c0');
    const ds = await openDataset(write(path.join(d, 'd.csv'), rows.join('\n')));
    assert.deepEqual(counts(ds), { TRAIN: 10, VALIDATION: 5, TEST: 1 });
    assert.match(
      only(ds.findings, 'validation-holdout').message,
      /5 classes \("c0", "c1", "c2", "c3", "c4"\) have too few TRAIN images for 10 %: one each was held out/,
    );
  });

  it('names the classes with too few images when VALIDATION is still empty', async () => {
    const d = tempDir();
    const ds = await openDataset(write(path.join(d, 'd.csv'), ',a/0.png,a\n,b/0.png,b\n,c/0.png,c'));
    assert.equal(counts(ds).VALIDATION, 0);
    assert.match(
      noValidationMessage(ds),
      /no VALIDATION images.*at least 2 images.*Classes with too few images: "a" \(1 image\), "b" \(1 image\), "c" \(1 image\)\. Add images/,
    );
  });
});
