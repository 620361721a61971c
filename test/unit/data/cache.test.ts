import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { openImageCache, prepareImageSets, prepareImages, scanImages } from '../../../src/data/cache';
import { concatSets, isStreamed, readRange, readRows } from '../../../src/data/image-set';
import { decodeImage } from '../../../src/data/decode';
import { openDataset } from '../../../src/data/open';
import { DecodePool } from '../../../src/data/decode-pool';
import type { Dataset, ImportProgress, PreparedData } from '../../../src/data/types';
import { cleanupTemp, pattern, pngBytes, tempDir, write, writeIdxPair, writePng, zipBytes } from './helpers';

const SIZE = { height: 6, width: 6, channels: 1 as const };

/** A CSV dataset of `n` 8×8 PNGs, labels a/b alternating, partitions given. */
function csvDataset(dir: string, n: number, partitionOf = (i: number) => (i % 5 === 0 ? 'TEST' : i % 5 === 1 ? 'VALIDATION' : 'TRAIN')): string {
  const rows: string[] = [];
  for (let i = 0; i < n; i++) {
    writePng(path.join(dir, 'img', `${i}.png`), 8, 8, 1, i + 1);
    rows.push(`${partitionOf(i)},img/${i}.png,${i % 2 ? 'b' : 'a'}`);
  }
  return write(path.join(dir, 'data.csv'), rows.join('\n') + '\n');
}

async function expectedPixels(file: string, size = SIZE): Promise<Uint8Array> {
  return (await decodeImage(fs.readFileSync(file), { ...size, fit: 'pad', background: 'white' })).pixels!;
}

function rowOf(set: PreparedData['train'], k: number): Uint8Array {
  const n = set.height * set.width * set.channels;
  return set.pixels.subarray(k * n, (k + 1) * n);
}

async function decodedCount(ds: Dataset, cacheDir: string, workers = 0): Promise<number> {
  const r = await openImageCache(ds, { size: SIZE, cacheDir, workers });
  r.close();
  return r.decoded;
}

