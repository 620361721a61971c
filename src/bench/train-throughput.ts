// Training throughput (images/s, steady state) of the reference networks on
// the wasm backend (stock vs project kernels, 1 and 2 threads) and, optionally,
// the cpu backend.
//
// The wasm thread count is fixed once per process, so every thread count runs
// in its own child process (this file, forked with an environment flag). When
// this module is bundled into another entry point, that entry must hand control
// to `runTrainBenchChild()` when `isTrainBenchChild()` is true and pass its own
// path as `childEntry`.
//
// Standalone: node out/src/bench/train-throughput.js [--nets 2-conv,autokeras]
//   [--batch 64,128] [--threads 1,2] [--kernels stock,project] [--seconds 4] [--cpu]
import { fork } from 'node:child_process';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { buildReferenceNet, REFERENCE_NET_NAMES } from '../engine/model/reference-nets';
import { TrainStep } from '../engine/training/step';
import { initWasmBackend } from '../engine/runtime/wasm/backend';
import { useWasmKernelSet, type WasmKernelSet } from '../engine/runtime/wasm/kernels';

export interface Row {
  net: string;
  batch: number;
  backend: 'wasm' | 'cpu';
  /** XNNPACK threads actually used (1 for cpu). */
  threads: number;
  kernels: WasmKernelSet | 'n/a';
  imagesPerSec: number;
  msPerStep: number;
  /** Timed steps (after warm-up). */
  steps: number;
  notes: string[];
}

export interface BenchOptions {
  nets?: string[];
  batchSizes?: number[];
  threads?: number[];
  kernels?: WasmKernelSet[];
  /** Timed seconds per configuration, after warm-up (default 4). */
  seconds?: number;
  /** Also measure the cpu backend on the smallest case (first net, smallest batch). */
  cpu?: boolean;
  /** Called with each row as soon as it is measured. */
  onRow?: (row: Row) => void;
  /** Script to fork for each thread count (default: this module's file). */
  childEntry?: string;
}

interface ChildJob {
  nets: string[];
  batchSizes: number[];
  threads: number;
  kernels: WasmKernelSet[];
  seconds: number;
  cpu: boolean;
}

const CHILD_FLAG = 'AUTOML_TRAIN_BENCH_CHILD';
const INPUT_SHAPE = [28, 28, 1];
const CLASSES = 10;

/** Measures one configuration on the active backend. */
async function measure(net: string, batch: number, seconds: number, minSteps: number, warmup: number): Promise<{ ips: number; ms: number; steps: number }> {
  const model = buildReferenceNet(net, INPUT_SHAPE, CLASSES, { seed: 1 });
  const step = new TrainStep(model, {
    optimizer: 'adamw',
    learningRate: 1e-3,
    weightDecay: 1e-4,
    labelSmoothing: 0.1,
    multiLabel: false,
  });
  const x = tf.randomNormal([batch, ...INPUT_SHAPE] as number[]) as tf.Tensor as tf.Tensor4D;
  const y = tf.tidy(() => tf.cast(tf.oneHot(tf.randomUniform([batch], 0, CLASSES, 'int32'), CLASSES), 'float32')) as tf.Tensor2D;
  try {
    for (let i = 0; i < warmup; i++) step.run(x, y);
    await step.run(x, y).loss.data(); // drain before timing
    let steps = 0;
    const t0 = performance.now();
    let elapsed = 0;
    while (steps < minSteps || elapsed < seconds * 1000) {
      step.run(x, y);
      steps++;
      elapsed = performance.now() - t0;
    }
    // Kernels run synchronously on wasm/cpu; one read makes sure nothing is pending.
    await step.takeMetrics();
    elapsed = performance.now() - t0;
    return { ips: (steps * batch * 1000) / elapsed, ms: elapsed / steps, steps };
  } finally {
    step.dispose();
    tf.dispose([x, y]);
    model.dispose();
  }
}

