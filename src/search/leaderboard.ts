// The leaderboard: trials ranked by validation accuracy. Shared by the worker (which writes
// leaderboard.json) and the training panel (which recomputes it from live trial events).
import type { LeaderboardRow, TrialRecord } from '../shared/protocol';
import { describeConfig } from './space';

export function leaderboard(trials: TrialRecord[]): LeaderboardRow[] {
  return trials
    .map((t) => ({
      trialId: t.id,
      status: t.status,
      family: describeConfig(t.config),
      // A final fit trained on VALIDATION: its accuracy there says nothing about the model.
      valAccuracy: t.trainOn === 'TRAIN' ? t.bestValAccuracy : null,
      valLoss: t.trainOn === 'TRAIN' ? t.bestValLoss : null,
      epochs: t.epochsDone,
      params: t.params,
      seconds: Math.round((t.seconds ?? 0) * 10) / 10,
      origin: t.origin,
      ...(t.job ? { job: { id: t.job.id, ...(t.job.node ? { node: t.job.node } : {}) } } : {}),
    }))
    .sort((a, b) => (b.valAccuracy ?? -1) - (a.valAccuracy ?? -1));
}
