// Runs one segment of a trial for real: builds the model from its config (or reloads the
// trial's last state when it is promoted), checks it fits in memory, trains it with
// `trainSegment`, saves the best checkpoint and the last state, and turns errors (out of
// memory included) into a failed trial instead of a failed search.
import type * as tfl from '@tensorflow/tfjs-layers';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageSet } from '../../data/image-set';
import type { EpochRecord, TrialRecord } from '../../shared/protocol';
import { deriveSeed } from '../../shared/random';
import type { SegmentRequest, TrialOutcome } from '../../search/search';
import { learningRate } from '../../search/space';
import type { ExperimentStore } from '../../store/store';
import { type AugmentOptions } from './augment';
import { type ModelShape, buildModel, estimateTrainingMemory, modelFlops } from '../model/build';
import { loadModel, saveModel } from '../model/io';
import { type BackboneRange, loadBackbone, setBackboneTrainable } from '../model/backbone';
import { createStepper } from './step-options';
import { type SegmentResult, trainSegment } from './loop';

export interface TrialContext {
  store: ExperimentStore;
  shape: ModelShape;
  train: ImageSet;
  validation: ImageSet | null;
  seed: number;
  /** Memory a trial may use, in bytes (wasm: its 4 GiB address space, less what data takes). */
  memoryLimit: number;
  isCancelled: () => boolean;
  onEpoch: (rec: EpochRecord) => void;
  onBatch: (p: { trialId: string; epoch: number; batch: number; batches: number; loss: number; imagesPerSec: number }) => void;
  /** Metadata stored with every saved model (classes, input spec). */
  modelMetadata: Record<string, unknown>;
  /** The pretrained backbone of `transfer` trials (see backbone.ts). */
  backbone?: { dir: string; range: BackboneRange; size: number; cut?: string };
  /** Which epoch's weights a trial keeps (see SegmentOptions.checkpoint); the final fit keeps its last. */
  checkpoint?: 'best' | 'last';
}

/** Share of a new transfer trial's epochs that trains the head alone before the backbone's top opens. */
export const HEAD_WARMUP_SHARE = 0.3;
/**
 * Learning rate of the head trained alone, relative to the configured one: on frozen features it is
 * a convex problem that takes a large rate, and on a small dataset it gets few steps.
 */
export const HEAD_LR_SCALE = 3;
/** Learning rate of fine-tuning the opened backbone, relative to the configured one. */
export const FINE_TUNE_LR_SCALE = 0.1;

export function augmentOptions(config: TrialRecord['config'], inputSize: number): AugmentOptions {
  // Crop padding is given for 32-pixel images and scales with the input size.
  const pad = Math.round((Number(config['aug/crop_pad'] ?? 0) * inputSize) / 32);
  const mix = String(config['aug/mix'] ?? 'none') as AugmentOptions['mix'];
  return { cropPad: pad, flip: config['aug/flip'] === true, erase: Number(config['aug/erase'] ?? 0), mix, mixAlpha: mix === 'cutmix' ? 1 : 0.2 };
}

export function lastStateDir(store: ExperimentStore, trialId: string): string {
  return join(store.trialDir(trialId), 'last');
}

/** The model and training step of a running segment (disposed when it ends). */
interface Live {
  model?: tfl.LayersModel;
  stepper?: ReturnType<typeof createStepper>;
}

/** One `trainSegment` call of a segment: its epochs, learning rate and schedule. */
type Part = (p: {
  epochs: number;
  epochOffset: number;
  lr: number;
  warmup: number;
  annealByTime?: boolean;
  deadline?: number;
  seedKey: string;
}) => Promise<SegmentResult>;

