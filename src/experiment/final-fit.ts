// Phase 4, final fit (`search` mode with `finalFit` only; any mode when the features phase's linear
// head leads, whose refit on TRAIN+VALIDATION was made with it and is taken as it is): retrains the configuration predicted best
// for the time left on TRAIN+VALIDATION, annealed to the deadline less the evaluation's reserve, and
// keeps it when it finished and fits VALIDATION at least as well as the best trial did. When the time
// left would not train longer than the best trial did (or there is no VALIDATION to add), that time
// goes to more search instead.
// Reads: the trials and their histories, the plan, the deadline.
// Writes: the trial `final` (record, history, model), or more search trials; events `trialStarted`
// and `trialEnded` for the final fit.
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { type ImageSet, concatSets } from '../data';
import { hasModel } from '../engine/model/io';
import { runTrialSegment } from '../engine/training/trial';
import { chooseFinalFit } from '../search/final-choice';
import { finalFitEpochs } from '../search/plan';
import { leadingTrial } from '../search/leader';
import { type SearchResult, runSearch } from '../search/search';
import { describeConfig } from '../search/space';
import type { ExperimentRecord, TrialRecord } from '../shared/protocol';
import { HEAD_FINAL, HEAD_TRIAL } from './features';
import type { PlannedContext } from './plan';

export interface FinalFitResult {
  /** The final model so far: the final fit when it is kept, else the best trial (undefined when no final fit was tried). */
  finalModel: ExperimentRecord['finalModel'] | undefined;
  /** The trial whose configuration the kept final fit retrained: its checkpoint stands in for the final fit where VALIDATION must be unseen. */
  finalFitOf: string | undefined;
}

export async function finalFit(ctx: PlannedContext, searched: SearchResult): Promise<FinalFitResult> {
  const { store, data, plan, log } = ctx;
  const best = leadingTrial(store.readTrials(), data.validation.count);
  // The linear head on cached features leads: its refit on TRAIN+VALIDATION is the final fit, made already.
  if (best?.id === HEAD_TRIAL && ctx.finalFit && ctx.hasValidation && !ctx.isCancelled() && hasModel(store.file(HEAD_FINAL))) {
    return headFinalFit(ctx, best, searched.trials.length);
  }
  if (!best || ctx.isCancelled() || ctx.mode !== 'search' || !ctx.finalFit) return { finalModel: undefined, finalFitOf: undefined };
  const kept: FinalFitResult = { finalModel: { kind: 'trial', trials: [best.id], valAccuracy: best.bestValAccuracy }, finalFitOf: undefined };
  const trainVal = ctx.hasValidation ? concatSets(data.train, data.validation) : data.train;
  const finalSeconds = (ctx.deadline - Date.now()) / 1000 - plan.reserveSeconds;
  // The configuration to retrain: the one predicted best after the epochs the final fit affords it
  // (a fast network may train ten times longer than a slow one that led at equal epochs).
  const choice = chooseFinalFit(store.readTrials(), (id) => store.readHistory(id), { seconds: finalSeconds, trainImages: trainVal.count });
  const pick = choice?.trial ?? best;
  if (choice && pick.id !== best.id) {
    const forBest = chooseFinalFit([best], (id) => store.readHistory(id), { seconds: finalSeconds, trainImages: trainVal.count });
    log(
      `Final fit of ${pick.id} (${describeConfig(pick.config)}) rather than ${best.id}: in ${Math.round(finalSeconds)} s it affords ${choice.epochs.toFixed(1)} epochs ` +
        `(predicted ${(choice.predicted * 100).toFixed(1)} %) against ${forBest?.epochs.toFixed(1) ?? '?'} (${forBest ? (forBest.predicted * 100).toFixed(1) : '?'} %)`,
    );
  }
  const ips = pick.imagesPerSec ?? ctx.imagesPerSec;
  const epochs = finalFitEpochs({ seconds: finalSeconds, imagesPerSec: ips, trainImages: trainVal.count, bestTrialEpochs: pick.epochsDone });
  if (epochs > 0 && ctx.hasValidation) {
    const fitted = await trainFinalFit(ctx, { pick, best, trainVal, epochs, finalSeconds, index: searched.trials.length });
    if (fitted) return { finalModel: { kind: 'final-fit', trials: ['final'], valAccuracy: null }, finalFitOf: pick.id };
  } else if (finalSeconds > 5) {
    await searchOn(ctx, finalSeconds);
  }
  return kept;
}

