// Phase 2, plan: the measured training speed, the time plan (search, final fit, evaluation), the search space
// and options, the hooks through which the search runs trials, and the one decision on how the
// experiment trains: its mode (search, fixed baseline, or short budget; see context.ts `Mode`) and
// whether a final fit follows the search.
// Reads: the spec (strategy, final fit, seed, cache folder), the prepared images and shape, earlier
// trials when resuming; the cached speed of this machine (`<cacheDir>/speed.json`). Writes: that
// cache when it measures, the record's `speed`; logs the speed, the short-budget decision and the plan. Its hooks, when the
// search calls them, write trials, the record's secondsUsed and the leaderboard, and emit
// `trialStarted`, `epochEnded`, `trialEnded` (and `batchProgress` to the host only).
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { type PreparedSets, residentBytes } from '../data';
import { buildModel, modelFlops } from '../engine/model/build';
import type { TrialContext } from '../engine/training/trial';
import { cachedSpeed, measureTrainingSpeed, speedKey } from '../engine/training/speed';
import { createExecutor } from '../executor/create';
import { leaderboard } from '../search/leaderboard';
import { MIN_SEARCH_EPOCHS, type SearchPlan, decideMode, planSearch, scoringSeconds } from '../search/plan';
import { portfolio } from '../search/portfolio';
import type { SearchHooks, SearchOptions } from '../search/search';
import { buildSpace, describeConfig } from '../search/space';
import type { BackendInfo, EpochRecord, TrialRecord } from '../shared/protocol';
import { PRODUCT_VERSION } from '../shared/version';
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
  /** Training speed (images/s) of the portfolio's first network, measured on this machine (or cached, or the test override). */
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

export async function plan(ctx: PreparedContext): Promise<Planned> {
  const { spec, store, data, input, deadline, backend } = ctx;
  const hasValidation = data.validation.count > 0;
  const separable = backend.name !== 'cpu';
  const imagesPerSec = await trainingSpeed(ctx, separable);
  const searchPlan = planSearch({
    remainingSeconds: (deadline - Date.now()) / 1000,
    trainImages: data.train.count,
    evalImages: data.validation.count + data.test.count,
    imagesPerSec,
  });
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
  const mode = chooseMode(ctx, imagesPerSec);
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

/** The mode (search/plan.ts `decideMode`), with the short-budget decision logged. */
function chooseMode(ctx: PreparedContext, imagesPerSec: number): Mode {
  const { data } = ctx;
  const { mode, plan: whole } = decideMode({
    strategy: ctx.spec.strategy ?? 'search',
    budgetSeconds: ctx.budgetSeconds,
    trainImages: data.train.count,
    evalImages: data.validation.count + data.test.count,
    imagesPerSec,
  });
  // A budget too short to compare configurations trains the best-known one instead (the baseline's path).
  if (mode === 'short-budget') {
    ctx.log(
      `The budget affords about ${whole.affordableEpochs.toFixed(1)} epochs of a small network at ${Math.round(imagesPerSec)} images/s: too few to compare configurations ` +
        `(a search needs ${MIN_SEARCH_EPOCHS}+). Training the portfolio's best-known network for the whole budget (without crop augmentation, which pays only over more epochs); give more time to search.`,
    );
  }
  return mode;
}

/**
 * The training speed the plan rests on: the portfolio's first network from scratch (the small
 * network whose epochs the plan counts; with a backbone too, since its head trains on cached
 * features) timed for a few steps on this backend at this input shape, or that figure cached in
 * `<cacheDir>/speed.json` by an earlier experiment on this machine. Logged and kept in the record.
 * A measurement that fails (out of memory) falls back to a rough guess, with a warning.
 */
async function trainingSpeed(ctx: PreparedContext, separable: boolean): Promise<number> {
  const { backend, shape, store } = ctx;
  const override = ctx.run.overrides?.imagesPerSec;
  if (override !== undefined) {
    store.updateRecord({ speed: { imagesPerSec: override, source: 'override' } });
    return override;
  }
  const config = portfolio({ separable, transfer: false })[0];
  const key = speedKey({ backend: backend.name, threads: backend.threads, inputShape: shape.inputShape, config, version: PRODUCT_VERSION });
  const where = `${backend.name}${backend.threads ? ` (${backend.threads} threads)` : ''} at ${shape.inputShape.join('×')}`;
  // 2 s of timed steps, less for a budget of a few minutes (a 30-second test budget: 0.3 s).
  const seconds = Math.min(2, Math.max(0.3, ctx.budgetSeconds * 0.005));
  try {
    const t0 = Date.now();
    const r = await cachedSpeed(join(ctx.spec.cacheDir, 'speed.json'), key, async () => (await measureTrainingSpeed(config, shape, { seconds })).imagesPerSec);
    const ips = Math.round(r.imagesPerSec * 10) / 10;
    ctx.log(
      `Speed: the portfolio's first network trains at ${Math.round(ips)} images/s on ${where} ` +
        (r.cached ? `(measured ${r.measuredAt.slice(0, 10)}, cached)` : `(measured now, in ${((Date.now() - t0) / 1000).toFixed(1)} s)`),
    );
    store.updateRecord({ speed: { imagesPerSec: ips, source: r.cached ? 'cache' : 'measured' } });
    return ips;
  } catch (e) {
    const guess = guessImagesPerSec(backend, shape.inputShape[0], shape.inputShape[2]);
    ctx.log(`Speed: measuring it failed (${e instanceof Error ? e.message : String(e)}); planning with a guess of ${Math.round(guess)} images/s`, 'warn');
    store.updateRecord({ speed: { imagesPerSec: guess, source: 'guess' } });
    return guess;
  }
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
 * A rough speed (images/s) for a small network, used only when measuring it failed (webgpu: the
 * 2-conv network at batch 64 on an H100 with the project's WebGPU kernels made 2,974–3,639).
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
