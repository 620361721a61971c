// The one module of message types shared by the extension host, the training worker, the CLI
// and the webviews. Everything here is plain JSON: it crosses process and iframe boundaries.
// No imports of `vscode`, Node or tfjs.
import type { DatasetStats, Finding, Partition } from '../data/types';
import type { MultiLabelMetrics } from '../eval/metrics';

// ---------------------------------------------------------------------------------------------
// Experiments, trials and their records
// ---------------------------------------------------------------------------------------------

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';
export type BackendPreference = 'auto' | BackendName;

/** What the user asked for. Stored as `experiment.json#spec`. */
export interface ExperimentSpec {
  /** Folder-safe id, e.g. `20261122-101500-fashion`. */
  id: string;
  name: string;
  /** Absolute path of the dataset (CSV, folder, zip or IDX folder). */
  dataset: string;
  /** Wall-clock budget in minutes, final fit included. */
  budgetMinutes: number;
  backend: BackendPreference;
  seed: number;
  /** Square input size; 0 = chosen from the data. */
  imageSize: number;
  /** How images are fitted to the input size. */
  fit: 'pad' | 'crop';
  /** Force multi-label even with one label per row. */
  multiLabel?: boolean;
  /** Where decoded image tensors are cached. */
  cacheDir: string;
  /**
   * `search` (default): the AutoML search. `fixed`: one known-good network (the portfolio's first)
   * trained for the whole budget, no search — the baseline a search must beat.
   */
  strategy?: 'search' | 'fixed';
  /**
   * Megabytes of decoded pixels kept in memory; a larger dataset is streamed from the image cache
   * a batch at a time. Unset or 0: a quarter of RAM.
   */
  dataMemoryMB?: number;
  /**
   * Retrain the best configuration on TRAIN+VALIDATION at the end (default true). Off: the search
   * has the whole budget and the final model is the best trial or an ensemble of the top trials,
   * with an honest VALIDATION score.
   */
  finalFit?: boolean;
  /**
   * Test-time augmentation (default true): the final model averages its scores for an image and its
   * mirror image when that is more accurate on VALIDATION (judged on a model that has not seen it).
   */
  tta?: boolean;
  /**
   * A pretrained TF.js layers model for transfer learning: a catalogue name (engine/model/catalogue.ts),
   * a folder with model.json, or the URL of a model.json (downloaded once into the cache); `auto`:
   * a catalogue backbone for RGB photos, none otherwise. Unset or `none`: no backbone. Adds the
   * `transfer` family, tried first.
   */
  backbone?: string;
  /** The pixel range the backbone was trained on (default `auto`: its metadata, else −1…1). */
  backboneRange?: 'auto' | '0-255' | '0-1' | '-1-1';
  /** Where trials run (default: the worker itself, one at a time). */
  executor?: ExecutorSpec;
  createdAt: string;
}

/**
 * Where an experiment's search trials run. `local`: in the worker, one at a time (the default).
 * `slurm`: each trial segment is a Slurm job running the same worker bundle on the same experiment
 * folder (a shared filesystem), `parallel` at a time (see src/executor/slurm.ts, docs/slurm.md).
 */
export interface ExecutorSpec {
  kind: 'local' | 'slurm';
  /** Trials running at once (Slurm; the local executor runs one). */
  parallel?: number;
  /** sbatch --partition (unset: the cluster's default partition). */
  partition?: string;
  /** GPUs per trial job (sbatch --gpus-per-task); unset or 0: none. */
  gpusPerTrial?: number;
  /** CPUs per trial job (sbatch --cpus-per-task; default 1). */
  cpusPerTrial?: number;
  /** Extra sbatch arguments, each one argument (`--account=lab`, `--qos=short`). */
  sbatchArgs?: string[];
}

