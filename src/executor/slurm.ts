// The Slurm executor: every search segment is a Slurm job that runs the same worker bundle
// (`worker.js --trial-job trials/<id>/job-spec.json`, src/worker/trial-job.ts) on the same experiment
// folder, which must be on a filesystem that the compute nodes share. `parallel` jobs run at once;
// the search decides the next configuration or promotion whenever one ends.
//   submit   trials/<id>/job.sh written, `sbatch --parsable`, the id kept in trials/<id>/job.json;
//   watch    squeue every few seconds (the node once it runs; new epochs of its history as events),
//            sooner once the job's outcome file appears; scontrol show job (then sacct) for how it ended;
//   Stop     `scancel`: the job's worker stops within a batch, as a local trial does, keeping its best model;
//   failure  a job that ends without an outcome (failed, killed, preempted, node failure) is recorded in
//            the trial's job.failures with Slurm's state, exit code and reason and submitted once more;
//            a second failure, or out of memory, fails the trial (the search goes on, as after an OOM);
//            a job cancelled outside AutoML is recorded cancelled, with its reason, and not retried;
//   resume   a trial whose job is still queued or running (or ended while no worker watched) is
//            reattached to instead of submitted again.
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { ExecutorSpec, TrialRecord } from '../shared/protocol';
import type { SegmentRequest, TrialOutcome } from '../search/search';
import { readJson, writeJsonAtomic } from '../store/files';
import type { ExperimentStore } from '../store/store';
import type { ExecutorEvents, TrialExecutor } from './executor';
import { type TrialJobOutcome, type TrialJobRun, type TrialJobSpec, jobFiles } from './job-files';
import { type JobInfo, type Run, describeJobEnd, isAlive, jobInfo, jobScript, parseSbatch, runCommand } from './slurm-cli';

export interface SlurmExecutorOptions {
  store: ExperimentStore;
  spec: ExecutorSpec;
  experimentId: string;
  events: ExecutorEvents;
  /** The worker bundle the jobs run (default: this process's script, dist/worker.js). */
  worker?: string;
  /** The node binary (default: this process's). */
  node?: string;
  /** How Slurm's commands run (tests play a cluster). */
  run?: Run;
  /** Seconds between squeue polls (default AUTOML_SLURM_POLL_SECONDS, else 3). */
  pollSeconds?: number;
}

/** How a watched job ended: what Slurm says and the job's outcome file, when it wrote one. */
interface JobEnd {
  info: JobInfo;
  result?: TrialJobOutcome;
  /** This executor cancelled it (Stop, or the deadline passed while it was queued). */
  ours?: 'stop' | 'deadline';
}

/** The record's fields that a job's run fills in (trial.ts runTrialSegment sets them on the trial it trains). */
const LEARNT = [
  'hasModel',
  'bestValAccuracy',
  'bestValLoss',
  'bestEpoch',
  'params',
  'flops',
  'memoryEstimate',
  'seconds',
  'endedAt',
  'config',
  'origin',
] as const;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How often a running job's outcome file is looked for between squeue polls (ms). */
const OUTCOME_CHECK_MS = 100;
/** Quick squeue polls once a job wrote its outcome, before the usual interval again (a job slow to exit). */
const FINISHING_POLLS = 30;

export class SlurmExecutor implements TrialExecutor {
  readonly kind = 'slurm';
  readonly parallel: number;
  private readonly run_: Run;
  private readonly pollMs: number;
  /** Jobs queued or running now, to cancel when a submission fails. */
  private readonly live = new Set<string>();

  constructor(private readonly o: SlurmExecutorOptions) {
    this.parallel = Math.max(1, Math.floor(o.spec.parallel ?? 1));
    this.run_ = o.run ?? runCommand;
    this.pollMs = 1000 * (o.pollSeconds ?? (Number(process.env.AUTOML_SLURM_POLL_SECONDS) || 3));
  }

  async run(trial: TrialRecord, segment: SegmentRequest): Promise<TrialOutcome> {
    const files = jobFiles(this.o.store.trialDir(trial.id));
    let jobId = await this.reattach(trial, segment);
    let attempts = jobId ? 1 : 0;
    for (;;) {
      if (!jobId) {
        if (this.o.events.isCancelled()) return { status: 'cancelled', valAccuracy: null, epochsDone: segment.fromEpochs, imagesPerSec: 0 };
        jobId = await this.submit(trial, segment);
        attempts++;
      }
      this.live.add(jobId);
      const end = await this.watch(trial, segment, jobId);
      this.live.delete(jobId);
      writeJsonAtomic(files.job, { id: jobId, ended: true });
      const outcome = this.conclude(trial, segment, end, attempts);
      if (outcome) return outcome;
      jobId = undefined;
    }
  }

