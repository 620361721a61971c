// The files through which the Slurm executor and a trial job talk, all in the trial's folder of
// the experiment (on the shared filesystem):
//   trials/<id>/job.sh           the sbatch script (kept: `sbatch trials/<id>/job.sh` reruns it by hand)
//   trials/<id>/job-spec.json    TrialJobSpec: the trial and the segment to run
//   trials/<id>/job.json         the job id, written by the executor right after sbatch (resume reattaches with it)
//   trials/<id>/job-run.json     written by the job when it starts: its pid, node and job id
//   trials/<id>/job-outcome.json written by the job when its segment ends: the outcome and the trial after it
//   trials/<id>/job.out          the job's stdout and stderr
import { join } from 'node:path';
import type { TrialRecord } from '../shared/protocol';
import type { SegmentRequest, TrialOutcome } from '../search/search';

export interface TrialJobSpec {
  experimentDir: string;
  trial: TrialRecord;
  segment: SegmentRequest;
}

export interface TrialJobRun {
  jobId: string;
  node: string;
  pid: number;
  startedAt: string;
}

export interface TrialJobOutcome {
  jobId: string;
  outcome: TrialOutcome;
  trial: TrialRecord;
}

export function jobFiles(trialDir: string) {
  return {
    script: join(trialDir, 'job.sh'),
    spec: join(trialDir, 'job-spec.json'),
    job: join(trialDir, 'job.json'),
    run: join(trialDir, 'job-run.json'),
    outcome: join(trialDir, 'job-outcome.json'),
    out: join(trialDir, 'job.out'),
  };
}
