// Keeps track of the experiments the host is training or following: the worker it started
// (IPC events), or — after a window reload — a worker still alive from before, followed by
// reading the events it appends to `events.jsonl` and stopped with SIGTERM. A pid from
// `worker.json` is followed or signalled only when its command line shows it is this extension's
// worker for that experiment (identity.ts): the file is workspace content, anyone may have written
// it. Fans events out to the tree, the panels and the status bar. No `vscode` import: the
// extension wraps it (and reattaches or stops only in trusted workspaces).
import { EventEmitter } from 'node:events';
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ExperimentSpec, WorkerEvent, WorkerHeartbeat } from '../shared/protocol';
import { readJson } from '../store/files';
import { ExperimentStore, listExperiments } from '../store/store';
import type { Disposable, ExperimentFeed } from './feed';
import { defaultWorkerPath, WorkerClient, type WorkerExit } from './client';
import { verifyWorkerPid, type WorkerIdentity } from './identity';

/** A heartbeat older than this means the worker is gone. */
const HEARTBEAT_STALE_MS = 20_000;

interface Run {
  dir: string;
  client?: WorkerClient;
  follower?: EventFollower;
  pid: number;
  /** A followed worker: what its command line must show before it is signalled. */
  identity?: WorkerIdentity;
}

export interface ManagerOptions {
  workerPath?: string;
  env?: NodeJS.ProcessEnv;
}

export class ExperimentManager implements ExperimentFeed {
  private readonly runs = new Map<string, Run>();
  private readonly events = new EventEmitter();

  constructor(private readonly options: ManagerOptions = {}) {
    this.events.setMaxListeners(100);
  }

  /** Starts (or resumes) the experiment in `dir` in a new worker process. */
  start(dir: string, spec: ExperimentSpec, resume: boolean): WorkerClient {
    if (this.runs.has(dir)) throw new Error(`${dir} is already running`);
    const client = WorkerClient.start({
      experimentDir: dir,
      spec,
      resume,
      workerPath: this.options.workerPath,
      env: this.options.env,
      detachedLogFile: join(dir, 'worker.log'),
    });
    const run: Run = { dir, client, pid: client.child.pid ?? -1 };
    this.runs.set(dir, run);
    client.onEvent((e) => this.fire(dir, e));
    void client.done.then((exit) => this.ended(dir, exit));
    return client;
  }

  /**
   * Re-attaches to experiments that a worker from an earlier window is still training, and
   * marks those whose worker is gone as interrupted. Returns the directories followed.
   */
  reattach(experimentsRoot: string): string[] {
    const followed: string[] = [];
    for (const { dir, record } of listExperiments(experimentsRoot)) {
      if (this.runs.has(dir) || (record.status !== 'running' && record.status !== 'queued')) continue;
      const beat = readJson<WorkerHeartbeat>(join(dir, 'worker.json'));
      const identity = this.identity(dir, beat?.token);
      if (beat && !beat.endedAt && Date.now() - Date.parse(beat.heartbeatAt) < HEARTBEAT_STALE_MS && identity && verifyWorkerPid(beat.pid, identity).ok) {
        const follower = new EventFollower(join(dir, 'events.jsonl'), (e) => this.fire(dir, e));
        const run: Run = { dir, follower, pid: beat.pid, identity };
        this.runs.set(dir, run);
        follower.onGone = () => this.ended(dir, undefined);
        follower.watchPid(beat.pid, join(dir, 'worker.json'));
        followed.push(dir);
      } else {
        const store = new ExperimentStore(dir);
        for (const t of store.readTrials()) if (t.status === 'running') store.writeTrial({ ...t, status: 'interrupted' });
        store.updateRecord({
          status: 'interrupted',
          error: 'The training worker is no longer running (the window or machine was closed). Resume to continue.',
        });
      }
    }
    return followed;
  }

  isRunning(dir: string): boolean {
    return this.runs.has(dir);
  }

  running(): string[] {
    return [...this.runs.keys()];
  }