/** The head refitted on TRAIN+VALIDATION (features phase) as the trial `final`. */
function headFinalFit(ctx: PlannedContext, head: TrialRecord, index: number): FinalFitResult {
  const { store, emit, log } = ctx;
  const fit: TrialRecord = {
    ...head,
    id: 'final',
    index,
    origin: `final fit of ${head.id}: the same linear head refitted on the features of TRAIN+VALIDATION`,
    trainOn: 'TRAIN+VALIDATION',
    rungScores: [],
    bestValAccuracy: null,
    bestValLoss: null,
    startedAt: new Date().toISOString(),
    endedAt: new Date().toISOString(),
    seconds: 0,
    hasModel: true,
  };
  rmSync(store.modelDir('final'), { recursive: true, force: true });
  mkdirSync(dirname(store.modelDir('final')), { recursive: true });
  renameSync(store.file(HEAD_FINAL), store.modelDir('final'));
  store.writeTrial(fit);
  emit({ type: 'trialEnded', trial: { ...fit } });
  log(
    `Final fit: the linear head of ${head.id} (${describeConfig(head.config)}) refitted on TRAIN+VALIDATION (${ctx.data.train.count + ctx.data.validation.count} images and their mirror images)`,
  );
  return { finalModel: { kind: 'final-fit', trials: ['final'], valAccuracy: null }, finalFitOf: head.id };
}

/** Trains the final fit (trial `final`); true when it is to be the final model. */
async function trainFinalFit(
  ctx: PlannedContext,
  o: { pick: TrialRecord; best: TrialRecord; trainVal: ImageSet; epochs: number; finalSeconds: number; index: number },
): Promise<boolean> {
  const { store, emit, log, data } = ctx;
  const { pick, best, trainVal, epochs, finalSeconds } = o;
  // Planned with some room: the schedule anneals by time, so the fit ends annealed at the deadline either way.
  const plannedEpochs = Math.ceil(epochs * 1.25);
  const fit: TrialRecord = {
    ...pick,
    id: 'final',
    index: o.index,
    origin: `final fit of ${pick.id}`,
    status: 'running',
    rung: 0,
    epochs: plannedEpochs,
    epochsDone: 0,
    trainOn: 'TRAIN+VALIDATION',
    rungScores: [],
    bestValAccuracy: null,
    bestValLoss: null,
    bestEpoch: null,
    hasModel: false,
    startedAt: new Date().toISOString(),
    endedAt: undefined,
    seconds: 0,
    error: undefined,
  };
  log(`Final fit: ${describeConfig(pick.config)} for about ${epochs} epochs (${Math.round(finalSeconds)} s) on TRAIN+VALIDATION (${trainVal.count} images)`);
  emit({ type: 'trialStarted', trial: { ...fit } });
  store.writeTrial(fit);
  const outcome = await runTrialSegment(
    // Trained on TRAIN+VALIDATION: "validation" accuracy here is on seen data, a sanity check only,
    // and the model kept is the last, annealed one.
    { ...ctx.trialCtx, train: trainVal, validation: data.validation, checkpoint: 'last' },
    fit,
    {
      fromEpochs: 0,
      toEpochs: plannedEpochs,
      continueFrom: false,
      mayContinue: false,
      deadline: ctx.deadline - ctx.plan.reserveSeconds * 1000,
      annealByTime: true,
    },
  );
  fit.status = outcome.status === 'done' ? 'done' : outcome.status;
  fit.error = outcome.error;
  fit.epochsDone = outcome.epochsDone;
  fit.imagesPerSec = outcome.imagesPerSec;
  store.writeTrial(fit);
  emit({ type: 'trialEnded', trial: { ...fit } });
  const complete = outcome.status === 'done' && outcome.annealed === true;
  // The final model saw VALIDATION, so it must at least fit it as well as the best trial did.
  if (complete && fit.hasModel && (outcome.valAccuracy ?? 0) >= (best.bestValAccuracy ?? 0)) return true;
  log(
    `Final fit not used (${complete ? 'it fits VALIDATION worse than the best trial' : `it did not finish: ${outcome.status}${outcome.error ? `, ${outcome.error}` : ''}`}); keeping ${best.id}`,
    'warn',
  );
  return false;
}

/** The time left would not train longer than the best trial did: it goes to the search instead. */
async function searchOn(ctx: PlannedContext, finalSeconds: number): Promise<void> {
  const { store, plan, log } = ctx;
  log(
    `No final fit (${ctx.hasValidation ? 'too little time to train longer than the best trial' : 'no VALIDATION images to add'}): searching for the ${Math.round(finalSeconds)} s left`,
  );
  const search = await runSearch(
    {
      ...ctx.searchOptions,
      deadline: ctx.deadline - (plan.reserveSeconds + ctx.ensembleSeconds) * 1000,
      previous: store.readTrials().filter((t) => t.trainOn === 'TRAIN'),
      rerunInterrupted: false,
      finalFit: undefined,
    },
    ctx.hooks,
  );
  log(`Search ended (${search.stoppedBy}) after ${search.trials.length} trials`);
}
