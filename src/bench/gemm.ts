// GFLOP/s of the convolutions and products of the reference networks on the wasm backend
// (issue 25): XNNPACK's forward convolution and matrix product (tfjs-backend-wasm's stock
// kernels), the project's kernels (its SIMD loop with a fused multiply-add, conv-forward.ts,
// and the backprops built on it), and a GEMM micro-kernel with packed B panels and 6×8 … 2×16
// register tiles (simd/gemm-programs.ts) on the convolution's product view (M = output pixels,
// K = taps × input channels, N = output channels; without im2col, so an upper bound for it).
// The first row, "peak", is a loop of independent fused multiply-adds on registers: the most
// WebAssembly SIMD128 can do on this machine, one thread.
//
// The thread count of the wasm backend is fixed per process: one child process per count
// (this file, forked with an environment flag; main.ts hands control to runGemmBenchChild).
// XNNPACK's operators are cached per filter tensor, so its forward convolution is timed without
// the repacking a new filter costs in training (in its favour).
//
// Standalone: node out/src/bench/gemm.js [--threads 1,2]
import { fork } from 'node:child_process';
import { setFlagsFromString } from 'node:v8';
import * as tf from '@tensorflow/tfjs-core';
import { initWasmBackend } from '../engine/runtime/wasm/backend';
import { useWasmKernelSet } from '../engine/runtime/wasm/kernels';
import { alloc, byteOffset, free, heapBuffer, runStock, xnnMatMul, type BackendWasm } from '../engine/runtime/wasm/kernel-utils';
import { matMulByTiles, packFilter } from '../engine/runtime/wasm/conv-forward';
import { convKernelsFor, memoryOf } from '../engine/runtime/wasm/simd';
import { assemble, forLoop, i32, op, v128, type FnDef } from '../engine/runtime/wasm/simd/wasm-asm';
import { GEMM_TILES, gemmProgram } from './gemm-programs';
import { SimdPool, splitRange } from '../engine/runtime/wasm/simd/threads';

const CHILD_FLAG = 'AUTOML_GEMM_BENCH_CHILD';

/** A convolution of the reference networks (NHWC, 'same' padding). */
export interface GemmShape {
  label: string;
  B: number;
  H: number;
  W: number;
  Cin: number;
  Cout: number;
  k: number;
  stride: number;
}

export const GEMM_SHAPES: GemmShape[] = [
  { label: '2-conv/autokeras conv1, b64', B: 64, H: 28, W: 28, Cin: 1, Cout: 32, k: 3, stride: 1 },
  { label: '2-conv/autokeras conv2, b64', B: 64, H: 14, W: 14, Cin: 32, Cout: 64, k: 3, stride: 1 },
  { label: '2-conv/autokeras conv2, b128', B: 128, H: 14, W: 14, Cin: 32, Cout: 64, k: 3, stride: 1 },
  { label: 'autokeras conv3, b64', B: 64, H: 7, W: 7, Cin: 64, Cout: 128, k: 3, stride: 1 },
  { label: 'resnet8 block 1, b64', B: 64, H: 28, W: 28, Cin: 16, Cout: 16, k: 3, stride: 1 },
  { label: 'resnet8 block 2 (stride 2), b64', B: 64, H: 28, W: 28, Cin: 16, Cout: 32, k: 3, stride: 2 },
  { label: 'resnet8 block 2, b64', B: 64, H: 14, W: 14, Cin: 32, Cout: 32, k: 3, stride: 1 },
  { label: 'MobileNetV2-128 1×1 16→96, b16', B: 16, H: 64, W: 64, Cin: 16, Cout: 96, k: 1, stride: 1 },
  { label: 'MobileNetV2-128 1×1 144→24, b16', B: 16, H: 32, W: 32, Cin: 144, Cout: 24, k: 1, stride: 1 },
  { label: 'MobileNetV2-128 1×1 192→32, b16', B: 16, H: 16, W: 16, Cin: 192, Cout: 32, k: 1, stride: 1 },
  { label: 'MobileNetV2-128 1×1 384→64, b16', B: 16, H: 8, W: 8, Cin: 384, Cout: 64, k: 1, stride: 1 },
  { label: 'MobileNetV2-128 1×1 320→1280, b16', B: 16, H: 4, W: 4, Cin: 320, Cout: 1280, k: 1, stride: 1 },
];

