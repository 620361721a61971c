// One experiment, start to end, inside the worker process:
//   backend → dataset (open, validate, decode into the cache) → search (portfolio, TPE, ASHA)
//   → final fit → evaluation on TEST → results in the store.
// Every step writes to the experiment store as it goes, so a crash, a cancel or a kill keeps
// every finished trial and the best model; `resume` carries on from there.
import { cpSync, rmSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { concatSets, openDataset, prepareImageSets, probeImages, readRows, residentBytes, validateDataset } from '../data';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { ImageSet, PreparedSets } from '../data';
import { type ModelShape, buildModel, modelFlops } from '../engine/models';
import { initBackend } from '../engine/runtime';
import { lastStateDir, runTrialSegment } from '../engine/trial';
import { buildEnsembleModel } from '../engine/ensemble-model';
import { buildFlipTtaModel } from '../engine/flip-tta';
import { type BackboneRange, loadBackbone, resolveBackbone } from '../engine/backbone';
import { loadModel, readModelMetadata, saveModel } from '../engine/model-io';
import { predictScores, scoreSet } from '../engine/train';
import { evaluateModel } from '../eval/evaluate';
import { type EnsembleCandidate, selectEnsemble } from '../search/ensemble';
import { chooseFinalFit } from '../search/final-choice';
import { judgeFlipTta } from '../search/tta';
import { leaderboard } from '../search/leaderboard';
import { MIN_SEARCH_EPOCHS, chooseInput, finalFitEpochs, planSearch, scoringSeconds } from '../search/plan';
import { portfolio, shortBudgetConfig } from '../search/portfolio';
import { type SearchHooks, type SearchOptions, bestTrial, runSearch } from '../search/search';
import { buildSpace, describeConfig } from '../search/space';
import type {
  BackendInfo,
  ExperimentRecord,
  ExperimentSpec,
  TestMetrics,
  TrialRecord,
  WorkerEvent,
} from '../shared/protocol';
import { ExperimentStore } from '../store/store';

export interface RunContext {
  experimentDir: string;
  spec: ExperimentSpec;
  resume: boolean;
  emit: (e: WorkerEvent) => void;
  isCancelled: () => boolean;
  /** Overrides for tests: fixed throughput guess, fewer trials. */
  overrides?: { imagesPerSec?: number; maxTrials?: number };
}

const PRODUCT_VERSION = '0.1.0';

export async function runExperiment(ctx: RunContext): Promise<ExperimentRecord> {
  const runStart = Date.now();
  const store = new ExperimentStore(ctx.experimentDir);
  const previous = store.readRecord();
  const secondsBefore = ctx.resume ? previous.secondsUsed : 0;
  const budgetSeconds = ctx.spec.budgetMinutes * 60;
  const deadline = runStart + Math.max(0, budgetSeconds - secondsBefore) * 1000;
  const emit = (e: WorkerEvent) => {
    store.appendEvent(e);
    ctx.emit(e);
  };
  const log = (message: string, level: 'info' | 'warn' | 'debug' = 'info') => emit({ type: 'log', level, message });
  const secondsUsed = () => secondsBefore + (Date.now() - runStart) / 1000;

  let record = store.updateRecord({
    status: 'running',
    startedAt: previous.startedAt ?? new Date(runStart).toISOString(),
    endedAt: undefined,
    error: undefined,
  });
  let data: PreparedSets | undefined;
  try {
    // 1. Backend
    const backend: BackendInfo = await initBackend({ preference: ctx.spec.backend, runtimeDir: process.env.AUTOML_RUNTIME_DIR });
    backend.versions = { ...backend.versions, 'automl-vscode': PRODUCT_VERSION, node: process.versions.node };
    emit({ type: 'backend', backend });
    record = store.updateRecord({ backend, versions: backend.versions });

    // 2. Data
    const dataset = await openDataset(ctx.spec.dataset, { seed: ctx.spec.seed, multiLabel: ctx.spec.multiLabel });
    // Decode once: a quick probe of a sample of images picks the input size, then validation
    // decodes every image at that size straight into the cache.
    const probe = await probeImages(dataset);
    let input = chooseInput({
      medianSide: probe.medianSide,
      color: probe.color,
      requested: ctx.spec.imageSize,
      gpu: backend.name === 'tensorflow-gpu' || backend.name === 'webgpu',
    });
    // A pretrained backbone sets the input: its size (when fixed) and channels.
    let backbone: { dir: string; range: Exclude<BackboneRange, 'auto'>; size: number } | undefined;
    let backboneHeadInputs = 0;
    let backboneFlops = 0;
    if (ctx.spec.backbone) {
      const dir = await resolveBackbone(ctx.spec.backbone, join(ctx.spec.cacheDir, 'backbones'));
      const loaded = await loadBackbone(dir, ctx.spec.backboneRange ?? 'auto', { size: input.size });
      const info = loaded.info;
      loaded.dispose();
      const [bh, bw, bc] = info.inputShape;
      if (bh !== bw) throw new Error(`Backbone ${ctx.spec.backbone}: takes ${bh}×${bw} images; only square inputs are supported`);
      input = { size: bh ?? input.size, channels: bc as 1 | 3, why: `the pretrained backbone's input (${bc === 3 ? 'RGB' : 'grayscale'})` };
      backbone = { dir, range: info.range, size: input.size };
      backboneFlops = info.flops;
      backboneHeadInputs = info.featureShape[info.featureShape.length - 1] ?? 0;
      log(
        `Backbone ${ctx.spec.backbone}: ${info.weightLayers} layers with weights, features ${info.featureShape.join('×')}, ` +
          `${info.flops >= 1e9 ? `${(info.flops / 1e9).toFixed(2)} GFLOP` : `${(info.flops / 1e6).toFixed(1)} MFLOP`} per image; pixels mapped to ${info.range} (${info.rangeWhy})`,
      );
    }
    log(`Input ${input.size}×${input.size}×${input.channels}: ${input.why}`);
    if (!probe.color && probe.grayStoredAsColor) log(`${probe.grayStoredAsColor} of ${probe.probed} sampled images are stored as colour but gray: trained in grayscale`);
    const size = { height: input.size, width: input.size, channels: input.channels };
    const validation = await validateDataset(dataset, {
      level: 'images',
      size,
      fit: ctx.spec.fit,
      cacheDir: ctx.spec.cacheDir,
      onProgress: (p) => ctx.emit({ type: 'dataProgress', phase: p.phase, done: p.done, total: p.total }),
    });
    const errors = validation.findings.filter((f) => f.severity === 'error');
    for (const f of validation.findings.filter((x) => x.severity === 'warning').slice(0, 20)) {
      log(`${f.file}${f.line ? `:${f.line}` : ''}: ${f.message}`, 'warn');
    }
    if (errors.length) {
      const lines = errors.slice(0, 10).map((f) => `${f.file}${f.line ? `:${f.line}` : ''}: ${f.message}`);
      throw new Error(`The dataset has ${errors.length} error${errors.length > 1 ? 's' : ''}:\n${lines.join('\n')}${errors.length > 10 ? `\n… and ${errors.length - 10} more (run \`automl validate\`)` : ''}`);
    }
    const maxResidentBytes = dataMemoryBytes(ctx.spec.dataMemoryMB);
    data = await prepareImageSets(dataset, {
      size,
      fit: ctx.spec.fit,
      cacheDir: ctx.spec.cacheDir,
      maxResidentBytes,
      onProgress: (p) => ctx.emit({ type: 'dataProgress', phase: p.phase, done: p.done, total: p.total }),
    });
    if (data.streamed) {
      log(
        `Images: ${mb(data.pixelBytes)} of pixels, more than the ${mb(maxResidentBytes)} given to data in memory: ` +
          `training reads each batch from the image cache (${ctx.spec.dataMemoryMB ? 'setting automl.dataMemoryMB' : 'a quarter of RAM; setting automl.dataMemoryMB'})`,
      );
    }
    if (data.train.count === 0) throw new Error('The dataset has no usable TRAIN images.');
    const { mean, std } = pixelStats(data.train);
    const shape: ModelShape = {
      inputShape: [input.size, input.size, input.channels],
      numClasses: data.classes.length,
      multiLabel: data.multiLabel,
      mean,
      std,
    };
    record = store.updateRecord({
      classes: data.classes,
      multiLabel: data.multiLabel,
      inputShape: shape.inputShape,
      datasetFingerprint: validation.fingerprint,
    });
    emit({
      type: 'experimentStarted',
      experimentId: ctx.spec.id,
      classes: data.classes,
      counts: { TRAIN: data.train.count, VALIDATION: data.validation.count, TEST: data.test.count },
      budgetSeconds,
      resumed: ctx.resume,
    });
    const modelMetadata = {
      classes: data.classes,
      multiLabel: data.multiLabel,
      input: { height: input.size, width: input.size, channels: input.channels, fit: ctx.spec.fit, range: '0-255', layout: 'NHWC' },
      experimentId: ctx.spec.id,
    };

    // 3. Search
    const hasValidation = data.validation.count > 0;
    const selectionSet = hasValidation ? data.validation : null;
    const ips0 = ctx.overrides?.imagesPerSec ?? guessImagesPerSec(backend, input.size, input.channels);
    const plan = planSearch({
      remainingSeconds: (deadline - Date.now()) / 1000,
      trainImages: data.train.count,
      evalImages: data.validation.count + data.test.count,
      imagesPerSec: ips0,
    });
    const separable = backend.name !== 'cpu';
    const transfer = backbone !== undefined;
    const space = buildSpace({ imageSizes: [input.size], channels: input.channels, numClasses: data.classes.length, separable, transfer });
    // Tensors may use half of RAM less the pixels held in memory (none when streamed); on wasm at most
    // 2 GiB of its 4 GiB address space (pixels live in JS memory, outside it).
    const ramForTensors = Math.max(256 * 2 ** 20, totalmem() * 0.5 - dataBytes(data));
    const memoryLimit = backend.name === 'wasm' ? Math.min(2 * 2 ** 30, ramForTensors) : ramForTensors;
    const trialCtx = {
      store,
      shape,
      train: data.train,
      validation: selectionSet,
      seed: ctx.spec.seed,
      memoryLimit,
      isCancelled: ctx.isCancelled,
      onEpoch: (rec: import('../shared/protocol').EpochRecord) => emit({ type: 'epochEnded', record: rec }),
      onBatch: throttle((p: { trialId: string; epoch: number; batch: number; batches: number; loss: number; imagesPerSec: number }) =>
        ctx.emit({ type: 'batchProgress', ...p }), 500),
      modelMetadata,
      backbone,
    };
    const previousTrials = ctx.resume ? store.readTrials() : [];
    // Without a final fit (spec.finalFit false) the search has its time too.
    const finalFit = ctx.spec.finalFit !== false;
    // Without a final fit the final model may be an ensemble of the top trials: keep the time to
    // score them on VALIDATION and the ensemble on TEST (model loading included).
    const ensembleSeconds = scoringSeconds({ models: ENSEMBLE_CANDIDATES, images: data.validation.count + data.test.count, imagesPerSec: ips0 });
    const searchDeadline = finalFit ? Date.now() + plan.searchSeconds * 1000 : deadline - (plan.reserveSeconds + ensembleSeconds) * 1000;
    const searchOptions: Omit<SearchOptions, 'deadline' | 'previous'> = {
      space,
      portfolio: portfolio({ separable, transfer }),
      seed: ctx.spec.seed,
      minResource: plan.minResource,
      maxResource: plan.maxResource,
      eta: plan.eta,
      trainImages: data.train.count,
      estimateImagesPerSec: () => ips0,
      flopsOf: (config) => {
        if (config.family === 'transfer') return backboneFlops + 2 * backboneHeadInputs * data!.classes.length;
        const m = buildModel(config, shape, 0);
        try {
          return modelFlops(m);
        } finally {
          m.dispose();
        }
      },
      maxTrials: ctx.overrides?.maxTrials,
      // Configurations the final fit could not train long enough are not screened.
      finalFit: finalFit && hasValidation ? { seconds: plan.finalSeconds, trainImages: data.train.count + data.validation.count, minEpochs: MIN_SEARCH_EPOCHS } : undefined,
    };
    const hooks: SearchHooks = {
      now: () => Date.now(),
      isCancelled: ctx.isCancelled,
      saveTrial: (t) => {
        store.writeTrial(t);
        store.updateRecord({ secondsUsed: secondsUsed() });
      },
      log: (m) => log(m),
      runTrial: async (trial, seg) => {
        emit({ type: 'trialStarted', trial: { ...trial } });
        const span = seg.annealByTime ? `until ${Math.round((seg.deadline - Date.now()) / 1000)} s from now (annealed to the deadline)` : `epochs ${seg.fromEpochs} → ${seg.toEpochs}`;
        log(`Trial ${trial.id} (${trial.origin}): ${describeConfig(trial.config)}, ${span}`);
        const outcome = await runTrialSegment(trialCtx, trial, seg);
        // The search updates the record after this hook returns: report the outcome's figures now.
        const ended: TrialRecord = { ...trial, status: outcome.status, error: outcome.error, epochsDone: outcome.epochsDone, imagesPerSec: outcome.imagesPerSec || trial.imagesPerSec };
        emit({ type: 'trialEnded', trial: ended });
        if (outcome.error) log(`Trial ${trial.id} failed: ${outcome.error}`, 'warn');
        store.writeLeaderboard(leaderboard(store.readTrials()));
        return outcome;
      },
    };
    // A budget too short to compare configurations trains the best-known one instead (the baseline's path).
    // Decided on the whole budget, so that a resumed experiment keeps its first decision.
    const whole = planSearch({ remainingSeconds: budgetSeconds, trainImages: data.train.count, evalImages: data.validation.count + data.test.count, imagesPerSec: ips0 });
    const shortBudget = ctx.spec.strategy !== 'fixed' && !whole.searchWorthwhile;
    if (shortBudget) {
      log(
        `The budget affords about ${whole.affordableEpochs.toFixed(1)} epochs of a small network: too few to compare configurations ` +
          `(a search needs ${MIN_SEARCH_EPOCHS}+). Training the portfolio's best-known network for the whole budget (without crop augmentation, which pays only over more epochs); give more time to search.`,
      );
    }
    const fixed = ctx.spec.strategy === 'fixed' || shortBudget;
    if (!fixed) {
      log(
        `Plan: ${Math.round(finalFit ? plan.searchSeconds : plan.searchSeconds + plan.finalSeconds)} s of search ` +
          `(rungs from ${plan.minResource} to ${plan.maxResource} epochs, η=${plan.eta}), ` +
          `${finalFit ? `${Math.round(plan.finalSeconds)} s for the final fit` : 'no final fit (setting)'}, ${Math.round(plan.reserveSeconds)} s for evaluation`,
      );
    }
    let search = fixed
      ? // The baseline: the portfolio's first network for the whole budget (one trial, annealed to the deadline).
        await runSearch(
          { ...searchOptions, portfolio: shortBudget ? [shortBudgetConfig({ separable, transfer })] : searchOptions.portfolio.slice(0, 1), minResource: 1e6, maxResource: 1e6, maxTrials: 1, deadline: deadline - plan.reserveSeconds * 1000, previous: previousTrials },
          hooks,
        )
      : await runSearch({ ...searchOptions, deadline: searchDeadline, previous: previousTrials }, hooks);
    log(`${shortBudget ? 'Training' : fixed ? 'Fixed baseline' : 'Search'} ended (${search.stoppedBy}) after ${search.trials.length} trials`);

    // 4. Final fit of the best configuration on TRAIN+VALIDATION, when time allows.
    let best = bestTrial(store.readTrials());
    let finalModel: ExperimentRecord['finalModel'] | undefined;
    // The trial whose checkpoint stands in for the final fit where VALIDATION must be unseen.
    let finalFitOf: string | undefined;
    const finalDir = store.file('final');
    if (best && !ctx.isCancelled() && !fixed && finalFit) {
      finalModel = { kind: 'trial', trials: [best.id], valAccuracy: best.bestValAccuracy };
      const trainVal = hasValidation ? concatSets(data.train, data.validation) : data.train;
      const finalSeconds = (deadline - Date.now()) / 1000 - plan.reserveSeconds;
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
      const ips = pick.imagesPerSec ?? ips0;
      const epochs = finalFitEpochs({ seconds: finalSeconds, imagesPerSec: ips, trainImages: trainVal.count, bestTrialEpochs: pick.epochsDone });
      // Planned with some room: the schedule anneals by time, so the fit ends annealed at the deadline either way.
      const plannedEpochs = Math.ceil(epochs * 1.25);
      if (epochs > 0 && hasValidation) {
        const fit: TrialRecord = {
          ...pick,
          id: 'final',
          index: search.trials.length,
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
          { ...trialCtx, train: trainVal, validation: data.validation, checkpoint: 'last' },
          fit,
          { fromEpochs: 0, toEpochs: plannedEpochs, continueFrom: false, mayContinue: false, deadline: deadline - plan.reserveSeconds * 1000, annealByTime: true },
        );
        fit.status = outcome.status === 'done' ? 'done' : outcome.status;
        fit.error = outcome.error;
        fit.epochsDone = outcome.epochsDone;
        fit.imagesPerSec = outcome.imagesPerSec;
        store.writeTrial(fit);
        emit({ type: 'trialEnded', trial: { ...fit } });
        const complete = outcome.status === 'done' && outcome.annealed === true;
        // The final model saw VALIDATION, so it must at least fit it as well as the best trial did.
        if (complete && fit.hasModel && (outcome.valAccuracy ?? 0) >= (best.bestValAccuracy ?? 0)) {
          finalModel = { kind: 'final-fit', trials: ['final'], valAccuracy: null };
          finalFitOf = pick.id;
        } else {
          log(`Final fit not used (${complete ? 'it fits VALIDATION worse than the best trial' : `it did not finish: ${outcome.status}${outcome.error ? `, ${outcome.error}` : ''}`}); keeping ${best.id}`, 'warn');
        }
      } else if (finalSeconds > 5) {
        // The time left would not train longer than the best trial did: give it to the search instead.
        log(`No final fit (${hasValidation ? 'too little time to train longer than the best trial' : 'no VALIDATION images to add'}): searching for the ${Math.round(finalSeconds)} s left`);
        search = await runSearch(
          {
            ...searchOptions,
            deadline: deadline - (plan.reserveSeconds + ensembleSeconds) * 1000,
            previous: store.readTrials().filter((t) => t.trainOn === 'TRAIN'),
            rerunInterrupted: false,
            finalFit: undefined,
          },
          hooks,
        );
        log(`Search ended (${search.stoppedBy}) after ${search.trials.length} trials`);
      }
    }
    // Always leave a loadable final model when any trial produced one.
    best = bestTrial(store.readTrials());
    if (!finalModel && best) finalModel = { kind: 'trial', trials: [best.id], valAccuracy: best.bestValAccuracy };
    // 4b. An ensemble of the top trials, when it beats the best one on VALIDATION. Only when the final
    // model is a trial's checkpoint: a final fit has seen VALIDATION, so nothing can be compared with it there.
    if (finalModel?.kind === 'trial' && hasValidation && !fixed && !ctx.isCancelled()) {
      const ensemble = await ensembleOfTopTrials({
        store,
        trials: store.readTrials(),
        validation: data.validation,
        numClasses: data.classes.length,
        multiLabel: data.multiLabel,
        testImages: data.test.count,
        // Its own estimate keeps the time to evaluate the ensemble on TEST.
        deadline: deadline - 1000,
        metadata: modelMetadata,
        log,
      });
      if (ensemble) finalModel = ensemble;
    }
    let test: TestMetrics | undefined;
    if (finalModel) {
      let plainSource: string | undefined;
      let source =
        finalModel.kind === 'final-fit' ? store.modelDir('final') : finalModel.kind === 'ensemble' ? store.file('ensemble') : store.modelDir(finalModel.trials[0]);
      // 4c. Test-time augmentation by mirror image, when it is more accurate on VALIDATION. Not for
      // the fixed baseline, which is one network trained and nothing else.
      if (hasValidation && ctx.spec.tta !== false && ctx.spec.strategy !== 'fixed' && !ctx.isCancelled()) {
        const judgeDir = finalModel.kind === 'final-fit' ? (finalFitOf ? store.modelDir(finalFitOf) : null) : source;
        const tta = judgeDir
          ? await flipTtaFor({
              judgeDir,
              judgedAs: finalModel.kind === 'final-fit' ? `${finalFitOf}'s checkpoint, the final fit's configuration` : finalModel.kind === 'ensemble' ? 'the ensemble' : `${finalModel.trials[0]}'s checkpoint`,
              modelDir: source,
              outDir: store.file('tta'),
              validation: data.validation,
              numClasses: data.classes.length,
              multiLabel: data.multiLabel,
              testImages: data.test.count,
              deadline,
              log,
            })
          : false;
        if (tta) {
          plainSource = source;
          source = store.file('tta');
          finalModel = { ...finalModel, tta: 'flip' };
        }
      }
      rmSync(join(finalDir, 'model'), { recursive: true, force: true });
      cpSync(source, join(finalDir, 'model'), { recursive: true });
      // 5. Evaluation on TEST (or VALIDATION when there is no TEST).
      const evalSet = data.test.count > 0 ? data.test : data.validation;
      test = await evaluateModel(join(finalDir, 'model'), evalSet, data.test.count > 0 ? 'TEST' : 'VALIDATION', data.classes, data.multiLabel, finalDir);
      log(`${test.partition}: accuracy ${(test.accuracy * 100).toFixed(2)} %, macro AUC ${fmt(test.macroAuc)}, macro AP ${fmt(test.macroAveragePrecision)} (${test.count} images)`);
      if (plainSource && evalSet.count > 0) {
        // What the mirror image bought, so that its doubled prediction time can be weighed.
        const plainScores = await scoresOf(loadModel(plainSource), evalSet);
        finalModel = { ...finalModel, plainAccuracy: scoreSet(plainScores, evalSet, data.classes.length, data.multiLabel).accuracy };
        log(`${test.partition} without the mirror image: accuracy ${((finalModel.plainAccuracy ?? 0) * 100).toFixed(2)} %`);
      }
      for (const made of [store.file('ensemble'), store.file('tta')]) rmSync(made, { recursive: true, force: true });
    }
    for (const t of store.readTrials()) {
      if (t.status === 'running') store.writeTrial({ ...t, status: ctx.isCancelled() ? 'cancelled' : 'interrupted' });
      if (t.trainOn === 'TRAIN') rmSync(lastStateDir(store, t.id), { recursive: true, force: true });
    }
    const rows = leaderboard(store.readTrials());
    store.writeLeaderboard(rows);
    record = store.updateRecord({
      status: ctx.isCancelled() ? 'cancelled' : 'done',
      bestTrialId: best?.id,
      finalModel,
      test,
      endedAt: new Date().toISOString(),
      secondsUsed: secondsUsed(),
      peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    });
    emit({ type: 'experimentEnded', experiment: record, leaderboard: rows });
    return record;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    emit({ type: 'error', message, detail: e instanceof Error ? e.stack : undefined });
    for (const t of store.readTrials()) if (t.status === 'running') store.writeTrial({ ...t, status: 'interrupted', error: message });
    record = store.updateRecord({ status: 'failed', error: message, endedAt: new Date().toISOString(), secondsUsed: secondsUsed() });
    store.writeLeaderboard(leaderboard(store.readTrials()));
    emit({ type: 'experimentEnded', experiment: record, leaderboard: store.readLeaderboard() });
    return record;
  } finally {
    data?.close();
  }
}

const fmt = (x: number | null) => (x === null ? 'n/a' : x.toFixed(4));

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

/** Pixel bytes an experiment keeps in memory before it streams from the cache: the setting, or a quarter of RAM. */
export function dataMemoryBytes(settingMB: number | undefined): number {
  return settingMB && settingMB > 0 ? settingMB * 2 ** 20 : Math.floor(totalmem() / 4);
}

const mb = (bytes: number) =>
  bytes < 2 ** 20 ? `${Math.round(bytes / 1024)} KB` : `${Math.round(bytes / 2 ** 20).toLocaleString('en-US')} MB`;

/** Mean and standard deviation of the training pixels (0–255), from a sample of at most 2,000 images. */
export function pixelStats(set: ImageSet): { mean: number; std: number } {
  const n = Math.min(set.count, 2000);
  const stride = Math.max(1, Math.floor(set.count / Math.max(1, n)));
  const positions: number[] = [];
  for (let i = 0; i < set.count && positions.length < n; i += stride) positions.push(i);
  const rows = readRows(set, positions);
  let sum = 0;
  let sq = 0;
  for (let j = 0; j < rows.length; j++) {
    const v = rows[j];
    sum += v;
    sq += v * v;
  }
  const cnt = rows.length;
  const mean = cnt ? sum / cnt : 0;
  const std = cnt ? Math.sqrt(Math.max(1e-6, sq / cnt - mean * mean)) : 1;
  return { mean, std: Math.max(1, std) };
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
    o.log(`Ensemble not used: ${members} reaches ${pctOf(choice.accuracy)} on VALIDATION, not enough over ${choice.single.id} alone (${pctOf(choice.single.accuracy)})`);
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
    const d = judgeFlipTta(plainScores, await predictScores(judge, o.validation), (s) => scoreSet(s, o.validation, o.numClasses, o.multiLabel), o.validation.count);
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
async function scoresOf(loading: Promise<tfl.LayersModel>, set: ImageSet): Promise<Float32Array> {
  const model = await loading;
  try {
    return await predictScores(model, set);
  } finally {
    model.dispose();
  }
}

const pctOf = (x: number) => `${(x * 100).toFixed(2)} %`;

/** Trials considered for an ensemble (the best by validation accuracy). */
const ENSEMBLE_CANDIDATES = 5;