/** A search trial's Slurm job (the Slurm executor's): the job now or last running it, and the attempts that ended badly. */
export interface TrialJob {
  id: string;
  /** The node it runs on, once it started. */
  node?: string;
  /** Slurm's state when last seen (PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, …). */
  state?: string;
  /** Earlier jobs of this trial that failed, were preempted or cancelled: what Slurm said. */
  failures?: { id: string; node?: string; state: string; exitCode?: string; reason?: string }[];
}

export type ExperimentStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled' | 'interrupted';
export type TrialStatus = 'running' | 'done' | 'failed' | 'cancelled' | 'pruned' | 'interrupted';

/** Hyperparameters of a trial, namespaced per block (`convnet/filters`, `train/lr`, …). */
export type TrialConfig = Record<string, number | string | boolean>;

export interface EpochRecord {
  trialId: string;
  epoch: number;
  loss: number;
  accuracy: number;
  /**
   * Loss and accuracy on VALIDATION. For the final fit (trial `final`, trained on TRAIN+VALIDATION) these are
   * on images it trains on: a sanity check, shown as "accuracy on seen VALIDATION", never as validation accuracy.
   */
  valLoss: number | null;
  valAccuracy: number | null;
  lr: number;
  imagesPerSec: number;
  /** Seconds since the trial started. */
  elapsed: number;
}

export interface TrialRecord {
  id: string;
  /** Position in the search (0, 1, …); also decides the trial's seed. */
  index: number;
  config: TrialConfig;
  /** Where the config came from: `portfolio`, `tpe`, `random`, `promotion of t3`, `final fit`. */
  origin: string;
  status: TrialStatus;
  /** Successive-halving rung the trial has reached (0 = first screening). */
  rung: number;
  /** Epochs the trial is to reach at its current rung. */
  epochs: number;
  /** Epochs actually completed, over all rungs. */
  epochsDone: number;
  /** Training throughput measured in its last segment. */
  imagesPerSec?: number;
  /** Data it trains on: TRAIN (search trials) or TRAIN+VALIDATION (final fit). */
  trainOn: 'TRAIN' | 'TRAIN+VALIDATION';
  /** Validation accuracy at the end of each rung reached (what successive halving compares). */
  rungScores: number[];
  bestValAccuracy: number | null;
  bestValLoss: number | null;
  bestEpoch: number | null;
  params: number;
  /** Forward FLOPs per image (see engine/model/flops.ts modelFlops). */
  flops?: number;
  /** Estimated training memory in bytes. */
  memoryEstimate: number;
  startedAt: string;
  endedAt?: string;
  /** Seconds of wall time the trial took. */
  seconds?: number;
  error?: string;
  /** Does `trials/<id>/model/` hold the best checkpoint? */
  hasModel: boolean;
  /** The Slurm job that runs (ran) its segment, with the node (Slurm executor only). */
  job?: TrialJob;
}

export interface TestMetrics {
  partition: 'TEST' | 'VALIDATION';
  count: number;
  accuracy: number;
  top5Accuracy?: number;
  macroAuc: number | null;
  macroAveragePrecision: number | null;
  loss: number;
}

export interface BackendInfo {
  name: BackendName;
  /** Why this backend; one line per better backend that was not used. */
  reasons: string[];
  threads?: number;
  versions: Record<string, string>;
}

