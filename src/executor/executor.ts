// Where a search trial's segment runs. The search (src/search/search.ts) asks for segments through
// its hooks; the experiment's plan phase hands them to one executor:
//   local.ts  in the worker itself, one at a time (today's behaviour, the default);
//   slurm.ts  each segment a Slurm job running the same worker bundle (`--trial-job`) on the same
//             experiment folder (a shared filesystem), `parallel` at a time.
// The job's side (what `--trial-job` runs) is src/worker/trial-job.ts; the files they share are
// named in job-files.ts.
import type { EpochRecord, TrialRecord } from '../shared/protocol';
import type { SegmentRequest, TrialOutcome } from '../search/search';

export interface TrialExecutor {
  readonly kind: 'local' | 'slurm';
  /** Segments it runs at once (the search's `parallel`). */
  readonly parallel: number;
  /** Runs one segment of `trial` and returns its outcome; copies what the run learnt (model, scores, job) onto `trial`. */
  run(trial: TrialRecord, segment: SegmentRequest): Promise<TrialOutcome>;
}

/** What an executor reports while a segment runs elsewhere (the Slurm executor; the local one reports through its TrialContext). */
export interface ExecutorEvents {
  log(message: string, level?: 'info' | 'warn'): void;
  /** An epoch that a job wrote to the trial's history. */
  epoch(record: EpochRecord): void;
  /** The trial's job changed (submitted, started on a node): the panel shows it. */
  jobChanged(trial: TrialRecord): void;
  isCancelled(): boolean;
}
