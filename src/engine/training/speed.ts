// How fast a network trains on this machine, measured rather than guessed: a few timed training
// steps (warm-up excluded) of a configuration on the active backend and input shape, on random
// pixels. The plan (experiment/plan.ts) measures the portfolio's first network this way so that its
// budget decision rests on the speed the run will get; the figure is cached per backend, threads,
// input shape, network and product version in a JSON file of the cache folder (`speed.json`), so
// the next experiment on the same machine does not measure again.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { TrialConfig } from '../../shared/protocol';
import { buildModel, type ModelShape } from '../model/build';
import { createStepper } from './step-options';

export interface SpeedMeasurement {
  imagesPerSec: number;
  /** Timed steps (after warm-up). */
  steps: number;
  /** Seconds the measurement took, warm-up included. */
  seconds: number;
}

export interface MeasureOptions {
  /** Timed seconds after warm-up (default 2). */
  seconds?: number;
  /** Untimed warm-up steps (default 2; the first step builds the kernels' state). */
  warmup?: number;
  /** Fewest timed steps (default 3). */
  minSteps?: number;
}

/**
 * Images per second of training steps of `config` at `shape` on the active backend: random pixels and
 * labels at the configuration's batch size, `warmup` untimed steps, then steps until `seconds` have
 * passed (at least `minSteps`). A network so slow that one warm-up step takes longer than `seconds`
 * is judged on that step alone, so the measurement stays short on any machine.
 */
export async function measureTrainingSpeed(config: TrialConfig, shape: ModelShape, opts: MeasureOptions = {}): Promise<SpeedMeasurement> {
  const seconds = opts.seconds ?? 2;
  const batch = Math.max(1, Number(config['train/batch_size'] ?? 64));
  const start = performance.now();
  const model = buildModel(config, shape, 0);
  const step = createStepper(model, config, shape.multiLabel);
  const [h, w, c] = shape.inputShape;
  const x = tf.tidy(() => tf.mul(tf.randomUniform([batch, h, w, c]), 255)) as tf.Tensor4D;
  const y = tf.tidy(() => tf.cast(tf.oneHot(tf.randomUniform([batch], 0, shape.numClasses, 'int32'), shape.numClasses), 'float32')) as tf.Tensor2D;
  try {
    const warmup = Math.max(1, opts.warmup ?? 2);
    for (let i = 0; i < warmup; i++) {
      const t0 = performance.now();
      await step.run(x, y).loss.data();
      const ms = performance.now() - t0;
      // One step already longer than the whole measurement: that step is the measurement.
      if (i === warmup - 1 && ms > seconds * 1000) return { imagesPerSec: (batch * 1000) / ms, steps: 1, seconds: (performance.now() - start) / 1000 };
    }
    const minSteps = opts.minSteps ?? 3;
    let steps = 0;
    const t0 = performance.now();
    let elapsed = 0;
    while (steps < minSteps || elapsed < seconds * 1000) {
      // Reading the loss waits for the step on asynchronous backends (webgpu, tfjs-node-gpu).
      await step.run(x, y).loss.data();
      steps++;
      elapsed = performance.now() - t0;
    }
    return { imagesPerSec: (steps * batch * 1000) / elapsed, steps, seconds: (performance.now() - start) / 1000 };
  } finally {
    step.dispose();
    tf.dispose([x, y]);
    model.dispose();
  }
}

/** One cached measurement. */
export interface SpeedEntry {
  imagesPerSec: number;
  /** ISO time of the measurement. */
  measuredAt: string;
}

/** Measurements older than this are taken again (the engine, the machine or its load may have changed: one taken on a busy machine does not stay for long). */
export const SPEED_MAX_AGE_DAYS = 7;

/** The cache key: what the speed depends on. */
export function speedKey(k: { backend: string; threads?: number; inputShape: readonly number[]; config: TrialConfig; version: string }): string {
  const net = Object.keys(k.config)
    .filter((p) => !p.startsWith('aug/'))
    .sort()
    .map((p) => `${p}=${String(k.config[p])}`)
    .join(',');
  return `${k.backend}|threads ${k.threads ?? 1}|${k.inputShape.join('x')}|v${k.version}|${net}`;
}

function readCache(file: string): Record<string, SpeedEntry> {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, SpeedEntry>) : {};
  } catch {
    return {}; // absent or unreadable: measured again, and rewritten
  }
}

/**
 * The cached speed for `key` in `file`, or a new measurement (`measure`) written there. A cache that
 * cannot be written is not an error: the figure is still returned, and measured again next time.
 */
export async function cachedSpeed(
  file: string,
  key: string,
  measure: () => Promise<number>,
  now: () => Date = () => new Date(),
): Promise<{ imagesPerSec: number; cached: boolean; measuredAt: string }> {
  const entry = readCache(file)[key];
  const age = entry ? (now().getTime() - Date.parse(entry.measuredAt)) / 86_400_000 : Infinity;
  if (entry && entry.imagesPerSec > 0 && age >= 0 && age <= SPEED_MAX_AGE_DAYS) return { ...entry, cached: true };
  const imagesPerSec = await measure();
  const measuredAt = now().toISOString();
  if (imagesPerSec > 0) {
    try {
      mkdirSync(dirname(file), { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify({ ...readCache(file), [key]: { imagesPerSec, measuredAt } }, null, 1));
      renameSync(tmp, file);
    } catch {
      // read-only cache folder: nothing kept
    }
  }
  return { imagesPerSec, cached: false, measuredAt };
}
