// The executor an experiment's spec asks for (ExperimentSpec.executor): local unless `slurm`.
import type { TrialContext } from '../engine/training/trial';
import type { ExperimentSpec } from '../shared/protocol';
import type { ExperimentStore } from '../store/store';
import type { ExecutorEvents, TrialExecutor } from './executor';
import { localExecutor } from './local';
import { SlurmExecutor } from './slurm';

export function createExecutor(o: { spec: ExperimentSpec; store: ExperimentStore; trialCtx: TrialContext; events: ExecutorEvents }): TrialExecutor {
  const ex = o.spec.executor;
  if (!ex || ex.kind !== 'slurm') return localExecutor(o.trialCtx);
  return new SlurmExecutor({ store: o.store, spec: ex, experimentId: o.spec.id, events: o.events });
}
