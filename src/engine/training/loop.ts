// The training loop of one trial segment: epochs of shuffled, augmented batches through a
// training step, per-epoch validation, the learning-rate schedule, best-checkpoint saving,
// early stopping, cancellation within one batch and a deadline. Backend-agnostic.
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { type ImageSet, readRange, readRows } from '../../data/image-set';
import type { EpochRecord } from '../../shared/protocol';
import { rng, shuffle } from '../../shared/random';
import { type AugmentOptions, makeBatch } from './augment';
import { type ScheduleOptions, learningRateAt } from './schedule';

/** What the loop needs of a training step (see step.ts's TrainStep). */
export interface Stepper {
  setLearningRate(lr: number): void;
  run(x: tf.Tensor4D, y: tf.Tensor2D): { loss: tf.Scalar };
  /** Mean loss and accuracy since the last call (one read of device memory). */
  takeMetrics(): Promise<{ loss: number; accuracy: number }>;
}

export interface SegmentOptions {
  trialId: string;
  model: tfl.LayersModel;
  stepper: Stepper;
  train: ImageSet;
  validation: ImageSet | null;
  numClasses: number;
  multiLabel: boolean;
  batchSize: number;
  /** Epochs to train in this segment; fractional epochs train on part of a shuffled pass. */
  epochs: number;
  /** Epochs the trial had already done before this segment (for numbering and records). */
  epochOffset: number;
  schedule: ScheduleOptions;
  augment: AugmentOptions;
  seed: number;
  /** Stop after this many epochs without a better validation accuracy (0 = never). */
  patience: number;
  /** Wall-clock time (ms since epoch) at which training stops, keeping what it has. */
  deadline: number;
  /**
   * Anneal by time as well as by steps: the schedule's progress is the larger of steps done and
   * time used before the deadline, so the learning rate reaches its end exactly when time is up
   * (a budget-bounded final fit is never cut off half-annealed).
   */
  annealByTime?: boolean;
  isCancelled: () => boolean;
  onEpoch: (rec: EpochRecord) => void | Promise<void>;
  onBatch?: (p: { epoch: number; batch: number; batches: number; loss: number; imagesPerSec: number }) => void;
  /**
   * Called with the new best validation accuracy; saves a checkpoint. With checkpoint 'last' it is
   * called after every epoch, with null until the validation images are scored.
   */
  onBest?: (valAccuracy: number | null, epoch: number) => Promise<void>;
  /** Best validation accuracy reached before this segment (a promoted trial keeps its record). */
  bestSoFar?: number;
  /**
   * 'last': every epoch's end is the checkpoint (a model trained on its validation images, whose
   * scores there say nothing, keeps its final, annealed weights). Its validation images are scored
   * once, after the last epoch, as a sanity check: not after every epoch, where that pass would take
   * time from training. Default 'best'.
   */
  checkpoint?: 'best' | 'last';
}

export interface SegmentResult {
  epochsDone: number;
  /** `deadline` with `annealByTime` still means a fully annealed model. */
  stoppedBy: 'completed' | 'deadline' | 'cancelled' | 'early-stopping';
  best: { valAccuracy: number; valLoss: number; epoch: number } | null;
  last: EpochRecord | null;
  imagesPerSec: number;
}

/**
 * Scores (probabilities) of a set, n × k, computed in batches in inference mode. Read back
 * asynchronously: GPU backends (WebGPU in Node) have no synchronous read.
 */
