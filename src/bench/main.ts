// `npm run bench`: the project's benchmarks, printed as tables. No timing is asserted anywhere.
//
//   npm run bench                          micro-benchmarks: import, training throughput, inference, webview
//   npm run bench -- --budget 10           + the AutoML benchmark on Fashion-MNIST with a 10-minute budget
//   npm run bench -- --budget 10 --baseline   + the fixed baseline CNN given the same minutes
//   npm run bench -- --parts automl --budget 60 --baseline-only   the fixed baseline alone
//   npm run bench -- --parts automl --budget 60
//   npm run bench -- --parts photos        hymenoptera photos, 5 min each: from scratch, each nsfwjs backbone, linear probes
//   npm run bench -- --parts ood           the predict warning: share flagged of VALIDATION, TEST and foreign images (2 min models)
//   npm run bench -- --parts slurm         the sample dataset, 5 min: local executor vs Slurm --parallel 2 on the test cluster
//   npm run bench -- --parts gemm          GFLOP/s of the nets' convolutions: XNNPACK, the project kernels, a GEMM micro-kernel
//   options: --parts import,train,infer,webview,automl,photos,ood,slurm,gemm  --seconds N (train throughput per case)
//            --peer torch (with train: the same nets in PyTorch in the same run, and the ratio; src/bench/peer)
//            --no-record (do not append to BENCHMARKS.md)
//
// The AutoML benchmark writes Fashion-MNIST from the npm package `fashion-mnist` as 70,000 PNG
// files with an AutoML Vision CSV (per class: 5,400 TRAIN, 600 VALIDATION held out of the
// official 6,000 training images with a fixed seed, the 1,000 official TEST images), runs the
// CLI `train` on it like a user would, and appends a row to BENCHMARKS.md.
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { benchBatchReads, benchImport } from './import';
import { benchInference, benchServer } from './inference';
import { benchTrainThroughput, formatRow, isTrainBenchChild, runTrainBenchChild } from './train-throughput';
import { writeFashionMnistCsv } from './fashion-mnist';
import { benchPhotos } from './photos';
import { benchPeerTorch, isPeerBenchChild, runPeerBenchChild } from './peer/side-by-side';
import { benchOod } from './ood';
import { benchSlurm } from './slurm';
import { benchGemm, gemmTable, isGemmBenchChild, runGemmBenchChild } from './gemm';
import type { ExperimentRecord } from '../shared/protocol';

const ROOT = resolve(__dirname, '..', '..', '..');
const DATA = join(ROOT, 'bench-data');
const BENCHMARKS = join(ROOT, 'BENCHMARKS.md');

/**
 * The webview paint benchmark (./webview-paint) drives headless Chromium and runs code in the page:
 * it needs DOM types, so the test/ui-webview program compiles it (`npm run bench` runs both), not
 * this Node one; it is loaded by a path TypeScript does not follow.
 */
async function benchWebviewPaint(): Promise<{ case: string; pointsDrawn: number; samples: number; p50Ms: number; p95Ms: number }[]> {
  const file = './webview-paint';
  const paint = (await import(file)) as { benchWebviewPaint: typeof benchWebviewPaint };
  return paint.benchWebviewPaint();
}

function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(headers), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.slice(1).map(line)].join('\n');
}

export function machine(): { cores: number; cpu: string; memGiB: number; gpu: string } {
  let gpu = 'none';
  try {
    gpu = execFileSync('nvidia-smi', ['--query-gpu=name', '--format=csv,noheader'], { encoding: 'utf8', timeout: 5000 }).trim().split('\n')[0] || 'none';
  } catch {
    // no NVIDIA GPU
  }
  return { cores: cpus().length, cpu: cpus()[0]?.model.trim() ?? 'unknown', memGiB: Math.round(totalmem() / 2 ** 30), gpu };
}

interface TrainJson {
  experiment: string;
  status: string;
  backend: string;
  testAccuracy: number | null;
  macroAuc: number | null;
  macroAveragePrecision: number | null;
  trials: number;
  elapsedSeconds: number;
  peakRssMB: number | null;
  trainImagesPerSec: number | null;
  finalModel: ExperimentRecord['finalModel'] | null;
}

