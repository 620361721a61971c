// The Slurm executor against a played cluster (its sbatch, squeue, scontrol and scancel answer from
// a table of jobs, and a job "runs" by writing its outcome file as the real trial job does), and the
// parsing of what Slurm's commands print. test/slurm/ runs the same executor against a real slurmctld.
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TrialJobSpec, jobFiles } from '../../../src/executor/job-files';
import { SlurmExecutor } from '../../../src/executor/slurm';
import { type CommandResult, jobScript, parseSacct, parseSbatch, parseScontrol, parseSqueue } from '../../../src/executor/slurm-cli';
import { newTrialRecord } from '../../../src/search/search';
import type { ExecutorSpec, TrialRecord } from '../../../src/shared/protocol';
import { allottedCores } from '../../../src/shared/cores';
import { ExperimentStore } from '../../../src/store/store';

/** How a played job ends; 'exits-after-outcome': it writes its outcome 50 ms after submission and leaves the queue at the next squeue after that. */
type Ending = 'complete' | 'fail' | 'cancel-outside' | 'exits-after-outcome';

interface FakeJob {
  state: string;
  exit: string;
  ending: Ending;
  polls: number;
  specFile: string;
  outcomeWritten?: boolean;
}

/** A cluster of one node `n1`: each submitted job takes the next of `endings` and ends on its second poll. */
function cluster(endings: Ending[], known: Record<string, FakeJob> = {}) {
  const jobs = new Map<string, FakeJob>(Object.entries(known));
  const calls: { command: string; args: string[] }[] = [];
  let next = 1;
  const ok = (stdout: string): CommandResult => ({ code: 0, stdout, stderr: '' });
  const writeOutcome = (id: string, job: FakeJob) => {
    const spec = JSON.parse(readFileSync(job.specFile, 'utf8')) as TrialJobSpec;
    const trial = { ...spec.trial, hasModel: true, bestValAccuracy: 0.8, params: 1234 };
    const outcome = { status: 'done', valAccuracy: 0.8, epochsDone: spec.segment.toEpochs, imagesPerSec: 100 };
    writeFileSync(jobFiles(join(spec.experimentDir, 'trials', spec.trial.id)).outcome, JSON.stringify({ jobId: id, outcome, trial }));
    job.outcomeWritten = true;
  };
  const finish = (id: string, job: FakeJob) => {
    if (job.ending === 'complete') {
      writeOutcome(id, job);
      job.state = 'COMPLETED';
    } else if (job.ending === 'fail') {
      job.state = 'FAILED';
      job.exit = '0:9';
    } else {
      job.state = 'CANCELLED';
      job.exit = '0:15';
    }
  };
  const run = async (command: string, args: string[]): Promise<CommandResult> => {
    calls.push({ command, args });
    // The job id: squeue's after -j, the others' last argument.
    const id = command === 'squeue' ? args[args.indexOf('-j') + 1] : args[args.length - 1];
    const job = jobs.get(id);
    switch (command) {
      case 'sbatch': {
        const script = readFileSync(id, 'utf8');
        const specFile = /--trial-job '([^']+)'/.exec(script)![1];
        const jid = String(next++);
        const job: FakeJob = { state: 'RUNNING', exit: '0:0', ending: endings.shift() ?? 'complete', polls: 0, specFile };
        jobs.set(jid, job);
        if (job.ending === 'exits-after-outcome') setTimeout(() => writeOutcome(jid, job), 50);
        return ok(`${jid}\n`);
      }
      case 'squeue':
        if (!job) return ok('');
        if (job.ending === 'exits-after-outcome') {
          if (job.outcomeWritten) job.state = 'COMPLETED';
        } else if (job.state === 'RUNNING' && ++job.polls >= 2) finish(id, job);
        return ok(job.state === 'RUNNING' ? `${id}|RUNNING|n1|None\n` : '');
      case 'scontrol':
        return job
          ? ok(`JobId=${id} JobName=x JobState=${job.state} Reason=None Dependency=(null) ExitCode=${job.exit} NodeList=n1 BatchHost=n1\n`)
          : { code: 1, stdout: '', stderr: 'Invalid job id' };
      case 'scancel':
        for (const j of args) if (jobs.get(j)?.state === 'RUNNING') Object.assign(jobs.get(j)!, { state: 'CANCELLED', exit: '0:15' });
        return ok('');
      default:
        return { code: 1, stdout: '', stderr: `${command}: not played` };
    }
  };
  return { run, calls, jobs };
}