export interface ExperimentRecord {
  spec: ExperimentSpec;
  status: ExperimentStatus;
  backend?: BackendInfo;
  datasetFingerprint?: string;
  classes?: string[];
  multiLabel?: boolean;
  inputShape?: [number, number, number];
  startedAt?: string;
  endedAt?: string;
  /** Seconds of training wall time used so far, over all runs (resumes add up). */
  secondsUsed: number;
  /**
   * The training speed the plan rested on (images/s of the portfolio's first network on this machine):
   * measured for this experiment, cached from an earlier one, a test override, or a guess when measuring failed.
   */
  speed?: { imagesPerSec: number; source: 'measured' | 'cache' | 'override' | 'guess' };
  bestTrialId?: string;
  /** What the final model is: a trial's checkpoint, a final fit or an ensemble. */
  finalModel?: {
    kind: 'trial' | 'final-fit' | 'ensemble';
    trials: string[];
    valAccuracy: number | null;
    /** Set when the model averages its scores for the image and its mirror image (test-time augmentation). */
    tta?: 'flip';
    /** With `tta`: the accuracy on the evaluated partition (TEST) of the same model without the mirror image. */
    plainAccuracy?: number;
  };
  test?: TestMetrics;
  /** The out-of-distribution check's calibration on VALIDATION (`final/model/ood.json`); older experiments have none. */
  ood?: { kind: OodScoreKind; threshold: number; quantile: number; count: number };
  error?: string;
  /** Versions of the product and its engine when the experiment ran. */
  versions?: Record<string, string>;
  /** Peak resident memory of the worker process, MB (of the last run). */
  peakRssMB?: number;
  /** What the backbone `auto` chose at the start (a catalogue name, or `none`); a resume keeps it. */
  backbone?: string;
}

export interface LeaderboardRow {
  trialId: string;
  status: TrialStatus;
  family: string;
  valAccuracy: number | null;
  valLoss: number | null;
  epochs: number;
  params: number;
  seconds: number;
  origin: string;
  /** The Slurm job of the trial and its node (Slurm executor). */
  job?: { id: string; node?: string };
}

/** `worker.json` in the experiment folder: lets a reloaded window find a worker still training. */
export interface WorkerHeartbeat {
  pid: number;
  /** The random token on the worker's command line (`--token`): see src/worker/identity.ts. */
  token?: string;
  startedAt: string;
  /** Refreshed every few seconds while the worker lives. */
  heartbeatAt: string;
  endedAt?: string;
}

// ---------------------------------------------------------------------------------------------
// Host → worker
// ---------------------------------------------------------------------------------------------

export type HostToWorker =
  | {
      type: 'start';
      experimentDir: string;
      spec: ExperimentSpec;
      resume: boolean;
      /** Keep training when the host goes away (the extension's window reloads); the CLI stops instead. */
      keepAliveOnDisconnect?: boolean;
    }
  | { type: 'cancel'; reason?: string }
  | { type: 'ping'; id: number }
  /** Prediction worker (`worker.js --predictor`): image files, or encoded bytes as base64. */
  | { type: 'predict'; id: number; model: string; paths?: string[]; images?: { name: string; base64: string }[]; topK?: number };

// ---------------------------------------------------------------------------------------------
// Worker → host (also appended to the experiment's `events.jsonl`)
// ---------------------------------------------------------------------------------------------

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type WorkerEvent =
  | { type: 'ready'; pid: number }
  | { type: 'pong'; id: number }
  | { type: 'backend'; backend: BackendInfo }
  | { type: 'experimentStarted'; experimentId: string; classes: string[]; counts: Record<string, number>; budgetSeconds: number; resumed: boolean }
  | { type: 'dataProgress'; phase: string; done: number; total: number }
  | { type: 'trialStarted'; trial: TrialRecord }
  | { type: 'epochEnded'; record: EpochRecord }
  | { type: 'batchProgress'; trialId: string; epoch: number; batch: number; batches: number; loss: number; imagesPerSec: number }
  | { type: 'trialEnded'; trial: TrialRecord }
  | { type: 'experimentEnded'; experiment: ExperimentRecord; leaderboard: LeaderboardRow[] }
  | { type: 'log'; level: LogLevel; message: string }
  | { type: 'error'; message: string; detail?: string }
  | { type: 'predictions'; id: number; results?: ImagePrediction[]; error?: string; backend?: string };

/** Event kinds that are persisted to `events.jsonl` (batch progress is too chatty to keep). */
export function isPersistedEvent(e: WorkerEvent): boolean {
  return e.type !== 'batchProgress' && e.type !== 'pong' && e.type !== 'ready' && e.type !== 'dataProgress';
}

