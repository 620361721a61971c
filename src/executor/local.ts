// The local executor: a trial's segment runs in this process, one at a time (the worker's
// training as it always was).
import { type TrialContext, runTrialSegment } from '../engine/training/trial';
import type { TrialExecutor } from './executor';

export function localExecutor(trialCtx: TrialContext): TrialExecutor {
  return { kind: 'local', parallel: 1, run: (trial, segment) => runTrialSegment(trialCtx, trial, segment) };
}
