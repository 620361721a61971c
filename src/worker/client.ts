// Starts the training worker in a child process (`child_process.fork`) and speaks the typed
// protocol with it. Used by the extension host and by the CLI alike, so both train the same
// way and neither trains in its own process. No `vscode` import.
import { type ChildProcess, fork } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ExperimentRecord, ExperimentSpec, HostToWorker, WorkerEvent } from '../shared/protocol';
import { ExperimentStore } from '../store/store';
import { newWorkerToken, workerArgs } from './identity';

/** The worker script: `dist/worker.js` next to a bundle, or the compiled module in tests. */
export function defaultWorkerPath(): string {
  const candidates = [join(__dirname, 'worker.js'), join(__dirname, '..', 'worker', 'main.js'), join(__dirname, '..', 'dist', 'worker.js')];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`Training worker not found (looked for ${candidates.join(', ')}); run \`npm run build\``);
  return found;
}

export interface WorkerStartOptions {
  experimentDir: string;
  spec: ExperimentSpec;
  resume: boolean;
  workerPath?: string;
  env?: NodeJS.ProcessEnv;
  /** Extra Node flags for the worker, e.g. a larger heap. */
  execArgv?: string[];
  /**
   * The extension's way: the worker gets its own process group and writes its output to this
   * file, and keeps training when the host goes away (a window reload re-attaches to it).
   * Without it (the CLI) output is piped and the worker stops when the host goes away.
   */
  detachedLogFile?: string;
}

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The experiment as the store holds it after the exit. */
  experiment: ExperimentRecord | undefined;
  /** True when the worker ended without finishing its experiment (crash, kill, out of memory). */
  interrupted: boolean;
}

export class WorkerClient extends EventEmitter {
  readonly child: ChildProcess;
  /** The worker's bundle path, as on its command line. */
  readonly workerPath: string;
  /** The random token on the worker's command line, which it writes into worker.json (see identity.ts). */
  readonly token = newWorkerToken();
  readonly done: Promise<WorkerExit>;
  private finished = false;
  private pingTimer: NodeJS.Timeout | undefined;
  private lastPong = Date.now();
  private pingId = 0;

  private constructor(readonly options: WorkerStartOptions) {
    super();
    const workerPath = (this.workerPath = options.workerPath ?? defaultWorkerPath());
    let logFd: number | undefined;
    if (options.detachedLogFile) {
      mkdirSync(dirname(options.detachedLogFile), { recursive: true });
      logFd = openSync(options.detachedLogFile, 'a');
    }
    this.child = fork(workerPath, workerArgs(options.experimentDir, this.token), {
      env: { ...process.env, ...options.env },
      execArgv: options.execArgv ?? ['--max-old-space-size=8192'],
      stdio: logFd !== undefined ? ['ignore', logFd, logFd, 'ipc'] : ['ignore', 'pipe', 'pipe', 'ipc'],
      detached: logFd !== undefined,
      serialization: 'json',
    });
    if (logFd !== undefined) closeSync(logFd);
    this.child.stdout?.on('data', (d: Buffer) => this.emitLines('info', d));
    this.child.stderr?.on('data', (d: Buffer) => this.emitLines('warn', d));
    this.child.on('message', (m: WorkerEvent) => {
      if (m.type === 'pong') {
        this.lastPong = Date.now();
        return;
      }
      if (m.type === 'experimentEnded') this.finished = true;
      this.emit('event', m);
    });
    this.done = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        clearInterval(this.pingTimer);
        resolve(this.onExit(code, signal));
      });
    });
    this.pingTimer = setInterval(() => this.ping(), 5000);
    this.pingTimer.unref();
  }

  static start(options: WorkerStartOptions): WorkerClient {
    const client = new WorkerClient(options);
    client.send({
      type: 'start',
      experimentDir: options.experimentDir,
      spec: options.spec,
      resume: options.resume,
      keepAliveOnDisconnect: options.detachedLogFile !== undefined,
    });
    return client;
  }

  onEvent(listener: (e: WorkerEvent) => void): this {
    return this.on('event', listener);
  }

  send(message: HostToWorker): void {
    if (this.child.connected) this.child.send(message);
  }

  /** Asks the worker to stop within one batch; it keeps every finished trial and the best model. */
  cancel(reason = 'cancelled by the user'): void {
    this.send({ type: 'cancel', reason });
  }

  /** Seconds since the worker last answered a ping (a long synchronous kernel delays answers). */
  get silentFor(): number {
    return (Date.now() - this.lastPong) / 1000;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.child.kill(signal);
  }

  private ping(): void {
    this.send({ type: 'ping', id: ++this.pingId });
  }

  private emitLines(level: 'info' | 'warn', data: Buffer): void {
    for (const line of data.toString('utf8').split('\n')) {
      if (line.trim()) this.emit('event', { type: 'log', level, message: line } satisfies WorkerEvent);
    }
  }

  /** A worker that dies mid-experiment leaves it marked interrupted (resumable), never "running". */
  private onExit(code: number | null, signal: NodeJS.Signals | null): WorkerExit {
    let experiment: ExperimentRecord | undefined;
    let interrupted = false;
    try {
      const store = new ExperimentStore(this.options.experimentDir);
      experiment = store.readRecord();
      if (!this.finished && (experiment.status === 'running' || experiment.status === 'queued')) {
        interrupted = true;
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        const trials = store.readTrials();
        for (const t of trials) {
          if (t.status === 'running') store.writeTrial({ ...t, status: 'interrupted', error: `the worker ${how}` });
        }
        experiment = store.updateRecord({
          status: 'interrupted',
          error: `The training worker ${how}${signal === 'SIGKILL' ? ' (out of memory, or killed)' : ''}. Every finished trial is kept; resume to continue.`,
          endedAt: new Date().toISOString(),
        });
      }
    } catch {
      // No readable experiment (the worker died before creating it): nothing to mark.
    }
    return { code, signal, experiment, interrupted };
  }
}

/**
 * Loads a backend in a worker process of its own (`worker.js --probe`) and returns its report;
 * rejects with the reason it cannot load. Used to verify a runtime install.
 */
export function probeBackend(
  backend: string,
  opts: { workerPath?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<import('../shared/protocol').BackendInfo> {
  return new Promise((resolvePromise, reject) => {
    const child = fork(opts.workerPath ?? defaultWorkerPath(), ['--probe', backend], {
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      try {
        const parsed = JSON.parse(line) as import('../shared/protocol').BackendInfo & { error?: string };
        if (code === 0 && !parsed.error) return resolvePromise(parsed);
        return reject(new Error(parsed.error ?? `probe exited with code ${code}`));
      } catch {
        reject(new Error(`probe ${signal ? `killed by ${signal}` : `exited with code ${code}`}: ${(err || out).trim().split('\n').slice(-3).join(' ')}`));
      }
    });
  });
}