// ---------------------------------------------------------------------------------------------
// Host ⇄ webview
// ---------------------------------------------------------------------------------------------
// The four panels (dataset, training, evaluation, predict) share one bundle (`dist/webview.js`)
// and one message protocol, in the style of microsoft/vscode-pull-request-github:
//   1. the webview loads, restores its view state (getState) and posts `ready`;
//   2. the host answers every `ready` (also after the webview was hidden and recreated) with
//      `init`: the panel's whole state, read from the store;
//   3. the host then pushes live data (`events`, `images`, `predictions`);
//   4. the webview asks for things with `request` {id, method, params}; the host answers each
//      with one `response` {id, ok, result | error}.
// Section owned by the panels; the parts above belong to the engine.

export type PanelKind = 'dataset' | 'training' | 'evaluation' | 'predict';

/** A picture the host can show: a webview URI once the thumbnail exists. */
export interface ImageRefView {
  /** Key of the image in `images` messages (the dataset item id as a string, or a path). */
  key: string;
  /** How the data names it (CSV field, path in the folder, `file#index`). */
  display: string;
  partition?: Partition;
}

export interface DatasetPanelData {
  /** Absolute path of the dataset (CSV, folder, zip or IDX). */
  source: string;
  title: string;
  stats: DatasetStats | null;
  findings: Finding[];
  /** A few images per label (in `stats.classes` order), thumbnails pushed later by `images`. */
  samples: { label: string; total: number; images: ImageRefView[] }[];
  /** Why the dataset could not be read (then `stats` is null). */
  error?: string;
}

export interface TrainingPanelData {
  experimentDir: string;
  title: string;
  experiment: ExperimentRecord;
  trials: TrialRecord[];
  /** Epoch history per trial id, in epoch order. */
  history: Record<string, EpochRecord[]>;
  leaderboard: LeaderboardRow[];
  /** Is a worker running this experiment now (live events follow)? */
  running: boolean;
  /** Seconds used as of `asOf` (ISO time); the webview extrapolates while running. */
  secondsUsed: number;
  asOf: string;
  /** Images per partition, when known (from the `experimentStarted` event). */
  counts?: Record<string, number>;
  /** The last log lines of the experiment, oldest first. */
  log: { time?: string; level: LogLevel; message: string }[];
}

/** `final/evaluation.json` as the worker writes it. */
export interface EvaluationFile extends TestMetrics {
  classes: string[];
  /** Single-label only (empty for multi-label). */
  confusion: number[][];
  perClass: { auc: (number | null)[]; averagePrecision: (number | null)[]; support: number[] };
  multiLabel?: boolean;
  /** Multi-label only: metrics at 0.5 per label, and each label's best-F1 threshold on this set. */
  multiLabelMetrics?: MultiLabelMetrics & { bestF1Thresholds: number[] };
}

/** `final/predictions.json`: per-example scores (row-major n × k) of the evaluated partition. */
export interface PredictionsFile {
  partition: 'TEST' | 'VALIDATION';
  classes: string[];
  multiLabel?: boolean;
  itemIds: number[];
  /** Single-label: the class index per item. Multi-label: multi-hot, n × k row-major. */
  labels: number[];
  scores: number[];
}

export interface EvaluationPanelData {
  experimentDir: string;
  title: string;
  experiment: ExperimentRecord;
  evaluation: EvaluationFile | null;
  predictions: PredictionsFile | null;
  /** Display name per item id of `predictions.itemIds` (absent when the dataset cannot be read). */
  itemNames: Record<string, string>;
  /** Where each item of `predictions.itemIds` comes from (absent when the dataset cannot be read, and in older hosts). */
  itemSources?: Record<string, ItemSource>;
  /** Why there is nothing to show (no evaluation yet, files unreadable). */
  error?: string;
}

