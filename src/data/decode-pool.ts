// Decoding on worker threads (pool size = cores by default).
//
// Where the worker code comes from, in order:
//  1. setDataWorkerScript(path) or $AUTOML_DATA_WORKER_SCRIPT;
//  2. decode-worker.js next to this module: out/src/data/ when running unbundled (tests),
//     dist/decode-worker.js when the build has that entry;
//  3. the bundle that called runDataWorkerIfRequested() on its main thread: it is started
//     again as the worker, and the same call at its top turns it into the decode loop;
//  4. none of these: decode on the calling thread (correct, slower).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { decodeImage, DecodeSpec, loadSharp } from './decode';
import { ImageByteReader, ImageReadError } from './source';
import type { ImageInfo, ImageRef } from './types';
import { allottedCores } from '../shared/cores';

export interface DecodeJob {
  id: number;
  spec: DecodeSpec | null;
  refs: ImageRef[];
}

export interface DecodeJobResult {
  id: number;
  /** refs.length × rowBytes, in refs order (null without a spec). */
  pixels: Uint8Array | null;
  infos: ImageInfo[];
}

const WORKER_FLAG = 'automlDataWorker';

let explicitScript: string | undefined;
let reentryScript: string | undefined;

/** Sets the script worker threads run (a file whose top calls runDataWorkerIfRequested). */
export function setDataWorkerScript(file: string | undefined): void {
  explicitScript = file;
}

/**
 * Call first thing in every bundle entry point (cli, training worker):
 * `if (runDataWorkerIfRequested()) return;` (or skip the entry's main).
 * On a decode worker thread it starts the decode loop and returns true; on a main thread
 * it records this bundle as one that can be re-entered as a worker and returns false.
 */
export function runDataWorkerIfRequested(): boolean {
  if (!isMainThread && workerData && (workerData as Record<string, unknown>)[WORKER_FLAG] === 1) {
    startDecodeLoop();
    return true;
  }
  if (isMainThread) reentryScript = __filename;
  return false;
}

export function resolveWorkerScript(): string | undefined {
  if (explicitScript) return explicitScript;
  if (process.env.AUTOML_DATA_WORKER_SCRIPT) return process.env.AUTOML_DATA_WORKER_SCRIPT;
  const sibling = path.join(__dirname, 'decode-worker.js');
  if (fs.existsSync(sibling)) return sibling;
  return reentryScript;
}

export function defaultWorkerCount(): number {
  // A Slurm job's CPUs, else every core (shared/cores.ts).
  return allottedCores();
}

/** Decodes one job on the current thread: the worker's body, and the fallback. */
export async function runDecodeJob(job: DecodeJob, reader: ImageByteReader): Promise<DecodeJobResult> {
  const rowBytes = job.spec ? job.spec.height * job.spec.width * job.spec.channels : 0;
  const pixels = job.spec ? new Uint8Array(job.refs.length * rowBytes) : null;
  const infos: ImageInfo[] = [];
  for (let k = 0; k < job.refs.length; k++) {
    const ref = job.refs[k];
    let bytes: Buffer;
    try {
      bytes = reader.read(ref);
    } catch (e) {
      const code = e instanceof ImageReadError ? e.code : 'unreadable-file';
      infos.push({ width: 0, height: 0, channels: 0, format: 'unknown', error: { code, message: (e as Error).message } });
      continue;
    }
    const d = await decodeImage(bytes, job.spec);
    if (pixels && d.pixels) pixels.set(d.pixels, k * rowBytes);
    infos.push(d.info);
  }
  return { id: job.id, pixels, infos };
}

function startDecodeLoop(): void {
  const port = parentPort;
  if (!port) return;
  try {
    const sharp = loadSharp();
    // Parallelism comes from the pool; libvips threads per worker would only oversubscribe.
    sharp.concurrency(1);
    sharp.cache(false);
  } catch {
    /* reported per image by decodeImage */
  }
  const reader = new ImageByteReader();
  let chain = Promise.resolve();
  port.on('message', (job: DecodeJob) => {
    chain = chain.then(async () => {
      try {
        const r = await runDecodeJob(job, reader);
        port.postMessage(r, r.pixels ? [r.pixels.buffer as ArrayBuffer] : []);
      } catch (e) {
        port.postMessage({ id: job.id, error: (e as Error).stack ?? String(e) });
      }
    });
  });
}

type Pending = { resolve: (r: DecodeJobResult) => void; reject: (e: Error) => void };

/** A pool of decode workers, or the calling thread when none can be started. */
export class DecodePool {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: { job: DecodeJob; p: Pending }[] = [];
  private readonly pending = new Map<number, { p: Pending; w: Worker }>();
  private readonly reader = new ImageByteReader();
  private closed = false;
  private failure: Error | undefined;
  readonly size: number;

  constructor(requested: number) {
    const script = requested > 0 ? resolveWorkerScript() : undefined;
    if (script) {
      // On glibc Linux sharp must be loaded by the main thread before workers load it.
      // If it cannot load at all, PNG/BMP/IDX still decode (decodeImage reports the rest).
      try {
        loadSharp();
      } catch {
        /* reported per image */
      }
      for (let i = 0; i < requested; i++) {
        const w = new Worker(script, { workerData: { [WORKER_FLAG]: 1 } });
        w.on('message', (msg: DecodeJobResult & { error?: string }) => this.onMessage(w, msg));
        w.on('error', (e) => this.onFailure(e));
        w.on('exit', (code) => {
          if (!this.closed && code !== 0) this.onFailure(new Error(`decode worker exited with code ${code}`));
        });
        this.workers.push(w);
        this.idle.push(w);
      }
    }
    this.size = this.workers.length;
  }

  /** Worker threads in use (0: decoding on the calling thread). */
  get threads(): number {
    return this.workers.length;
  }

  run(job: DecodeJob): Promise<DecodeJobResult> {
    if (this.workers.length === 0) return runDecodeJob(job, this.reader);
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.queue.push({ job, p: { resolve, reject } });
      this.pump();
    });
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const w = this.idle.pop()!;
      const { job, p } = this.queue.shift()!;
      this.pending.set(job.id, { p, w });
      w.postMessage(job);
    }
  }

  private onMessage(w: Worker, msg: DecodeJobResult & { error?: string }): void {
    const entry = this.pending.get(msg.id);
    if (!entry) return;
    this.pending.delete(msg.id);
    this.idle.push(w);
    if (msg.error) entry.p.reject(new Error(`decode worker failed: ${msg.error}`));
    else entry.p.resolve(msg);
    this.pump();
  }

  private onFailure(e: Error): void {
    if (this.closed) return;
    this.failure = e;
    for (const { p } of this.pending.values()) p.reject(e);
    this.pending.clear();
    for (const { p } of this.queue) p.reject(e);
    this.queue.length = 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.reader.close();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
