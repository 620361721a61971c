// `worker.js --trial-job <trials/<id>/job-spec.json>`: one search segment as a Slurm job (the job's
// side of src/executor/slurm.ts). It prepares the experiment's data as the experiment's worker did
// (the decoded-image cache is shared, so nothing is decoded twice), trains the segment with the same
// `runTrialSegment` that a local trial uses, and leaves its outcome in trials/<id>/job-outcome.json.
// It writes only its trial's files (record, history, checkpoints): the experiment's record, events
// and leaderboard are the experiment worker's, which follows the job from squeue and these files.
// SIGTERM (scancel) stops it within a batch, keeping the best model, as Stop does locally.
import { hostname } from 'node:os';
import { type TrialJobOutcome, type TrialJobRun, type TrialJobSpec, jobFiles } from '../executor/job-files';
import { runTrialSegment } from '../engine/training/trial';
import type { ExperimentContext } from '../experiment/context';
import { trialContext } from '../experiment/plan';
import { prepare } from '../experiment/prepare';
import type { ExperimentRecord, LeaderboardRow, WorkerEvent } from '../shared/protocol';
import { readJson, writeJsonAtomic } from '../store/files';
import { ExperimentStore } from '../store/store';

/** The experiment's store as a job sees it: its trial's files are written, the experiment's own are left alone. */
class JobStore extends ExperimentStore {
  override writeRecord(): void {}
  override updateRecord(patch: Partial<ExperimentRecord>): ExperimentRecord {
    return { ...this.readRecord(), ...patch };
  }
  override appendEvent(): void {}
  override writeLeaderboard(_rows: LeaderboardRow[]): void {}
}

function line(message: string): void {
  process.stdout.write(`${new Date().toISOString()} ${message}\n`);
}

export async function runTrialJob(specFile: string, isCancelled: () => boolean): Promise<number> {
  const job = readJson<TrialJobSpec>(specFile);
  if (!job) throw new Error(`${specFile}: no trial job spec there (the experiment folder must be on a filesystem the node shares)`);
  const { experimentDir, trial, segment } = job;
  const store = new JobStore(experimentDir);
  const record = store.readRecord();
  const jobId = process.env.SLURM_JOB_ID ?? `pid-${process.pid}`;
  const node = process.env.SLURMD_NODENAME || hostname().split('.')[0];
  const files = jobFiles(store.trialDir(trial.id));
  const run: TrialJobRun = { jobId, node, pid: process.pid, startedAt: new Date().toISOString() };
  writeJsonAtomic(files.run, run);
  line(`Trial ${trial.id}, epochs ${segment.fromEpochs} → ${segment.toEpochs}: Slurm job ${jobId} on ${node}, pid ${process.pid}`);
  // The input size the experiment chose (a GPU node would otherwise choose its own).
  const spec = { ...record.spec, imageSize: record.inputShape?.[0] ?? record.spec.imageSize };
  const emit = (e: WorkerEvent) => {
    if (e.type === 'log') line(e.message);
    else if (e.type === 'backend')
      line(`Backend: ${e.backend.name}${e.backend.threads ? `, ${e.backend.threads} thread${e.backend.threads > 1 ? 's' : ''}` : ''}`);
    else if (e.type === 'epochEnded') line(`${e.record.trialId} epoch ${e.record.epoch}: val_acc ${e.record.valAccuracy ?? '-'}`);
  };
  const ctx: ExperimentContext = {
    run: { experimentDir, spec, resume: true, emit, isCancelled },
    spec,
    store,
    emit,
    log: (message) => line(message),
    isCancelled,
    budgetSeconds: spec.budgetMinutes * 60,
    deadline: segment.deadline,
    secondsUsed: () => record.secondsUsed,
  };
  const prepared = Object.assign(ctx, await prepare(ctx));
  try {
    const trialCtx = trialContext(prepared, prepared.data.validation.count > 0);
    trial.job = { ...trial.job, id: jobId, node, state: 'RUNNING' };
    const outcome = await runTrialSegment(trialCtx, trial, segment);
    store.writeTrial(trial);
    const result: TrialJobOutcome = { jobId, outcome, trial };
    writeJsonAtomic(files.outcome, result);
    line(`Trial ${trial.id} ${outcome.status}${outcome.error ? `: ${outcome.error}` : ''}`);
    return 0;
  } finally {
    prepared.data.close();
  }
}