  /** A job of this segment that a stopped worker left queued or running (or that ended since): its id, else undefined. */
  private async reattach(trial: TrialRecord, segment: SegmentRequest): Promise<string | undefined> {
    const files = jobFiles(this.o.store.trialDir(trial.id));
    const job = readJson<{ id: string; ended?: boolean }>(files.job);
    const spec = readJson<TrialJobSpec>(files.spec);
    if (!job || job.ended || !spec || spec.segment.fromEpochs !== segment.fromEpochs || spec.segment.toEpochs !== segment.toEpochs) return undefined;
    const info = await jobInfo(this.run_, job.id);
    const result = readJson<TrialJobOutcome>(files.outcome);
    if (!(info && isAlive(info.state)) && result?.jobId !== job.id) return undefined;
    this.o.events.log(`Reattached to Slurm job ${job.id} of trial ${trial.id} (${info ? describeJobEnd(info) : 'ended'})`);
    trial.job = { ...trial.job, id: job.id, node: info?.node, state: info?.state };
    this.o.events.jobChanged(trial);
    return job.id;
  }

  /** Writes the job's spec and script and submits it; the job id. Throws when sbatch refuses (a wrong partition, no Slurm). */
  private async submit(trial: TrialRecord, segment: SegmentRequest): Promise<string> {
    const { store, spec } = this.o;
    const dir = store.trialDir(trial.id);
    const files = jobFiles(dir);
    mkdirSync(dir, { recursive: true });
    rmSync(files.outcome, { force: true });
    rmSync(files.run, { force: true });
    const jobSpec: TrialJobSpec = { experimentDir: store.dir, trial, segment };
    writeJsonAtomic(files.spec, jobSpec);
    const name = `automl-${this.o.experimentId}-${trial.id}`;
    const script = jobScript({
      name,
      executor: spec,
      output: files.out,
      workdir: store.dir,
      minutes: (segment.deadline - Date.now()) / 60_000 + 2,
      node: this.o.node ?? process.execPath,
      worker: this.o.worker ?? process.argv[1],
      specFile: files.spec,
      electronAsNode: process.env.ELECTRON_RUN_AS_NODE === '1',
    });
    writeFileSync(files.script, script, { mode: 0o755 });
    const args = ['--parsable', `--job-name=${name}`, `--output=${files.out}`, `--chdir=${store.dir}`, ...(spec.sbatchArgs ?? []), files.script];
    const r = await this.run_('sbatch', args);
    if (r.code !== 0) {
      await this.cancelLive();
      const why = r.code === 127 ? "sbatch was not found: the Slurm executor needs Slurm's commands where the worker runs (a login node)" : r.stderr.trim();
      throw new Error(`Slurm refused trial ${trial.id}'s job (${basename(files.script)} in ${dir}): ${why}`);
    }
    const id = parseSbatch(r.stdout);
    writeJsonAtomic(files.job, { id, submittedAt: new Date().toISOString() });
    trial.job = { ...trial.job, id, node: undefined, state: 'PENDING' };
    this.o.events.log(`Trial ${trial.id}: Slurm job ${id} submitted${spec.partition ? ` to ${spec.partition}` : ''}`);
    this.o.events.jobChanged(trial);
    return id;
  }

  /** Polls the job until it leaves Slurm's queue; follows its node and history; cancels it on Stop or when its deadline passes queued. */
  private async watch(trial: TrialRecord, segment: SegmentRequest, id: string): Promise<JobEnd> {
    const files = jobFiles(this.o.store.trialDir(trial.id));
    let seen = segment.continueFrom ? this.o.store.readHistory(trial.id).length : 0;
    let ours: JobEnd['ours'];
    let unknown = 0;
    /** Polls since the job's outcome file appeared (0: not yet). */
    let finishing = 0;
    const follow = () => {
      const history = this.o.store.readHistory(trial.id);
      for (const rec of history.slice(seen)) this.o.events.epoch(rec);
      seen = Math.max(seen, history.length);
    };
    for (;;) {
      const info = await jobInfo(this.run_, id);
      follow();
      if (info && isAlive(info.state)) {
        unknown = 0;
        if (info.state !== trial.job?.state || info.node !== trial.job?.node) {
          trial.job = { ...trial.job, id, state: info.state, node: info.node ?? trial.job?.node };
          this.o.events.jobChanged(trial);
        }
        if (!ours && this.o.events.isCancelled()) ours = 'stop';
        else if (!ours && info.state === 'PENDING' && Date.now() > segment.deadline) ours = 'deadline';
        if (ours) await this.run_('scancel', [id]);
        finishing = await this.pause(files.outcome, id, finishing);
        continue;
      }
      // Gone from the queue: its outcome file (a shared filesystem may show it a little late), else what Slurm says.
      let result = readJson<TrialJobOutcome>(files.outcome);
      for (let k = 0; k < 5 && result?.jobId !== id && info?.state === 'COMPLETED'; k++) {
        await sleep(1000);
        result = readJson<TrialJobOutcome>(files.outcome);
      }
      if (!info && result?.jobId !== id && ++unknown < 3) {
        await sleep(this.pollMs);
        continue;
      }
      follow();
      const ran = readJson<TrialJobRun>(files.run);
      const end: JobInfo = info ?? { id, state: 'UNKNOWN', reason: 'Slurm no longer knows the job' };
      if (!end.node && ran?.jobId === id) end.node = ran.node;
      return { info: end, result: result?.jobId === id ? result : undefined, ours };
    }
  }