/** Where an evaluated image comes from: what the evaluation's detail view shows and its actions edit. */
export interface ItemSource {
  format: 'csv' | 'folder' | 'zip' | 'idx';
  /** The image file (absent for an image inside a zip or IDX file). */
  path?: string;
  /** The CSV that lists it (CSV datasets), else the folder, zip or IDX file it was read from. */
  origin: string;
  /** 1-based line of its CSV row. */
  line?: number;
}

/** What an edit of the dataset from the evaluation panel did, in a sentence (`relabelItem`, `excludeItem`). */
export interface ItemEditResult {
  message: string;
  /** The CSV row's line after the edit (it may have moved since the dataset was read). */
  line?: number;
}

/** One image's prediction: labels with scores, highest first. */
export interface ImagePrediction {
  path: string;
  scores: { label: string; score: number }[];
  /** Milliseconds the prediction took. */
  ms?: number;
  error?: string;
  /** Whether the image is unlike the training data (src/eval/ood.ts); absent when it could not be used. */
  ood?: OutOfDistribution;
}

/** How an OOD score is computed from the model's output: −logsumexp(logits) or −log(highest probability). */
export type OodScoreKind = 'energy' | 'maxProbability';

/** The verdict on one image: checks that fired, in plain language, and the score check's figures. */
export interface OutOfDistribution {
  /** True when any check says the image is unlike the training data. */
  flagged: boolean;
  /** One plain-language reason per check that fired (empty when none did). */
  warnings: string[];
  /** The score check, for a model calibrated on VALIDATION (experiments from before have none). */
  score?: { kind: OodScoreKind; value: number; threshold: number; quantile: number; flagged: boolean };
}

