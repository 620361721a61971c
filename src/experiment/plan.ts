// Phase 2, plan: a throughput guess, the time plan (search, final fit, evaluation), the search space
// and options, the hooks through which the search runs trials, and the one decision on how the
// experiment trains: its mode (search, fixed baseline, or short budget; see context.ts `Mode`) and
// whether a final fit follows the search.
// Reads: the spec (strategy, final fit, seed), the prepared images and shape, earlier trials when
// resuming. Writes: nothing itself; logs the short-budget decision and the plan. Its hooks, when the
// search calls them, write trials, the record's secondsUsed and the leaderboard, and emit
// `trialStarted`, `epochEnded`, `trialEnded` (and `batchProgress` to the host only).
import { totalmem } from 'node:os';
import { type PreparedSets, residentBytes } from '../data';
import { buildModel, modelFlops } from '../engine/model/build';
import type { TrialContext } from '../engine/training/trial';
import { createExecutor } from '../executor/create';
import { leaderboard } from '../search/leaderboard';
import { MIN_SEARCH_EPOCHS, type SearchPlan, planSearch, scoringSeconds } from '../search/plan';
import { portfolio } from '../search/portfolio';
import type { SearchHooks, SearchOptions } from '../search/search';
import { buildSpace, describeConfig } from '../search/space';
import type { BackendInfo, EpochRecord, TrialRecord } from '../shared/protocol';
import { ENSEMBLE_CANDIDATES } from '../search/ensemble';
import type { ExperimentContext, Mode } from './context';
import type { Prepared } from './prepare';

export type PreparedContext = ExperimentContext & Prepared;

export interface Planned {
  /** How the experiment trains (see context.ts `Mode`). */
  mode: Mode;
  /** The search leaves time for a final fit, which runs in `search` mode (the setting `finalFit`, true unless false). */
  finalFit: boolean;
  /** The dataset has VALIDATION images: trials are selected on them, and ensembles and test-time augmentation judged. */
  hasValidation: boolean;
  /** Throughput guess (images/s) before anything was measured, or the test override. */
  imagesPerSec: number;
  plan: SearchPlan;
  /** Depthwise-separable convolutions are in the space (not on the cpu backend). */
  separable: boolean;
  /** A pretrained backbone: transfer trials are in the space. */
  transfer: boolean;
  /** Seconds kept for scoring an ensemble of the top trials (when there is no final fit). */
  ensembleSeconds: number;
  /** When the search of `search` mode stops (ms since the epoch). */
  searchDeadline: number;
  searchOptions: Omit<SearchOptions, 'deadline' | 'previous'>;
  hooks: SearchHooks;
  /** What every trial trains with (the final fit too, with TRAIN+VALIDATION). */
  trialCtx: TrialContext;
  /** Trials of earlier runs (resume), which the search carries on from. */
  previousTrials: TrialRecord[];
}

export type PlannedContext = PreparedContext & Planned;

