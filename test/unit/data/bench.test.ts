import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { benchImport, FASHION_CLASSES, loadFashionMnist } from '../../../src/bench/import';
import { cleanupTemp, tempDir, write } from './helpers';

/** A stand-in for the fashion-mnist package: 10 classes × 12 rows, class 0 with an empty row. */
function fakeFashionMnist(): string {
  const dir = tempDir();
  for (let c = 0; c < 10; c++) {
    const data: number[][] = Array.from({ length: 12 }, (_, i) => Array.from({ length: 784 }, (_, k) => (c * 20 + i + k) % 256));
    if (c === 0) data.splice(1, 0, []);
    write(path.join(dir, 'src', 'clothes', `${c}.json`), JSON.stringify({ data }));
  }
  return dir;
}

describe('bench/import', () => {
  after(cleanupTemp);

  it('drops empty Fashion-MNIST rows', () => {
    const classes = loadFashionMnist(fakeFashionMnist());
    assert.equal(classes.length, 10);
    assert.equal(classes[0].length, 12);
    assert.ok(classes.every((c) => c.every((img) => img.length === 784)));
  });

  it('measures cold and warm imports for PNG+CSV, PNG folders and IDX', async () => {
    const workDir = tempDir();
    const rows = await benchImport({ workDir, count: 100, fashionMnistDir: fakeFashionMnist(), workers: 1 });
    assert.deepEqual(
      rows.map((r) => `${r.dataset}/${r.phase}`),
      ['png-csv/cold', 'png-csv/warm', 'png-folder/cold', 'png-folder/warm', 'idx/cold', 'idx/warm'],
    );
    for (const r of rows) {
      assert.equal(r.images, 100);
      assert.ok(r.imagesPerSecond > 0 && Number.isFinite(r.imagesPerSecond));
      assert.equal(r.decoded, r.phase === 'cold' ? 100 : 0, `${r.dataset} ${r.phase}`);
    }
    assert.ok(fs.readFileSync(path.join(workDir, 'fashion-100', 'idx', 'labels.txt'), 'utf8').startsWith(FASHION_CLASSES[0]));
  });
});
