// Phase 6, evaluate: copies the final model to `final/model` and evaluates it on TEST (on VALIDATION
// when there is no TEST); with mirror-image test-time augmentation, also the accuracy of the same
// model without it, so that its doubled prediction time can be weighed. Then calibrates the
// out-of-distribution check on VALIDATION (src/eval/ood.ts): the threshold 95 % of VALIDATION
// images' OOD scores stay at or below, and the training images' sizes and colour.
// Reads: the final model's folder (and the one without the mirror image), TEST, VALIDATION.
// Writes: `final/model` (with its `ood.json`) and the evaluation's files in `final/`; removes the
// store's `ensemble` and `tta` folders. Logs the figures.
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../engine/model/io';
import { scoreSet } from '../engine/training/loop';
import { evaluateModel } from '../eval/evaluate';
import { calibrateOod } from '../eval/ood-calibrate';
import type { ExperimentRecord, TestMetrics } from '../shared/protocol';
import { type FinalModel, scoresOf } from './final-model';
import type { PlannedContext } from './plan';

export interface Evaluated {
  /** The final model, with its accuracy without the mirror image when it uses one. */
  finalModel: ExperimentRecord['finalModel'] | undefined;
  test: TestMetrics | undefined;
  /** The out-of-distribution check's calibration, in short (the whole is `final/model/ood.json`). */
  ood?: ExperimentRecord['ood'];
}

export async function evaluate(ctx: PlannedContext, chosen: FinalModel): Promise<Evaluated> {
  const { store, data, log } = ctx;
  let { finalModel } = chosen;
  const { source, plainSource } = chosen;
  if (!finalModel || source === undefined) return { finalModel, test: undefined };
  const finalDir = store.file('final');
  rmSync(join(finalDir, 'model'), { recursive: true, force: true });
  cpSync(source, join(finalDir, 'model'), { recursive: true });
  // On TEST (or VALIDATION when there is no TEST).
  const evalSet = data.test.count > 0 ? data.test : data.validation;
  const test = await evaluateModel(join(finalDir, 'model'), evalSet, data.test.count > 0 ? 'TEST' : 'VALIDATION', data.classes, data.multiLabel, finalDir);
  log(
    `${test.partition}: accuracy ${(test.accuracy * 100).toFixed(2)} %, macro AUC ${fmt(test.macroAuc)}, macro AP ${fmt(test.macroAveragePrecision)} (${test.count} images)`,
  );
  if (plainSource && evalSet.count > 0) {
    // What the mirror image bought, so that its doubled prediction time can be weighed.
    const plainScores = await scoresOf(loadModel(plainSource), evalSet);
    finalModel = { ...finalModel, plainAccuracy: scoreSet(plainScores, evalSet, data.classes.length, data.multiLabel).accuracy };
    log(`${test.partition} without the mirror image: accuracy ${((finalModel.plainAccuracy ?? 0) * 100).toFixed(2)} %`);
  }
  for (const made of [store.file('ensemble'), store.file('tta')]) rmSync(made, { recursive: true, force: true });
  const ood = await calibrate(ctx, join(finalDir, 'model'), finalModel);
  return { finalModel, test, ood };
}

/** The OOD check's calibration on VALIDATION; an experiment whose calibration fails keeps its model, with a warning. */
async function calibrate(ctx: PlannedContext, modelDir: string, finalModel: NonNullable<ExperimentRecord['finalModel']>): Promise<ExperimentRecord['ood']> {
  const { store, data, log } = ctx;
  // A final fit (or a refit head) trained on VALIDATION too: its scores there are lower than on new images.
  const trainedOn = new Map(store.readTrials().map((t) => [t.id, t.trainOn]));
  const seenInTraining = finalModel.kind === 'final-fit' || finalModel.trials.some((id) => (trainedOn.get(id) ?? 'TRAIN') !== 'TRAIN');
  try {
    const c = await calibrateOod(modelDir, data.validation, { multiLabel: data.multiLabel, seenInTraining, images: ctx.trainingImages, train: data.train });
    if (!c.score) return undefined;
    const { kind, threshold, quantile, count, spread } = c.score;
    log(
      `Out-of-distribution check (${kind} score) calibrated on ${count} VALIDATION images: threshold ${threshold.toFixed(3)} ` +
        `(${Math.round(quantile * 100)} % score at or below; median ${spread.p50.toFixed(3)})` +
        (seenInTraining ? '; the final model trained on VALIDATION too, so new in-distribution images are flagged somewhat more often' : ''),
    );
    return { kind, threshold, quantile, count };
  } catch (e) {
    log(`Out-of-distribution calibration failed: ${e instanceof Error ? e.message : String(e)}; predictions get the size and colour checks only`, 'warn');
    return undefined;
  }
}

const fmt = (x: number | null) => (x === null ? 'n/a' : x.toFixed(4));