  /**
   * Asks the worker to stop within one batch. A followed worker gets SIGTERM, once its pid is
   * verified again (a pid may have been reused since). Returns why it did not stop, if it did not.
   */
  stop(dir: string): string | undefined {
    const run = this.runs.get(dir);
    if (!run) return undefined;
    if (run.client) {
      run.client.cancel('stopped from VS Code');
      return undefined;
    }
    const verdict = run.identity ? verifyWorkerPid(run.pid, run.identity) : { ok: false as const, reason: 'nothing to check it against' };
    if (!verdict.ok) return `pid ${run.pid} in worker.json is not this experiment's worker; not stopping it (${verdict.reason}).`;
    try {
      process.kill(run.pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
    return undefined;
  }

  onEvent(dir: string, listener: (e: WorkerEvent) => void): Disposable {
    const wrapped = (d: string, e: WorkerEvent) => {
      if (d === dir) listener(e);
    };
    this.events.on('event', wrapped);
    return { dispose: () => this.events.off('event', wrapped) };
  }

  /** Every event of every experiment. */
  onAnyEvent(listener: (dir: string, e: WorkerEvent) => void): Disposable {
    this.events.on('event', listener);
    return { dispose: () => this.events.off('event', listener) };
  }

  /** Called when a run ends, however it ended. */
  onEnded(listener: (dir: string, exit: WorkerExit | undefined) => void): Disposable {
    this.events.on('ended', listener);
    return { dispose: () => this.events.off('ended', listener) };
  }

  dispose(): void {
    // Workers keep training when the window goes; only stop following them.
    for (const run of this.runs.values()) run.follower?.dispose();
    this.runs.clear();
    this.events.removeAllListeners();
  }

  /** What a worker of this experiment started by this host shows on its command line. */
  private identity(experimentDir: string, token: string | undefined): WorkerIdentity | undefined {
    let workerPath: string;
    try {
      workerPath = this.options.workerPath ?? defaultWorkerPath();
    } catch {
      return undefined;
    }
    return { workerPath, experimentDir, token };
  }

  private fire(dir: string, e: WorkerEvent): void {
    this.events.emit('event', dir, e);
  }

  private ended(dir: string, exit: WorkerExit | undefined): void {
    const run = this.runs.get(dir);
    run?.follower?.dispose();
    this.runs.delete(dir);
    this.events.emit('ended', dir, exit);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Reads the lines appended to a JSON-lines file, polling (works on every file system). */
export class EventFollower {
  private offset: number;
  private timer: NodeJS.Timeout;
  private partial = '';
  onGone: () => void = () => undefined;

  constructor(
    private readonly file: string,
    private readonly onEvent: (e: WorkerEvent) => void,
    fromStart = false,
  ) {
    this.offset = fromStart || !existsSync(file) ? 0 : statSync(file).size;
    this.timer = setInterval(() => this.poll(), 1000);
    this.timer.unref();
  }

  /** Ends following when the process is gone and its heartbeat says it ended. */
  watchPid(pid: number, heartbeatFile: string): void {
    const check = setInterval(() => {
      const beat = readJson<WorkerHeartbeat>(heartbeatFile);
      if (!isAlive(pid) || beat?.endedAt) {
        clearInterval(check);
        this.poll();
        this.onGone();
      }
    }, 2000);
    check.unref();
  }

  poll(): void {
    if (!existsSync(this.file)) return;
    const size = statSync(this.file).size;
    if (size <= this.offset) return;
    const fd = openSync(this.file, 'r');
    try {
      const buf = Buffer.alloc(size - this.offset);
      readSync(fd, buf, 0, buf.length, this.offset);
      this.offset = size;
      const text = this.partial + buf.toString('utf8');
      const lines = text.split('\n');
      this.partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.trim()) continue;
        try {
          this.onEvent(JSON.parse(line) as WorkerEvent);
        } catch {
          // A malformed line is skipped; the store keeps it for inspection.
        }
      }
    } finally {
      closeSync(fd);
    }
  }

  dispose(): void {
    clearInterval(this.timer);
  }
}
