// The photos benchmark (`npm run bench -- --parts photos`): hymenoptera (ants and bees, the data of
// PyTorch's transfer-learning tutorial) as a user would bring it — its train/ photos as TRAIN (the
// product splits VALIDATION off them), its val/ photos as TEST — trained through the CLI from
// scratch and with each pretrained backbone that ships in the npm package nsfwjs, beside the
// frozen-feature linear probe of the same backbone (a linear head on pooled features, penalty by
// cross-validation on TRAIN, scored on TEST): the floor a transfer run must reach.
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { type ImageSet, concatSets, openDataset, prepareImageSets } from '../data';
import { loadBackbone } from '../engine/model/backbone';
import { backboneKey, embedSet, featureExtractor } from '../engine/training/features';
import { openFeatureEngine } from '../engine/training/features-onnx';
import { LINEAR_HEAD, fitLinearHead, predictLinearHead } from '../engine/training/linear-head';
import { scoreSet } from '../engine/training/loop';
import { type NsfwjsModel, extractNsfwjsModel } from '../engine/model/nsfwjs';
import { initBackend } from '../engine/runtime/runtime';
import { blockColumns, blockData, chooseCutAndPenalty, rowsOf } from '../search/head-search';

/** Where the hymenoptera photos are: `AUTOML_HYMENOPTERA`, else the workplace's shared data folder. */
export function hymenopteraDir(root: string): string | null {
  const candidates = [process.env.AUTOML_HYMENOPTERA, join(root, '..', 'shared', 'data', 'hymenoptera')].filter((p): p is string => !!p);
  return candidates.find((p) => existsSync(join(p, 'train')) && existsSync(join(p, 'val'))) ?? null;
}

/** An AutoML Vision CSV of the photos: train/ as TRAIN, val/ as TEST (absolute paths). */
export function writeHymenopteraCsv(photos: string, outDir: string): string {
  mkdirSync(outDir, { recursive: true });
  const lines: string[] = [];
  for (const [folder, partition] of [
    ['train', 'TRAIN'],
    ['val', 'TEST'],
  ] as const) {
    for (const label of readdirSync(join(photos, folder)).sort()) {
      for (const f of readdirSync(join(photos, folder, label)).sort()) lines.push(`${partition},${resolve(photos, folder, label, f)},${label}`);
    }
  }
  const csv = join(outDir, 'hymenoptera.csv');
  writeFileSync(csv, `${lines.join('\n')}\n`);
  return csv;
}

/** The nsfwjs models as backbone folders under `dir` (extracted once). */
export function nsfwjsBackbone(model: NsfwjsModel, dir: string): Promise<string> {
  return extractNsfwjsModel(model, join(dir, `nsfwjs-${model}`));
}

export interface ProbeResult {
  backbone: string;
  size: number;
  layer: string;
  l2: number;
  cvAccuracy: number;
  testAccuracy: number;
  embedImagesPerSec: number;
  /** What extracted the features: ONNX Runtime when installed, else TF.js (as in the product). */
  engine: string;
  seconds: number;
}

/**
 * The frozen-feature linear probe: features of TRAIN+VALIDATION (+ mirror) and TEST at `size`, the
 * cut point and penalty by 5-fold cross-validation on TRAIN+VALIDATION, a head fitted on all of it,
 * accuracy on TEST.
 */
