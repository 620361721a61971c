// `npm run test:slurm`: the Slurm executor against a real slurmctld and slurmd on this machine (one
// node, 2 CPUs; scripts/slurm/start-test-cluster.sh installs and starts them). It trains the sample
// dataset with `--executor slurm --parallel 2` and checks what Slurm and the experiment's files say:
// two 1-CPU jobs at once, a job cancelled with scancel recorded cancelled with its reason, a job whose
// worker is killed recorded failed and submitted again, and a resumed experiment that reattaches to
// the job its killed worker left running.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { cli, experimentDir, readJsonFile, record, runningJobs, scontrol, scratch, squeueState, startCluster, trainSlurm, trials, waitFor } from './cluster';

/** Seconds since the epoch of one of scontrol's times (the node's local time, as the trials' are). */
const at = (t: string) => new Date(t).getTime() / 1000;

describe('Slurm executor (test cluster)', function () {
  this.timeout(10 * 60_000);

  before(() => startCluster());
  let failed = false;
  afterEach(function () {
    if (this.currentTest?.state !== 'passed') failed = true;
  });
  // The experiments are kept for a look when a test failed.
  after(() => (failed ? console.log(`Experiments kept in ${scratch}`) : rmSync(scratch, { recursive: true, force: true })));

  it('runs two trials at once as 1-CPU jobs, each on one thread, and shows their job and node', async () => {
    const out = join(scratch, 'parallel');
    const run = trainSlurm(out, 1, ['--no-final-fit', '--json']);
    const code = await run.done;
    assert.equal(code, 0, run.output());
    const dir = experimentDir(out)!;
    const ts = trials(dir).filter((t) => t.job);
    assert.ok(ts.length >= 2, `only ${ts.length} Slurm trials:\n${run.output()}`);
    const jobs = ts.map((t) => ({ trial: t, info: scontrol(t.job!.id) }));
    for (const { trial, info } of jobs) {
      assert.equal(info.JobState, 'COMPLETED', `${trial.id}: job ${trial.job!.id} ${info.JobState}`);
      assert.equal(info.NumCPUs, '1', `${trial.id}: job ${trial.job!.id} had ${info.NumCPUs} CPUs`);
      assert.equal(trial.job!.node, info.BatchHost);
      const log = readFileSync(join(dir, 'trials', trial.id, 'job.out'), 'utf8');
      assert.match(log, /Backend: wasm, 1 thread\n/, `${trial.id}'s job did not train on one thread:\n${log}`);
    }
    // Two jobs overlapped in time: one started before another ended, on the node's two CPUs.
    const spans = jobs.map((j) => [at(j.info.StartTime), at(j.info.EndTime)]);
    const overlapping = spans.some(([s1, e1], i) => spans.some(([s2], k) => k !== i && s2 >= s1 && s2 < e1 - 1));
    assert.ok(overlapping, `no two jobs ran at once: ${JSON.stringify(spans)}`);
    // The leaderboard carries each trial's job and node (the training panel shows them under the trial id).
    const board = readJsonFile<{ trialId: string; job?: { id: string; node?: string } }[]>(join(dir, 'leaderboard.json'))!;
    for (const t of ts) assert.deepEqual(board.find((r) => r.trialId === t.id)?.job, { id: t.job!.id, node: t.job!.node });
    assert.equal(record(dir).status, 'done');
  });

  it('records a job cancelled with scancel as cancelled with its reason, and a killed job as failed and submits it again', async () => {
    const out = join(scratch, 'faults');
    const run = trainSlurm(out, 1.5, ['--no-final-fit']);
    const dir = await waitFor('the experiment folder', 60, () => experimentDir(out));
    const [a, b] = await waitFor('two running jobs', 120, () => {
      const r = runningJobs(dir);
      return r.length >= 2 && r;
    });
    // Mid-trial: a few seconds into both jobs.
    await new Promise((r) => setTimeout(r, 4000));
    assert.equal(squeueState(a.jobId), 'RUNNING');
    execFileSync('scancel', [a.jobId]);
    // The job's worker process killed: what an out-of-memory killer or a crash does.
    process.kill(b.pid, 'SIGKILL');
    const code = await run.done;
    assert.equal(code, 0, run.output());
    const all = trials(dir);
    const cancelled = all.find((t) => t.id === a.trialId)!;
    assert.equal(cancelled.status, 'cancelled', JSON.stringify(cancelled));
    assert.match(cancelled.error ?? '', new RegExp(`Slurm job ${a.jobId} was cancelled outside AutoML: CANCELLED`));
    assert.equal(cancelled.job?.failures?.[0]?.state, 'CANCELLED');
    const killed = all.find((t) => t.id === b.trialId)!;
    const failure = killed.job?.failures?.[0];
    assert.ok(failure, `no failure recorded for ${killed.id}: ${JSON.stringify(killed)}`);
    assert.equal(failure.id, b.jobId);
    assert.equal(failure.state, 'FAILED');
    assert.match(failure.exitCode ?? '', /^(0:9|137:0)$/);
    // Submitted once more as a new job: it either trained or failed a second time.
    assert.notEqual(killed.job!.id, b.jobId, `${killed.id} was not submitted again`);
    assert.ok(killed.status === 'done' || killed.status === 'failed', killed.status);
    assert.match(run.output(), new RegExp(`Slurm job ${b.jobId} ended without a result, FAILED`));
    // The experiment went on: more trials ran after these, and it ended done.
    assert.ok(
      all.some((t) => t.index > Math.max(cancelled.index, killed.index) && t.status === 'done'),
      `no trial after the faults:\n${run.output()}`,
    );
    assert.equal(record(dir).status, 'done');
  });

  it('resumes an experiment whose worker was killed by reattaching to its running job', async () => {
    const out = join(scratch, 'resume');
    const run = trainSlurm(out, 1, ['--no-final-fit']);
    const dir = await waitFor('the experiment folder', 60, () => experimentDir(out));
    const [job] = await waitFor('a running job', 120, () => {
      const r = runningJobs(dir);
      return r.length >= 1 && r;
    });
    // The experiment's worker (not the job) dies: the job goes on without anyone watching it.
    const worker = readJsonFile<{ pid: number }>(join(dir, 'worker.json'))!;
    process.kill(worker.pid, 'SIGKILL');
    assert.notEqual(await run.done, 0);
    assert.equal(squeueState(job.jobId), 'RUNNING', `job ${job.jobId} did not outlive the worker`);
    assert.equal(record(dir).status, 'interrupted');
    const resumed = cli(['resume', dir, '--json']);
    const code = await resumed.done;
    assert.equal(code, 0, resumed.output());
    assert.match(resumed.output(), new RegExp(`Reattached to Slurm job ${job.jobId} of trial ${job.trialId}`));
    const t = trials(dir).find((x) => x.id === job.trialId)!;
    // The segment's result is that job's: it was not submitted again. A later job of the trial is only
    // its promotion to the next rung (the resumed search goes on until its deadline).
    assert.doesNotMatch(resumed.output(), new RegExp(`Slurm job ${job.jobId} ended without a result`));
    assert.equal(t.job?.failures, undefined);
    assert.equal(typeof t.rungScores?.[0], 'number', `no rung-0 score from job ${job.jobId}: ${JSON.stringify(t)}`);
    const submitted = [...resumed.output().matchAll(new RegExp(`Trial ${job.trialId}: Slurm job (\\d+) submitted`, 'g'))].map((m) => m[1]);
    if (t.job?.id !== job.jobId) {
      assert.ok(t.rung >= 1, `${t.id} has job ${t.job?.id}, not ${job.jobId}, at rung ${t.rung}`);
      assert.match(resumed.output(), new RegExp(`Trial ${job.trialId} \\([^)]*promoted\\)`));
      assert.ok(submitted.length >= 1 && submitted.length <= t.rung && submitted.at(-1) === t.job?.id, `${t.id}'s jobs: ${submitted.join(', ')}`);
    } else assert.deepEqual(submitted, []);
    assert.equal(t.status, 'done', JSON.stringify(t));
    assert.equal(record(dir).status, 'done');
  });
});