/** GFLOP/s per kernel of one shape at one thread count (null: the kernel does not apply). */
export interface GemmRow {
  label: string;
  threads: number;
  M: number;
  K: number;
  N: number;
  /** Name of the kernel → GFLOP/s. */
  gflops: Record<string, number | null>;
}

export const GEMM_COLUMNS = [
  'XNNPACK conv',
  'project conv',
  'project dx',
  'project dW',
  'XNNPACK matMul',
  'project matMul',
  'GEMM 12 acc. (6×8, 3×16)',
  'GEMM 8 acc. (4×8, 2×16)',
  'GEMM 2×16, k unrolled ×4',
] as const;

function productView(s: GemmShape): { OH: number; OW: number; M: number; K: number; N: number } {
  const OH = Math.ceil(s.H / s.stride);
  const OW = Math.ceil(s.W / s.stride);
  return { OH, OW, M: s.B * OH * OW, K: s.k * s.k * s.Cin, N: s.Cout };
}

/** Best seconds per call of `fn` (a few warm-up calls, then calls for at least `seconds`). */
function timeIt(fn: () => void, seconds = 0.25): number {
  for (let i = 0; i < 3; i++) fn();
  let best = Infinity;
  const start = performance.now();
  for (let n = 0; n < 3 || performance.now() - start < seconds * 1000; n++) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, performance.now() - t0);
    if (n > 200) break;
  }
  return best / 1000;
}

/** A loop of independent register-only updates, acc_i = x·y + acc_i (12 accumulators), for the peak. */
function peakProgram(fma: boolean): FnDef {
  const A = 12;
  const acc = (k: number): number => 4 + k;
  const update = (k: number): number[] =>
    fma
      ? [...op.get(2), ...op.get(3), ...op.get(acc(k)), ...op.f32x4madd, ...op.set(acc(k))]
      : [...op.get(2), ...op.get(3), ...op.f32x4mul, ...op.get(acc(k)), ...op.f32x4add, ...op.set(acc(k))];
  return {
    name: fma ? 'peakFma' : 'peakMulAdd',
    params: [i32],
    locals: [i32, v128, v128, ...new Array<number>(A).fill(v128)] as FnDef['locals'],
    body: [
      ...[...op.f32c(1.0001), ...op.f32x4splat, ...op.set(2), ...op.f32c(0.9999), ...op.f32x4splat, ...op.set(3)],
      ...forLoop(1, op.i32c(0), 0, 1, ...Array.from({ length: A }, (_, k) => update(k))),
      ...Array.from({ length: A }, (_, k) => [...op.i32c(16 * k), ...op.get(acc(k)), ...op.v128store(0)]).flat(),
    ],
  };
}

/** The GEMM micro-kernels, with the fused multiply-add when the runtime accepts relaxed SIMD. */
function gemmModule(shared: boolean): { module: WebAssembly.Module; fma: boolean } {
  const build = (fma: boolean): Uint8Array<ArrayBuffer> => assemble([...GEMM_TILES.map((t) => gemmProgram(fma, t.MR, t.NR, t.U)), peakProgram(fma)], shared);
  if (!WebAssembly.validate(build(true))) setFlagsFromString('--experimental-wasm-relaxed-simd');
  const fma = WebAssembly.validate(build(true));
  return { module: new WebAssembly.Module(build(fma)), fma };
}

