// Helpers of the Slurm suite: the test cluster (scripts/slurm/start-test-cluster.sh), the CLI run
// against it, and what Slurm and the store say about the trials' jobs.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ExperimentRecord, TrialRecord } from '../../src/shared/protocol';

export const ROOT = resolve(__dirname, '..', '..', '..');
export const CLI = join(ROOT, 'dist', 'cli.js');
export const DATASET = join(ROOT, 'examples', 'fashion-sample');

/** Starts the test cluster (installing Slurm with apt when missing); throws with its output when it does not come up. */
export function startCluster(): void {
  execFileSync('bash', [join(ROOT, 'scripts', 'slurm', 'start-test-cluster.sh')], { stdio: 'inherit', timeout: 15 * 60_000 });
}

/** A scratch folder with an image cache shared by every run of the suite (decoded once). */
export const scratch = mkdtempSync(join(tmpdir(), 'automl-slurm-'));
const cacheDir = join(scratch, 'cache');

export interface Run {
  child: ChildProcess;
  output: () => string;
  done: Promise<number>;
}

/** `automl <args…>` in the scratch folder, its output collected (and the Slurm executor polling every second). */
export function cli(args: string[]): Run {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: scratch,
    env: { ...process.env, AUTOML_CACHE_DIR: cacheDir, AUTOML_SLURM_POLL_SECONDS: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout!.on('data', (d) => (text += String(d)));
  child.stderr!.on('data', (d) => (text += String(d)));
  const done = new Promise<number>((r) => child.on('exit', (code, signal) => r(code ?? (signal ? 128 : 1))));
  return { child, output: () => text, done };
}

/** `automl train` of the sample with the Slurm executor, 2 at a time; `args` adds to it. */
export function trainSlurm(out: string, minutes: number, args: string[] = []): Run {
  return cli(['train', DATASET, '--time', String(minutes), '--out', out, '--backend', 'wasm', '--executor', 'slurm', '--parallel', '2', ...args]);
}

/** The one experiment folder under `out` (once it exists). */
export function experimentDir(out: string): string | undefined {
  if (!existsSync(out)) return undefined;
  const dirs = readdirSync(out);
  return dirs.length ? join(out, dirs[0]) : undefined;
}

export function readJsonFile<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

export function trials(dir: string): TrialRecord[] {
  const root = join(dir, 'trials');
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((id) => readJsonFile<TrialRecord>(join(root, id, 'trial.json')))
    .filter((t): t is TrialRecord => !!t)
    .sort((a, b) => a.index - b.index);
}

export function record(dir: string): ExperimentRecord {
  return readJsonFile<ExperimentRecord>(join(dir, 'experiment.json'))!;
}

/** What `scontrol show job -o` says of a job: its fields. */
export function scontrol(id: string): Record<string, string> {
  const line = execFileSync('scontrol', ['show', 'job', '-o', id], { encoding: 'utf8' });
  const fields: Record<string, string> = {};
  for (const m of line.matchAll(/(\S+?)=(\S*)/g)) fields[m[1]] ??= m[2];
  return fields;
}

/** Polls `check` every half second until it returns something, or throws after `seconds`. */
export async function waitFor<T>(what: string, seconds: number, check: () => T | undefined | false): Promise<T> {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > until) throw new Error(`Timed out after ${seconds} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Trials whose job has started (trials/<id>/job-run.json written by the job), with the job's pid and id. */
export function runningJobs(dir: string): { trialId: string; jobId: string; pid: number }[] {
  const out: { trialId: string; jobId: string; pid: number }[] = [];
  for (const t of trials(dir)) {
    const run = readJsonFile<{ jobId: string; pid: number }>(join(dir, 'trials', t.id, 'job-run.json'));
    const state = run ? squeueState(run.jobId) : undefined;
    if (run && state === 'RUNNING') out.push({ trialId: t.id, jobId: run.jobId, pid: run.pid });
  }
  return out;
}

export function squeueState(id: string): string | undefined {
  try {
    return execFileSync('squeue', ['-h', '-j', id, '-o', '%T'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}