/** The strategy cell: what the final model is, and what test-time augmentation added. */
function strategyText(strategy: string, r: TrainJson): string {
  const f = r.finalModel;
  if (!f || strategy !== 'search') return strategy;
  const what = f.kind === 'final-fit' ? 'final fit' : f.kind === 'ensemble' ? `ensemble of ${f.trials.length}` : `trial ${f.trials[0]}`;
  const tta = f.tta === 'flip' ? ` + mirror TTA; ${f.plainAccuracy === undefined ? '?' : `${(f.plainAccuracy * 100).toFixed(2)} %`} without` : '';
  return `search (${what}${tta})`;
}

/** Runs the CLI like a user: `automl train <csv> --time N --json`, streaming its output. */
function runTrain(csv: string, minutes: number, fixed: boolean, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<TrainJson> {
  return new Promise((resolvePromise, reject) => {
    const args = [join(ROOT, 'dist', 'cli.js'), 'train', csv, '--time', String(minutes), '--out', join(DATA, 'experiments'), '--json', ...extra];
    // The benchmarks' "from scratch" rows stay from scratch now that `auto` is the CLI's default.
    if (!extra.includes('--backbone')) args.push('--backbone', 'none');
    if (fixed) args.push('--fixed');
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
    let last = '';
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines) {
        if (l.trim()) last = l;
        if (!l.startsWith('{') && !/^\s+t\d+ epoch|^\s+final epoch/.test(l)) process.stdout.write(`    ${l}\n`);
      }
    });
    child.on('exit', (code) => {
      if (buf.trim()) last = buf.trim();
      try {
        const parsed = JSON.parse(last) as TrainJson;
        if (code !== 0) return reject(new Error(`automl train exited with ${code}: ${JSON.stringify(parsed)}`));
        resolvePromise(parsed);
      } catch {
        reject(new Error(`automl train exited with ${code} and no JSON result`));
      }
    });
  });
}

const ANCHORS = `## Anchors (from the seeds of this project, Fashion-MNIST test accuracy)
| system | budget | test accuracy | macro AUC |
|---|---|---|---|
| Google AutoML Vision, free tier | ~30 min (1 node hour) | 88.9 % | 96.4 % |
| Google AutoML Vision, paid | 24 h (~$480) | 93.9 % | 98.5 % |
| Auto-Keras | 2 GPU-days | 91.84 % | – |
| fixed 2-conv CNN on this 2-core CPU, fast wasm kernels (shared notes) | 10 min | 92.0 % | – |
`;

const AUTOML_HEADING = '## AutoML on Fashion-MNIST';

function ensureBenchmarksFile(): void {
  if (existsSync(BENCHMARKS)) return;
  writeFileSync(
    BENCHMARKS,
    `# Benchmarks\n\nProduced by \`npm run bench\` (see src/bench/main.ts); each run adds its rows and tables with the command that produced them.\n\n${ANCHORS}\n` +
      `${AUTOML_HEADING} (70,000 PNG files through the CSV import; 54k TRAIN, 6k VALIDATION, 10k TEST)\n` +
      `| date | machine | backend | budget | strategy | test accuracy | macro AUC | macro AP | trials | wall time | peak RSS | train images/s | command |\n` +
      `|---|---|---|---|---|---|---|---|---|---|---|---|---|\n`,
  );
}

/** Inserts rows at the end of the AutoML results table (the file's other sections stay below it). */
export function insertAutomlRows(text: string, rows: string[]): string {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.startsWith(AUTOML_HEADING));
  if (start < 0) throw new Error(`${BENCHMARKS} has no "${AUTOML_HEADING}" table`);
  let end = start + 1;
  while (end < lines.length && !lines[end].startsWith('|')) end++;
  while (end < lines.length && lines[end].startsWith('|')) end++;
  lines.splice(end, 0, ...rows);
  return lines.join('\n');
}

function recordRows(rows: string[]): void {
  ensureBenchmarksFile();
  writeFileSync(BENCHMARKS, insertAutomlRows(readFileSync(BENCHMARKS, 'utf8'), rows));
}

