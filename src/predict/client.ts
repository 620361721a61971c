// A prediction process shared by the extension's panels, the CLI and the prediction server:
// `worker.js --predictor`, started on first use, keeps models loaded and answers requests
// matched by id. Inference never runs in the extension host. No `vscode` import.
import { type ChildProcess, fork } from 'node:child_process';
import type { HostToWorker, ImagePrediction, WorkerEvent } from '../shared/protocol';
import { defaultWorkerPath } from '../worker/client';

interface Pending {
  resolve: (r: ImagePrediction[]) => void;
  reject: (e: Error) => void;
}

export class PredictorClient {
  private child: ChildProcess | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Backend the predictor runs on, once it answered. */
  backend: string | undefined;

  constructor(private readonly options: { workerPath?: string; env?: NodeJS.ProcessEnv } = {}) {}

  private process(): ChildProcess {
    if (this.child && this.child.exitCode === null && this.child.connected) return this.child;
    const child = fork(this.options.workerPath ?? defaultWorkerPath(), ['--predictor'], {
      env: { ...process.env, ...this.options.env },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    child.on('message', (m: WorkerEvent) => {
      if (m.type !== 'predictions') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.backend) this.backend = m.backend;
      if (m.error || !m.results) p.reject(new Error(m.error ?? 'no predictions'));
      else p.resolve(m.results);
    });
    child.on('exit', (code, signal) => {
      const why = new Error(
        `the prediction process ${signal ? `was killed by ${signal}` : `exited with code ${code}`}${stderr ? `: ${stderr.trim().split('\n').slice(-2).join(' ')}` : ''}`,
      );
      for (const p of this.pending.values()) p.reject(why);
      this.pending.clear();
      if (this.child === child) this.child = undefined;
    });
    this.child = child;
    return child;
  }

  private request(msg: Omit<Extract<HostToWorker, { type: 'predict' }>, 'id' | 'type'>): Promise<ImagePrediction[]> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.process().send({ type: 'predict', id, ...msg } satisfies HostToWorker);
    });
  }

  /** Top-k labels of image files with an experiment's final model (or a model folder). */
  predictFiles(model: string, paths: string[], topK = 5): Promise<ImagePrediction[]> {
    return this.request({ model, paths, topK });
  }

  /** Top-k labels of encoded images (PNG, JPEG, …). */
  predictBytes(model: string, images: { name: string; bytes: Uint8Array }[], topK = 5): Promise<ImagePrediction[]> {
    return this.request({ model, images: images.map((i) => ({ name: i.name, base64: Buffer.from(i.bytes).toString('base64') })), topK });
  }

  dispose(): void {
    this.child?.kill();
    this.child = undefined;
  }
}