export function plan(ctx: PreparedContext): Planned {
  const { spec, store, data, input, backend, deadline } = ctx;
  const hasValidation = data.validation.count > 0;
  const imagesPerSec = ctx.run.overrides?.imagesPerSec ?? guessImagesPerSec(backend, input.size, input.channels);
  const searchPlan = planSearch({
    remainingSeconds: (deadline - Date.now()) / 1000,
    trainImages: data.train.count,
    evalImages: data.validation.count + data.test.count,
    imagesPerSec,
  });
  const separable = backend.name !== 'cpu';
  const transfer = ctx.backbone !== undefined;
  const trialCtx = trialContext(ctx, hasValidation);
  const previousTrials = ctx.run.resume ? store.readTrials() : [];
  // Without a final fit (spec.finalFit false) the search has its time too.
  const finalFit = spec.finalFit !== false;
  // Without a final fit the final model may be an ensemble of the top trials: keep the time to
  // score them on VALIDATION and the ensemble on TEST (model loading included).
  const ensembleSeconds = scoringSeconds({ models: ENSEMBLE_CANDIDATES, images: data.validation.count + data.test.count, imagesPerSec });
  const searchDeadline = finalFit ? Date.now() + searchPlan.searchSeconds * 1000 : deadline - (searchPlan.reserveSeconds + ensembleSeconds) * 1000;
  const hooks = searchHooks(ctx, trialCtx);
  const searchOptions: Omit<SearchOptions, 'deadline' | 'previous'> = {
    space: buildSpace({ imageSizes: [input.size], channels: input.channels, numClasses: data.classes.length, separable, transfer }),
    portfolio: portfolio({ separable, transfer }),
    seed: spec.seed,
    minResource: searchPlan.minResource,
    maxResource: searchPlan.maxResource,
    eta: searchPlan.eta,
    trainImages: data.train.count,
    estimateImagesPerSec: () => imagesPerSec,
    flopsOf: (config) => {
      if (config.family === 'transfer') return ctx.backboneFlops + 2 * ctx.backboneHeadInputs * data.classes.length;
      const m = buildModel(config, ctx.shape, 0);
      try {
        return modelFlops(m);
      } finally {
        m.dispose();
      }
    },
    maxTrials: ctx.run.overrides?.maxTrials,
    parallel: hooks.parallel,
    // Configurations the final fit could not train long enough are not screened.
    finalFit:
      finalFit && hasValidation
        ? { seconds: searchPlan.finalSeconds, trainImages: data.train.count + data.validation.count, minEpochs: MIN_SEARCH_EPOCHS }
        : undefined,
  };
  const mode = decideMode(ctx, imagesPerSec);
  if (mode === 'search') {
    ctx.log(
      `Plan: ${Math.round(finalFit ? searchPlan.searchSeconds : searchPlan.searchSeconds + searchPlan.finalSeconds)} s of search ` +
        `(rungs from ${searchPlan.minResource} to ${searchPlan.maxResource} epochs, η=${searchPlan.eta}), ` +
        `${finalFit ? `${Math.round(searchPlan.finalSeconds)} s for the final fit` : 'no final fit (setting)'}, ${Math.round(searchPlan.reserveSeconds)} s for evaluation`,
    );
  }
  return {
    mode,
    finalFit,
    hasValidation,
    imagesPerSec,
    plan: searchPlan,
    separable,
    transfer,
    ensembleSeconds,
    searchDeadline,
    searchOptions,
    hooks,
    trialCtx,
    previousTrials,
  };
}

/**
 * The mode: `fixed` when the setting says so; `short-budget` when the whole budget is too short to
 * compare configurations (decided on the whole budget, so that a resumed experiment keeps its first
 * decision), logged; else `search`.
 */
function decideMode(ctx: PreparedContext, imagesPerSec: number): Mode {
  if (ctx.spec.strategy === 'fixed') return 'fixed';
  const { data } = ctx;
  const whole = planSearch({
    remainingSeconds: ctx.budgetSeconds,
    trainImages: data.train.count,
    evalImages: data.validation.count + data.test.count,
    imagesPerSec,
  });
  if (whole.searchWorthwhile) return 'search';
  // A budget too short to compare configurations trains the best-known one instead (the baseline's path).
  ctx.log(
    `The budget affords about ${whole.affordableEpochs.toFixed(1)} epochs of a small network: too few to compare configurations ` +
      `(a search needs ${MIN_SEARCH_EPOCHS}+). Training the portfolio's best-known network for the whole budget (without crop augmentation, which pays only over more epochs); give more time to search.`,
  );
  return 'short-budget';
}