type Options = { budget?: number; baseline?: boolean; baselineOnly?: boolean; seconds?: number; peer?: string; record: boolean; command: string };

/** The parts, in the order they run: each prints its tables and returns the sections to record. */
const PARTS: [string, (o: Options) => Promise<string[]>][] = [
  ['import', importPart],
  ['train', trainPart],
  ['infer', inferPart],
  ['webview', webviewPart],
  ['automl', automlPart],
  ['photos', photosPart],
  ['ood', oodPart],
  ['slurm', slurmPart],
  ['gemm', gemmPart],
];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      parts: { type: 'string' },
      budget: { type: 'string' },
      baseline: { type: 'boolean' },
      'baseline-only': { type: 'boolean' },
      seconds: { type: 'string' },
      'no-record': { type: 'boolean' },
      peer: { type: 'string' },
    },
    allowPositionals: false,
  });
  const budget = values.budget ? Number(values.budget) : undefined;
  if (values.peer !== undefined && values.peer !== 'torch') throw new Error(`--peer ${values.peer}: the only peer is torch`);
  const parts = new Set((values.parts ?? (budget ? 'import,train,infer,webview,automl' : 'import,train,infer,webview')).split(','));
  if (parts.has('automl') && !budget) throw new Error('--parts automl needs --budget <minutes>');
  if (values.peer !== undefined && !parts.has('train')) throw new Error('--peer torch runs with the train part: add --parts train');
  const m = machine();
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const o: Options = {
    budget,
    baseline: values.baseline,
    baselineOnly: values['baseline-only'],
    seconds: values.seconds ? Number(values.seconds) : undefined,
    peer: values.peer,
    record: !values['no-record'],
    command,
  };
  console.log(`# AutoML for VS Code benchmarks — ${new Date().toISOString().slice(0, 10)}, ${m.cores} cores (${m.cpu}), ${m.memGiB} GiB, GPU: ${m.gpu}\n`);
  const sections: string[] = [];
  for (const [name, run] of PARTS) if (parts.has(name)) sections.push(...(await run(o)));
  if (o.record && sections.length) {
    ensureBenchmarksFile();
    appendFileSync(
      BENCHMARKS,
      `\n## Micro-benchmarks, ${new Date().toISOString().slice(0, 10)}: ${m.cores} cores ${m.cpu}, GPU ${m.gpu} (\`${command}\`)\n\n${sections.join('\n\n')}\n`,
    );
  }
  if (o.record && (sections.length || parts.has('automl'))) console.log(`\nRecorded in ${BENCHMARKS}`);
}

async function importPart(): Promise<string[]> {
  const out: string[] = [];
  console.log('## Import into the image cache (Fashion-MNIST, 70,000 images 28×28)');
  const rows = await benchImport({ workDir: DATA, log: (l) => console.log(`  ${l}`) });
  const text = table(
    ['dataset', 'phase', 'images', 'open s', 'prepare s', 'total s', 'images/s', 'CPU s'],
    rows.map((r) => [
      r.dataset,
      r.phase,
      r.images,
      r.openSeconds.toFixed(2),
      r.prepareSeconds.toFixed(2),
      r.totalSeconds.toFixed(2),
      Math.round(r.imagesPerSecond),
      r.cpuSeconds.toFixed(2),
    ]),
  );
  console.log(text + '\n');
  out.push(`### Import into the image cache (Fashion-MNIST, 70,000 images 28×28)\n${text}`);
  const title = 'Shuffled training batches from the image cache: in memory vs streamed from the file (Fashion-MNIST IDX, one epoch of TRAIN)';
  console.log(`## ${title}`);
  const reads = await benchBatchReads({ workDir: DATA, log: (l) => console.log(`  ${l}`) });
  const readText = table(
    ['size', 'pixels', 'resident MB', 'ready s', 'rows/s (batches of 128)'],
    reads.map((r) => [`${r.size}×${r.size}`, r.mode, r.residentMB.toFixed(0), r.readySeconds.toFixed(2), Math.round(r.rowsPerSecond)]),
  );
  console.log(readText + '\n');
  out.push(`### ${title}\n${readText}`);
  return out;
}

