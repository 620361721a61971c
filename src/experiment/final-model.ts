// Phase 5, final model: which model becomes the experiment's final one. The final fit when it was
// kept, else the best trial's checkpoint, or an ensemble of the top trials when it beats the best one
// on VALIDATION (`search` mode, no final fit kept); then, unless the mode is `fixed`, that model with
// mirror-image test-time augmentation when the mirror image makes it more accurate on VALIDATION.
// Reads: the trials and their checkpoints, VALIDATION, the deadline.
// Writes: the store's `ensemble` and `tta` folders (models the evaluate phase copies, then removes).
import type * as tfl from '@tensorflow/tfjs-layers';
import type { ImageSet } from '../data';
import { buildEnsembleModel } from '../engine/model/ensemble';
import { buildFlipTtaModel } from '../engine/model/flip-tta';
import { loadModel, readModelMetadata, saveModel } from '../engine/model/io';
import { predictScores, scoreSet } from '../engine/training/loop';
import { ENSEMBLE_CANDIDATES, type EnsembleCandidate, selectEnsemble } from '../search/ensemble';
import { leadingTrial } from '../search/leader';
import { judgeFlipTta } from '../search/tta';
import type { ExperimentRecord, TrialRecord } from '../shared/protocol';
import type { ExperimentStore } from '../store/store';
import type { FinalFitResult } from './final-fit';
import type { PlannedContext } from './plan';

export interface FinalModel {
  /** The best trial (by VALIDATION accuracy), whose id the record keeps. */
  best: TrialRecord | null;
  /** Undefined when no trial produced a model. */
  finalModel: ExperimentRecord['finalModel'] | undefined;
  /** The folder holding the final model (with test-time augmentation when it is used). */
  source: string | undefined;
  /** With test-time augmentation: the folder of the same model without it. */
  plainSource: string | undefined;
}

export async function chooseFinalModel(ctx: PlannedContext, fitted: FinalFitResult): Promise<FinalModel> {
  const { store, data, log } = ctx;
  const { finalFitOf } = fitted;
  let { finalModel } = fitted;
  // Always leave a loadable final model when any trial produced one.
  const best = leadingTrial(store.readTrials(), data.validation.count);
  if (!finalModel && best) finalModel = { kind: 'trial', trials: [best.id], valAccuracy: best.bestValAccuracy };
  // An ensemble of the top trials, when it beats the best one on VALIDATION. Only when the final
  // model is a trial's checkpoint: a final fit has seen VALIDATION, so nothing can be compared with it there.
  if (finalModel?.kind === 'trial' && ctx.hasValidation && ctx.mode === 'search' && !ctx.isCancelled()) {
    const ensemble = await ensembleOfTopTrials({
      store,
      trials: store.readTrials(),
      validation: data.validation,
      numClasses: data.classes.length,
      multiLabel: data.multiLabel,
      testImages: data.test.count,
      // Its own estimate keeps the time to evaluate the ensemble on TEST.
      deadline: ctx.deadline - 1000,
      metadata: ctx.modelMetadata,
      log,
    });
    if (ensemble) finalModel = ensemble;
  }
  if (!finalModel) return { best, finalModel, source: undefined, plainSource: undefined };
  let plainSource: string | undefined;
  let source =
    finalModel.kind === 'final-fit' ? store.modelDir('final') : finalModel.kind === 'ensemble' ? store.file('ensemble') : store.modelDir(finalModel.trials[0]);
  // Test-time augmentation by mirror image, when it is more accurate on VALIDATION. Not for the
  // fixed baseline, which is one network trained and nothing else.
  if (ctx.hasValidation && ctx.spec.tta !== false && ctx.mode !== 'fixed' && !ctx.isCancelled()) {
    const judgeDir = finalModel.kind === 'final-fit' ? (finalFitOf ? store.modelDir(finalFitOf) : null) : source;
    const tta = judgeDir
      ? await flipTtaFor({
          judgeDir,
          judgedAs:
            finalModel.kind === 'final-fit'
              ? `${finalFitOf}'s checkpoint, the final fit's configuration`
              : finalModel.kind === 'ensemble'
                ? 'the ensemble'
                : `${finalModel.trials[0]}'s checkpoint`,
          modelDir: source,
          outDir: store.file('tta'),
          validation: data.validation,
          numClasses: data.classes.length,
          multiLabel: data.multiLabel,
          testImages: data.test.count,
          deadline: ctx.deadline,
          log,
        })
      : false;
    if (tta) {
      plainSource = source;
      source = store.file('tta');
      finalModel = { ...finalModel, tta: 'flip' };
    }
  }
  return { best, finalModel, source, plainSource };
}

/**
 * Ensemble selection over the top trials' checkpoints on VALIDATION (see search/ensemble.ts).
 * Returns the final model when the ensemble is better, after saving it as one model in the
 * store's `ensemble` folder. Each member's VALIDATION pass is timed, and no member is scored that
 * would leave too little time to evaluate the ensemble on TEST before `deadline`.
 */
