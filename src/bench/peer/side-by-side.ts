// The PyTorch side by side (issue 25): the nets of nets.json trained (and, where asked, run
// forward) by the project's engine — wasm, the project's kernels, 2 threads, as
// `train-throughput.js --kernels project --threads 2` — and by PyTorch in the same run
// (torch_train.py, when `python3 -c "import torch"` works): NCHW and channels_last, Debian's
// reference BLAS and, when installed, OpenBLAS (libopenblas0-pthread, through LD_LIBRARY_PATH).
// The table gives PyTorch's best setting per net and case and the ratio project / PyTorch.
//
//   npm run bench -- --parts train --peer torch
//   node out/src/bench/peer/side-by-side.js [--nets 2-conv,resnet8] [--modes train,forward] [--seconds 3] [--threads 2]
//
// Forward cases also run in ONNX Runtime when it is installed (onnx-side.ts), rows "forward, ONNX Runtime".
//
// The wasm thread count is fixed once per process: the project's side runs in a child process
// (this module, or the entry that bundles it, forked with an environment flag; see isPeerBenchChild).
import { fork, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { initWasmBackend } from '../../engine/runtime/wasm/backend';
import { useWasmKernelSet } from '../../engine/runtime/wasm/kernels';
import { TrainStep } from '../../engine/training/step';
import { imagesPerSecond } from './timing';
import { buildSpecNet, loadNets, TORCH_SCRIPT, type NetSpec } from './net-spec';
import { measureOnnxForward, onnxRuntimeVersion } from './onnx-side';

/** One measured case of one side. */
export interface PeerRow {
  net: string;
  mode: 'train' | 'forward';
  batch: number;
  imagesPerSec: number;
  /** PyTorch: "reference BLAS, NCHW" and the like; the project: its backend and threads. */
  setting: string;
  /** The project's forward pass in ONNX Runtime (onnx-side.ts) rather than its own engine. */
  engine?: 'onnxruntime';
}

export interface PeerOptions {
  nets?: string[];
  /** Only these cases (default: both). */
  modes?: Array<'train' | 'forward'>;
  /** Timed seconds per case after warm-up (default 3). */
  seconds?: number;
  threads?: number;
  /** Script to fork for the project's side (default: this module's file). */
  childEntry?: string;
  onLine?: (line: string) => void;
}

const CHILD_FLAG = 'AUTOML_PEER_BENCH_CHILD';
/** Debian's OpenBLAS (libopenblas0-pthread) as an alternative libblas.so.3. */
const OPENBLAS_DIRS = ['/usr/lib/x86_64-linux-gnu/openblas-pthread', '/usr/lib/aarch64-linux-gnu/openblas-pthread'];

/** A Python with torch (AUTOML_PEER_PYTHON, python3 on PATH, Debian's /usr/bin/python3), or null. */
export function torchPython(): string | null {
  const candidates = [process.env.AUTOML_PEER_PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => Boolean(p));
  for (const p of candidates) {
    const r = spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
    if (r.status === 0) return p;
  }
  return null;
}

/** Images/s of one case of `spec` on the active backend (training steps, or inference batches). */
async function measureProject(spec: NetSpec, mode: 'train' | 'forward', batch: number, seconds: number): Promise<number> {
  const model = buildSpecNet(spec, 1);
  const x = tf.randomNormal([batch, ...spec.input]) as tf.Tensor4D;
  const y = tf.tidy(() => tf.cast(tf.oneHot(tf.randomUniform([batch], 0, spec.classes, 'int32'), spec.classes), 'float32')) as tf.Tensor2D;
  const step =
    mode === 'train' ? new TrainStep(model, { optimizer: 'adamw', learningRate: 1e-3, weightDecay: 1e-4, labelSmoothing: 0.1, multiLabel: false }) : null;
  const run = async (): Promise<void> => {
    if (step) {
      await step.run(x, y).loss.data();
    } else {
      const out = model.predict(x) as tf.Tensor;
      await out.data();
      out.dispose();
    }
  };
  try {
    return await imagesPerSecond(run, batch, seconds);
  } finally {
    step?.dispose();
    tf.dispose([x, y]);
    model.dispose();
  }
}

export function isPeerBenchChild(): boolean {
  return process.env[CHILD_FLAG] !== undefined;
}

const send = (m: unknown): Promise<void> => new Promise((resolve) => (process.send ? process.send(m, () => resolve()) : resolve()));

/** Entry of the forked child: the project's side, rows sent over IPC; exits when done (the wasm threads would keep it alive). */
export async function runPeerBenchChild(): Promise<void> {
  try {
    await peerChildMain();
    process.exit(0);
  } catch (e) {
    console.error(e);
    process.exit(1);
  }
}

async function peerChildMain(): Promise<void> {
  const job = JSON.parse(process.env[CHILD_FLAG] ?? '{}') as { nets: string[]; modes: string[]; seconds: number; threads: number };
  const info = await initWasmBackend({ threads: job.threads });
  useWasmKernelSet('project');
  for (const spec of loadNets().filter((n) => job.nets.length === 0 || job.nets.includes(n.name))) {
    for (const c of spec.cases.filter((k) => job.modes.includes(k.mode))) {
      const ips = await measureProject(spec, c.mode, c.batch, job.seconds);
      const row: PeerRow = { net: spec.name, mode: c.mode, batch: c.batch, imagesPerSec: ips, setting: `wasm, project kernels, ${info.threads} threads` };
      await send({ row });
      // The same forward pass in ONNX Runtime, when it is installed (what transfer learning's features run on then).
      const onnx = c.mode === 'forward' ? await measureOnnxForward(spec, c.batch, job.seconds, job.threads) : null;
      if (onnx) await send({ row: { net: spec.name, mode: c.mode, batch: c.batch, ...onnx, engine: 'onnxruntime' } satisfies PeerRow });
    }
  }
}

function projectSide(o: Required<Omit<PeerOptions, 'onLine'>>, onRow: (r: PeerRow) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = fork(o.childEntry, [], {
      env: { ...process.env, [CHILD_FLAG]: JSON.stringify({ nets: o.nets, modes: o.modes, seconds: o.seconds, threads: o.threads }) },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    child.on('message', (m: { row?: PeerRow }) => m.row && onRow(m.row));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`side-by-side child exited with ${code}`))));
  });
}

