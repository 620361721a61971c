// The out-of-distribution benchmark (`npm run bench -- --parts ood`): how often the predict warning
// (src/eval/ood.ts) fires on images like the training data and on foreign ones. A Fashion-MNIST
// model (5,000 TRAIN, 1,000 VALIDATION, the first 1,000 official TEST images, trained by the CLI
// like a user would) predicts its VALIDATION (the calibration set: 5 % by construction, unless the
// final model trained on it), its TEST (in distribution), the same TEST images inverted (dark
// clothes on white, as photographed), the hymenoptera val/ photos (colour and large: the mismatch
// checks fire) and the same photos made 28×28 grayscale (only the score can tell). With the
// photos, the reverse too: a hymenoptera model given Fashion-MNIST TEST images. The hymenoptera rows
// are skipped when the photos are missing (AUTOML_HYMENOPTERA, see ./photos.ts).
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { decodeImage } from '../data/decode';
import { encodePng } from '../data/png';
import { PredictorClient } from '../predict/client';
import type { ExperimentRecord, ImagePrediction } from '../shared/protocol';
import { writeFashionMnistCsv } from './fashion-mnist';
import { hymenopteraDir, writeHymenopteraCsv } from './photos';

export interface OodBenchOptions {
  root: string;
  data: string;
  minutes: number;
  train: (
    csv: string,
    minutes: number,
    extra?: string[],
  ) => Promise<{ experiment: string; testAccuracy: number | null; finalModel: ExperimentRecord['finalModel'] | null }>;
  table: (headers: string[], rows: (string | number)[][]) => string;
}

interface Row {
  model: string;
  set: string;
  kind: 'calibration' | 'in distribution' | 'foreign';
  images: number;
  flagged: number;
  byMismatch: number;
  byScore: number;
  medianScore: number;
}

/** The CSV's paths of one partition, absolute. */
function partitionPaths(csv: string, partition: string): string[] {
  return readFileSync(csv, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith(`${partition},`))
    .map((l) => resolve(dirname(csv), l.split(',')[1]));
}

/** Every image under the hymenoptera val/ folder. */
function photoPaths(photos: string): string[] {
  return ['ants', 'bees'].flatMap((label) => readdirSync(join(photos, 'val', label)).map((f) => join(photos, 'val', label, f)));
}

/** Copies of the images as 28×28 grayscale PNGs (squashed), written once under `dir`. */
async function grayscale28(paths: string[], dir: string, invert = false): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const out: string[] = [];
  for (const [i, p] of paths.entries()) {
    const file = join(dir, `${i}.png`);
    if (!existsSync(file)) {
      const d = await decodeImage(readFileSync(p), { height: 28, width: 28, channels: 1, fit: 'crop', background: 'white' });
      if (!d.pixels) continue;
      writeFileSync(file, encodePng(28, 28, 1, invert ? d.pixels.map((v) => 255 - v) : d.pixels));
    }
    out.push(file);
  }
  return out;
}

async function measure(client: PredictorClient, model: string, label: string, set: string, kind: Row['kind'], paths: string[]): Promise<Row> {
  const results: ImagePrediction[] = [];
  for (let i = 0; i < paths.length; i += 64) results.push(...(await client.predictFiles(model, paths.slice(i, i + 64), 1)));
  const used = results.filter((r) => !r.error && r.ood);
  const scores = used.flatMap((r) => (r.ood?.score ? [r.ood.score.value] : [])).sort((a, b) => a - b);
  const byScore = used.filter((r) => r.ood?.score?.flagged).length;
  const byMismatch = used.filter((r) => (r.ood?.warnings.length ?? 0) > (r.ood?.score?.flagged ? 1 : 0)).length;
  return {
    model: label,
    set,
    kind,
    images: used.length,
    flagged: used.filter((r) => r.ood?.flagged).length,
    byMismatch,
    byScore,
    medianScore: scores.length ? scores[Math.floor(scores.length / 2)] : NaN,
  };
}

const share = (n: number, of: number) => (of ? `${((100 * n) / of).toFixed(1)} %` : '–');

