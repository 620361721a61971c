// What the panels show, read from the experiment store and the dataset. Pure Node (no
// `vscode`): unit-testable, and the webview harness builds its fixtures with it.
import { existsSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Dataset, DatasetItem, DatasetStats, Finding } from '../data/types';
import type {
  DatasetPanelData,
  EvaluationFile,
  EvaluationPanelData,
  ImageRefView,
  ItemSource,
  LogLevel,
  PredictionsFile,
  PredictPanelData,
  TrainingPanelData,
} from '../shared/protocol';
import { readJson } from '../store/files';
import { ExperimentStore } from '../store/store';

/** What a dataset loader gives the panels (see `DatasetLoader` in src/host/panels/index.ts). */
export interface LoadedDataset {
  dataset: Dataset;
  /** Present when asked for (`withStats`). */
  stats?: DatasetStats;
  findings: Finding[];
}

const LOG_LINES = 200;

export function readTrainingData(dir: string, running: boolean): TrainingPanelData {
  const store = new ExperimentStore(dir);
  const experiment = store.readRecord();
  const trials = store.readTrials();
  const history: TrainingPanelData['history'] = {};
  for (const t of trials) history[t.id] = store.readHistory(t.id).sort((a, b) => a.epoch - b.epoch);
  let counts: Record<string, number> | undefined;
  const log: TrainingPanelData['log'] = [];
  for (const e of store.readEvents()) {
    if (e.type === 'experimentStarted') counts = e.counts;
    else if (e.type === 'log' && e.level !== 'debug') log.push({ time: e.time, level: e.level, message: e.message });
    else if (e.type === 'error') log.push({ time: e.time, level: 'error' as LogLevel, message: e.message });
    if (log.length > LOG_LINES * 2) log.splice(0, log.length - LOG_LINES);
  }
  // While a worker runs, secondsUsed was last written with experiment.json: the webview adds
  // the time since then.
  let asOf = new Date().toISOString();
  if (running) {
    try {
      asOf = statSync(store.file('experiment.json')).mtime.toISOString();
    } catch {
      /* keep now */
    }
  }
  return {
    experimentDir: dir,
    title: experiment.spec.name || experiment.spec.id,
    experiment,
    trials,
    history,
    leaderboard: store.readLeaderboard(),
    running,
    secondsUsed: experiment.secondsUsed,
    asOf,
    counts,
    log: log.slice(-LOG_LINES),
  };
}

export function readEvaluationFiles(dir: string): { evaluation: EvaluationFile | null; predictions: PredictionsFile | null } {
  const store = new ExperimentStore(dir);
  return {
    evaluation: readJson<EvaluationFile>(store.file('final', 'evaluation.json')) ?? null,
    predictions: readJson<PredictionsFile>(store.file('final', 'predictions.json')) ?? null,
  };
}

export function readEvaluationData(dir: string, dataset: Dataset | undefined): EvaluationPanelData {
  const store = new ExperimentStore(dir);
  const experiment = store.readRecord();
  const { evaluation, predictions } = readEvaluationFiles(dir);
  let error: string | undefined;
  if (!evaluation || !predictions) {
    error =
      experiment.status === 'running' || experiment.status === 'queued'
        ? 'The experiment is still running.'
        : experiment.status === 'failed'
          ? `The experiment failed before evaluation${experiment.error ? `: ${experiment.error}` : '.'}`
          : 'This experiment has no evaluation (no model was trained, or final/evaluation.json is missing).';
  } else if (
    predictions.scores.length !== predictions.itemIds.length * predictions.classes.length ||
    predictions.labels.length !== predictions.itemIds.length * (predictions.multiLabel ? predictions.classes.length : 1)
  ) {
    error = 'final/predictions.json is inconsistent (scores, labels and items do not match).';
  }
  const itemNames: Record<string, string> = {};
  const itemSources: Record<string, ItemSource> = {};
  if (dataset && predictions) {
    for (const id of predictions.itemIds) {
      const it = dataset.items[id];
      if (!it) continue;
      itemNames[String(id)] = it.display;
      itemSources[String(id)] = itemSource(dataset, it);
    }
  }
  return {
    experimentDir: dir,
    title: experiment.spec.name || experiment.spec.id,
    experiment,
    evaluation: error ? null : evaluation,
    predictions: error ? null : predictions,
    itemNames,
    itemSources,
    error,
  };
}

/** Where an item comes from, as the evaluation's detail view shows it. */
export function itemSource(dataset: Dataset, it: DatasetItem): ItemSource {
  return {
    format: dataset.format,
    path: it.ref.kind === 'file' ? it.ref.path : undefined,
    origin: it.origin.file,
    line: dataset.format === 'csv' ? it.origin.line : undefined,
  };
}

export function readPredictData(dir: string, predictAvailable: boolean): PredictPanelData {
  const store = new ExperimentStore(dir);
  const experiment = store.readRecord();
  const hasModel = !!experiment.finalModel && existsSync(store.file('final', 'model'));
  const reason = !hasModel
    ? experiment.status === 'running'
      ? 'The experiment is still running: its final model is saved when the search ends.'
      : 'This experiment has no final model.'
    : !predictAvailable
      ? 'Prediction is not wired in this build.'
      : undefined;
  return {
    experimentDir: dir,
    title: experiment.spec.name || experiment.spec.id,
    classes: experiment.classes ?? [],
    available: hasModel && predictAvailable,
    reason,
  };
}

/** Up to `perLabel` items per class, spread over the class's items (usable images first). */
export function pickSamples(dataset: Dataset, classes: string[], perLabel = 8): DatasetPanelData['samples'] {
  const byLabel = new Map<string, DatasetItem[]>();
  for (const c of classes) byLabel.set(c, []);
  for (const it of dataset.items) {
    for (const l of it.labels) byLabel.get(l)?.push(it);
  }
  return classes.map((label) => {
    const all = byLabel.get(label) ?? [];
    const usable = all.filter((it) => it.stamp !== undefined || it.ref.kind === 'idx');
    const pool = usable.length ? usable : all;
    const n = Math.min(perLabel, pool.length);
    const images: ImageRefView[] = [];
    for (let j = 0; j < n; j++) {
      const it = pool[Math.floor((j * pool.length) / n)];
      images.push({ key: String(it.id), display: it.display, partition: it.partition });
    }
    return { label, total: all.length, images };
  });
}

export function datasetPanelData(source: string, loaded: LoadedDataset, perLabel = 8): DatasetPanelData {
  const classes = loaded.stats?.classes ?? loaded.dataset.classes;
  return {
    source,
    title: `Dataset · ${basename(source)}`,
    stats: loaded.stats ?? null,
    findings: loaded.findings,
    samples: pickSamples(loaded.dataset, classes, perLabel),
  };
}

/** The experiment's name for titles (its folder name when the record cannot be read). */
export function experimentName(dir: string): string {
  try {
    const spec = new ExperimentStore(dir).readRecord().spec;
    return spec.name || spec.id;
  } catch {
    return basename(dir);
  }
}

/** The experiment's thumbnails folder (`<experiment>/thumbnails`). */
export function experimentThumbnails(dir: string): string {
  return join(dir, 'thumbnails');
}