function setup(
  endings: Ending[],
  opts: { cancelled?: () => boolean; spec?: Partial<ExecutorSpec>; known?: Record<string, FakeJob>; pollSeconds?: number } = {},
) {
  const dir = mkdtempSync(join(tmpdir(), 'automl-slurm-unit-'));
  const store = new ExperimentStore(dir);
  const c = cluster(endings, opts.known);
  const logs: string[] = [];
  const changes: TrialRecord[] = [];
  const executor = new SlurmExecutor({
    store,
    spec: { kind: 'slurm', parallel: 2, partition: 'gpu', cpusPerTrial: 1, sbatchArgs: ['--account=lab'], ...opts.spec },
    experimentId: 'exp',
    events: { log: (m) => logs.push(m), epoch: () => undefined, jobChanged: (t) => changes.push({ ...t }), isCancelled: opts.cancelled ?? (() => false) },
    worker: '/opt/automl/dist/worker.js',
    node: '/usr/bin/node',
    run: c.run,
    pollSeconds: opts.pollSeconds ?? 0.005,
  });
  const trial = newTrialRecord({ id: 't001', index: 0, config: { family: 'convnet' }, origin: 'portfolio', epochs: 3, startedAt: new Date().toISOString() });
  const segment = { fromEpochs: 0, toEpochs: 3, continueFrom: false, mayContinue: true, deadline: Date.now() + 60_000 };
  return { dir, store, executor, trial, segment, logs, changes, ...c };
}

