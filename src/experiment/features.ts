// Phase 2 with a pretrained backbone, features: the backbone's frozen part runs once per TRAIN and
// VALIDATION image and its mirror image (vectors cached per backbone and pixels, engine/training/features.ts),
// then a linear head is searched on the vectors in seconds: the cut point (a few stages of the
// backbone) and the penalty by 5-fold cross-validation over TRAIN+VALIDATION (search/head-search.ts).
// The head fitted on TRAIN is the trial `head`, judged on VALIDATION like every other trial; the
// same head refitted on TRAIN+VALIDATION is kept beside it for the final fit. Its model is the
// backbone cut at the chosen layer, global pooling and one dense layer: it trains nothing further,
// saves, serves and exports like any other model. Fine-tuning and from-scratch trials follow in the
// search with the time left, and must beat this head on VALIDATION to replace it.
// Reads: the data, the backbone. Writes: the trial `head` (record, model) and `head-final/` (model).
import { rmSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { ImageSet } from '../data';
import { loadBackbone } from '../engine/model/backbone';
import { backboneKey, embedSet, featureExtractor } from '../engine/training/features';
import { openFeatureEngine } from '../engine/training/features-onnx';
import { LINEAR_HEAD, type LinearHead, fitLinearHead, predictLinearHead } from '../engine/training/linear-head';
import { saveModel } from '../engine/model/io';
import { newTrialRecord } from '../search/search';
import { type BlockedFeatures, blockColumns, blockData, chooseCutAndPenalty, rowsOf } from '../search/head-search';
import { scoreSet } from '../engine/training/loop';
import type { TrialRecord } from '../shared/protocol';
import type { ExperimentContext } from './context';
import type { Prepared } from './prepare';

/** The id of the trial that holds the linear head on cached features. */
export const HEAD_TRIAL = 'head';
/** The folder (in the experiment) of the same head refitted on TRAIN+VALIDATION. */
export const HEAD_FINAL = 'head-final';

export type FeaturesContext = ExperimentContext & Prepared;

/** Runs the phase when there is a backbone and it applies; logs why not otherwise. */
export async function features(ctx: FeaturesContext): Promise<void> {
  const { data, backbone, log } = ctx;
  if (!backbone || ctx.spec.strategy === 'fixed' || ctx.isCancelled()) return;
  if (data.multiLabel) {
    log('Linear head on cached features: not for multi-label data (the transfer trials train their heads instead)');
    return;
  }
  const started = Date.now();
  const bb = await loadBackbone(backbone.dir, backbone.range, { size: backbone.size, cut: backbone.cut });
  const { model, blocks } = featureExtractor(bb, { fold: false });
  const key = `${backboneKey(backbone.dir)}/${backbone.size}/${backbone.range}/${blocks.map((b) => b.layer).join('+')}`;
  // ONNX Runtime when installed (features-onnx.ts), else TF.js on the folded model.
  const extractor = openFeatureEngine(model, {
    extractorKey: key,
    cacheDir: ctx.spec.cacheDir,
    backend: ctx.backend.name,
    where: backbone.dir,
    onMessage: log,
  });
  let trainFeatures;
  let valFeatures;
  try {
    const total = data.train.count + data.validation.count;
    let embedded = 0;
    let seconds = 0;
    const embed = (set: ImageSet, before: number) => {
      const t0 = Date.now();
      return embedSet(extractor, set, {
        extractorKey: key,
        cacheDir: ctx.spec.cacheDir,
        mirror: true,
        isCancelled: ctx.isCancelled,
        onProgress: (done) => ctx.run.emit({ type: 'dataProgress', phase: 'features', done: before + done, total }),
      }).then((f) => {
        if (!f.cached) {
          embedded += 2 * set.count;
          seconds += (Date.now() - t0) / 1000;
        }
        return f;
      });
    };
    trainFeatures = await embed(data.train, 0);
    valFeatures = data.validation.count ? await embed(data.validation, data.train.count) : null;
    log(
      `Features: ${total} images and their mirror images through the backbone's frozen layers, pooled at ${blocks.map((b) => `${b.layer} (${b.dim})`).join(', ')}` +
        (embedded
          ? `: ${embedded} passes in ${seconds.toFixed(1)} s by ${extractor.name}, ${(embedded / seconds).toFixed(1)} images/s`
          : ': read from the cache'),
    );
  } finally {
    await extractor.dispose();
  }
  const all = valFeatures ? joinFeatures(trainFeatures, valFeatures) : trainFeatures;
  const labels = Int32Array.from({ length: all.count }, (_, i) => (i < data.train.count ? data.train.labels[i] : data.validation.labels[i - data.train.count]));
  const blocked: BlockedFeatures = { plain: all.plain, mirror: all.mirror, labels, n: all.count, width: all.dim, k: data.classes.length, blocks };
  const choice = chooseCutAndPenalty(blocked, { seed: ctx.spec.seed, fitter: LINEAR_HEAD, deadline: ctx.deadline });
  log(
    `Linear head, ${choice.folds}-fold cross-validation on TRAIN+VALIDATION: ` +
      choice.perBlock.map((b) => `${b.layer} ${pct(b.cvAccuracy)} (log loss ${b.cvLoss.toFixed(3)}, L2 ${b.l2})`).join('; ') +
      `; chosen: ${choice.layer}, L2 ${choice.l2}`,
  );
  const block = blocks.find((b) => b.layer === choice.layer)!;
  const train = rowsOf(blockData({ ...blocked, n: data.train.count }, choice.layer), range(data.train.count), true);
  const head = fitLinearHead(train.x, train.y, train.n, block.dim, data.classes.length, { l2: choice.l2 });
  const trial = headTrial(ctx, { layer: choice.layer, l2: choice.l2, cv: choice.cvAccuracy, dim: block.dim, seconds: (Date.now() - started) / 1000 });
  if (valFeatures) {
    const scores = predictLinearHead(head, blockColumns(valFeatures.plain, valFeatures.count, valFeatures.dim, block), valFeatures.count);
    const s = scoreSet(scores, data.validation, data.classes.length, false);
    Object.assign(trial, { bestValAccuracy: s.accuracy, bestValLoss: s.loss, rungScores: [s.accuracy] });
  }
  await saveHeadModel(ctx, choice.layer, head, ctx.store.modelDir(HEAD_TRIAL), { trialId: HEAD_TRIAL, valAccuracy: trial.bestValAccuracy });
  trial.hasModel = true;
  trial.endedAt = new Date().toISOString();
  ctx.store.writeTrial(trial);
  ctx.emit({ type: 'trialEnded', trial: { ...trial } });
  log(
    `Trial head: ${trial.bestValAccuracy === null ? 'no VALIDATION images' : `${pct(trial.bestValAccuracy)} on VALIDATION`} (cross-validated ${pct(choice.cvAccuracy)})`,
  );
  // The same head on every labelled image, for the final fit.
  const everything = rowsOf(blockData(blocked, choice.layer), range(all.count), true);
  const final = fitLinearHead(everything.x, everything.y, everything.n, block.dim, data.classes.length, { l2: choice.l2 });
  await saveHeadModel(ctx, choice.layer, final, ctx.store.file(HEAD_FINAL), { trialId: 'final', trainedOn: 'TRAIN+VALIDATION' });
}

function headTrial(ctx: FeaturesContext, o: { layer: string; l2: number; cv: number; dim: number; seconds: number }): TrialRecord {
  const t = newTrialRecord({
    id: HEAD_TRIAL,
    index: -1,
    config: { family: 'transfer', 'transfer/head': 'linear', 'transfer/cut': o.layer, 'transfer/l2': o.l2, 'transfer/unfreeze': 0 },
    origin: `linear head on cached features (cross-validated ${pct(o.cv)})`,
    epochs: 0,
    startedAt: new Date(Date.now() - o.seconds * 1000).toISOString(),
    params: o.dim * ctx.data.classes.length + ctx.data.classes.length,
    seconds: o.seconds,
  });
  ctx.emit({ type: 'trialStarted', trial: { ...t } });
  return { ...t, status: 'done' };
}

/** Saves the backbone cut at `layer` with global pooling and the head as a dense layer (scores by softmax). */
async function saveHeadModel(ctx: FeaturesContext, layer: string, head: LinearHead, dir: string, extra: Record<string, unknown>): Promise<void> {
  const backbone = ctx.backbone!;
  const bb = await loadBackbone(backbone.dir, backbone.range, { size: backbone.size, cut: layer });
  let model: tfl.LayersModel | undefined;
  try {
    let x = bb.features.shape.length === 4 ? (tfl.layers.globalAveragePooling2d({ name: 'head_pool' }).apply(bb.features) as tfl.SymbolicTensor) : bb.features;
    const dense = tfl.layers.dense({ units: head.classes, name: 'logits' });
    x = dense.apply(x) as tfl.SymbolicTensor;
    const scores = tfl.layers.activation({ activation: 'softmax', name: 'scores' }).apply(x) as tfl.SymbolicTensor;
    model = tfl.model({ inputs: bb.input, outputs: scores, name: 'transfer_head' });
    tf.tidy(() => dense.setWeights([tf.tensor2d(head.kernel, [head.dim, head.classes]), tf.tensor1d(head.bias)]));
    rmSync(dir, { recursive: true, force: true });
    await saveModel(model, dir, { ...ctx.modelMetadata, ...extra, backbone: { cut: layer } });
  } finally {
    if (model) model.dispose();
    else bb.dispose();
  }
}

function joinFeatures(a: { plain: Float32Array; mirror: Float32Array | null; count: number; dim: number }, b: typeof a): typeof a {
  const cat = (x: Float32Array, y: Float32Array) => {
    const out = new Float32Array(x.length + y.length);
    out.set(x);
    out.set(y, x.length);
    return out;
  };
  return { plain: cat(a.plain, b.plain), mirror: a.mirror && b.mirror ? cat(a.mirror, b.mirror) : null, count: a.count + b.count, dim: a.dim };
}

const range = (n: number) => Int32Array.from({ length: n }, (_, i) => i);
const pct = (x: number) => `${(x * 100).toFixed(2)} %`;
