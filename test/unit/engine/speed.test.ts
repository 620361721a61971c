// The plan's speed measurement: a positive figure from real training steps on the cpu backend, and
// the cache in speed.json (a second call does not measure again; an old or unreadable entry does).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SPEED_MAX_AGE_DAYS, cachedSpeed, measureTrainingSpeed, speedKey } from '../../../src/engine/training/speed';
import type { ModelShape } from '../../../src/engine/model/build';
import type { TrialConfig } from '../../../src/shared/protocol';

const TINY: TrialConfig = {
  family: 'convnet',
  'convnet/blocks': 1,
  'convnet/filters': 4,
  'convnet/convs_per_block': 1,
  'convnet/batchnorm': true,
  'convnet/head': 'gap',
  'convnet/dense': 0,
  'convnet/dropout': 0,
  'train/optimizer': 'adamw',
  'train/lr': 1e-3,
  'train/weight_decay': 1e-4,
  'train/batch_size': 8,
  'train/label_smoothing': 0.1,
  'aug/crop_pad': 2,
};
const SHAPE: ModelShape = { inputShape: [8, 8, 1], numClasses: 3, multiLabel: false, mean: 100, std: 50 };

describe('training speed measurement (plan)', () => {
  let dir: string;
  before(async () => {
    await tf.setBackend('cpu');
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'automl-speed-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('times real training steps of a tiny network on the cpu backend, without leaking tensors', async () => {
    const before = tf.memory().numTensors;
    const r = await measureTrainingSpeed(TINY, SHAPE, { seconds: 1, warmup: 2, minSteps: 2 });
    assert.ok(r.imagesPerSec > 0 && Number.isFinite(r.imagesPerSec), `images/s ${r.imagesPerSec}`);
    assert.ok(r.steps >= 2, `timed steps ${r.steps}`);
    // images/s is batch × steps / timed seconds, and the timed seconds are within the whole measurement
    assert.ok((r.steps * 8) / r.imagesPerSec <= r.seconds + 1e-6);
    assert.equal(tf.memory().numTensors, before);
  });

  it('measures once per key: a second call reads speed.json, another key or an old entry measures again', async () => {
    const file = join(dir, 'sub', 'speed.json');
    let calls = 0;
    const measure = async () => {
      calls++;
      return (await measureTrainingSpeed(TINY, SHAPE, { seconds: 0.1, warmup: 1, minSteps: 1 })).imagesPerSec;
    };
    const key = speedKey({ backend: 'cpu', threads: 1, inputShape: SHAPE.inputShape, config: TINY, version: '0.1.0' });
    const first = await cachedSpeed(file, key, measure);
    assert.equal(calls, 1);
    assert.equal(first.cached, false);
    assert.ok(first.imagesPerSec > 0);
    const second = await cachedSpeed(file, key, measure);
    assert.equal(calls, 1, 'the second call must not measure again');
    assert.equal(second.cached, true);
    assert.equal(second.imagesPerSec, first.imagesPerSec);
    assert.equal(JSON.parse(readFileSync(file, 'utf8'))[key].imagesPerSec, first.imagesPerSec);

    // another input shape, thread count or version is another key
    const other = speedKey({ backend: 'cpu', threads: 2, inputShape: SHAPE.inputShape, config: TINY, version: '0.1.0' });
    assert.notEqual(other, key);
    await cachedSpeed(file, other, measure);
    assert.equal(calls, 2);
    assert.deepEqual(Object.keys(JSON.parse(readFileSync(file, 'utf8'))).sort(), [key, other].sort());

    // 8 days later (SPEED_MAX_AGE_DAYS 7) the entry is measured again
    const later = () => new Date(Date.now() + (SPEED_MAX_AGE_DAYS + 1) * 86_400_000);
    assert.equal((await cachedSpeed(file, key, measure, later)).cached, false);
    assert.equal(calls, 3);
  });

  it('measures again over an unreadable speed.json and rewrites it', async () => {
    const file = join(dir, 'speed.json');
    writeFileSync(file, '{ not json');
    const r = await cachedSpeed(file, 'k', async () => 123);
    assert.deepEqual([r.imagesPerSec, r.cached], [123, false]);
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).k.imagesPerSec, 123);
  });

  it('keys on the network, not on its augmentation', () => {
    const base = { backend: 'wasm', threads: 2, inputShape: [28, 28, 1], version: '1' };
    assert.equal(speedKey({ ...base, config: TINY }), speedKey({ ...base, config: { ...TINY, 'aug/crop_pad': 0 } }));
    assert.notEqual(speedKey({ ...base, config: TINY }), speedKey({ ...base, config: { ...TINY, 'train/batch_size': 16 } }));
  });
});