describe('data/cache', () => {
  after(cleanupTemp);

  it('packs every image at the input size, per partition, with class indices and item ids', async () => {
    const d = tempDir();
    const csv = csvDataset(d, 10);
    const ds = await openDataset(csv);
    const data = await prepareImages(ds, { size: SIZE, cacheDir: path.join(d, 'cache'), workers: 0 });
    assert.deepEqual(data.classes, ['a', 'b']);
    assert.deepEqual([data.train.count, data.validation.count, data.test.count], [6, 2, 2]);
    assert.equal(data.train.pixels.length, 6 * 36);
    assert.ok(data.train.labels instanceof Int32Array);
    for (const set of [data.train, data.validation, data.test]) {
      for (let k = 0; k < set.count; k++) {
        const it = ds.items[set.itemIds[k]];
        assert.equal(set.labels[k], ds.classes.indexOf(it.labels[0]));
        assert.deepEqual(rowOf(set, k), await expectedPixels((it.ref as { path: string }).path));
      }
    }
    assert.deepEqual(Array.from(data.test.itemIds), [0, 5]);
  });

  it('loads an unchanged dataset from the cache without decoding, also after a label or partition edit', async () => {
    const d = tempDir();
    const cacheDir = path.join(d, 'cache');
    const csv = csvDataset(d, 6);
    const ds = await openDataset(csv);
    assert.equal(await decodedCount(ds, cacheDir), 6);
    const phases: ImportProgress['phase'][] = [];
    const again = await prepareImages(await openDataset(csv), { size: SIZE, cacheDir, onProgress: (p) => phases.push(p.phase) });
    assert.ok(!phases.includes('decode'), 'nothing decoded');
    assert.ok(phases.includes('load'));
    assert.equal(await decodedCount(await openDataset(csv), cacheDir), 0);
    // Relabel and move a row: same images, so no decoding; labels and partitions follow the CSV.
    fs.writeFileSync(csv, fs.readFileSync(csv, 'utf8').replace('TEST,img/0.png,a', 'TRAIN,img/0.png,b'));
    const edited = await openDataset(csv);
    assert.equal(await decodedCount(edited, cacheDir), 0);
    const data = await prepareImages(edited, { size: SIZE, cacheDir });
    const k = Array.from(data.train.itemIds).indexOf(0);
    assert.ok(k >= 0);
    assert.equal(data.train.labels[k], 1);
    assert.equal(data.train.count, again.train.count + 1);
  });

  it('decodes only the images that changed, were added, or came back, and drops the old cache file', async () => {
    const d = tempDir();
    const cacheDir = path.join(d, 'cache');
    const csv = csvDataset(d, 6);
    await decodedCount(await openDataset(csv), cacheDir);
    const filesBefore = fs.readdirSync(cacheDir).filter((f) => f.endsWith('.amlc'));
    assert.equal(filesBefore.length, 1);

    // Rewrite one image in place with other pixels (same size on disk is irrelevant: ctime changes).
    const changed = path.join(d, 'img/3.png');
    fs.writeFileSync(changed, pngBytes(8, 8, 1, 99));
    const later = new Date(Date.now() + 5000);
    fs.utimesSync(changed, later, later);
    let ds = await openDataset(csv);
    assert.equal(await decodedCount(ds, cacheDir), 1);
    const data = await prepareImages(ds, { size: SIZE, cacheDir });
    const k = Array.from(data.train.itemIds).indexOf(3);
    assert.deepEqual(rowOf(data.train, k), await expectedPixels(changed));
    const filesAfter = fs.readdirSync(cacheDir).filter((f) => f.endsWith('.amlc'));
    assert.equal(filesAfter.length, 1);
    assert.notEqual(filesAfter[0], filesBefore[0]);

    // A new row: one more decode.
    writePng(path.join(d, 'img/new.png'), 8, 8, 1, 77);
    fs.appendFileSync(csv, 'TRAIN,img/new.png,a\n');
    ds = await openDataset(csv);
    assert.equal(await decodedCount(ds, cacheDir), 1);
  });

  it('leaves out images that cannot be decoded or found, and says why in the scan', async () => {
    const d = tempDir();
    writePng(path.join(d, 'ok.png'));
    write(path.join(d, 'empty.png'), '');
    write(path.join(d, 'text.png'), 'hello, I am not a PNG');
    writePng(path.join(d, 'v.png'), 8, 8, 1, 2);
    // v.png: a VALIDATION image, so that no TRAIN image is held out for validation.
    const csv = write(path.join(d, 'data.csv'), 'TRAIN,ok.png,a\nTRAIN,empty.png,a\nTRAIN,text.png,b\nTRAIN,gone.png,b\nVALIDATION,v.png,a\n');
    const ds = await openDataset(csv);
    const cacheDir = path.join(d, 'cache');
    const data = await prepareImages(ds, { size: SIZE, cacheDir, workers: 0 });
    assert.deepEqual(Array.from(data.train.itemIds), [0]);
    const scan = await scanImages(ds, { cacheDir });
    assert.equal(scan.cached, true);
    assert.deepEqual(
      scan.images.map((i) => i?.error?.code),
      [undefined, 'empty-file', 'unsupported-format', undefined, undefined],
    );
    assert.equal(scan.images[3], undefined);
  });

  it('decodes on worker threads with the same result as on the calling thread', async () => {
    const d = tempDir();
    const rows: string[] = [];
    for (let i = 0; i < 40; i++) {
      const name = `img/${i}.${i % 4 === 0 ? 'jpg' : 'png'}`;
      const px = Buffer.from(pattern(9, 7, 3, i));
      const bytes =
        i % 4 === 0
          ? await sharp(px, { raw: { width: 9, height: 7, channels: 3 } })
              .jpeg()
              .toBuffer()
          : pngBytes(9, 7, 3, i);
      write(path.join(d, name), bytes);
      rows.push(`${name},${i % 3}`);
    }
    const csv = write(path.join(d, 'data.csv'), rows.join('\n'));
    const ds = await openDataset(csv);
    const size = { height: 5, width: 5, channels: 3 as const };
    const threaded = await prepareImages(ds, { size, cacheDir: path.join(d, 'c1'), workers: 2 });
    const inline = await prepareImages(ds, { size, cacheDir: path.join(d, 'c2'), workers: 0 });
    assert.deepEqual(threaded, inline);
    const pool = new DecodePool(2);
    try {
      assert.equal(pool.threads, 2, 'the worker script was found');
      const r = await pool.run({ id: 1, spec: null, refs: [ds.items[1].ref] });
      assert.equal(r.infos[0].width, 9);
    } finally {
      await pool.close();
    }
  });

  it('reads partitions in batches: ranges, positions, and shuffled epochs', async () => {
    const d = tempDir();
    const csv = csvDataset(d, 25);
    const ds = await openDataset(csv);
    const opts = { size: SIZE, cacheDir: path.join(d, 'cache'), workers: 0 };
    const all = await prepareImages(ds, opts);
    const reader = await openImageCache(ds, opts);
    try {
      assert.equal(reader.count('TRAIN'), all.train.count);
      const part = reader.read('TRAIN', 3, 4);
      assert.deepEqual(Array.from(part.itemIds), Array.from(all.train.itemIds.subarray(3, 7)));
      assert.deepEqual(part.pixels, all.train.pixels.subarray(3 * 36, 7 * 36));
      const at = reader.readAt('TRAIN', [5, 0, 2]);
      assert.deepEqual(
        Array.from(at.itemIds),
        [5, 0, 2].map((q) => all.train.itemIds[q]),
      );
      assert.deepEqual(at.pixels.subarray(36, 72), rowOf(all.train, 0));
      const seen: number[] = [];
      let batches = 0;
      for (const b of reader.batches('TRAIN', 4, { shuffle: true, seed: 1 })) {
        batches++;
        assert.ok(b.count <= 4);
        seen.push(...b.itemIds);
      }
      assert.equal(batches, Math.ceil(all.train.count / 4));
      assert.deepEqual(
        [...seen].sort((a, b) => a - b),
        Array.from(all.train.itemIds).sort((a, b) => a - b),
      );
      assert.notDeepEqual(seen, Array.from(all.train.itemIds));
      assert.throws(() => reader.readAt('TEST', [999]), /outside TEST/);
    } finally {
      reader.close();
    }
  });

  it('streams partitions from the cache file when they exceed the memory given to data', async () => {
    const d = tempDir();
    const ds = await openDataset(csvDataset(d, 25));
    const opts = { size: SIZE, cacheDir: path.join(d, 'cache'), workers: 0 };
    const all = await prepareImages(ds, opts);
    const inMemory = await prepareImageSets(ds, { ...opts, maxResidentBytes: 1 << 20 });
    assert.equal(inMemory.streamed, false);
    assert.ok(!isStreamed(inMemory.train));
    const bytes = (all.train.count + all.validation.count + all.test.count) * 36;
    assert.equal(inMemory.pixelBytes, bytes);
    const sets = await prepareImageSets(ds, { ...opts, maxResidentBytes: bytes - 1 });
    try {
      assert.equal(sets.streamed, true);
      assert.ok(isStreamed(sets.train) && isStreamed(sets.validation) && isStreamed(sets.test));
      assert.deepEqual(Array.from(sets.train.itemIds), Array.from(all.train.itemIds));
      assert.deepEqual(Array.from(sets.train.labels), Array.from(all.train.labels));
      // A shuffled batch with a run of neighbours in it, and a whole partition in order.
      const positions = [7, 2, 3, 4, 0, all.train.count - 1, 5];
      const rows = readRows(sets.train, positions);
      positions.forEach((q, k) => assert.deepEqual(rows.subarray(k * 36, (k + 1) * 36), rowOf(all.train, q), `row ${q}`));
      assert.deepEqual(readRange(sets.test, 0, all.test.count), all.test.pixels);
      // TRAIN+VALIDATION for the final fit, still read from the file.
      const tv = concatSets(sets.train, sets.validation);
      assert.ok(isStreamed(tv));
      const last = readRows(tv, [all.train.count]);
      assert.deepEqual(last, rowOf(all.validation, 0));
    } finally {
      sets.close();
    }
    assert.throws(() => readRows(sets.train, [0]), /EBADF|bad file descriptor/i, 'closed with the experiment');
  });

  it('caches IDX images (resized too) and multi-hot labels for multi-label data', async () => {
    const d = tempDir();
    writeIdxPair(d, 'train', 30, (i) => i % 2, true, 4, 4);
    const ds = await openDataset(d);
    const data = await prepareImages(ds, { size: { height: 4, width: 4, channels: 1 }, cacheDir: path.join(d, 'cache') });
    const id = data.train.itemIds[0];
    assert.deepEqual(
      Array.from(rowOf(data.train, 0)),
      Array.from({ length: 16 }, (_, k) => (id + k * 3) & 255),
    );
    const big = await prepareImages(ds, { size: { height: 8, width: 8, channels: 3 }, cacheDir: path.join(d, 'cache') });
    assert.equal(big.train.pixels.length, big.train.count * 8 * 8 * 3);

    const m = tempDir();
    writePng(path.join(m, 'a.png'));
    writePng(path.join(m, 'b.png'), 8, 8, 1, 2);
    const ml = await openDataset(write(path.join(m, 'data.csv'), 'TRAIN,a.png,cat,dog\nTRAIN,b.png,dog\n'));
    const mdata = await prepareImages(ml, { size: SIZE, cacheDir: path.join(m, 'cache') });
    assert.ok(mdata.train.labels instanceof Uint8Array);
    assert.deepEqual(Array.from(mdata.train.labels), [1, 1, 0, 1]);
  });

  it('reads images out of a zip into the cache', async () => {
    const d = tempDir();
    const zip = write(
      path.join(d, 'z.zip'),
      zipBytes([
        { name: 'cats/a.png', data: pngBytes(8, 8, 1, 1) },
        { name: 'dogs/b.png', data: pngBytes(8, 8, 1, 2) },
      ]),
    );
    const ds = await openDataset(zip);
    const data = await prepareImages(ds, { size: SIZE, cacheDir: path.join(d, 'cache') });
    const all = [data.train, data.validation, data.test].reduce((s, x) => s + x.count, 0);
    assert.equal(all, 2);
  });

  it('stops when cancelled and leaves no partial cache behind', async () => {
    const d = tempDir();
    const csv = csvDataset(d, 20);
    const ds = await openDataset(csv);
    const ac = new AbortController();
    const cacheDir = path.join(d, 'cache');
    await assert.rejects(
      prepareImages(ds, { size: SIZE, cacheDir, workers: 0, signal: ac.signal, onProgress: (p) => p.done > 0 && ac.abort() }),
      (e: Error) => e.name === 'AbortError',
    );
    assert.deepEqual(
      fs.readdirSync(cacheDir).filter((f) => f.includes('.amlc')),
      [],
    );
  });

  it('rebuilds a damaged cache file', async () => {
    const d = tempDir();
    const cacheDir = path.join(d, 'cache');
    const ds = await openDataset(csvDataset(d, 3));
    await decodedCount(ds, cacheDir);
    const file = fs.readdirSync(cacheDir).find((f) => f.endsWith('.amlc'))!;
    fs.truncateSync(path.join(cacheDir, file), 100);
    assert.equal(await decodedCount(ds, cacheDir), 3);
  });

  it('serves an info-only scan from any pixel cache of the same images', async () => {
    const d = tempDir();
    const cacheDir = path.join(d, 'cache');
    const ds = await openDataset(csvDataset(d, 3));
    await prepareImages(ds, { size: SIZE, cacheDir });
    const scan = await scanImages(ds, { cacheDir });
    assert.equal(scan.cached, true);
    assert.deepEqual(
      scan.images.map((i) => [i?.width, i?.height, i?.format]),
      [
        [8, 8, 'png'],
        [8, 8, 'png'],
        [8, 8, 'png'],
      ],
    );
  });
});