export async function runTrialSegment(ctx: TrialContext, trial: TrialRecord, seg: SegmentRequest): Promise<TrialOutcome> {
  const { store } = ctx;
  const live: Live = {};
  const epochsBefore = seg.fromEpochs;
  if (!seg.continueFrom) store.resetHistory(trial.id);
  try {
    const lastDir = lastStateDir(store, trial.id);
    const continued = seg.continueFrom && existsSync(join(lastDir, 'model.json'));
    const model = (live.model = continued ? await loadModel(lastDir) : await buildTrialModel(ctx, trial));
    const batchSize = fitBatchSize(ctx, trial, model);
    store.writeTrial(trial);
    live.stepper = createStepper(model, trial.config, ctx.shape.multiLabel);
    const started = Date.now();
    const part = segmentPart(ctx, trial, seg, live, batchSize);
    const result = await trainStages(ctx, trial, seg, live, part, !!continued);
    if (result.best) trial.bestValLoss = result.best.valLoss;
    trial.seconds = (trial.seconds ?? 0) + (Date.now() - started) / 1000;
    const epochsDone = Math.round((epochsBefore + result.epochsDone) * 1000) / 1000;
    if (seg.mayContinue && result.stoppedBy === 'completed') {
      await saveModel(model, lastStateDir(store, trial.id), ctx.modelMetadata);
    } else {
      rmSync(lastStateDir(store, trial.id), { recursive: true, force: true });
    }
    // Stopped by the deadline: done if it got at least one epoch in (with annealByTime it is fully annealed).
    const status = result.stoppedBy === 'cancelled' ? 'cancelled' : result.stoppedBy === 'deadline' && !result.last ? 'interrupted' : 'done';
    return {
      status,
      annealed: result.stoppedBy === 'completed' || (result.stoppedBy === 'deadline' && seg.annealByTime === true),
      valAccuracy: result.last?.valAccuracy ?? result.last?.accuracy ?? null,
      epochsDone,
      imagesPerSec: result.imagesPerSec,
    };
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    return { status: 'failed', valAccuracy: null, epochsDone: epochsBefore, imagesPerSec: 0, error: describeError(message) };
  } finally {
    live.stepper?.dispose();
    live.model?.dispose();
    trial.endedAt = new Date().toISOString();
  }
}

/** A new model from the trial's config. */
async function buildTrialModel(ctx: TrialContext, trial: TrialRecord): Promise<tfl.LayersModel> {
  // A transfer trial's backbone is loaded fresh (its layers become the model's); buildModel refuses a transfer trial without one.
  const backbone =
    trial.config.family === 'transfer' && ctx.backbone
      ? await loadBackbone(ctx.backbone.dir, ctx.backbone.range, { size: ctx.backbone.size, cut: ctx.backbone.cut })
      : undefined;
  return buildModel(trial.config, ctx.shape, deriveSeed(ctx.seed, trial.id), backbone);
}

/**
 * The configured batch size, halved while training would not fit in memory; records size and
 * memory on the trial. A transfer trial is measured with the top of its backbone open as it will be
 * when fine-tuning; it may go down to batch 4, and then opens less of its backbone (the fraction
 * halved, down to a frozen backbone) rather than fail: a backbone that cannot be fine-tuned whole
 * still gives a trial that fits.
 */
function fitBatchSize(ctx: TrialContext, trial: TrialRecord, model: tfl.LayersModel): number {
  let batchSize = Number(trial.config['train/batch_size'] ?? 64);
  const optimizer = String(trial.config['train/optimizer'] ?? 'adamw');
  const transfer = trial.config.family === 'transfer';
  const minBatch = transfer ? 4 : 16;
  const estimate = () => {
    if (!transfer) return estimateTrainingMemory(model, batchSize, optimizer);
    const flags = model.layers.map((l) => l.trainable);
    setBackboneTrainable(model, Number(trial.config['transfer/unfreeze'] ?? 0));
    try {
      return estimateTrainingMemory(model, batchSize, optimizer);
    } finally {
      model.layers.forEach((l, i) => (l.trainable = flags[i]));
    }
  };
  let memory = estimate();
  for (;;) {
    // Memory guard: shrink the batch while it does not fit, then open less of a backbone.
    while (memory > ctx.memoryLimit && batchSize > minBatch) {
      batchSize = Math.floor(batchSize / 2);
      memory = estimate();
    }
    const open = Number(trial.config['transfer/unfreeze'] ?? 0);
    if (memory <= ctx.memoryLimit || !transfer || open === 0) break;
    trial.config = { ...trial.config, 'transfer/unfreeze': open > 0.25 ? open / 2 : 0 };
    trial.origin = `${trial.origin}; fine-tunes ${Math.round(Number(trial.config['transfer/unfreeze']) * 100)} % of the backbone to fit in memory`;
    batchSize = Number(trial.config['train/batch_size'] ?? 64);
    memory = estimate();
  }
  trial.params = model.countParams();
  trial.flops = modelFlops(model);
  trial.memoryEstimate = Math.round(memory);
  if (memory > ctx.memoryLimit) {
    throw new Error(
      `needs about ${(memory / 2 ** 30).toFixed(1)} GiB even at batch ${batchSize}, more than the ${(ctx.memoryLimit / 2 ** 30).toFixed(1)} GiB available`,
    );
  }
  return batchSize;
}

