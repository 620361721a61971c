// Slurm's commands as the executor uses them, and the parsing of what they print (pure functions,
// unit-tested): sbatch --parsable, squeue, scontrol show job -o (sacct when scontrol forgot the job:
// an accounting database keeps it longer), scancel. Every command goes through a `Run` function, so
// tests can play a cluster.
import { execFile } from 'node:child_process';
import type { ExecutorSpec } from '../shared/protocol';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type Run = (command: string, args: string[]) => Promise<CommandResult>;

/** Runs a command without a shell; a missing command is code 127 with its error in stderr. */
export const runCommand: Run = (command, args) =>
  new Promise((resolve) => {
    execFile(command, args, { timeout: 60_000, maxBuffer: 4 * 2 ** 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 127) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr || (error && !stderr ? error.message : '')) });
    });
  });

/** States in which a job is still Slurm's to run (squeue shows it). */
const ALIVE = new Set([
  'PENDING',
  'CONFIGURING',
  'RUNNING',
  'COMPLETING',
  'SUSPENDED',
  'REQUEUED',
  'REQUEUE_HOLD',
  'REQUEUE_FED',
  'RESIZING',
  'SIGNALING',
  'STAGE_OUT',
]);

export function isAlive(state: string): boolean {
  return ALIVE.has(state.split(/\s/)[0]);
}

/** What Slurm says about a job. `state` is the base state (CANCELLED, not "CANCELLED by 0"). */
export interface JobInfo {
  id: string;
  state: string;
  node?: string;
  reason?: string;
  exitCode?: string;
}

/** The job id that `sbatch --parsable` printed (`id` or `id;cluster`). */
export function parseSbatch(stdout: string): string {
  const id = stdout.trim().split('\n').pop()?.split(';')[0].trim() ?? '';
  if (!/^\d+(_\d+)?$/.test(id)) throw new Error(`sbatch printed no job id: '${stdout.trim().slice(0, 200)}'`);
  return id;
}

/** One line of `squeue -h -o '%i|%T|%N|%r'`. */
export function parseSqueue(stdout: string, id: string): JobInfo | undefined {
  for (const line of stdout.split('\n')) {
    const [jid, state, node, reason] = line.trim().split('|');
    if (jid === id && state) return { id, state, node: node || undefined, reason: reason && reason !== 'None' ? reason : undefined };
  }
  return undefined;
}

/** `scontrol show job -o <id>`: one line of Key=Value pairs. */
export function parseScontrol(stdout: string, id: string): JobInfo | undefined {
  const line = stdout.split('\n').find((l) => new RegExp(`(^|\\s)JobId=${id}(\\s|$)`).test(l));
  if (!line) return undefined;
  const field = (key: string) => new RegExp(`(?:^|\\s)${key}=(\\S*)`).exec(line)?.[1];
  const state = field('JobState');
  if (!state) return undefined;
  const node = field('BatchHost') ?? field('NodeList');
  const reason = field('Reason');
  return {
    id,
    state,
    node: node && node !== '(null)' ? node : undefined,
    reason: reason && reason !== 'None' ? reason : undefined,
    exitCode: field('ExitCode'),
  };
}

/** `sacct -n -P -X -j <id> -o JobID,State,ExitCode,Reason,NodeList`. */
export function parseSacct(stdout: string, id: string): JobInfo | undefined {
  for (const line of stdout.split('\n')) {
    const [jid, state, exitCode, reason, node] = line.trim().split('|');
    if (jid !== id || !state) continue;
    return {
      id,
      state: state.split(' ')[0],
      exitCode: exitCode || undefined,
      reason: state.includes(' by ') ? `${state}${reason && reason !== 'None' ? `, ${reason}` : ''}` : reason && reason !== 'None' ? reason : undefined,
      node: node && node !== 'None assigned' ? node : undefined,
    };
  }
  return undefined;
}

/** The job's state now: squeue while it is queued or running, then scontrol, then sacct; undefined when no command knows it. */
export async function jobInfo(run: Run, id: string): Promise<JobInfo | undefined> {
  const q = await run('squeue', ['-h', '-j', id, '-o', '%i|%T|%N|%r']);
  const live = q.code === 0 ? parseSqueue(q.stdout, id) : undefined;
  if (live && isAlive(live.state)) return live;
  const c = await run('scontrol', ['show', 'job', '-o', id]);
  const shown = c.code === 0 ? parseScontrol(c.stdout, id) : undefined;
  if (shown) return shown;
  const a = await run('sacct', ['-n', '-P', '-X', '-j', id, '-o', 'JobID,State,ExitCode,Reason,NodeList']);
  return (a.code === 0 ? parseSacct(a.stdout, id) : undefined) ?? live;
}

/** A job's end as one phrase: "FAILED (exit 0:9, NonZeroExitCode) on node1". */
export function describeJobEnd(info: JobInfo): string {
  const details = [info.exitCode && `exit ${info.exitCode}`, info.reason].filter(Boolean).join(', ');
  return `${info.state}${details ? ` (${details})` : ''}${info.node ? ` on ${info.node}` : ''}`;
}

/** A shell word: the string in single quotes. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The sbatch script of one trial job: its resources as #SBATCH lines, then the worker bundle on the trial's spec. */
export function jobScript(o: {
  name: string;
  executor: ExecutorSpec;
  output: string;
  workdir: string;
  minutes: number;
  node: string;
  worker: string;
  specFile: string;
  electronAsNode: boolean;
}): string {
  const sb = (line: string) => `#SBATCH ${line}`;
  // Paths go on sbatch's command line too (an #SBATCH line cannot quote a space).
  const paths = /\s/.test(o.output + o.workdir) ? [] : [sb(`--output=${o.output}`), sb(`--chdir=${o.workdir}`)];
  const lines = [
    '#!/bin/bash',
    '# An AutoML for VS Code trial job (src/executor/slurm.ts); submitted with sbatch --parsable.',
    sb(`--job-name=${o.name.replace(/\s/g, '_')}`),
    ...paths,
    sb('--ntasks=1'),
    sb(`--cpus-per-task=${Math.max(1, Math.floor(o.executor.cpusPerTrial ?? 1))}`),
    sb(`--time=${Math.max(1, Math.ceil(o.minutes))}`),
  ];
  if (o.executor.partition) lines.push(sb(`--partition=${o.executor.partition}`));
  if (o.executor.gpusPerTrial) lines.push(sb(`--gres=gpu:${Math.floor(o.executor.gpusPerTrial)}`));
  lines.push('set -e');
  if (o.electronAsNode) lines.push('export ELECTRON_RUN_AS_NODE=1');
  lines.push(`exec ${shellQuote(o.node)} ${shellQuote(o.worker)} --trial-job ${shellQuote(o.specFile)}`);
  return lines.join('\n') + '\n';
}
