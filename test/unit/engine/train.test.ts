import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { type ImageSet, type StreamedImageSet, readRows } from '../../../src/data/image-set';
import type { ImageTensorSet } from '../../../src/data/types';
import { NO_AUGMENTATION } from '../../../src/engine/training/augment';
import { buildModel } from '../../../src/engine/model/build';
import { createStepper } from '../../../src/engine/training/step-options';
import { trainSegment } from '../../../src/engine/training/loop';
import { rng } from '../../../src/shared/random';

/** 48 8×8 images of 3 classes: a bright square in a class-dependent corner, plus noise. */
function toyData(seed: number): ImageTensorSet {
  const random = rng(seed);
  const n = 48;
  const pixels = new Uint8Array(n * 64);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    labels[i] = c;
    for (let p = 0; p < 64; p++) {
      const r = Math.floor(p / 8);
      const col = p % 8;
      const inSquare = c === 0 ? r < 4 && col < 4 : c === 1 ? r < 4 && col >= 4 : r >= 4;
      pixels[i * 64 + p] = Math.min(255, (inSquare ? 180 : 20) + Math.floor(random() * 40));
    }
  }
  return { height: 8, width: 8, channels: 1, count: n, pixels, labels, itemIds: Int32Array.from({ length: n }, (_, i) => i) };
}

const config = {
  family: 'convnet',
  'convnet/blocks': 1,
  'convnet/filters': 4,
  'convnet/convs_per_block': 1,
  'convnet/head': 'flatten',
  'convnet/dense': 8,
  'convnet/dropout': 0.3,
  'train/optimizer': 'adamw',
  'train/lr': 3e-3,
  'train/weight_decay': 1e-4,
};

/** The same images with their pixels read on demand, counting the rows read. */
function streamedToy(seed: number): { set: StreamedImageSet; rowsRead: () => number } {
  const { pixels, ...rest } = toyData(seed);
  let read = 0;
  const set: StreamedImageSet = {
    ...rest,
    rows: {
      read: (positions, out) => {
        read += positions.length;
        readRows({ ...rest, pixels }, positions, out);
      },
    },
  };
  return { set, rowsRead: () => read };
}

/** A toy model with its stepper, and the segment options the tests share (50 epochs, one-cycle at 3e-3). */
function toySetup() {
  const data = toyData(1);
  const model = buildModel(config, { inputShape: [8, 8, 1], numClasses: 3, multiLabel: false, mean: 60, std: 70 }, 1);
  const stepper = createStepper(model, config, false);
  const common = {
    trialId: 't',
    model,
    stepper,
    train: data,
    validation: data,
    numClasses: 3,
    multiLabel: false,
    batchSize: 16,
    epochs: 50,
    epochOffset: 0,
    schedule: { name: 'onecycle' as const, lr: 3e-3, warmup: 0.3 },
    augment: NO_AUGMENTATION,
    seed: 1,
    patience: 0,
    onEpoch: () => undefined,
  };
  return {
    stepper,
    common,
    dispose: () => {
      stepper.dispose();
      model.dispose();
    },
  };
}

async function train(seed: number, epochs = 3, data: ImageSet = toyData(1)) {
  const model = buildModel(config, { inputShape: [8, 8, 1], numClasses: 3, multiLabel: false, mean: 60, std: 70 }, seed);
  const stepper = createStepper(model, config, false);
  const records: number[] = [];
  const result = await trainSegment({
    trialId: 't',
    model,
    stepper,
    train: data,
    validation: data,
    numClasses: 3,
    multiLabel: false,
    batchSize: 16,
    epochs,
    epochOffset: 0,
    schedule: { name: 'onecycle', lr: 3e-3, warmup: 0.3 },
    augment: NO_AUGMENTATION,
    seed,
    patience: 0,
    deadline: Date.now() + 600_000,
    isCancelled: () => false,
    onEpoch: (r) => void records.push(r.loss),
  });
  const weights = model.getWeights().map((w) => Array.from(w.dataSync()));
  const dropoutSeed = (model.layers.find((l) => l.getClassName() === 'Dropout') as unknown as { seed: number }).seed;
  stepper.dispose();
  model.dispose();
  return { records, weights, result, dropoutSeed };
}