describe('data/cache pruning', () => {
  after(cleanupTemp);

  it('drops the least recently used cache files beyond the size limit, and stale partial files', async () => {
    const d = tempDir();
    const cacheDir = path.join(d, 'cache');
    const a = await openDataset(csvDataset(path.join(d, 'a'), 3));
    const b = await openDataset(csvDataset(path.join(d, 'b'), 3));
    await prepareImages(a, { size: SIZE, cacheDir });
    await prepareImages(b, { size: SIZE, cacheDir });
    const files = () => fs.readdirSync(cacheDir).filter((f) => f.endsWith('.amlc'));
    assert.equal(files().length, 2);
    // Using a again makes b the least recently used.
    const old = new Date(Date.now() - 60000);
    for (const f of files()) fs.utimesSync(path.join(cacheDir, f), old, old);
    await prepareImages(a, { size: SIZE, cacheDir });
    const stale = path.join(cacheDir, 'x.amlc.tmp-1-abc');
    fs.writeFileSync(stale, 'partial');
    const dayAgo = new Date(Date.now() - 2 * 24 * 3600 * 1000);
    fs.utimesSync(stale, dayAgo, dayAgo);
    const size = fs.statSync(path.join(cacheDir, files()[0])).size;
    const r = (await import('../../../src/data/cache')).pruneImageCache(cacheDir, { maxBytes: size + 10 });
    assert.equal(r.deleted.length, 2);
    assert.equal(files().length, 1);
    assert.ok(!fs.existsSync(stale));
    // a's cache survived: no decoding.
    assert.equal(await decodedCount(a, cacheDir), 0);
    assert.equal(await decodedCount(b, cacheDir), 3);
  });
});