  /**
   * The wait before the next squeue poll of job `id`, which is still queued or running; returns the
   * polls since its outcome file appeared (`finishing`, 0 before). Until then the wait is the poll
   * interval, cut short when the outcome file appears: the job is exiting, and the slot's next
   * segment should not wait for the next poll (up to AUTOML_SLURM_POLL_SECONDS, 3 s, a segment).
   * Then squeue is asked every OUTCOME_CHECK_MS until Slurm lets the job go, for a while.
   */
  private async pause(file: string, id: string, finishing: number): Promise<number> {
    if (finishing >= FINISHING_POLLS) {
      await sleep(this.pollMs);
      return finishing;
    }
    if (finishing > 0) {
      await sleep(OUTCOME_CHECK_MS);
      return finishing + 1;
    }
    const until = Date.now() + this.pollMs;
    for (;;) {
      if (existsSync(file) && readJson<TrialJobOutcome>(file)?.jobId === id) return 1;
      const left = until - Date.now();
      if (left <= 0) return 0;
      await sleep(Math.min(OUTCOME_CHECK_MS, left));
    }
  }

  /** The segment's outcome from how its job ended, or undefined to submit it again (the one retry). */
  private conclude(trial: TrialRecord, segment: SegmentRequest, end: JobEnd, attempts: number): TrialOutcome | undefined {
    const { info, result, ours } = end;
    const failures = trial.job?.failures ?? [];
    const ended = describeJobEnd(info);
    trial.job = { id: info.id, node: info.node, state: info.state, ...(failures.length ? { failures } : {}) };
    if (result) {
      for (const key of LEARNT) (trial as unknown as Record<string, unknown>)[key] = result.trial[key];
      if (result.outcome.status === 'cancelled' && !ours) {
        trial.job.failures = [...failures, failure(info)];
        return { ...result.outcome, error: `Slurm job ${info.id} was cancelled outside AutoML: ${ended}` };
      }
      return result.outcome;
    }
    const nothing = { valAccuracy: null, epochsDone: segment.fromEpochs, imagesPerSec: 0 };
    if (ours === 'stop') return { status: 'cancelled', ...nothing };
    if (ours === 'deadline') return { status: 'interrupted', ...nothing, error: `Slurm job ${info.id} was still queued at the search's deadline` };
    trial.job.failures = [...failures, failure(info)];
    if (info.state === 'CANCELLED') return { status: 'cancelled', ...nothing, error: `Slurm job ${info.id} was cancelled outside AutoML: ${ended}` };
    if (info.state === 'OUT_OF_MEMORY') return { status: 'failed', ...nothing, error: `out of memory: Slurm job ${info.id} ${ended}` };
    const tail = `see ${jobFiles(this.o.store.trialDir(trial.id)).out}`;
    if (attempts < 2 && !this.o.events.isCancelled() && Date.now() < segment.deadline) {
      this.o.events.log(`Trial ${trial.id}: Slurm job ${info.id} ended without a result, ${ended} (${tail}); submitting it once more`, 'warn');
      return undefined;
    }
    return {
      status: 'failed',
      ...nothing,
      error: `Slurm job ${info.id} ended without a result, ${ended}${attempts > 1 ? ` (attempt ${attempts})` : ''}; ${tail}`,
    };
  }

  private async cancelLive(): Promise<void> {
    if (this.live.size) await this.run_('scancel', [...this.live]);
  }
}

function failure(info: JobInfo): NonNullable<NonNullable<TrialRecord['job']>['failures']>[number] {
  return {
    id: info.id,
    state: info.state,
    ...(info.node ? { node: info.node } : {}),
    ...(info.exitCode ? { exitCode: info.exitCode } : {}),
    ...(info.reason ? { reason: info.reason } : {}),
  };
}