/** Quantiles of a set of numbers (a size, an aspect ratio, a score). */
export interface Spread {
  min: number;
  p01: number;
  p05: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** The training images as the mismatch checks see them: source sizes and colour. */
export interface TrainingImageStats {
  count: number;
  width: Spread;
  height: Spread;
  /** Width ÷ height. */
  aspect: Spread;
  /** The model's input channels: 1 means it was trained on grayscale images. */
  channels: 1 | 3;
  /** Mean brightness of the border of the training images as the model sees them (a sample; src/engine/model/ood-score.ts). */
  border?: Spread;
}

/** `ood.json` beside the final model: what prediction compares an image with. */
export interface OodCalibration {
  version: 1;
  /** The score check; absent for multi-label models (their sigmoid scores have no energy). */
  score?: {
    kind: OodScoreKind;
    partition: 'VALIDATION';
    count: number;
    /** Share of VALIDATION images whose score is at or below the threshold (0.95: 5 % false alarms there). */
    quantile: number;
    threshold: number;
    spread: Spread;
    mean: number;
    /** True when the final model was trained on VALIDATION too (a final fit): its scores there are optimistic. */
    seenInTraining: boolean;
  };
  images?: TrainingImageStats;
}

export interface PredictPanelData {
  experimentDir: string;
  title: string;
  classes: string[];
  /** Is there a model to predict with (and a predict function wired)? */
  available: boolean;
  /** Why not, when `available` is false. */
  reason?: string;
}

/** A prediction shown in the predict panel, with a small preview of the image. */
export interface PredictionView extends ImagePrediction {
  name: string;
  /** `data:` URI of a small preview (the image may lie outside the webview's resource roots). */
  preview?: string;
}

/** What a panel keeps with `setState` and the serializer gets back after a reload. */
export interface PanelViewState {
  kind: PanelKind;
  /** Experiment folder (training, evaluation, predict) or dataset path (dataset). */
  target: string;
  tab?: string;
  /** Training: trials shown on the curves (undefined: automatic). */
  selectedTrials?: string[];
  /** Training: which trials the curves show when nothing was picked by hand. */
  curveFilter?: 'top' | 'all';
  /** Evaluation: score threshold, row-normalised matrix, selected cell, gallery class/mode. */
  threshold?: number;
  normalise?: boolean;
  cell?: [number, number] | null;
  galleryClass?: number;
  galleryMode?: 'fp' | 'fn';
  prClass?: number;
  /** Evaluation, multi-label: one threshold for all labels or one per label (starting at each label's best F1). */
  thresholdMode?: 'global' | 'per-label';
  labelThresholds?: number[];
  /** Predict: how many labels to show. */
  topK?: number;
}

/** Requests of a webview, with their parameters and results. */
export interface WebviewRequests {
  /** Open a file in an editor (a finding's CSV at its line, an image in the preview). */
  openFile: { params: { path: string; line?: number; column?: number }; result: void };
  /** Training: stop the experiment (the host confirms with the user). */
  stop: { params: Record<string, never>; result: { stopped: boolean } };
  /** Evaluation: thumbnails of these item ids (also pushed with `images` as they are made). */
  thumbnails: { params: { keys: string[] }; result: Record<string, string> };
  /** Predict: the host asks for image files, then predicts them. Null when the dialog was cancelled. */
  pickImages: { params: Record<string, never>; result: PredictionView[] | null };
  /** Predict: images dropped or pasted into the webview (base64 bytes). */
  predictBytes: { params: { images: { name: string; base64: string }[] }; result: PredictionView[] };
  /** Predict: files dragged in from VS Code's Explorer (`file:` URIs). */
  predictUris: { params: { uris: string[] }; result: PredictionView[] };
  /** Evaluation: open the image of a dataset item (file datasets) in VS Code's image preview. */
  openItem: { params: { key: string }; result: void };
  /** Evaluation: a larger picture of a dataset item for the detail view (`data:` URI, at most 512 px; null when it cannot be read). */
  itemImage: { params: { key: string }; result: { uri: string | null } };
  /** Evaluation: open the dataset's CSV at the row of an item. */
  revealItem: { params: { key: string }; result: void };
  /** Evaluation: give an item another class of the experiment: its CSV row edited in place (undoable in the editor), or its file moved to that class's folder. */
  relabelItem: { params: { key: string; label: string }; result: ItemEditResult };
  /** Evaluation: take an item out of the dataset: its CSV row removed (undoable in the editor). */
  excludeItem: { params: { key: string }; result: ItemEditResult };
  /** Open another panel of the same experiment (e.g. evaluation from training). */
  openPanel: { params: { kind: PanelKind }; result: void };
  /** Reveal the experiment or dataset in the OS file manager / explorer. */
  reveal: { params: Record<string, never>; result: void };
}
export type WebviewMethod = keyof WebviewRequests;

export type WebviewToHost =
  | { type: 'ready' }
  | { [M in WebviewMethod]: { type: 'request'; id: number; method: M; params: WebviewRequests[M]['params'] } }[WebviewMethod]
  /** View state changed (the host keeps it for its own use, e.g. reopening with the same tab). */
  | { type: 'state'; state: PanelViewState };

export type PanelInit =
  | { panel: 'dataset'; data: DatasetPanelData }
  | { panel: 'training'; data: TrainingPanelData }
  | { panel: 'evaluation'; data: EvaluationPanelData }
  | { panel: 'predict'; data: PredictPanelData };

export type HostToWebview =
  | ({ type: 'init' } & PanelInit)
  /** Something the panel shows while the host reads (large datasets, evaluations). */
  | { type: 'loading'; message: string }
  /** The host could not produce the panel's state (e.g. the experiment folder is gone). */
  | { type: 'failed'; message: string }
  /** Live worker events in arrival order, coalesced by the host (training, evaluation). */
  | { type: 'events'; events: WorkerEvent[] }
  /** Webview URIs of images by key, as they become available. */
  | { type: 'images'; images: Record<string, string> }
  /** Predictions the host made on its own (e.g. "Predict with AutoML Model" on an image). */
  | { type: 'predictions'; results: PredictionView[] }
  | { type: 'response'; id: number; ok: true; result: unknown }
  | { type: 'response'; id: number; ok: false; error: string };