async function trainPart({ seconds, peer }: Options): Promise<string[]> {
  const out: string[] = [];
  console.log('## Training throughput of the reference networks (28×28×1, images/s)');
  console.log(
    [
      'net'.padEnd(10),
      'batch'.padStart(5),
      'back.'.padEnd(5),
      'threads'.padStart(7),
      'kernels'.padEnd(8),
      'images/s'.padStart(9),
      'ms/step'.padStart(8),
      'steps'.padStart(6),
    ].join('  '),
  );
  const rows = await benchTrainThroughput({
    seconds: seconds,
    childEntry: __filename,
    cpu: true,
    onRow: (r) => console.log(formatRow(r)),
  });
  const text = table(
    ['net', 'batch', 'backend', 'threads', 'kernels', 'images/s', 'ms/step'],
    rows.map((r) => [r.net, r.batch, r.backend, r.threads, r.kernels, r.imagesPerSec.toFixed(1), r.msPerStep.toFixed(0)]),
  );
  out.push(`### Training throughput (28×28×1, steady state)\n${text}`);
  console.log('');
  if (peer === 'torch') out.push(await peerPart(seconds));
  return out;
}

/** The PyTorch side by side (src/bench/peer): the same nets, the same step, the same threads. */
async function peerPart(seconds: number | undefined): Promise<string> {
  const title = 'Side by side with PyTorch (nets of src/bench/peer/nets.json; AdamW, label smoothing 0.1, 2 threads; images/s)';
  console.log(`## ${title}`);
  const r = await benchPeerTorch({ seconds, childEntry: __filename, onLine: (l) => console.log(l) });
  const notes = r.notes.map((n) => `- ${n}`).join('\n');
  console.log(`\n${r.table}\n${notes}\n`);
  return `### ${title}\n${r.table}\n\n${notes}`;
}

async function inferPart(): Promise<string[]> {
  const out: string[] = [];
  console.log('## Inference (2-conv network, 28×28×1, decode + predict; the server adds HTTP, JSON and base64)');
  const rows = [...(await benchInference()), ...(await benchServer())];
  const text = table(
    ['backend', 'case', 'p50 ms', 'p95 ms', 'images/s'],
    rows.map((r) => [r.backend, r.case, r.p50Ms.toFixed(2), r.p95Ms.toFixed(2), Math.round(r.imagesPerSec)]),
  );
  console.log(text + '\n');
  out.push(`### Inference (2-conv network, 28×28×1, decode + predict)\n${text}`);
  return out;
}

async function webviewPart(): Promise<string[]> {
  const out: string[] = [];
  const title = 'Webview message-to-paint (training panel, one live epoch, headless Chromium)';
  console.log(`## ${title}`);
  const rows = await benchWebviewPaint();
  const text = table(
    ['history', 'points drawn', 'samples', 'p50 ms', 'p95 ms'],
    rows.map((r) => [r.case, r.pointsDrawn, r.samples, r.p50Ms.toFixed(1), r.p95Ms.toFixed(1)]),
  );
  console.log(text + '\n');
  out.push(`### ${title}\n${text}`);
  return out;
}