describe('training loop', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  it('is reproducible for a seed, and another seed trains differently', async () => {
    const a = await train(5);
    const b = await train(5);
    const c = await train(6);
    assert.deepEqual(a.records, b.records);
    assert.deepEqual(a.weights, b.weights);
    assert.notDeepEqual(a.records, c.records);
  });

  it('trains the same from pixels streamed a batch at a time as from pixels in memory', async () => {
    const streamed = streamedToy(1);
    const a = await train(5, 2);
    const b = await train(5, 2, streamed.set);
    assert.deepEqual(b.records, a.records);
    assert.deepEqual(b.weights, a.weights);
    // 2 epochs × 48 training rows + 2 validation passes × 48 rows, all read from the source.
    assert.equal(streamed.rowsRead(), 4 * 48);
  });

  it('moves the dropout seed with every step (a fixed seed would drop the same units forever)', async () => {
    const a = await train(5, 1);
    // 48 images / batch 16 = 3 steps; the seed after the last step is not the build seed.
    assert.notEqual(a.dropoutSeed, 5);
  });

  it('learns, keeps no tensors behind, and records one entry per epoch', async () => {
    const before = tf.memory().numTensors;
    const r = await train(2, 8);
    assert.equal(tf.memory().numTensors, before, 'tensors leaked across the segment');
    assert.equal(r.records.length, 8);
    assert.ok(r.records[7] < r.records[0] * 0.7, `loss ${r.records[0]} → ${r.records[7]}`);
    assert.equal(r.result.stoppedBy, 'completed');
    assert.ok((r.result.best?.valAccuracy ?? 0) > 0.6);
  });

  it('annealed by time, ends the epoch the deadline cuts: its last steps (the lowest rates) are evaluated, not thrown away', async () => {
    const { stepper, common, dispose } = toySetup();
    // A clock that moves 10 ms per step: 12 steps of 4 images per epoch, a deadline after 18 steps.
    const realNow = Date.now;
    let now = realNow();
    Date.now = () => now;
    const records: { epoch: number; lr: number }[] = [];
    try {
      const result = await trainSegment({
        ...common,
        batchSize: 4,
        deadline: now + 180,
        annealByTime: true,
        isCancelled: () => false,
        onEpoch: (r) => void records.push({ epoch: r.epoch, lr: r.lr }),
        stepper: {
          setLearningRate: (lr) => stepper.setLearningRate(lr),
          run: (x, y) => {
            now += 10;
            return stepper.run(x, y);
          },
          takeMetrics: () => stepper.takeMetrics(),
        },
      });
      assert.equal(result.stoppedBy, 'deadline');
      assert.deepEqual(
        records.map((r) => r.epoch),
        [1, 1.5],
      );
      assert.equal(result.epochsDone, 1.5);
      assert.equal(result.last?.epoch, 1.5);
      // The last step ran at 17/18 of the time: the one-cycle's tail, under 2 % of the peak rate.
      assert.ok(records[1].lr < 3e-3 * 0.02, `last rate ${records[1].lr}`);
    } finally {
      Date.now = realNow;
      dispose();
    }
  });

  it("keeps every epoch's end as the checkpoint when asked for the last (a final fit), only improvements otherwise", async () => {
    const { common, dispose } = toySetup();
    const saves = async (checkpoint?: 'best' | 'last') => {
      const epochs: number[] = [];
      // A record of 100 % before the segment: no epoch can improve on it.
      await trainSegment({
        ...common,
        epochs: 3,
        deadline: Date.now() + 600_000,
        isCancelled: () => false,
        bestSoFar: 1,
        checkpoint,
        onBest: async (_acc, epoch) => void epochs.push(epoch),
      });
      return epochs;
    };
    try {
      assert.deepEqual(await saves(), []);
      assert.deepEqual(await saves('last'), [1, 2, 3]);
    } finally {
      dispose();
    }
  });

  it('with the last epoch as the checkpoint, scores the validation images once, after the last epoch', async () => {
    const { common, dispose } = toySetup();
    const { set, rowsRead } = streamedToy(1);
    const vals: (number | null)[] = [];
    const saved: (number | null)[] = [];
    try {
      const result = await trainSegment({
        ...common,
        epochs: 3,
        validation: set,
        deadline: Date.now() + 600_000,
        isCancelled: () => false,
        checkpoint: 'last',
        onEpoch: (r) => void vals.push(r.valAccuracy),
        onBest: async (acc) => void saved.push(acc),
      });
      assert.equal(rowsRead(), 48, 'one pass over the 48 validation images');
      assert.equal(vals.length, 3);
      assert.deepEqual(vals.slice(0, 2), [null, null]);
      assert.ok(typeof vals[2] === 'number');
      assert.deepEqual(saved, [null, null, vals[2]]);
      assert.equal(result.last?.valAccuracy, vals[2]);
      assert.equal(result.best?.valAccuracy, vals[2]);
    } finally {
      dispose();
    }
  });

  it('scores the last epoch of a final fit when the deadline passes just after it ends', async () => {
    const { stepper, common, dispose } = toySetup();
    // A clock that moves 10 ms per step (12 steps of 4 images per epoch: 4 epochs fit in 500 ms) and
    // jumps past the deadline once epoch 2 is recorded, before epoch 3's first step.
    const realNow = Date.now;
    let now = realNow();
    const start = now;
    Date.now = () => now;
    const vals: (number | null)[] = [];
    const saved: (number | null)[] = [];
    try {
      const result = await trainSegment({
        ...common,
        batchSize: 4,
        epochs: 4,
        checkpoint: 'last',
        deadline: start + 500,
        annealByTime: true,
        isCancelled: () => false,
        onEpoch: (r) => {
          vals.push(r.valAccuracy);
          if (r.epoch === 2) now = start + 1000;
        },
        onBest: async (acc) => void saved.push(acc),
        stepper: {
          setLearningRate: (lr) => stepper.setLearningRate(lr),
          run: (x, y) => {
            now += 10;
            return stepper.run(x, y);
          },
          takeMetrics: () => stepper.takeMetrics(),
        },
      });
      assert.equal(result.stoppedBy, 'deadline');
      assert.equal(result.epochsDone, 2);
      assert.deepEqual(vals, [null, null], 'neither epoch looked like the last when it ended');
      assert.ok(typeof result.last?.valAccuracy === 'number', 'the last epoch was scored after all');
      assert.deepEqual(saved, [null, null, result.last?.valAccuracy]);
      assert.equal(result.best?.valAccuracy, result.last?.valAccuracy);
    } finally {
      Date.now = realNow;
      dispose();
    }
  });

  it('stops at the deadline and when cancelled, within a batch', async () => {
    const { stepper, common, dispose } = toySetup();
    let steps = 0;
    const cancelled = await trainSegment({ ...common, deadline: Date.now() + 600_000, isCancelled: () => ++steps > 4 });
    assert.equal(cancelled.stoppedBy, 'cancelled');
    assert.ok(cancelled.epochsDone <= 2);
    // Annealed by time over 0.4 s with 50 planned epochs: each record reports the rate its epoch's last
    // step used, which follows the time used (the steps' share of 50 epochs would keep it warming up).
    const reported: number[] = [];
    const applied: number[] = [];
    let lastSet = 0;
    const timed = await trainSegment({
      ...common,
      annealByTime: true,
      deadline: Date.now() + 400,
      isCancelled: () => false,
      onEpoch: (r) => {
        reported.push(r.lr);
        applied.push(lastSet);
      },
      stepper: {
        setLearningRate: (lr: number) => {
          lastSet = lr;
          stepper.setLearningRate(lr);
        },
        run: (x, y) => stepper.run(x, y),
        takeMetrics: () => stepper.takeMetrics(),
      },
    });
    assert.equal(timed.stoppedBy, 'deadline');
    assert.ok(reported.length >= 2, `${reported.length} epochs in 0.4 s`);
    assert.deepEqual(reported, applied);
    assert.ok(Math.max(...reported) > (3e-3 / 25) * 2, `rates ${reported.join(', ')} never left the warm-up's start`);
    const late = await trainSegment({ ...common, deadline: Date.now() - 1, isCancelled: () => false });
    assert.equal(late.stoppedBy, 'deadline');
    assert.equal(late.epochsDone, 0);
    dispose();
  });
});