export async function benchOod(o: OodBenchOptions): Promise<string> {
  const client = new PredictorClient();
  const rows: Row[] = [];
  const notes: string[] = [];
  try {
    const fashionDir = join(o.data, 'ood-fashion-mnist');
    const csv = existsSync(join(fashionDir, 'dataset.csv'))
      ? join(fashionDir, 'dataset.csv')
      : writeFashionMnistCsv(fashionDir, { train: 500, validation: 100, test: 100 }).csv;
    const fashion = await o.train(csv, o.minutes);
    const fm = join(fashion.experiment, 'final', 'model');
    const record = JSON.parse(readFileSync(join(fashion.experiment, 'experiment.json'), 'utf8')) as ExperimentRecord;
    notes.push(
      `Fashion-MNIST model: ${fashion.finalModel?.kind ?? '?'}${fashion.finalModel?.tta ? ' + mirror TTA' : ''}, TEST accuracy ` +
        `${fashion.testAccuracy === null ? '?' : `${(fashion.testAccuracy * 100).toFixed(1)} %`}, OOD score ${record.ood?.kind ?? 'none'}, ` +
        `threshold ${record.ood?.threshold.toFixed(3) ?? '–'} at the ${Math.round((record.ood?.quantile ?? 0) * 100)} % quantile of ${record.ood?.count ?? 0} VALIDATION images`,
    );
    const test = partitionPaths(csv, 'TEST');
    rows.push(await measure(client, fm, 'Fashion-MNIST', 'its VALIDATION (calibration)', 'calibration', partitionPaths(csv, 'VALIDATION')));
    rows.push(await measure(client, fm, 'Fashion-MNIST', 'its TEST', 'in distribution', test));
    rows.push(
      await measure(
        client,
        fm,
        'Fashion-MNIST',
        'its TEST inverted (dark on white)',
        'foreign',
        await grayscale28(test, join(o.data, 'ood-fashion-inverted'), true),
      ),
    );
    const photos = hymenopteraDir(o.root);
    if (!photos) notes.push('hymenoptera rows skipped: no photos (set AUTOML_HYMENOPTERA to the folder with train/ and val/)');
    else {
      const val = photoPaths(photos);
      rows.push(await measure(client, fm, 'Fashion-MNIST', 'hymenoptera val/ photos (colour, ~500×375)', 'foreign', val));
      rows.push(
        await measure(
          client,
          fm,
          'Fashion-MNIST',
          'hymenoptera val/ as 28×28 grayscale',
          'foreign',
          await grayscale28(val, join(o.data, 'ood-hymenoptera-28')),
        ),
      );
      const bees = await o.train(writeHymenopteraCsv(photos, join(o.data, 'ood-hymenoptera')), o.minutes, ['--backbone', 'none']);
      const hm = join(bees.experiment, 'final', 'model');
      const beesRecord = JSON.parse(readFileSync(join(bees.experiment, 'experiment.json'), 'utf8')) as ExperimentRecord;
      notes.push(
        `hymenoptera model (from scratch): ${bees.finalModel?.kind ?? '?'}, TEST accuracy ${bees.testAccuracy === null ? '?' : `${(bees.testAccuracy * 100).toFixed(1)} %`}, ` +
          `OOD score ${beesRecord.ood?.kind ?? 'none'} on ${beesRecord.ood?.count ?? 0} VALIDATION images`,
      );
      rows.push(await measure(client, hm, 'hymenoptera', 'its TEST (val/ photos)', 'in distribution', val));
      rows.push(await measure(client, hm, 'hymenoptera', 'Fashion-MNIST TEST (28×28 gray)', 'foreign', test));
    }
  } finally {
    client.dispose();
  }
  const text = o.table(
    ['model', 'images predicted', 'kind', 'n', 'flagged', 'by size/colour/edges', 'by score', 'median score'],
    rows.map((r) => [
      r.model,
      r.set,
      r.kind,
      r.images,
      share(r.flagged, r.images),
      share(r.byMismatch, r.images),
      share(r.byScore, r.images),
      r.medianScore.toFixed(2),
    ]),
  );
  return `${text}\n\n${notes.map((n) => `- ${n}`).join('\n')}`;
}
