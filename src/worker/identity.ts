// Is a pid this product's training worker for this experiment? `worker.json` lies in the
// workspace, so anyone who can write a workspace can write any pid into it: before the host
// follows or signals a pid from that file it checks the process's own command line.
//
// A training worker is started as `node … <worker bundle> --experiment <experiment folder>
// --token <random hex>` (workerArgs), and writes the token into worker.json. The check:
//   Linux:   /proc/<pid>/cmdline has the worker bundle path as an argument, `--experiment` followed
//            by the experiment folder, and (when worker.json has one) `--token` followed by the token.
//   macOS:   `ps -ww -o command= -p <pid>` contains the bundle path, ` --experiment <folder>` and
//            ` --token <token>`; the token is required (ps joins arguments with spaces, so the random
//            token is what makes the match unambiguous).
//   Windows: no cheap way to read another process's command line: never verified, so a worker
//            from an earlier window is marked interrupted rather than followed or signalled.
// No `vscode` import.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export interface WorkerIdentity {
  /** The worker bundle this host starts (`dist/worker.js` of this extension). */
  workerPath: string;
  experimentDir: string;
  /** The random token the worker was started with (worker.json `token`). */
  token?: string;
}

export type Verdict = { ok: true } | { ok: false; reason: string };

/** A fresh random token for a worker's command line. */
export function newWorkerToken(): string {
  return randomBytes(16).toString('hex');
}

/** The arguments a training worker is started with: what `verifyWorkerPid` looks for. */
export function workerArgs(experimentDir: string, token: string): string[] {
  return ['--experiment', resolve(experimentDir), '--token', token];
}

/** The value after `--name` in a worker's argv. */
export function argValue(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

/**
 * Checks that `pid` is a live process whose command line is this worker's for this experiment.
 * `platform` is for tests (the macOS branch runs wherever `ps -o command= -p` works).
 */
export function verifyWorkerPid(pid: unknown, id: WorkerIdentity, platform: NodeJS.Platform = process.platform): Verdict {
  // 0, -1 and negative pids signal process groups or every process: never from a file.
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 1) return { ok: false, reason: `${String(pid)} is not a process id` };
  const workerPath = resolve(id.workerPath);
  const dir = resolve(id.experimentDir);
  if (id.token !== undefined && !/^[0-9a-f]{16,64}$/.test(id.token)) return { ok: false, reason: 'worker.json has a malformed token' };
  if (platform === 'linux') {
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      return { ok: false, reason: `no process ${pid}` };
    }
    if (!argv.includes(workerPath)) return { ok: false, reason: `process ${pid} does not run ${workerPath}` };
    if (argValue(argv, '--experiment') !== dir) return { ok: false, reason: `process ${pid} does not train ${dir}` };
    if (id.token !== undefined && argValue(argv, '--token') !== id.token)
      return { ok: false, reason: `process ${pid} was not started with worker.json's token` };
    return { ok: true };
  }
  if (platform === 'darwin') {
    if (id.token === undefined) return { ok: false, reason: 'worker.json has no token' };
    let command: string;
    try {
      command = execFileSync('ps', ['-ww', '-o', 'command=', '-p', String(pid)], {
        encoding: 'utf8',
        timeout: 5000,
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    } catch {
      return { ok: false, reason: `no process ${pid}` };
    }
    if (!command.includes(workerPath)) return { ok: false, reason: `process ${pid} does not run ${workerPath}` };
    if (!command.includes(` --experiment ${dir} --token ${id.token}`)) return { ok: false, reason: `process ${pid} is not this experiment's worker` };
    return { ok: true };
  }
  return { ok: false, reason: `a worker's command line cannot be checked on ${platform}` };
}
