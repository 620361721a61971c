// What the phases of an experiment share (see README.md): the store, the spec, the event and log
// sinks, the deadline and the clock, built once by `openExperiment`; each phase adds what it made
// (prepare: the images and their shape; plan: the plan, the mode and the search's options).
// Reads: the store's record (time already used, when resuming). Writes: the record's status
// ('running', start time).
import type { PreparedSets } from '../data';
import type { TrainingMode } from '../search/plan';
import type { ExperimentSpec, WorkerEvent } from '../shared/protocol';
import { ExperimentStore } from '../store/store';

export interface RunContext {
  experimentDir: string;
  spec: ExperimentSpec;
  resume: boolean;
  emit: (e: WorkerEvent) => void;
  isCancelled: () => boolean;
  /** Overrides for tests: a fixed training speed instead of measuring it, fewer trials. */
  overrides?: { imagesPerSec?: number; maxTrials?: number };
}

export type LogLevel = 'info' | 'warn' | 'debug';
export type Log = (message: string, level?: LogLevel) => void;

export interface ExperimentContext {
  /** What the worker was asked (its `emit` sends to the host only: progress that the store does not keep). */
  run: RunContext;
  spec: ExperimentSpec;
  store: ExperimentStore;
  /** Appends the event to the store's events and sends it to the host. */
  emit: (e: WorkerEvent) => void;
  /** A `log` event through `emit`. */
  log: Log;
  isCancelled: () => boolean;
  /** The whole budget, in seconds (a resumed experiment's included). */
  budgetSeconds: number;
  /** When this run must be done (ms since the epoch): the budget less what earlier runs used. */
  deadline: number;
  /** Seconds used by this experiment so far, earlier runs included. */
  secondsUsed: () => number;
  /** The images, once prepare has opened them; run's `finally` closes them whatever happens. */
  data?: PreparedSets;
}

/**
 * How the experiment trains, decided once by the plan phase (plan.ts `decideMode`):
 * - `search`: portfolio, TPE and ASHA until the search's deadline, then (with `finalFit`) the final
 *   fit, an ensemble of the top trials and mirror-image test-time augmentation when they pay;
 * - `fixed`: the setting `strategy: 'fixed'`, the baseline: the portfolio's first network for the
 *   whole budget, one trial annealed to the deadline, and nothing else (no final fit, no ensemble, no
 *   test-time augmentation);
 * - `short-budget`: the budget is too short to compare configurations, so the portfolio's
 *   best-known short-budget network trains for the whole budget, as `fixed` does, except that
 *   mirror-image test-time augmentation is still judged.
 * `finalFit` (the setting, true unless `finalFit: false`) is the other decision: the search leaves
 * time for a final fit of its best configuration on TRAIN+VALIDATION, and in `search` mode the
 * final-fit phase runs; without it the search also has that time, less what an ensemble needs.
 */
export type Mode = TrainingMode;

/** Reads the record, starts the clock and marks the experiment running: the context every phase gets. */
export function openExperiment(run: RunContext): ExperimentContext {
  const runStart = Date.now();
  const store = new ExperimentStore(run.experimentDir);
  const previous = store.readRecord();
  const secondsBefore = run.resume ? previous.secondsUsed : 0;
  const budgetSeconds = run.spec.budgetMinutes * 60;
  const deadline = runStart + Math.max(0, budgetSeconds - secondsBefore) * 1000;
  const emit = (e: WorkerEvent) => {
    store.appendEvent(e);
    run.emit(e);
  };
  const log: Log = (message, level = 'info') => emit({ type: 'log', level, message });
  const secondsUsed = () => secondsBefore + (Date.now() - runStart) / 1000;
  store.updateRecord({
    status: 'running',
    startedAt: previous.startedAt ?? new Date(runStart).toISOString(),
    endedAt: undefined,
    error: undefined,
  });
  return { run, spec: run.spec, store, emit, log, isCancelled: run.isCancelled, budgetSeconds, deadline, secondsUsed };
}