async function ensembleOfTopTrials(o: {
  store: ExperimentStore;
  trials: TrialRecord[];
  validation: ImageSet;
  numClasses: number;
  multiLabel: boolean;
  testImages: number;
  deadline: number;
  metadata: Record<string, unknown>;
  log: (message: string) => void;
}): Promise<ExperimentRecord['finalModel'] | null> {
  const top = o.trials
    .filter((t) => t.trainOn === 'TRAIN' && t.hasModel && t.bestValAccuracy !== null)
    .sort((a, b) => (b.bestValAccuracy ?? 0) - (a.bestValAccuracy ?? 0))
    .slice(0, ENSEMBLE_CANDIDATES);
  if (top.length < 2) return null;
  const candidates: EnsembleCandidate[] = [];
  let spent = 0;
  for (const t of top) {
    // Scoring one more member costs about the mean so far; evaluating the ensemble on TEST costs
    // all of them again, scaled to the TEST set's size.
    const perMember = candidates.length ? spent / candidates.length : 0;
    const evalCost = ((spent + perMember) * Math.max(1, o.testImages)) / Math.max(1, o.validation.count);
    if (Date.now() + perMember + evalCost > o.deadline) break;
    const t0 = Date.now();
    candidates.push({ id: t.id, scores: await scoresOf(loadModel(o.store.modelDir(t.id)), o.validation) });
    spent += Date.now() - t0;
  }
  if (candidates.length < 2) {
    o.log(`Ensemble not tried: too little time left to score ${candidates.length ? 'more than one of ' : ''}the top trials on VALIDATION`);
    return null;
  }
  // The ensemble must be right on 0.2 % more of VALIDATION, and on at least two more images (on a small
  // VALIDATION set one image is noise).
  const margin = Math.max(0.002, 2 / Math.max(1, o.validation.count));
  const choice = selectEnsemble(candidates, (s) => scoreSet(s, o.validation, o.numClasses, o.multiLabel), { margin });
  if (!choice) return null;
  const members = choice.members.map((m) => `${m.id}×${m.count}`).join(' + ');
  if (!choice.better) {
    o.log(
      `Ensemble not used: ${members} reaches ${pctOf(choice.accuracy)} on VALIDATION, not enough over ${choice.single.id} alone (${pctOf(choice.single.accuracy)})`,
    );
    return null;
  }
  const model = await buildEnsembleModel(choice.members.map((m) => ({ dir: o.store.modelDir(m.id), weight: m.count })));
  try {
    await saveModel(model, o.store.file('ensemble'), { ...o.metadata, ensemble: choice.members, valAccuracy: choice.accuracy });
  } finally {
    model.dispose();
  }
  o.log(`Final model: the ensemble ${members}, ${pctOf(choice.accuracy)} on VALIDATION against ${pctOf(choice.single.accuracy)} for ${choice.single.id} alone`);
  return { kind: 'ensemble', trials: choice.members.map((m) => m.id), valAccuracy: choice.accuracy };
}

/**
 * Judges test-time augmentation by mirror image on VALIDATION with the model in `judgeDir` (one that
 * has not seen VALIDATION), and when it is worth it saves the model in `modelDir` wrapped with it to
 * `outDir`. The judging passes are timed: it is not tried when scoring the mirror images and then
 * evaluating TEST at twice the cost would run past `deadline`.
 */
async function flipTtaFor(o: {
  judgeDir: string;
  judgedAs: string;
  modelDir: string;
  outDir: string;
  validation: ImageSet;
  numClasses: number;
  multiLabel: boolean;
  testImages: number;
  deadline: number;
  log: (message: string) => void;
}): Promise<boolean> {
  if (o.validation.height < 2 || o.validation.width < 2) return false;
  const t0 = Date.now();
  const plainScores = await scoresOf(loadModel(o.judgeDir), o.validation);
  const pass = Date.now() - t0;
  const testPass = (pass * Math.max(1, o.testImages)) / Math.max(1, o.validation.count);
  if (Date.now() + 2 * pass + 2 * testPass > o.deadline) {
    o.log('Test-time augmentation not tried: too little time left to judge it on VALIDATION');
    return false;
  }
  const judge = await buildFlipTtaModel(o.judgeDir);
  let wrapped: tfl.LayersModel | undefined;
  try {
    const d = judgeFlipTta(
      plainScores,
      await predictScores(judge, o.validation),
      (s) => scoreSet(s, o.validation, o.numClasses, o.multiLabel),
      o.validation.count,
    );
    const figures = `${pctOf(d.flipped.accuracy)} on VALIDATION with the mirror image averaged in, ${pctOf(d.plain.accuracy)} without (${o.judgedAs})`;
    if (!d.use) {
      o.log(`Test-time augmentation not used: ${figures}`);
      return false;
    }
    // The judged model is the final one unless that is a final fit (judged by its trial's checkpoint).
    wrapped = o.judgeDir === o.modelDir ? judge : await buildFlipTtaModel(o.modelDir);
    await saveModel(wrapped, o.outDir, { ...readModelMetadata(o.modelDir), tta: 'flip' });
    o.log(`Test-time augmentation: the final model averages its scores for each image and its mirror image: ${figures}`);
    return true;
  } finally {
    judge.dispose();
    if (wrapped && wrapped !== judge) wrapped.dispose();
  }
}

/** A model's scores on a set; the model is freed afterwards. */
export async function scoresOf(loading: Promise<tfl.LayersModel>, set: ImageSet): Promise<Float32Array> {
  const model = await loading;
  try {
    return await predictScores(model, set);
  } finally {
    model.dispose();
  }
}

const pctOf = (x: number) => `${(x * 100).toFixed(2)} %`;