/** Trains part of the segment with the live model and step, recording epochs and saving checkpoints. */
function segmentPart(ctx: TrialContext, trial: TrialRecord, seg: SegmentRequest, live: Live, batchSize: number): Part {
  const { store } = ctx;
  const size = ctx.shape.inputShape[0];
  return (p) =>
    trainSegment({
      trialId: trial.id,
      model: live.model!,
      stepper: live.stepper!,
      train: ctx.train,
      validation: ctx.validation,
      numClasses: ctx.shape.numClasses,
      multiLabel: ctx.shape.multiLabel,
      batchSize,
      epochs: p.epochs,
      epochOffset: p.epochOffset,
      schedule: { name: trial.config['train/schedule'] === 'cosine' ? 'cosine' : 'onecycle', lr: p.lr, warmup: p.warmup },
      augment: augmentOptions(trial.config, size),
      seed: deriveSeed(ctx.seed, p.seedKey),
      patience: 0,
      deadline: p.deadline ?? seg.deadline,
      annealByTime: p.annealByTime,
      isCancelled: ctx.isCancelled,
      bestSoFar: trial.bestValAccuracy ?? undefined,
      checkpoint: ctx.checkpoint,
      onEpoch: (rec) => {
        store.appendHistory(rec);
        ctx.onEpoch(rec);
      },
      onBatch: (q) => ctx.onBatch({ trialId: trial.id, ...q }),
      onBest: async (acc, epoch) => {
        await saveModel(live.model!, store.modelDir(trial.id), { ...ctx.modelMetadata, trialId: trial.id, epoch, valAccuracy: acc });
        trial.hasModel = true;
        trial.bestValAccuracy = acc;
        trial.bestEpoch = epoch;
        store.writeTrial(trial);
      },
    });
}

/** The segment's training: one part, or for a new fine-tuned transfer trial the head alone and then the opened backbone. */
async function trainStages(ctx: TrialContext, trial: TrialRecord, seg: SegmentRequest, live: Live, part: Part, continued: boolean): Promise<SegmentResult> {
  const epochsBefore = seg.fromEpochs;
  const baseLr = learningRate(trial.config);
  // A promoted trial continues with a shorter warm-up (a warm restart).
  const warmup = seg.continueFrom ? 0.05 : trial.config['train/schedule'] === 'cosine' ? 0.1 : 0.3;
  const epochs = seg.toEpochs - seg.fromEpochs;
  const unfreeze = trial.config.family === 'transfer' ? Number(trial.config['transfer/unfreeze'] ?? 0) : 0;
  if (!(unfreeze > 0 && !continued)) {
    // A promoted fine-tuning trial goes on at the fine-tuning rate; a frozen backbone trains its head alone.
    const lr = unfreeze > 0 ? baseLr * FINE_TUNE_LR_SCALE : trial.config.family === 'transfer' ? baseLr * HEAD_LR_SCALE : baseLr;
    return part({ epochs, epochOffset: epochsBefore, lr, warmup, annealByTime: seg.annealByTime, seedKey: `${trial.id}-${seg.fromEpochs}` });
  }
  // Transfer learning in two stages: the new head alone on the frozen backbone, then the top of
  // the backbone opened and fine-tuned with it at a lower learning rate (its flags are saved
  // with the model, so a promoted trial goes on fine-tuning).
  // A segment annealed to a deadline splits its time 30/70; a segment of N epochs, its epochs.
  const byTime = seg.annealByTime === true;
  const headEpochs = Math.max(0.01, Math.round(epochs * HEAD_WARMUP_SHARE * 1000) / 1000);
  const head = await part({
    epochs: headEpochs,
    epochOffset: epochsBefore,
    lr: baseLr * HEAD_LR_SCALE,
    warmup,
    annealByTime: byTime,
    deadline: byTime ? Date.now() + (seg.deadline - Date.now()) * HEAD_WARMUP_SHARE : undefined,
    seedKey: `${trial.id}-${seg.fromEpochs}`,
  });
  if (!(head.stoppedBy === 'completed' || (byTime && head.stoppedBy === 'deadline' && Date.now() < seg.deadline))) return head;
  setBackboneTrainable(live.model!, unfreeze);
  live.stepper!.dispose();
  live.stepper = createStepper(live.model!, trial.config, ctx.shape.multiLabel);
  const tune = await part({
    epochs: Math.max(0.01, epochs - head.epochsDone),
    epochOffset: epochsBefore + head.epochsDone,
    lr: baseLr * FINE_TUNE_LR_SCALE,
    warmup: 0.1,
    annealByTime: seg.annealByTime,
    seedKey: `${trial.id}-${seg.fromEpochs}-tune`,
  });
  return { ...tune, epochsDone: head.epochsDone + tune.epochsDone, best: tune.best ?? head.best, last: tune.last ?? head.last };
}

function describeError(message: string): string {
  if (/out of memory|Cannot enlarge memory|Memory\.grow|RangeError: Array buffer allocation failed|OOM/i.test(message)) {
    return `out of memory: ${message.slice(0, 200)}`;
  }
  return message.slice(0, 500);
}