/** AutoML on Fashion-MNIST (and the fixed baseline): rows into the results table of BENCHMARKS.md. */
async function automlPart(o: Options): Promise<string[]> {
  if (!o.budget) return [];
  const m = machine();
  const { command } = o;
  const dir = join(DATA, 'fashion-mnist-automl');
  const csv = join(dir, 'dataset.csv');
  if (!existsSync(csv)) {
    console.log(`  writing Fashion-MNIST as 70,000 PNG files in ${dir} …`);
    writeFashionMnistCsv(dir, { train: 5400, validation: 600, test: 1000 }, 1);
  }
  const runs: [string, boolean][] = o.baselineOnly ? [] : [['search', false]];
  if (o.baseline || o.baselineOnly) runs.push(['fixed baseline', true]);
  const results: { strategy: string; r: TrainJson }[] = [];
  for (const [strategy, fixed] of runs) {
    console.log(`## AutoML on Fashion-MNIST, ${o.budget} min, ${strategy}`);
    const r = await runTrain(csv, o.budget, fixed);
    results.push({ strategy, r });
  }
  const pct = (x: number | null) => (x === null ? 'n/a' : `${(x * 100).toFixed(2)} %`);
  const date = new Date().toISOString().slice(0, 10);
  const machineText = `${m.cores} cores ${m.cpu.replace(/\|/g, '/')}, GPU ${m.gpu}`;
  const rows = results.map(
    ({ strategy, r }) =>
      `| ${date} | ${machineText} | ${r.backend} | ${o.budget} min | ${strategyText(strategy, r)} | ${pct(r.testAccuracy)} | ${pct(r.macroAuc)} | ${pct(r.macroAveragePrecision)} | ${r.trials} | ${(r.elapsedSeconds / 60).toFixed(1)} min | ${r.peakRssMB ?? '?'} MB | ${r.trainImagesPerSec ?? '?'} | \`${command}\` |`,
  );
  console.log('\n' + ANCHORS);
  console.log(
    table(
      ['strategy', 'backend', 'budget', 'test accuracy', 'macro AUC', 'macro AP', 'trials', 'wall', 'peak RSS', 'train img/s'],
      results.map(({ strategy, r }) => [
        strategyText(strategy, r),
        r.backend,
        `${o.budget} min`,
        pct(r.testAccuracy),
        pct(r.macroAuc),
        pct(r.macroAveragePrecision),
        r.trials,
        `${(r.elapsedSeconds / 60).toFixed(1)} min`,
        `${r.peakRssMB ?? '?'} MB`,
        r.trainImagesPerSec ?? '?',
      ]),
    ),
  );
  if (o.record) recordRows(rows);
  return [];
}

async function photosPart({ budget }: Options): Promise<string[]> {
  const out: string[] = [];
  const title = `Photos: hymenoptera (ants/bees; TRAIN = its train/, TEST = its val/), ${budget ?? 5} min, from scratch and with each nsfwjs backbone`;
  console.log(`## ${title}`);
  const text = await benchPhotos({
    root: ROOT,
    data: DATA,
    minutes: budget ?? 5,
    train: (csv, minutes, extra, env) => runTrain(csv, minutes, false, extra, env),
    table,
  });
  console.log(text + '\n');
  out.push(`### ${title}\n${text}`);
  return out;
}

async function oodPart({ budget }: Options): Promise<string[]> {
  const title = `Out-of-distribution warning at prediction: share of images flagged (models trained ${budget ?? 2} min by the CLI)`;
  console.log(`## ${title}`);
  const text = await benchOod({
    root: ROOT,
    data: DATA,
    minutes: budget ?? 2,
    train: (csv, minutes, extra) => runTrain(csv, minutes, false, extra ?? []),
    table,
  });
  console.log(text + '\n');
  return [`### ${title}\n${text}`];
}

async function slurmPart({ budget }: Options): Promise<string[]> {
  const minutes = budget ?? 5;
  const title = `Slurm executor: examples/fashion-sample, ${minutes} min search (no final fit), local vs 2 trial jobs on the one-node test cluster`;
  console.log(`## ${title}`);
  const { text } = await benchSlurm({ root: ROOT, minutes, train: (csv, m, extra, env) => runTrain(csv, m, false, extra, env), table });
  console.log(text + '\n');
  return [`### ${title}\n${text}`];
}

async function gemmPart(): Promise<string[]> {
  const title = 'Convolutions and products of the reference networks on wasm: XNNPACK, the project kernels, a GEMM micro-kernel (GFLOP/s)';
  console.log(`## ${title}`);
  const rows = await benchGemm({ childEntry: __filename, onRow: (r) => console.log(`  ${r.label}, ${r.threads} thread(s): ${JSON.stringify(r.gflops)}`) });
  const text = gemmTable(rows);
  console.log(text + '\n');
  return [`### ${title}\n${text}`];
}

if (isTrainBenchChild()) {
  void runTrainBenchChild();
} else if (isPeerBenchChild()) {
  void runPeerBenchChild();
} else if (isGemmBenchChild()) {
  void runGemmBenchChild();
} else if (require.main === module) {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