describe('Slurm executor (played cluster)', () => {
  it('submits the segment as a job, follows it to its node and takes its outcome', async () => {
    const s = setup(['complete']);
    const outcome = await s.executor.run(s.trial, s.segment);
    assert.equal(outcome.status, 'done');
    assert.deepEqual(s.trial.job, { id: '1', node: 'n1', state: 'COMPLETED' });
    assert.equal(s.trial.hasModel, true);
    assert.equal(s.trial.params, 1234);
    const sbatch = s.calls.find((c) => c.command === 'sbatch')!;
    assert.ok(sbatch.args.includes('--parsable') && sbatch.args.includes('--account=lab'), sbatch.args.join(' '));
    const script = readFileSync(jobFiles(s.store.trialDir('t001')).script, 'utf8');
    assert.match(script, /#SBATCH --cpus-per-task=1\n/);
    assert.match(script, /#SBATCH --partition=gpu\n/);
    assert.match(script, /exec '\/usr\/bin\/node' '\/opt\/automl\/dist\/worker.js' --trial-job '.*job-spec.json'\n/);
    // The panel heard of the job when it was submitted and when it ran on n1.
    assert.deepEqual(
      s.changes.map((t) => [t.job?.id, t.job?.state, t.job?.node]),
      [
        ['1', 'PENDING', undefined],
        ['1', 'RUNNING', 'n1'],
      ],
    );
  });

  it('sees a job end when its outcome file appears, not at the next squeue poll', async () => {
    // squeue every 30 s; the job writes its outcome 50 ms in and leaves the queue right after.
    const s = setup(['exits-after-outcome'], { pollSeconds: 30 });
    const started = Date.now();
    const outcome = await s.executor.run(s.trial, s.segment);
    const seconds = (Date.now() - started) / 1000;
    assert.ok(seconds < 5, `the segment's end was seen after ${seconds.toFixed(1)} s`);
    assert.equal(outcome.status, 'done');
    // Slurm's word on how it ended is still the one recorded.
    assert.deepEqual(s.trial.job, { id: '1', node: 'n1', state: 'COMPLETED' });
    assert.ok(s.calls.filter((c) => c.command === 'squeue').length <= 3, s.calls.map((c) => c.command).join(' '));
  });

  it('records a job that failed without a result and submits it once more', async () => {
    const s = setup(['fail', 'complete']);
    const outcome = await s.executor.run(s.trial, s.segment);
    assert.equal(outcome.status, 'done');
    assert.equal(s.trial.job?.id, '2');
    assert.deepEqual(s.trial.job?.failures, [{ id: '1', state: 'FAILED', node: 'n1', exitCode: '0:9' }]);
    assert.ok(s.logs.some((l) => /Slurm job 1 ended without a result, FAILED \(exit 0:9\) on n1 .*submitting it once more/.test(l)));
  });

  it('fails the trial when the second job fails too, as an out-of-memory trial is skipped', async () => {
    const s = setup(['fail', 'fail']);
    const outcome = await s.executor.run(s.trial, s.segment);
    assert.equal(outcome.status, 'failed');
    assert.match(outcome.error ?? '', /Slurm job 2 ended without a result, FAILED \(exit 0:9\) on n1 \(attempt 2\)/);
    assert.equal(s.trial.job?.failures?.length, 2);
    assert.equal(s.calls.filter((c) => c.command === 'sbatch').length, 2);
  });

  it('records a job cancelled outside AutoML as cancelled with its reason, and does not submit it again', async () => {
    const s = setup(['cancel-outside']);
    const outcome = await s.executor.run(s.trial, s.segment);
    assert.equal(outcome.status, 'cancelled');
    assert.match(outcome.error ?? '', /Slurm job 1 was cancelled outside AutoML: CANCELLED \(exit 0:15\) on n1/);
    assert.equal(s.calls.filter((c) => c.command === 'sbatch').length, 1);
  });

  it('cancels its job with scancel on Stop', async () => {
    // Stop is pressed once the job runs on its node.
    const holder: { changes?: TrialRecord[] } = {};
    const s = setup(['complete'], { cancelled: () => !!holder.changes?.some((t) => t.job?.state === 'RUNNING') });
    holder.changes = s.changes;
    const outcome = await s.executor.run(s.trial, s.segment);
    assert.ok(s.calls.some((c) => c.command === 'scancel' && c.args[0] === '1'));
    assert.equal(outcome.status, 'cancelled');
    assert.equal(outcome.error, undefined);
  });

  it('reattaches to the job of a segment that a stopped worker left running, instead of submitting another', async () => {
    const s = setup([]);
    const files = jobFiles(s.store.trialDir('t001'));
    mkdirSync(s.store.trialDir('t001'), { recursive: true });
    writeFileSync(files.spec, JSON.stringify({ experimentDir: s.dir, trial: s.trial, segment: s.segment }));
    writeFileSync(files.job, JSON.stringify({ id: '7' }));
    s.jobs.set('7', { state: 'RUNNING', exit: '0:0', ending: 'complete', polls: 0, specFile: files.spec });
    const outcome = await s.executor.run(s.trial, s.segment);
    assert.equal(outcome.status, 'done');
    assert.equal(s.trial.job?.id, '7');
    assert.equal(s.calls.filter((c) => c.command === 'sbatch').length, 0);
    assert.ok(s.logs.some((l) => l.startsWith('Reattached to Slurm job 7 of trial t001')));
  });

  it('says which script Slurm refused, and why', async () => {
    const s = setup([]);
    const refuse = async (command: string, args: string[]) =>
      command === 'sbatch' ? { code: 1, stdout: '', stderr: 'sbatch: error: invalid partition specified: gpu' } : s.run(command, args);
    const executor = new SlurmExecutor({
      store: s.store,
      spec: { kind: 'slurm', partition: 'gpu' },
      experimentId: 'exp',
      events: { log: () => undefined, epoch: () => undefined, jobChanged: () => undefined, isCancelled: () => false },
      run: refuse,
    });
    await assert.rejects(
      executor.run(s.trial, s.segment),
      /Slurm refused trial t001's job \(job\.sh in .*t001\): sbatch: error: invalid partition specified: gpu/,
    );
  });
});

describe('Slurm command output', () => {
  it('parses sbatch --parsable, squeue, scontrol and sacct', () => {
    assert.equal(parseSbatch('1234\n'), '1234');
    assert.equal(parseSbatch('1234;cluster\n'), '1234');
    assert.throws(() => parseSbatch('sbatch: error: Batch job submission failed'), /no job id/);
    assert.deepEqual(parseSqueue('12|RUNNING|node7|None\n', '12'), { id: '12', state: 'RUNNING', node: 'node7', reason: undefined });
    assert.deepEqual(parseSqueue('12|PENDING||Resources\n', '12'), { id: '12', state: 'PENDING', node: undefined, reason: 'Resources' });
    assert.deepEqual(
      parseScontrol('JobId=5 JobName=a b JobState=FAILED Reason=NonZeroExitCode Dependency=(null) ExitCode=1:0 NodeList=n2 BatchHost=n2\n', '5'),
      {
        id: '5',
        state: 'FAILED',
        node: 'n2',
        reason: 'NonZeroExitCode',
        exitCode: '1:0',
      },
    );
    assert.equal(parseScontrol('JobId=51 JobState=FAILED\n', '5'), undefined);
    assert.deepEqual(parseSacct('9|CANCELLED by 1000|0:15|None|n3\n', '9'), {
      id: '9',
      state: 'CANCELLED',
      exitCode: '0:15',
      reason: 'CANCELLED by 1000',
      node: 'n3',
    });
    assert.deepEqual(parseSacct('9|PREEMPTED|0:0|None|n3\n', '9'), { id: '9', state: 'PREEMPTED', exitCode: '0:0', reason: undefined, node: 'n3' });
  });

  it('writes a script with the GPUs asked for and no path that #SBATCH cannot quote', () => {
    const base = {
      name: 'automl-x-t001',
      output: '/data/my exp/job.out',
      workdir: '/data/my exp',
      minutes: 3.2,
      node: '/usr/bin/node',
      worker: '/w.js',
      specFile: "/data/it's/spec.json",
      electronAsNode: true,
    };
    const script = jobScript({ ...base, executor: { kind: 'slurm', gpusPerTrial: 2, cpusPerTrial: 4 } });
    assert.match(script, /#SBATCH --gres=gpu:2\n/);
    assert.match(script, /#SBATCH --cpus-per-task=4\n/);
    assert.match(script, /#SBATCH --time=4\n/);
    assert.doesNotMatch(script, /--output/);
    assert.match(script, /export ELECTRON_RUN_AS_NODE=1\n/);
    assert.match(script, /--trial-job '\/data\/it'\\''s\/spec.json'\n$/);
  });

  it('gives a Slurm job the threads of its CPUs, and a process outside Slurm every core', () => {
    assert.equal(allottedCores({ SLURM_CPUS_PER_TASK: '1' }, 16), 1);
    assert.equal(allottedCores({ SLURM_CPUS_PER_TASK: '4' }, 16), 4);
    assert.equal(allottedCores({}, 16), 16);
    assert.equal(allottedCores({ SLURM_CPUS_PER_TASK: 'x' }, 2), 2);
  });
});
