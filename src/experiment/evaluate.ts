// Phase 6, evaluate: copies the final model to `final/model` and evaluates it on TEST (on VALIDATION
// when there is no TEST); with mirror-image test-time augmentation, also the accuracy of the same
// model without it, so that its doubled prediction time can be weighed.
// Reads: the final model's folder (and the one without the mirror image), TEST.
// Writes: `final/model` and the evaluation's files in `final/`; removes the store's `ensemble` and
// `tta` folders. Logs the figures.
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../engine/model/io';
import { scoreSet } from '../engine/training/loop';
import { evaluateModel } from '../eval/evaluate';
import type { ExperimentRecord, TestMetrics } from '../shared/protocol';
import { type FinalModel, scoresOf } from './final-model';
import type { PlannedContext } from './plan';

export interface Evaluated {
  /** The final model, with its accuracy without the mirror image when it uses one. */
  finalModel: ExperimentRecord['finalModel'] | undefined;
  test: TestMetrics | undefined;
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
  return { finalModel, test };
}

const fmt = (x: number | null) => (x === null ? 'n/a' : x.toFixed(4));