export async function linearProbe(csv: string, backboneDir: string, size: number, cacheDir: string): Promise<ProbeResult> {
  const started = Date.now();
  await initBackend({ preference: 'wasm' });
  const dataset = await openDataset(csv, { seed: 1 });
  const sets = await prepareImageSets(dataset, { size: { height: size, width: size, channels: 3 }, fit: 'pad', cacheDir, maxResidentBytes: 2 ** 31 });
  const bb = await loadBackbone(backboneDir, 'auto', { size });
  const { model, blocks } = featureExtractor(bb, { fold: false });
  const key = `${backboneKey(backboneDir)}/${size}/${bb.info.range}/${blocks.map((b) => b.layer).join('+')}`;
  const extractor = openFeatureEngine(model, { extractorKey: key, cacheDir, backend: 'wasm', where: backboneDir });
  const t0 = Date.now();
  let embedded = 0;
  const embed = async (set: ImageSet, mirror: boolean) => {
    const f = await embedSet(extractor, set, { extractorKey: key, cacheDir, mirror });
    if (!f.cached) embedded += set.count * (mirror ? 2 : 1);
    return f;
  };
  const trainVal = concatSets(sets.train, sets.validation);
  const train = await embed(trainVal, true);
  const test = await embed(sets.test, false);
  const embedSeconds = (Date.now() - t0) / 1000;
  const engine = extractor.name;
  await extractor.dispose();
  const features = { plain: train.plain, mirror: train.mirror, labels: trainVal.labels, n: train.count, width: train.dim, k: sets.classes.length, blocks };
  const choice = chooseCutAndPenalty(features, { seed: 1, fitter: LINEAR_HEAD });
  const data = blockData(features, choice.layer);
  const all = rowsOf(
    data,
    Int32Array.from({ length: data.n }, (_, i) => i),
    true,
  );
  const head = fitLinearHead(all.x, all.y, all.n, data.d, data.k, { l2: choice.l2 });
  const block = blocks.find((b) => b.layer === choice.layer)!;
  const scores = predictLinearHead(head, blockColumns(test.plain, test.count, test.dim, block), test.count);
  const testAccuracy = scoreSet(scores, sets.test, data.k, false).accuracy;
  sets.close();
  tf.disposeVariables();
  return {
    backbone: backboneDir,
    size,
    layer: choice.layer,
    l2: choice.l2,
    cvAccuracy: choice.cvAccuracy,
    testAccuracy,
    embedImagesPerSec: embedded ? embedded / embedSeconds : NaN,
    engine,
    seconds: (Date.now() - started) / 1000,
  };
}

interface TrainResult {
  testAccuracy: number | null;
  peakRssMB: number | null;
  trainImagesPerSec: number | null;
  trials: number;
  elapsedSeconds: number;
  status: string;
}

/**
 * The photos benchmark: the CLI's `train` from scratch and with each nsfwjs backbone (`minutes`
 * each), and each backbone's linear probe; returns the table (TEST accuracy, images/s, peak RSS).
 */
export async function benchPhotos(o: {
  root: string;
  data: string;
  minutes: number;
  train: (csv: string, minutes: number, extra: string[], env: NodeJS.ProcessEnv) => Promise<TrainResult>;
  table: (headers: string[], rows: (string | number)[][]) => string;
}): Promise<string> {
  const photos = hymenopteraDir(o.root);
  if (!photos) throw new Error('The photos benchmark needs the hymenoptera photos (set AUTOML_HYMENOPTERA to the folder with train/ and val/)');
  const dir = join(o.data, 'photos');
  const csv = writeHymenopteraCsv(photos, dir);
  const pct = (x: number | null) => (x === null ? 'n/a' : `${(x * 100).toFixed(2)} %`);
  const rows: (string | number)[][] = [];
  // Every run starts from an empty image cache, as a user's first run does: decoding and the
  // backbone's features are inside its budget.
  const train = async (extra: string[]) => {
    const cache = join(dir, `cache-run-${process.pid}`);
    rmSync(cache, { recursive: true, force: true });
    try {
      return await o.train(csv, o.minutes, extra, { AUTOML_CACHE_DIR: cache });
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  };
  const scratch = await train([]);
  rows.push([
    'from scratch',
    `train, ${o.minutes} min`,
    pct(scratch.testAccuracy),
    scratch.trials,
    scratch.trainImagesPerSec ?? '?',
    `${scratch.peakRssMB ?? '?'} MB`,
  ]);
  for (const [model, size] of [
    ['mobilenet_v2', 224],
    ['inception_v3', 299],
  ] as const) {
    const backbone = await nsfwjsBackbone(model, join(dir, 'backbones'));
    const r = await train(['--backbone', backbone]);
    rows.push([`nsfwjs ${model}`, `train, ${o.minutes} min`, pct(r.testAccuracy), r.trials, r.trainImagesPerSec ?? '?', `${r.peakRssMB ?? '?'} MB`]);
    rmSync(join(dir, 'probe-cache'), { recursive: true, force: true });
    const p = await linearProbe(csv, backbone, size, join(dir, 'probe-cache'));
    rows.push([
      `nsfwjs ${model}`,
      `linear probe at ${p.layer} (L2 ${p.l2}, CV ${pct(p.cvAccuracy)})`,
      pct(p.testAccuracy),
      '–',
      `embed ${p.embedImagesPerSec.toFixed(1)} (${p.engine})`,
      '–',
    ]);
  }
  return o.table(['model', 'how', 'TEST accuracy', 'trials', 'images/s', 'peak RSS'], rows);
}