/** PyTorch's rows with one BLAS (the process's environment decides which libblas.so.3 loads). */
function torchSide(python: string, blas: string, env: NodeJS.ProcessEnv, o: Required<Omit<PeerOptions, 'onLine'>>, onRow: (r: PeerRow) => void): Promise<void> {
  const args = [TORCH_SCRIPT, '--threads', String(o.threads), '--seconds', String(o.seconds), '--nets', o.nets.join(','), '--modes', o.modes.join(',')];
  return new Promise((resolve, reject) => {
    const child = spawn(python, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines.filter((s) => s.startsWith('{'))) {
        const r = JSON.parse(l) as { net: string; mode: 'train' | 'forward'; batch: number; format: string; imagesPerSec: number };
        onRow({
          net: r.net,
          mode: r.mode,
          batch: r.batch,
          imagesPerSec: r.imagesPerSec,
          setting: `${blas}, ${r.format === 'channels_last' ? 'channels_last' : 'NCHW'}`,
        });
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${python} ${TORCH_SCRIPT} (${blas}) exited with ${code}`))));
  });
}

/** PyTorch's fastest row for each net, mode and batch. */
export function bestPerCase(rows: PeerRow[]): Map<string, PeerRow> {
  const best = new Map<string, PeerRow>();
  for (const r of rows) {
    const k = caseKey(r);
    const b = best.get(k);
    if (!b || r.imagesPerSec > b.imagesPerSec) best.set(k, r);
  }
  return best;
}

const caseKey = (r: { net: string; mode: string; batch: number }) => `${r.net}|${r.mode}|${r.batch}`;

/** 1234.5 → "1,235"; small figures keep a decimal. */
export function formatRate(x: number): string {
  return x >= 99.95 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1);
}

/** The side-by-side table (markdown): one row per case the project measured. */
export function peerTable(project: PeerRow[], torch: PeerRow[]): string {
  const best = bestPerCase(torch);
  const lines = ['| net | mode | batch | project img/s | PyTorch best img/s (setting) | project / PyTorch |', '|---|---|---|---|---|---|'];
  for (const p of project) {
    const t = best.get(caseKey(p));
    const peer = t ? `${formatRate(t.imagesPerSec)} (${t.setting})` : 'n/a';
    const ratio = t && t.imagesPerSec > 0 ? (p.imagesPerSec / t.imagesPerSec).toFixed(2) : 'n/a';
    const mode = `${p.mode === 'train' ? 'training' : 'forward'}${p.engine === 'onnxruntime' ? ', ONNX Runtime' : ''}`;
    lines.push(`| ${p.net} | ${mode} | ${p.batch} | ${formatRate(p.imagesPerSec)} | ${peer} | ${ratio} |`);
  }
  return lines.join('\n');
}

/** The whole side by side: the project's side, then PyTorch with each BLAS; the markdown table and notes. */
export async function benchPeerTorch(opts: PeerOptions = {}): Promise<{ table: string; notes: string[]; project: PeerRow[]; torch: PeerRow[] }> {
  const o = {
    nets: opts.nets ?? [],
    modes: opts.modes ?? (['train', 'forward'] as Array<'train' | 'forward'>),
    seconds: opts.seconds ?? 3,
    threads: opts.threads ?? 2,
    childEntry: opts.childEntry ?? __filename,
  };
  const log = opts.onLine ?? (() => undefined);
  const notes: string[] = [];
  const project: PeerRow[] = [];
  const torch: PeerRow[] = [];
  const show = (side: string, r: PeerRow) =>
    log(
      `  ${side.padEnd(8)} ${r.net.padEnd(16)} ${r.mode.padEnd(8)} ${String(r.batch).padStart(4)}  ${formatRate(r.imagesPerSec).padStart(7)} img/s  ${r.setting}`,
    );
  await projectSide(o, (r) => (project.push(r), show('project', r)));
  const python = torchPython();
  if (!python) {
    notes.push('PyTorch is not importable (python3 -c "import torch" failed; Debian: apt-get install python3-torch): no PyTorch column.');
  } else {
    const blases: [string, NodeJS.ProcessEnv][] = [['reference BLAS', {}]];
    const openblas = OPENBLAS_DIRS.find((d) => existsSync(d));
    if (openblas) blases.push(['OpenBLAS', { LD_LIBRARY_PATH: [openblas, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') }]);
    else notes.push('OpenBLAS not installed (apt-get install libopenblas0-pthread): PyTorch with the reference BLAS only.');
    for (const [blas, env] of blases) await torchSide(python, blas, env, o, (r) => (torch.push(r), show('PyTorch', r)));
    const version = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' }).stdout.trim();
    notes.push(`PyTorch ${version} (${python}), torch.set_num_threads(${o.threads}); the project: wasm with its own kernels, ${o.threads} threads.`);
  }
  const ort = onnxRuntimeVersion();
  if (o.modes.includes('forward')) {
    notes.push(
      ort
        ? `"forward, ONNX Runtime": the same tfjs net converted by the project's ONNX exporter, run in onnxruntime-node ${ort} (CPU, intraOpNumThreads ${o.threads}, all graph optimisations), as transfer learning's features run when ONNX Runtime is installed.`
        : 'ONNX Runtime is not installed (automl install-runtime --onnx): no ONNX Runtime rows.',
    );
  }
  return { table: peerTable(project, torch), notes, project, torch };
}

function argList(flag: string): string[] | undefined {
  const i = process.argv.indexOf(flag);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1].split(',').filter(Boolean) : undefined;
}

if (require.main === module && isPeerBenchChild()) {
  void runPeerBenchChild();
} else if (require.main === module) {
  benchPeerTorch({
    nets: argList('--nets'),
    modes: argList('--modes') as Array<'train' | 'forward'> | undefined,
    seconds: argList('--seconds') ? Number(argList('--seconds')![0]) : undefined,
    threads: argList('--threads') ? Number(argList('--threads')![0]) : undefined,
    onLine: (l) => console.log(l),
  }).then(
    (r) => {
      console.log(`\n${r.table}\n`);
      for (const n of r.notes) console.log(`note: ${n}`);
      process.exit(0);
    },
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