export async function predictScores(model: tfl.LayersModel, set: ImageSet, batchSize = 256): Promise<Float32Array> {
  const { height: H, width: W, channels: C, count } = set;
  const size = H * W * C;
  let k = 0;
  const parts: Float32Array[] = [];
  const buf = new Uint8Array(Math.min(batchSize, count) * size);
  for (let start = 0; start < count; start += batchSize) {
    const n = Math.min(batchSize, count - start);
    const rows = readRange(set, start, n, buf.subarray(0, n * size));
    const x = new Float32Array(n * size);
    for (let i = 0; i < n * size; i++) x[i] = rows[i];
    const scores = tf.tidy(() => model.predict(tf.tensor4d(x, [n, H, W, C])) as tf.Tensor2D);
    const data = (await scores.data()) as Float32Array;
    k = scores.shape[1];
    scores.dispose();
    parts.push(new Float32Array(data));
  }
  const out = new Float32Array(count * k);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Validation loss and accuracy from scores (top-1 for single-label, per-label at 0.5 for multi-label). */
export function scoreSet(
  scores: Float32Array,
  set: Pick<ImageSet, 'count' | 'labels'>,
  numClasses: number,
  multiLabel: boolean,
): { loss: number; accuracy: number } {
  const n = set.count;
  if (n === 0) return { loss: 0, accuracy: 0 };
  let loss = 0;
  let hit = 0;
  const eps = 1e-7;
  for (let i = 0; i < n; i++) {
    if (multiLabel) {
      for (let c = 0; c < numClasses; c++) {
        const p = Math.min(1 - eps, Math.max(eps, scores[i * numClasses + c]));
        const t = set.labels[i * numClasses + c] ? 1 : 0;
        loss -= (t * Math.log(p) + (1 - t) * Math.log(1 - p)) / numClasses;
        if ((p >= 0.5 ? 1 : 0) === t) hit += 1 / numClasses;
      }
    } else {
      const y = set.labels[i];
      let best = 0;
      for (let c = 1; c < numClasses; c++) if (scores[i * numClasses + c] > scores[i * numClasses + best]) best = c;
      if (best === y) hit++;
      loss -= Math.log(Math.max(eps, scores[i * numClasses + y]));
    }
  }
  return { loss: loss / n, accuracy: hit / n };
}

const yieldToEvents = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The loop's state across epochs of a segment. */
interface Loop {
  readonly shape: { height: number; width: number; channels: number };
  readonly random: ReturnType<typeof rng>;
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  readonly started: number;
  /** Dropout layers, whose seed moves with the step. */
  readonly dropouts: { seed?: number }[];
  step: number;
  epochsDone: number;
  stoppedBy: SegmentResult['stoppedBy'];
  imagesTotal: number;
  trainTime: number;
  /** The rate of the last step taken (annealed by time it runs ahead of the steps). */
  lastLr: number;
  best: SegmentResult['best'];
  bestAcc: number;
  sinceBest: number;
  last: EpochRecord | null;
}

/** What one epoch's batches did. */
interface EpochRun {
  /** Images trained on. */
  seen: number;
  /** Steps taken. */
  ran: number;
  epochStart: number;
}

/** Trains one segment of a trial. */
export async function trainSegment(o: SegmentOptions): Promise<SegmentResult> {
  const { train } = o;
  const stepsPerEpoch = Math.max(1, Math.floor(train.count / o.batchSize));
  const s: Loop = {
    shape: { height: train.height, width: train.width, channels: train.channels },
    random: rng(o.seed),
    stepsPerEpoch,
    totalSteps: Math.max(1, Math.round(o.epochs * stepsPerEpoch)),
    started: Date.now(),
    // Dropout with a fixed seed draws the same mask at every call; a seed that moves with the step
    // keeps masks random across steps and runs reproducible for a seed.
    dropouts: o.model.layers.filter((l) => l.getClassName() === 'Dropout') as unknown as { seed?: number }[],
    step: 0,
    epochsDone: 0,
    stoppedBy: 'completed',
    imagesTotal: 0,
    trainTime: 0,
    lastLr: learningRateAt(0, o.schedule),
    best: null,
    bestAcc: o.bestSoFar ?? -Infinity,
    sinceBest: 0,
    last: null,
  };

  while (s.step < s.totalSteps) {
    const run = await runEpochBatches(o, s);
    if (!run) break;
    if (await endEpoch(o, s, run)) break;
  }
  await scoreUnscoredLast(o, s);
  return {
    epochsDone: round3(s.epochsDone),
    stoppedBy: s.stoppedBy,
    best: s.best,
    last: s.last,
    imagesPerSec: s.imagesTotal / Math.max(1e-3, s.trainTime / 1000),
  };
}

/**
 * One shuffled pass (or the part of one left) of training steps. Null when the segment stops
 * without ending the epoch (cancelled, or the deadline unless annealing by time cut a partial epoch).
 */
async function runEpochBatches(o: SegmentOptions, s: Loop): Promise<EpochRun | null> {
  const { train } = o;
  const { shape } = s;
  const rowBytes = shape.height * shape.width * shape.channels;
  const progressEvery = 10;
  const order = shuffle(
    Array.from({ length: train.count }, (_, i) => i),
    s.random,
  );
  const stepsThisEpoch = Math.min(s.stepsPerEpoch, s.totalSteps - s.step);
  let seen = 0;
  let ran = 0;
  const epochStart = Date.now();
  let batchBuf: ReturnType<typeof makeBatch> | undefined;
  // The batch's rows and labels, gathered first (from memory or the cache file), then augmented.
  const rowBuf = new Uint8Array(o.batchSize * rowBytes);
  const labelBuf = o.multiLabel ? new Uint8Array(o.batchSize * o.numClasses) : new Int32Array(o.batchSize);
  const inBatch = Int32Array.from({ length: o.batchSize }, (_, i) => i);
  for (let b = 0; b < stepsThisEpoch; b++) {
    if (o.isCancelled()) {
      s.stoppedBy = 'cancelled';
      return null;
    }
    if (Date.now() >= o.deadline) {
      s.stoppedBy = 'deadline';
      // Annealed by time, the steps of this partial epoch are the schedule's last ones (its lowest
      // rates): the epoch ends here, is evaluated and may become the checkpoint.
      if (o.annealByTime && seen > 0) break;
      return null;
    }
    for (let d = 0; d < s.dropouts.length; d++) s.dropouts[d].seed = (o.seed * 7919 + s.step * 31 + d) >>> 0;
    const progress = o.annealByTime ? Math.max(s.step / s.totalSteps, (Date.now() - s.started) / Math.max(1, o.deadline - s.started)) : s.step / s.totalSteps;
    s.lastLr = learningRateAt(progress, o.schedule);
    o.stepper.setLearningRate(s.lastLr);
    const idx = order.slice(b * o.batchSize, (b + 1) * o.batchSize);
    const rows = readRows(train, idx, rowBuf);
    const labels = gatherLabels(train.labels, idx, o.multiLabel ? o.numClasses : 1, labelBuf);
    batchBuf = makeBatch(rows, labels, inBatch.subarray(0, idx.length), shape, o.numClasses, o.multiLabel, o.augment, s.random, batchBuf);
    const t0 = Date.now();
    const x = tf.tensor4d(batchBuf.x, [idx.length, shape.height, shape.width, shape.channels]);
    const y = tf.tensor2d(batchBuf.y, [idx.length, o.numClasses]);
    const r = o.stepper.run(x, y);
    x.dispose();
    y.dispose();
    s.trainTime += Date.now() - t0;
    s.imagesTotal += idx.length;
    seen += idx.length;
    ran++;
    s.step++;
    if (o.onBatch && (b % progressEvery === progressEvery - 1 || b === stepsThisEpoch - 1)) {
      const loss = (await r.loss.data())[0];
      o.onBatch({
        epoch: o.epochOffset + s.epochsDone + 1,
        batch: b + 1,
        batches: stepsThisEpoch,
        loss,
        imagesPerSec: s.imagesTotal / Math.max(1e-3, s.trainTime / 1000),
      });
    }
    await yieldToEvents();
  }
  return { seen, ran, epochStart };
}

/** The epoch's record, validation and checkpoint; true when the segment stops here (deadline or early stopping). */
async function endEpoch(o: SegmentOptions, s: Loop, run: EpochRun): Promise<boolean> {
  // A partial last epoch (or one cut by the deadline) counts as its fraction.
  const cut = s.stoppedBy === 'deadline';
  const fraction = run.ran / s.stepsPerEpoch;
  s.epochsDone += fraction;
  const imagesPerSec = run.seen / Math.max(1e-3, (Date.now() - run.epochStart) / 1000);
  let valLoss: number | null = null;
  let valAccuracy: number | null = null;
  const lastEpoch = cut || s.step >= s.totalSteps || Date.now() >= o.deadline;
  if (o.checkpoint !== 'last' || lastEpoch) ({ valLoss, valAccuracy } = await validate(o));
  const metrics = await o.stepper.takeMetrics();
  const last: EpochRecord = {
    trialId: o.trialId,
    epoch: round3(o.epochOffset + s.epochsDone),
    loss: metrics.loss,
    accuracy: metrics.accuracy,
    valLoss,
    valAccuracy,
    lr: s.lastLr,
    imagesPerSec,
    elapsed: (Date.now() - s.started) / 1000,
  };
  s.last = last;
  await o.onEpoch(last);
  const score = valAccuracy ?? last.accuracy;
  if (o.checkpoint === 'last') {
    s.best = { valAccuracy: score, valLoss: valLoss ?? last.loss, epoch: last.epoch };
    await o.onBest?.(valAccuracy, last.epoch);
  } else if (score > s.bestAcc) {
    s.bestAcc = score;
    s.best = { valAccuracy: score, valLoss: valLoss ?? last.loss, epoch: last.epoch };
    s.sinceBest = 0;
    await o.onBest?.(score, last.epoch);
  } else if (!cut && ++s.sinceBest >= o.patience && o.patience > 0) {
    s.stoppedBy = 'early-stopping';
    return true;
  }
  return cut;
}

/**
 * The deadline can pass between an epoch's end and the next one's first step: the last epoch of a
 * 'last' checkpoint then went unscored, and is scored here.
 */
async function scoreUnscoredLast(o: SegmentOptions, s: Loop): Promise<void> {
  const { last } = s;
  if (o.checkpoint === 'last' && last && last.valAccuracy === null && s.stoppedBy !== 'cancelled') {
    const v = await validate(o);
    if (v.valAccuracy !== null) {
      s.last = { ...last, ...v };
      s.best = { valAccuracy: v.valAccuracy, valLoss: v.valLoss ?? s.last.loss, epoch: s.last.epoch };
      await o.onBest?.(v.valAccuracy, s.last.epoch);
    }
  }
}

/** Loss and accuracy on the segment's validation images (null without any). */
async function validate(o: SegmentOptions): Promise<{ valLoss: number | null; valAccuracy: number | null }> {
  if (!o.validation || o.validation.count === 0) return { valLoss: null, valAccuracy: null };
  const v = scoreSet(await predictScores(o.model, o.validation), o.validation, o.numClasses, o.multiLabel);
  return { valLoss: v.loss, valAccuracy: v.accuracy };
}

/** The labels (class indices, or multi-hot rows of `width`) at `idx`, in that order. */
function gatherLabels<T extends Uint8Array | Int32Array>(labels: Uint8Array | Int32Array, idx: ArrayLike<number>, width: number, out: T): T {
  for (let k = 0; k < idx.length; k++) {
    const o = idx[k] * width;
    for (let c = 0; c < width; c++) out[k * width + c] = labels[o + c];
  }
  return out;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