/** Runs in the child process: one wasm thread count, every net/batch/kernel set. */
async function childMain(job: ChildJob, emit: (row: Row) => void): Promise<void> {
  const info = await initWasmBackend({ threads: job.threads });
  for (const net of job.nets) {
    for (const batch of job.batchSizes) {
      for (const kernels of job.kernels) {
        useWasmKernelSet(kernels);
        // The stock kernels are slow: fewer warm-up and minimum steps.
        const r = await measure(net, batch, job.seconds, kernels === 'stock' ? 2 : 3, kernels === 'stock' ? 1 : 2);
        emit({
          net,
          batch,
          backend: 'wasm',
          threads: info.threads,
          kernels,
          imagesPerSec: r.ips,
          msPerStep: r.ms,
          steps: r.steps,
          notes: info.notes,
        });
      }
    }
  }
  useWasmKernelSet('project');
  if (job.cpu) {
    await tf.setBackend('cpu');
    const net = job.nets[0];
    const batch = Math.min(...job.batchSizes);
    const r = await measure(net, batch, job.seconds, 1, 0);
    emit({ net, batch, backend: 'cpu', threads: 1, kernels: 'n/a', imagesPerSec: r.ips, msPerStep: r.ms, steps: r.steps, notes: [] });
  }
}

export function isTrainBenchChild(): boolean {
  return process.env[CHILD_FLAG] !== undefined;
}

/** Entry of a forked child: reads the job from the environment, sends rows over IPC. */
export async function runTrainBenchChild(): Promise<void> {
  const job = JSON.parse(process.env[CHILD_FLAG] ?? '{}') as ChildJob;
  await childMain(job, (row) => process.send?.({ row }));
}

function runChild(entry: string, job: ChildJob, onRow: (row: Row) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = fork(entry, [], {
      env: { ...process.env, [CHILD_FLAG]: JSON.stringify(job) },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'], // the child's stdout only carries tfjs banners
    });
    child.on('message', (m: { row?: Row }) => {
      if (m.row !== undefined) onRow(m.row);
    });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`benchmark child (threads ${job.threads}) exited with ${code}`))));
  });
}

/**
 * Measures training images/s for every combination of the options (defaults:
 * the three reference nets, batch 64 and 128, 1 and 2 threads, stock and
 * project kernels, 4 s per configuration). One child process per thread count.
 */
export async function benchTrainThroughput(opts: BenchOptions = {}): Promise<Row[]> {
  const nets = opts.nets ?? [...REFERENCE_NET_NAMES];
  const batchSizes = opts.batchSizes ?? [64, 128];
  const threads = opts.threads ?? [1, 2];
  const kernels = opts.kernels ?? ['stock', 'project'];
  const seconds = opts.seconds ?? 4;
  const rows: Row[] = [];
  const collect = (row: Row): void => {
    rows.push(row);
    opts.onRow?.(row);
  };
  for (const [i, t] of threads.entries()) {
    const job: ChildJob = { nets, batchSizes, threads: t, kernels, seconds, cpu: Boolean(opts.cpu) && i === 0 };
    await runChild(opts.childEntry ?? __filename, job, collect);
  }
  return rows;
}

export function formatRow(r: Row): string {
  return [
    r.net.padEnd(11),
    String(r.batch).padStart(5),
    r.backend.padEnd(5),
    String(r.threads).padStart(7),
    r.kernels.padEnd(8),
    r.imagesPerSec.toFixed(1).padStart(9),
    r.msPerStep.toFixed(0).padStart(8),
    String(r.steps).padStart(6),
  ].join('  ');
}

export const TABLE_HEADER = 'net          batch  back.  threads  kernels      img/s   ms/step   steps';

function parseList(args: string[], flag: string): string[] | undefined {
  const i = args.indexOf(flag);
  return i >= 0 && i + 1 < args.length ? args[i + 1].split(',').filter((s) => s.length > 0) : undefined;
}

async function main(): Promise<void> {
  if (isTrainBenchChild()) {
    await runTrainBenchChild();
    return;
  }
  const args = process.argv.slice(2);
  const seconds = parseList(args, '--seconds');
  console.log(TABLE_HEADER);
  const rows = await benchTrainThroughput({
    nets: parseList(args, '--nets'),
    batchSizes: parseList(args, '--batch')?.map(Number),
    threads: parseList(args, '--threads')?.map(Number),
    kernels: parseList(args, '--kernels') as WasmKernelSet[] | undefined,
    seconds: seconds === undefined ? undefined : Number(seconds[0]),
    cpu: args.includes('--cpu'),
    onRow: (r) => console.log(formatRow(r)),
  });
  const notes = [...new Set(rows.flatMap((r) => r.notes))];
  for (const n of notes) console.log(`note: ${n}`);
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
