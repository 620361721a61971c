// Phase 7, finish: marks trials still running as cancelled or interrupted, drops the search trials'
// resumable training states, writes the leaderboard and the final record (status, best trial, final
// model, test metrics, time and memory used), and emits `experimentEnded`. `markFailed` does the
// same for an experiment that threw.
// Reads: the trials. Writes: trial records, the leaderboard, the record; events `experimentEnded`
// (and `error` on failure).
import { rmSync } from 'node:fs';
import { lastStateDir } from '../engine/trial';
import { leaderboard } from '../search/leaderboard';
import type { ExperimentRecord, TestMetrics, TrialRecord } from '../shared/protocol';
import type { ExperimentContext } from './context';

export function finish(
  ctx: ExperimentContext,
  o: { best: TrialRecord | null; finalModel: ExperimentRecord['finalModel'] | undefined; test: TestMetrics | undefined },
): ExperimentRecord {
  const { store } = ctx;
  for (const t of store.readTrials()) {
    if (t.status === 'running') store.writeTrial({ ...t, status: ctx.isCancelled() ? 'cancelled' : 'interrupted' });
    if (t.trainOn === 'TRAIN') rmSync(lastStateDir(store, t.id), { recursive: true, force: true });
  }
  const rows = leaderboard(store.readTrials());
  store.writeLeaderboard(rows);
  const record = store.updateRecord({
    status: ctx.isCancelled() ? 'cancelled' : 'done',
    bestTrialId: o.best?.id,
    finalModel: o.finalModel,
    test: o.test,
    endedAt: new Date().toISOString(),
    secondsUsed: ctx.secondsUsed(),
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
  });
  ctx.emit({ type: 'experimentEnded', experiment: record, leaderboard: rows });
  return record;
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