function measureShape(backend: BackendWasm, s: GemmShape, pool: SimdPool, threads: number): GemmRow {
  const { OH, OW, M, K, N } = productView(s);
  const flop = 2 * M * K * N;
  const rate = (sec: number | null): number | null => (sec === null ? null : flop / sec / 1e9);
  const g: Record<string, number | null> = {};
  const x = tf.randomUniform([s.B, s.H, s.W, s.Cin], -1, 1);
  const f = tf.randomUniform([s.k, s.k, s.Cin, s.Cout], -1, 1);
  const dy = tf.randomUniform([s.B, OH, OW, s.Cout], -1, 1);
  const a = tf.randomUniform([M, K], -1, 1);
  const bm = tf.randomUniform([K, N], -1, 1);
  const attrs = { strides: [s.stride, s.stride], pad: 'same', dataFormat: 'NHWC', dilations: [1, 1] };
  const run = (kernel: string, inputs: Record<string, tf.Tensor>, at: Record<string, unknown>) => () =>
    (tf.engine().runKernel(kernel, inputs, at as tf.NamedAttrMap) as tf.Tensor).dispose();
  g['XNNPACK conv'] = rate(timeIt(() => free(backend, runStock('Conv2D', backend, { x, filter: f }, attrs as tf.NamedAttrMap))));
  g['project conv'] = rate(timeIt(run('Conv2D', { x, filter: f }, attrs)));
  g['project dx'] = rate(timeIt(run('Conv2DBackpropInput', { dy, filter: f }, { ...attrs, inputShape: x.shape })));
  g['project dW'] = rate(timeIt(run('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: f.shape })));
  g['XNNPACK matMul'] = rate(timeIt(() => free(backend, xnnMatMul(backend, a, bm, M, K, N))));
  const tiles = matMulByTiles(backend, a, bm, M, K, N, false);
  free(backend, tiles);
  g['project matMul'] = tiles === null ? null : rate(timeIt(() => free(backend, matMulByTiles(backend, a, bm, M, K, N, false))));
  for (const t of GEMM_TILES) {
    if (N % t.NR !== 0) continue;
    const name = `gemm${t.MR}x${t.NR}${t.U ? `u${t.U}` : ''}`;
    const v = rate(timeIt(() => gemmOnPool(backend, pool, threads, a, bm, M, K, N, name, t.MR, t.NR)))!;
    g[name] = v;
    const column = t.U ? 'GEMM 2×16, k unrolled ×4' : t.MR * t.NR >= 48 ? 'GEMM 12 acc. (6×8, 3×16)' : 'GEMM 8 acc. (4×8, 2×16)';
    g[column] = Math.max(g[column] ?? 0, v);
  }
  tf.dispose([x, f, dy, a, bm]);
  return { label: s.label, threads, M, K, N, gflops: g };
}

/** c = a·b by the micro-kernel, b packed into panels first (timed with it), rows split between the threads. */
function gemmOnPool(
  backend: BackendWasm,
  pool: SimdPool,
  threads: number,
  a: tf.Tensor,
  b: tf.Tensor,
  M: number,
  K: number,
  N: number,
  name: string,
  MR: number,
  NR: number,
): void {
  const c = alloc(backend, [M, N]);
  const packed = alloc(backend, [K * N + N + 4]);
  try {
    const pAt = (byteOffset(backend, packed) + 15) & ~15;
    const biasAt = pAt + 4 * K * N;
    new Float32Array(heapBuffer(backend), biasAt, N).fill(0);
    packFilter(backend, b, 1, 1, K, N)(pAt, NR);
    const parts = Math.max(1, Math.min(threads, Math.floor(M / MR)));
    const bits = (v: number): number => new Int32Array(new Float32Array([v]).buffer)[0]!;
    const args = Array.from({ length: parts }, (_, p) => {
      const [m0, m1] = splitRange(M / MR, parts, p).map((r) => r * MR);
      return [
        byteOffset(backend, a),
        4 * K,
        pAt,
        byteOffset(backend, c),
        4 * N,
        biasAt,
        K,
        m0!,
        p === parts - 1 ? M : m1!,
        0,
        N,
        bits(-Infinity),
        bits(Infinity),
      ];
    });
    pool.run(name, args);
  } finally {
    free(backend, packed);
    free(backend, c);
  }
}

interface ChildJob {
  threads: number;
}

async function childMain(job: ChildJob, emit: (row: GemmRow) => void): Promise<void> {
  await initWasmBackend({ threads: job.threads });
  useWasmKernelSet('project');
  const backend = tf.backend() as BackendWasm;
  const memory = memoryOf(backend);
  if (memory === null || convKernelsFor(backend) === null) throw new Error('gemm bench: the project SIMD kernels did not start');
  const { module, fma } = gemmModule(memory.buffer instanceof SharedArrayBuffer);
  const pool = new SimdPool(module, memory, job.threads);
  // The peak: register-only updates on one thread.
  const peak: Record<string, number | null> = {};
  const peakFn = new WebAssembly.Instance(module, { env: { memory } }).exports as Record<string, (n: number) => void>;
  const n = 5e6;
  const kind = fma ? 'fused multiply-add' : 'multiply and add';
  peak[`peak (${kind}, 1 thread, in the ${job.threads}-thread process)`] = (n * 12 * 8) / timeIt(() => peakFn[fma ? 'peakFma' : 'peakMulAdd']!(n)) / 1e9;
  emit({ label: 'peak', threads: 1, M: 0, K: 0, N: 0, gflops: peak });
  for (const s of GEMM_SHAPES) emit(measureShape(backend, s, pool, job.threads));
  pool.close();
}

export function isGemmBenchChild(): boolean {
  return process.env[CHILD_FLAG] !== undefined;
}

/** Entry of a forked child: reads the job from the environment, sends rows over IPC. */
export async function runGemmBenchChild(): Promise<void> {
  const job = JSON.parse(process.env[CHILD_FLAG] ?? '{}') as ChildJob;
  await childMain(job, (row) => process.send?.({ row }));
  process.exit(0);
}

/** One child process per thread count; rows as they come. */
export async function benchGemm(opts: { threads?: number[]; childEntry?: string; onRow?: (r: GemmRow) => void } = {}): Promise<GemmRow[]> {
  const rows: GemmRow[] = [];
  for (const threads of opts.threads ?? [1, 2]) {
    await new Promise<void>((resolve, reject) => {
      const child = fork(opts.childEntry ?? __filename, [], {
        env: { ...process.env, [CHILD_FLAG]: JSON.stringify({ threads }) },
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      });
      child.on('message', (m: { row?: GemmRow }) => {
        if (m.row === undefined) return;
        rows.push(m.row);
        opts.onRow?.(m.row);
      });
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`gemm benchmark child (threads ${threads}) exited with ${code}`))));
    });
  }
  return rows;
}

