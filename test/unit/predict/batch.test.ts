import * as assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listImages, predictFolder } from '../../../src/predict/batch';

describe('batch prediction of a folder', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'automl-batch-'));
    mkdirSync(join(root, 'a', 'b'), { recursive: true });
    for (const f of ['1.png', 'a/2.jpg', 'a/b/3,odd.webp', 'a/notes.txt', '.hidden.png']) writeFileSync(join(root, f), 'x');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('finds the images under a folder, recursively, skipping other files and hidden ones', () => {
    assert.deepEqual(
      listImages(root).map((p) => p.slice(root.length + 1)),
      ['1.png', 'a/2.jpg', 'a/b/3,odd.webp'],
    );
  });

  it('writes one CSV row per image with its top labels, quoting fields, reporting errors and out-of-distribution warnings', async () => {
    const calls: number[] = [];
    const predictor = {
      predictFiles: async (_m: string, paths: string[], topK = 3) => {
        calls.push(paths.length);
        return paths.map((p) =>
          p.endsWith('2.jpg')
            ? { path: p, scores: [], error: 'corrupt image' }
            : {
                path: p,
                scores: [
                  { label: 'cat', score: 0.9 },
                  { label: 'dog', score: 0.1 },
                ].slice(0, topK),
                // The odd one is unlike the training data (two checks fired); the first passes its score check.
                ood: p.endsWith('odd.webp')
                  ? { flagged: true, warnings: ['a colour image, but …', 'unlike the training data (OOD score 3.10; …)'] }
                  : { flagged: false, warnings: [], score: { kind: 'energy' as const, value: -7.25, threshold: -4, quantile: 0.95, flagged: false } },
              },
        );
      },
    };
    const csv = join(root, 'out.csv');
    const r = await predictFolder(predictor, '/model', root, csv, { topK: 2, chunk: 2 });
    assert.deepEqual(r, { csv, images: 3, failed: 1, unlike: 1 });
    assert.deepEqual(calls, [2, 1]);
    assert.deepEqual(readFileSync(csv, 'utf8').trim().split('\n'), [
      'path,label_1,score_1,label_2,score_2,error,ood_warning,ood_score',
      '1.png,cat,0.90000,dog,0.10000,,,-7.25',
      'a/2.jpg,,,,,corrupt image,,',
      '"a/b/3,odd.webp",cat,0.90000,dog,0.10000,,"a colour image, but …; unlike the training data (OOD score 3.10; …)",',
    ]);
    await assert.rejects(
      predictFolder(predictor, '/model', join(root, 'a', 'b', '..', '..', 'a', 'b', 'x'), csv).catch((e) => Promise.reject(e)),
      /ENOENT|no images/,
    );
  });
});
