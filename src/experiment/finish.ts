// Phase 7, finish: marks trials still running as cancelled or interrupted, drops the search trials'
// resumable training states, writes the leaderboard and the final record (status, best trial, final
// model, test metrics, time and memory used), and emits `experimentEnded`. An experiment that ends
// without a model (and was not cancelled) is marked failed, with the trials' errors. `markFailed`
// does the same for an experiment that threw.
// Reads: the trials. Writes: trial records, the leaderboard, the record; events `experimentEnded`
// (and `error` on failure).
import { rmSync } from 'node:fs';
import { lastStateDir } from '../engine/training/trial';
import { leaderboard } from '../search/leaderboard';
import type { ExperimentRecord, TestMetrics, TrialRecord } from '../shared/protocol';
import type { ExperimentContext } from './context';

export function finish(
  ctx: ExperimentContext,
  o: { best: TrialRecord | null; finalModel: ExperimentRecord['finalModel'] | undefined; test: TestMetrics | undefined; ood?: ExperimentRecord['ood'] },
): ExperimentRecord {
  const { store } = ctx;
  for (const t of store.readTrials()) {
    if (t.status === 'running') store.writeTrial({ ...t, status: ctx.isCancelled() ? 'cancelled' : 'interrupted' });
    if (t.trainOn === 'TRAIN') rmSync(lastStateDir(store, t.id), { recursive: true, force: true });
  }
  const rows = leaderboard(store.readTrials());
  store.writeLeaderboard(rows);
  // An experiment that ends without a model has failed, whatever else went right.
  const noModel = !o.finalModel && !ctx.isCancelled() ? noModelReason(store.readTrials()) : undefined;
  if (noModel) ctx.emit({ type: 'error', message: noModel });
  const record = store.updateRecord({
    status: ctx.isCancelled() ? 'cancelled' : noModel ? 'failed' : 'done',
    error: noModel,
    bestTrialId: o.best?.id,
    finalModel: o.finalModel,
    test: o.test,
    ood: o.ood,
    endedAt: new Date().toISOString(),
    secondsUsed: ctx.secondsUsed(),
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
  });
  ctx.emit({ type: 'experimentEnded', experiment: record, leaderboard: rows });
  return record;
}

/** Why no trial left a model, naming each failed trial's error (the first three). */
export function noModelReason(trials: TrialRecord[]): string {
  const failed = trials.filter((t) => t.error);
  const why = failed.slice(0, 3).map((t) => `${t.id}: ${t.error}`);
  return (
    `No model: ${trials.length ? `none of the ${trials.length} trial${trials.length > 1 ? 's' : ''} produced one` : 'no trial ran'}` +
    (why.length ? ` (${why.join('; ')}${failed.length > 3 ? `; and ${failed.length - 3} more` : ''})` : '') +
    '. Give the experiment more time, a smaller image size or a smaller backbone.'
  );
}

/** The experiment threw: an `error` event, running trials interrupted, the record marked failed. */
export function markFailed(ctx: ExperimentContext, e: unknown): ExperimentRecord {
  const { store, emit } = ctx;
  const message = e instanceof Error ? e.message : String(e);
  emit({ type: 'error', message, detail: e instanceof Error ? e.stack : undefined });
  for (const t of store.readTrials()) if (t.status === 'running') store.writeTrial({ ...t, status: 'interrupted', error: message });
  const record = store.updateRecord({ status: 'failed', error: message, endedAt: new Date().toISOString(), secondsUsed: ctx.secondsUsed() });
  store.writeLeaderboard(leaderboard(store.readTrials()));
  emit({ type: 'experimentEnded', experiment: record, leaderboard: store.readLeaderboard() });
  return record;
}