/** What trials train with: the sets, the shape, the memory they may use, and the events they report. */
export function trialContext(ctx: PreparedContext, hasValidation: boolean): TrialContext {
  const { data, backend, emit } = ctx;
  // Tensors may use half of RAM less the pixels held in memory (none when streamed); on wasm at most
  // 2 GiB of its 4 GiB address space (pixels live in JS memory, outside it).
  const ramForTensors = Math.max(256 * 2 ** 20, totalmem() * 0.5 - dataBytes(data));
  const memoryLimit = backend.name === 'wasm' ? Math.min(2 * 2 ** 30, ramForTensors) : ramForTensors;
  return {
    store: ctx.store,
    shape: ctx.shape,
    train: data.train,
    validation: hasValidation ? data.validation : null,
    seed: ctx.spec.seed,
    memoryLimit,
    isCancelled: ctx.isCancelled,
    onEpoch: (rec: EpochRecord) => emit({ type: 'epochEnded', record: rec }),
    onBatch: throttle(
      (p: { trialId: string; epoch: number; batch: number; batches: number; loss: number; imagesPerSec: number }) =>
        ctx.run.emit({ type: 'batchProgress', ...p }),
      500,
    ),
    modelMetadata: ctx.modelMetadata,
    backbone: ctx.backbone,
  };
}

/**
 * How the search saves trials, logs and runs a trial's segment (with its events and the leaderboard after it), through the
 * executor of the spec (src/executor: here, or Slurm jobs; `parallel`: segments at once).
 */
function searchHooks(ctx: PreparedContext, trialCtx: TrialContext): SearchHooks & { parallel: number } {
  const { store, emit, log } = ctx;
  const executor = createExecutor({
    spec: ctx.spec,
    store,
    trialCtx,
    events: {
      log: (m, level) => log(m, level),
      epoch: (record) => emit({ type: 'epochEnded', record }),
      jobChanged: (trial) => emit({ type: 'trialStarted', trial: { ...trial } }),
      isCancelled: ctx.isCancelled,
    },
  });
  if (executor.kind === 'slurm') log(`Trials run as Slurm jobs, ${executor.parallel} at a time`);
  return {
    parallel: executor.parallel,
    now: () => Date.now(),
    isCancelled: ctx.isCancelled,
    saveTrial: (t) => {
      store.writeTrial(t);
      store.updateRecord({ secondsUsed: ctx.secondsUsed() });
    },
    log: (m) => log(m),
    runTrial: async (trial, seg) => {
      emit({ type: 'trialStarted', trial: { ...trial } });
      const span = seg.annealByTime
        ? `until ${Math.round((seg.deadline - Date.now()) / 1000)} s from now (annealed to the deadline)`
        : `epochs ${seg.fromEpochs} → ${seg.toEpochs}`;
      log(`Trial ${trial.id} (${trial.origin}): ${describeConfig(trial.config)}, ${span}`);
      const outcome = await executor.run(trial, seg);
      // The search updates the record after this hook returns: report the outcome's figures now.
      const ended: TrialRecord = {
        ...trial,
        status: outcome.status,
        error: outcome.error,
        epochsDone: outcome.epochsDone,
        imagesPerSec: outcome.imagesPerSec || trial.imagesPerSec,
      };
      emit({ type: 'trialEnded', trial: ended });
      if (outcome.error) log(`Trial ${trial.id} ${outcome.status}: ${outcome.error}`, 'warn');
      store.writeLeaderboard(leaderboard(store.readTrials()));
      return outcome;
    },
  };
}

/**
 * A throughput guess (images/s) for a small network before anything was measured (webgpu: the 2-conv
 * network at batch 64 on an H100 with the project's WebGPU kernels made 2,974–3,639).
 */
function guessImagesPerSec(backend: BackendInfo, size: number, channels: number): number {
  const base = { 'tensorflow-gpu': 5000, tensorflow: 1500, webgpu: 3000, wasm: 350, cpu: 2 }[backend.name];
  return Math.max(0.5, (base * 28 * 28) / (size * size * Math.max(1, channels / 1.5)));
}

function dataBytes(d: PreparedSets): number {
  return residentBytes(d.train) + residentBytes(d.validation) + residentBytes(d.test);
}

function throttle<T>(fn: (x: T) => void, ms: number): (x: T) => void {
  let last = 0;
  return (x: T) => {
    const now = Date.now();
    if (now - last >= ms) {
      last = now;
      fn(x);
    }
  };
}