/** The rows as a Markdown table (GFLOP/s), the peak first. */
export function gemmTable(rows: GemmRow[]): string {
  const fmt = (v: number | null | undefined): string => (v === null || v === undefined ? '–' : v.toFixed(1));
  const peaks = rows.filter((r) => r.label === 'peak').flatMap((r) => Object.entries(r.gflops).map(([k, v]) => `${k}: ${fmt(v)} GFLOP/s`));
  const head = ['convolution', 'threads', 'M×K×N', ...GEMM_COLUMNS];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows.filter((x) => x.label !== 'peak')) {
    lines.push(`| ${r.label} | ${r.threads} | ${r.M}×${r.K}×${r.N} | ${GEMM_COLUMNS.map((c) => fmt(r.gflops[c])).join(' | ')} |`);
  }
  return `${[...new Set(peaks)].join('; ')}\n\n${lines.join('\n')}`;
}

if (require.main === module) {
  if (isGemmBenchChild()) void runGemmBenchChild();
  else {
    const i = process.argv.indexOf('--threads');
    const threads = i > 0 ? process.argv[i + 1]!.split(',').map(Number) : undefined;
    benchGemm({ threads, onRow: (r) => console.log(JSON.stringify(r)) })
      .then((rows) => console.log(gemmTable(rows)))
      .catch((e: unknown) => {
        console.error(e);
        process.exit(1);
      });
  }
}
