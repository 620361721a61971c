// The one module of message types shared by the extension host, the training worker, the CLI
// and the webviews. Everything here is plain JSON: it crosses process and iframe boundaries.
// No imports of `vscode`, Node or tfjs.

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
  createdAt: string;
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
  /** Estimated training memory in bytes. */
  memoryEstimate: number;
  startedAt: string;
  endedAt?: string;
  /** Seconds of wall time the trial took. */
  seconds?: number;
  error?: string;
  /** Does `trials/<id>/model/` hold the best checkpoint? */
  hasModel: boolean;
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
  bestTrialId?: string;
  /** What the final model is: a trial's checkpoint, a final fit or an ensemble. */
  finalModel?: { kind: 'trial' | 'final-fit' | 'ensemble'; trials: string[]; valAccuracy: number | null };
  test?: TestMetrics;
  error?: string;
  /** Versions of the product and its engine when the experiment ran. */
  versions?: Record<string, string>;
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
}

// ---------------------------------------------------------------------------------------------
// Host → worker
// ---------------------------------------------------------------------------------------------

export type HostToWorker =
  | { type: 'start'; experimentDir: string; spec: ExperimentSpec; resume: boolean }
  | { type: 'cancel'; reason?: string }
  | { type: 'ping'; id: number };

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
  | { type: 'error'; message: string; detail?: string };

/** Event kinds that are persisted to `events.jsonl` (batch progress is too chatty to keep). */
export function isPersistedEvent(e: WorkerEvent): boolean {
  return e.type !== 'batchProgress' && e.type !== 'pong' && e.type !== 'ready' && e.type !== 'dataProgress';
}
