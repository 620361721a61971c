// Runs one segment of a trial for real: builds the model from its config (or reloads the
// trial's last state when it is promoted), checks it fits in memory, trains it with
// `trainSegment`, saves the best checkpoint and the last state, and turns errors (out of
// memory included) into a failed trial instead of a failed search.
import type * as tfl from '@tensorflow/tfjs-layers';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageSet } from '../data/image-set';
import type { EpochRecord, TrialRecord } from '../shared/protocol';
import { deriveSeed } from '../shared/random';
import type { SegmentRequest, TrialOutcome } from '../search/search';
import { learningRate } from '../search/space';
import type { ExperimentStore } from '../store/store';
import { type AugmentOptions } from './augment';
import { type ModelShape, buildModel, estimateTrainingMemory, modelFlops } from './models';
import { loadModel, saveModel } from './model-io';
import { type BackboneRange, loadBackbone, setBackboneTrainable } from './backbone';
import { createStepper } from './stepper';
import { type SegmentResult, trainSegment } from './train';

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
  backbone?: { dir: string; range: BackboneRange; size: number };
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

export async function runTrialSegment(ctx: TrialContext, trial: TrialRecord, seg: SegmentRequest): Promise<TrialOutcome> {
  const { store } = ctx;
  let model: tfl.LayersModel | undefined;
  let stepper: ReturnType<typeof createStepper> | undefined;
  const epochsBefore = seg.fromEpochs;
  if (!seg.continueFrom) store.resetHistory(trial.id);
  try {
    const lastDir = lastStateDir(store, trial.id);
    const continued = seg.continueFrom && existsSync(join(lastDir, 'model.json'));
    if (continued) {
      model = await loadModel(lastDir);
    } else {
      // A transfer trial's backbone is loaded fresh (its layers become the model's); buildModel refuses a transfer trial without one.
      const backbone =
        trial.config.family === 'transfer' && ctx.backbone ? await loadBackbone(ctx.backbone.dir, ctx.backbone.range, { size: ctx.backbone.size }) : undefined;
      model = buildModel(trial.config, ctx.shape, deriveSeed(ctx.seed, trial.id), backbone);
    }
    let batchSize = Number(trial.config['train/batch_size'] ?? 64);
    const optimizer = String(trial.config['train/optimizer'] ?? 'adamw');
    let memory = estimateTrainingMemory(model, batchSize, optimizer);
    // Memory guard: shrink the batch while it does not fit, give up below 16.
    while (memory > ctx.memoryLimit && batchSize > 16) {
      batchSize = Math.floor(batchSize / 2);
      memory = estimateTrainingMemory(model, batchSize, optimizer);
    }
    trial.params = model.countParams();
    trial.flops = modelFlops(model);
    trial.memoryEstimate = Math.round(memory);
    if (memory > ctx.memoryLimit) {
      throw new Error(
        `needs about ${(memory / 2 ** 30).toFixed(1)} GiB even at batch ${batchSize}, more than the ${(ctx.memoryLimit / 2 ** 30).toFixed(1)} GiB available`,
      );
    }
    store.writeTrial(trial);
    stepper = createStepper(model, trial.config, ctx.shape.multiLabel);
    const size = ctx.shape.inputShape[0];
    const started = Date.now();
    const baseLr = learningRate(trial.config);
    const part = (p: { epochs: number; epochOffset: number; lr: number; warmup: number; annealByTime?: boolean; deadline?: number; seedKey: string }) =>
      trainSegment({
        trialId: trial.id,
        model: model!,
        stepper: stepper!,
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
        onBatch: (p) => ctx.onBatch({ trialId: trial.id, ...p }),
        onBest: async (acc, epoch) => {
          await saveModel(model!, store.modelDir(trial.id), { ...ctx.modelMetadata, trialId: trial.id, epoch, valAccuracy: acc });
          trial.hasModel = true;
          trial.bestValAccuracy = acc;
          trial.bestEpoch = epoch;
          store.writeTrial(trial);
        },
      });
    // A promoted trial continues with a shorter warm-up (a warm restart).
    const warmup = seg.continueFrom ? 0.05 : trial.config['train/schedule'] === 'cosine' ? 0.1 : 0.3;
    const epochs = seg.toEpochs - seg.fromEpochs;
    const unfreeze = trial.config.family === 'transfer' ? Number(trial.config['transfer/unfreeze'] ?? 0) : 0;
    let result: SegmentResult;
    if (unfreeze > 0 && !continued) {
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
      result = head;
      if (head.stoppedBy === 'completed' || (byTime && head.stoppedBy === 'deadline' && Date.now() < seg.deadline)) {
        setBackboneTrainable(model, unfreeze);
        stepper.dispose();
        stepper = createStepper(model, trial.config, ctx.shape.multiLabel);
        const tune = await part({
          epochs: Math.max(0.01, epochs - head.epochsDone),
          epochOffset: epochsBefore + head.epochsDone,
          lr: baseLr * FINE_TUNE_LR_SCALE,
          warmup: 0.1,
          annealByTime: seg.annealByTime,
          seedKey: `${trial.id}-${seg.fromEpochs}-tune`,
        });
        result = { ...tune, epochsDone: head.epochsDone + tune.epochsDone, best: tune.best ?? head.best, last: tune.last ?? head.last };
      }
    } else {
      // A promoted fine-tuning trial goes on at the fine-tuning rate; a frozen backbone trains its head alone.
      const lr = unfreeze > 0 ? baseLr * FINE_TUNE_LR_SCALE : trial.config.family === 'transfer' ? baseLr * HEAD_LR_SCALE : baseLr;
      result = await part({ epochs, epochOffset: epochsBefore, lr, warmup, annealByTime: seg.annealByTime, seedKey: `${trial.id}-${seg.fromEpochs}` });
    }
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
    stepper?.dispose();
    model?.dispose();
    trial.endedAt = new Date().toISOString();
  }
}

function describeError(message: string): string {
  if (/out of memory|Cannot enlarge memory|Memory\.grow|RangeError: Array buffer allocation failed|OOM/i.test(message)) {
    return `out of memory: ${message.slice(0, 200)}`;
  }
  return message.slice(0, 500);
}
