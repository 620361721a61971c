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
import { createStepper } from './stepper';
import { trainSegment } from './train';

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
}

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
    if (seg.continueFrom && existsSync(join(lastDir, 'model.json'))) {
      model = await loadModel(lastDir);
    } else {
      model = buildModel(trial.config, ctx.shape, deriveSeed(ctx.seed, trial.id));
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
    const result = await trainSegment({
      trialId: trial.id,
      model,
      stepper,
      train: ctx.train,
      validation: ctx.validation,
      numClasses: ctx.shape.numClasses,
      multiLabel: ctx.shape.multiLabel,
      batchSize,
      epochs: seg.toEpochs - seg.fromEpochs,
      epochOffset: epochsBefore,
      schedule: {
        name: trial.config['train/schedule'] === 'cosine' ? 'cosine' : 'onecycle',
        lr: learningRate(trial.config),
        // A promoted trial continues with a shorter warm-up (a warm restart).
        warmup: seg.continueFrom ? 0.05 : trial.config['train/schedule'] === 'cosine' ? 0.1 : 0.3,
      },
      augment: augmentOptions(trial.config, size),
      seed: deriveSeed(ctx.seed, `${trial.id}-${seg.fromEpochs}`),
      patience: 0,
      deadline: seg.deadline,
      annealByTime: seg.annealByTime,
      isCancelled: ctx.isCancelled,
      bestSoFar: trial.bestValAccuracy ?? undefined,
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
