// `automl`: the command-line face of the same engine the extension uses.
//
//   automl train <dataset> [--time <minutes>] [--out <dir>] [--backend …] [--seed N] [--image-size N] [--json]
//   automl resume <experiment> [--json]
//   automl validate <dataset> [--quick] [--json]
//   automl evaluate <experiment> [--json]
//   automl predict <experiment|model> <image…> [--json]
//   automl serve <experiment|model> [--port N]
//   automl export <experiment> --format tfjs|savedmodel|onnx --out <dir>
//   automl list [--out <dir>] [--json]
//   automl install-runtime [--gpu|--cpu|--webgpu|--onnx] [--dir <dir>]
//   automl --version
//
// With --json the last line printed is one JSON object. The exit code is non-zero on any error.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { out, runWorker } from './cli-train';
import { defaultCacheDir } from './data/cache';
import { runDataWorkerIfRequested } from './data/decode-pool';
import { EXPORT_FORMATS, type ExportFormat, exportModel } from './engine/model/export';
import { loadOnnxRuntime } from './engine/model/onnx-runtime';
import { installRuntime } from './engine/runtime/install';
import { defaultRuntimeDir } from './engine/runtime/probe';
import { predictFolder } from './predict/batch';
import { PredictorClient } from './predict/client';
import { resolvePredictionModel } from './predict/resolve';
import { startPredictionServer } from './predict/server';
import { probeBackend } from './worker/client';
import type { BackendPreference, ExecutorSpec, ExperimentSpec } from './shared/protocol';
import { makeSpec } from './store/spec';
import { PRODUCT_VERSION } from './shared/version';
import { ExperimentStore, listExperiments } from './store/store';

const BACKENDS: BackendPreference[] = ['auto', 'tensorflow-gpu', 'tensorflow', 'webgpu', 'wasm', 'cpu'];

class UsageError extends Error {}

const USAGE = `Usage: automl <command> [options]

Commands:
  train <dataset>            search and train the best classifier for a dataset
      --time <minutes>       wall-clock budget, final fit included (default 10)
      --out <dir>            experiments folder (default .automl/experiments)
      --backend <name>       auto | tensorflow-gpu | tensorflow | webgpu | wasm | cpu (default auto)
      --seed <n>             seed of splits, search and training (default 1)
      --image-size <n>       square input size (default: chosen from the data)
      --fixed                no search: one known-good network for the whole budget (the baseline)
      --data-memory <MB>     decoded images kept in memory; more is read from the cache per batch (default: ¼ of RAM)
      --no-final-fit         search for the whole budget; the final model is the best trial or an ensemble of the top ones
      --no-tta               no test-time augmentation (by default the final model also scores the mirror image when that is more accurate on VALIDATION)
      --backbone <b>         pretrained backbone for transfer learning (default auto: a catalogue backbone for RGB
                             photos, cached or downloaded once, none for grayscale or small images; none: off):
                             a catalogue name (mobilenet-v1-0.25|0.50|0.75|1.00, mobilenet-v2-0.35|0.50|0.75|1.00,
                             nsfwjs-mobilenet-v2, nsfwjs-inception-v3), a TF.js layers model folder, or a model.json URL
      --backbone-range <r>   pixel range the backbone was trained on: auto (default: the catalogue's, else the model's), 0-255, 0-1, -1-1
      --executor <e>         where trials run: local (default, one at a time in the worker) or slurm (each a Slurm job)
      --parallel <n>         Slurm: trials running at once (default 2)
      --slurm-partition <p>  Slurm: the partition of the trial jobs (default: the cluster's default)
      --slurm-gpus-per-trial <n>  Slurm: GPUs per trial job (--gres=gpu:n; default none)
      --slurm-cpus-per-trial <n>  Slurm: CPUs per trial job (--cpus-per-task; default 1), also the trial's threads
      --sbatch-arg <arg>     Slurm: one more sbatch argument (repeatable), e.g. --sbatch-arg=--account=lab
      --json                 print one JSON object as the last line
  resume <experiment>        continue an interrupted or cancelled experiment in its remaining budget
  validate <dataset>         check a dataset and print its label counts per partition
      --quick                structure only (CSV, paths, labels, splits): no image is decoded, so damaged images go unnoticed
  evaluate <experiment>      print the stored evaluation of an experiment
  predict <experiment|model> <image…>   top labels for images (--top K)
  predict <experiment|model> <folder>   every image under the folder into a CSV (--out file.csv)
  serve <experiment|model>   local prediction server (127.0.0.1, bearer token; AutoML Vision's predict API)
      --port <n>             port (default: a free one); --name <name> model name in the URL
  export <experiment> --format tfjs|savedmodel|onnx --out <dir>
                             onnx: model.onnx, labels and preprocessing in its metadata (Python, C#, … ONNX Runtime)
  list                       experiments in --out (default .automl/experiments)
  install-runtime [--gpu|--cpu|--webgpu|--onnx]
                             install tfjs-node(-gpu), Dawn for the WebGPU backend, or ONNX Runtime (--onnx: predict
                             and serve then run the experiment's ONNX export, or an export folder, in it, and
                             transfer learning extracts its features in it)
  --version                  print the version

A dataset is an AutoML Vision CSV ([TRAIN|VALIDATION|TEST|UNASSIGNED,]path,label[,label…]),
a folder of class folders, a zip of one, or a folder of MNIST IDX files.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    out(USAGE);
    return command ? 0 : 2;
  }
  if (command === '--version' || command === '-V' || command === 'version') {
    out(PRODUCT_VERSION);
    return 0;
  }
  switch (command) {
    case 'train':
      return train(rest);
    case 'resume':
      return resume(rest);
    case 'validate':
      return validate(rest);
    case 'evaluate':
      return evaluateCmd(rest);
    case 'list':
      return list(rest);
    case 'predict':
      return predict(rest);
    case 'export':
      return exportCmd(rest);
    case 'install-runtime':
      return installRuntimeCmd(rest);
    case 'serve':
      return serve(rest);
    default:
      throw new UsageError(`Unknown command '${command}'`);
  }
}

function parse<O extends NonNullable<Parameters<typeof parseArgs>[0]>['options']>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true as const });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function positiveNumber(v: unknown, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number (got '${v}')`);
  return n;
}

/** The image cache: AUTOML_CACHE_DIR when set, else the data layer's default. */
function cacheDir(): string {
  return process.env.AUTOML_CACHE_DIR || defaultCacheDir();
}

async function train(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    time: { type: 'string' },
    out: { type: 'string' },
    backend: { type: 'string' },
    seed: { type: 'string' },
    'image-size': { type: 'string' },
    'multi-label': { type: 'boolean' },
    fit: { type: 'string' },
    fixed: { type: 'boolean' },
    'data-memory': { type: 'string' },
    'no-final-fit': { type: 'boolean' },
    'no-tta': { type: 'boolean' },
    backbone: { type: 'string' },
    'backbone-range': { type: 'string' },
    executor: { type: 'string' },
    parallel: { type: 'string' },
    'slurm-partition': { type: 'string' },
    'slurm-gpus-per-trial': { type: 'string' },
    'slurm-cpus-per-trial': { type: 'string' },
    'sbatch-arg': { type: 'string', multiple: true },
    json: { type: 'boolean' },
  });
  if (positionals.length !== 1) throw new UsageError('train takes one dataset path');
  const executor = parseExecutor(values);
  const dataset = resolve(positionals[0]);
  if (!existsSync(dataset)) throw new Error(`${dataset}: no such file or folder`);
  const backend = (values.backend ?? 'auto') as BackendPreference;
  if (!BACKENDS.includes(backend)) throw new UsageError(`--backend must be one of ${BACKENDS.join(', ')}`);
  const fit = (values.fit ?? 'pad') as 'pad' | 'crop';
  if (fit !== 'pad' && fit !== 'crop') throw new UsageError('--fit must be pad or crop');
  const root = resolve(String(values.out ?? '.automl/experiments'));
  const spec = makeSpec({
    dataset,
    budgetMinutes: positiveNumber(values.time, 'time', 10),
    backend,
    seed: Math.floor(positiveNumber(values.seed, 'seed', 1)),
    imageSize: values['image-size'] === undefined ? 0 : Math.floor(positiveNumber(values['image-size'], 'image-size', 0)),
    fit,
    multiLabel: values['multi-label'] === true,
    cacheDir: cacheDir(),
    strategy: values.fixed ? 'fixed' : 'search',
    dataMemoryMB: values['data-memory'] === undefined ? undefined : positiveNumber(values['data-memory'], 'data-memory', 0),
    finalFit: values['no-final-fit'] !== true,
    tta: values['no-tta'] !== true,
    backbone: values.backbone ?? 'auto',
    backboneRange: parseBackboneRange(values['backbone-range']),
    ...(executor ? { executor } : {}),
  });
  const store = ExperimentStore.create(root, spec);
  return runWorker(store, spec, false, values.json === true);
}

async function resume(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' } });
  if (positionals.length !== 1) throw new UsageError('resume takes one experiment folder');
  const store = openExperiment(positionals[0]);
  const rec = store.readRecord();
  if (rec.status === 'done') throw new Error(`${store.dir}: the experiment is done; nothing to resume`);
  if (rec.secondsUsed >= rec.spec.budgetMinutes * 60) throw new Error(`${store.dir}: the experiment's budget is used up`);
  return runWorker(store, rec.spec, true, values.json === true);
}

function openExperiment(path: string): ExperimentStore {
  const dir = resolve(path);
  if (!ExperimentStore.exists(dir)) throw new Error(`${dir}: not an experiment folder (no experiment.json)`);
  return new ExperimentStore(dir);
}

async function validate(args: string[]): Promise<number> {
  // Decodes every image by default, as train does, so that what fails train fails here (a
  // damaged PNG, a 0-byte file); --quick checks the structure only. --images: the old opt-in, kept.
  const { values, positionals } = parse(args, { json: { type: 'boolean' }, quick: { type: 'boolean' }, images: { type: 'boolean' }, seed: { type: 'string' } });
  if (positionals.length !== 1) throw new UsageError('validate takes one dataset path');
  if (values.quick && values.images) throw new UsageError('validate: --quick and --images contradict each other');
  const data = await import('./data');
  const path = resolve(positionals[0]);
  if (!existsSync(path)) throw new Error(`${path}: no such file or folder`);
  const dataset = await data.openDataset(path, { seed: Math.floor(positiveNumber(values.seed, 'seed', 1)) });
  const result = await data.validateDataset(dataset, { level: values.quick ? 'structure' : 'images', cacheDir: cacheDir() });
  const stats = data.computeStats(dataset, result);
  if (values.json) {
    out(JSON.stringify({ ...stats, findingsList: result.findings }));
  } else {
    out(data.formatReport(dataset, stats, result.findings));
  }
  return result.findings.some((f) => f.severity === 'error') ? 1 : 0;
}

async function evaluateCmd(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' } });
  if (positionals.length !== 1) throw new UsageError('evaluate takes one experiment folder');
  const store = openExperiment(positionals[0]);
  const rec = store.readRecord();
  if (!rec.test) throw new Error(`${store.dir}: no evaluation yet (status ${rec.status})`);
  const evaluation = (() => {
    try {
      return JSON.parse(readFileSync(store.file('final', 'evaluation.json'), 'utf8')) as {
        classes: string[];
        confusedPairs?: { actual: number; predicted: number; count: number }[];
      };
    } catch {
      return undefined;
    }
  })();
  if (values.json) out(JSON.stringify({ ...rec.test, confusedPairs: evaluation?.confusedPairs ?? [] }));
  else {
    const t = rec.test;
    out(
      `${t.partition} (${t.count} images): accuracy ${(t.accuracy * 100).toFixed(2)} %, macro AUC ${t.macroAuc?.toFixed(4) ?? 'n/a'}, macro AP ${t.macroAveragePrecision?.toFixed(4) ?? 'n/a'}`,
    );
    if (evaluation?.confusedPairs?.length) {
      out('Most confused (true → predicted):');
      for (const p of evaluation.confusedPairs.slice(0, 5))
        out(`  ${String(p.count).padStart(5)}  ${evaluation.classes[p.actual]} → ${evaluation.classes[p.predicted]}`);
    }
  }
  return 0;
}

async function list(args: string[]): Promise<number> {
  const { values } = parse(args, { out: { type: 'string' }, json: { type: 'boolean' } });
  const root = resolve(String(values.out ?? '.automl/experiments'));
  const items = listExperiments(root);
  if (values.json) {
    out(JSON.stringify(items.map((i) => ({ dir: i.dir, status: i.record.status, test: i.record.test ?? null }))));
  } else if (!items.length) {
    out(`No experiments in ${root}`);
  } else {
    for (const i of items) {
      const acc = i.record.test ? `${(i.record.test.accuracy * 100).toFixed(2)}%` : '-';
      out(`${i.record.spec.id.padEnd(40)} ${i.record.status.padEnd(12)} ${acc}`);
    }
  }
  return 0;
}

// A decode worker thread re-enters this bundle: it runs the decode loop instead of the CLI.
async function predict(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' }, top: { type: 'string' }, backend: { type: 'string' }, out: { type: 'string' } });
  if (positionals.length < 2) throw new UsageError('predict takes an experiment (or model) folder and at least one image (or a folder of images)');
  const resolved = resolvePredictionModel(resolve(positionals[0]));
  if (resolved.note) process.stderr.write(`${resolved.note}\n`);
  const model = resolved.dir;
  const images = positionals.slice(1).map((p) => resolve(p));
  const topK = Math.floor(positiveNumber(values.top, 'top', 5));
  const client = new PredictorClient({ env: values.backend ? { AUTOML_BACKEND: String(values.backend) } : {} });
  // A folder: every image under it, written to a CSV.
  if (images.length === 1 && existsSync(images[0]) && statSync(images[0]).isDirectory()) {
    try {
      const csv = resolve(String(values.out ?? `${images[0].replace(/[\\/]+$/, '')}-predictions.csv`));
      const r = await predictFolder(client, model, images[0], csv, { topK, onProgress: (d, t) => process.stderr.write(`\r${d}/${t} images`) });
      process.stderr.write('\n');
      if (values.json) out(JSON.stringify(r));
      else
        out(
          `Predicted ${r.images} images (${r.failed} could not be used${r.unlike ? `, ${r.unlike} unlike the training data: see the ood_warning column` : ''}) → ${r.csv}`,
        );
      return r.failed ? 1 : 0;
    } finally {
      client.dispose();
    }
  }
  try {
    const results = await client.predictFiles(model, images, topK);
    if (values.json) out(JSON.stringify({ model, backend: client.backend, predictions: results }));
    else {
      for (const r of results) {
        out(r.path);
        if (r.error) out(`  error: ${r.error}`);
        for (const w of r.ood?.warnings ?? []) out(`  warning: ${w}`);
        for (const s of r.scores) out(`  ${(s.score * 100).toFixed(2).padStart(6)} %  ${s.label}`);
      }
    }
    return results.some((r) => r.error) ? 1 : 0;
  } finally {
    client.dispose();
  }
}

async function serve(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { port: { type: 'string' }, name: { type: 'string' }, json: { type: 'boolean' } });
  if (positionals.length !== 1) throw new UsageError('serve takes one experiment (or model) folder');
  const path = resolve(positionals[0]);
  const resolved = resolvePredictionModel(path);
  if (resolved.note) process.stderr.write(`${resolved.note}\n`);
  const name = String(values.name ?? path.split(/[\\/]/).filter(Boolean).pop() ?? 'model').replace(/[^A-Za-z0-9_.-]+/g, '-');
  const port = values.port === undefined ? 0 : Math.floor(positiveNumber(values.port, 'port', 0));
  const client = new PredictorClient();
  // The token comes from the environment when set (scripts), else a random one is made.
  const server = await startPredictionServer({
    models: [{ name, path: resolved.dir }],
    predictor: client,
    port,
    token: process.env.AUTOML_SERVE_TOKEN || undefined,
    log: (l) => process.stderr.write(`${l}\n`),
  });
  if (values.json) out(JSON.stringify({ url: server.url, token: server.token, models: [name] }));
  else {
    out(`Serving ${name} on ${server.url} (127.0.0.1 only). Token: ${server.token}`);
    out(`  curl -s -H "Authorization: Bearer ${server.token}" ${server.url}/v1/models`);
    out(
      `  curl -s -H "Authorization: Bearer ${server.token}" -d '{"payload":{"image":{"imageBytes":"'"$(base64 -w0 image.png)"'"}}}' ${server.url}/v1/models/${name}:predict`,
    );
    out('Ctrl+C stops the server.');
  }
  await new Promise<void>((done) => {
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  await server.close();
  client.dispose();
  return 0;
}

async function exportCmd(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { format: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' } });
  if (positionals.length !== 1) throw new UsageError('export takes one experiment folder');
  if (!values.out) throw new UsageError('export needs --out <dir>');
  const format = String(values.format ?? 'tfjs');
  if (!EXPORT_FORMATS.includes(format as ExportFormat)) throw new UsageError(`--format must be ${EXPORT_FORMATS.join(', ')}`);
  const store = openExperiment(positionals[0]);
  const result = await exportModel(store, resolve(String(values.out)), format as ExportFormat, { onOutput: (line) => process.stderr.write(`  ${line}\n`) });
  if (values.json) out(JSON.stringify(result));
  else out(`Exported ${result.format} model to ${result.dir}: ${result.files.join(', ')}`);
  return 0;
}

async function installRuntimeCmd(args: string[]): Promise<number> {
  const { values } = parse(args, {
    gpu: { type: 'boolean' },
    cpu: { type: 'boolean' },
    webgpu: { type: 'boolean' },
    onnx: { type: 'boolean' },
    dir: { type: 'string' },
    json: { type: 'boolean' },
  });
  const runtimeDir = resolve(String(values.dir ?? defaultRuntimeDir()));
  const variant = values.gpu ? 'gpu' : values.cpu ? 'cpu' : values.webgpu ? 'webgpu' : values.onnx ? 'onnx' : 'auto';
  out(`Installing the native runtime (${variant}) into ${runtimeDir}…`);
  const result = await installRuntime({
    runtimeDir,
    variant,
    onOutput: (line) => process.stderr.write(`  ${line}\n`),
    verify: async (backend) => {
      if (backend === 'onnxruntime') {
        const { mod, why } = loadOnnxRuntime(runtimeDir);
        if (!mod) throw new Error(why);
        return why;
      }
      const info = await probeBackend(backend, { env: { AUTOML_RUNTIME_DIR: runtimeDir } });
      return info.reasons[info.reasons.length - 1];
    },
  });
  if (values.json) out(JSON.stringify(result));
  else out(result.message);
  return result.ok ? 0 : 1;
}

if (require.main === module && !runDataWorkerIfRequested()) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      if (e instanceof UsageError) {
        process.stderr.write(`automl: ${e.message}\n\n${USAGE}\n`);
        process.exit(2);
      }
      process.stderr.write(`automl: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}

export { main };

/** The executor of `train`'s flags (undefined: local); Slurm's flags without `--executor slurm` are refused. */
function parseExecutor(v: Record<string, string | boolean | (string | boolean)[] | undefined>): ExecutorSpec | undefined {
  const kind = v.executor ?? 'local';
  if (kind !== 'local' && kind !== 'slurm') throw new UsageError(`--executor must be local or slurm (got '${String(kind)}')`);
  const slurmFlags = ['parallel', 'slurm-partition', 'slurm-gpus-per-trial', 'slurm-cpus-per-trial', 'sbatch-arg'].filter((k) => v[k] !== undefined);
  if (kind === 'local') {
    if (slurmFlags.length) throw new UsageError(`--${slurmFlags[0]} needs --executor slurm`);
    return undefined;
  }
  const count = (name: string, fallback: number | undefined, min: number) => {
    if (v[name] === undefined) return fallback;
    const n = Number(v[name]);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be a whole number of at least ${min} (got '${String(v[name])}')`);
    return n;
  };
  return {
    kind: 'slurm',
    parallel: count('parallel', 2, 1),
    ...(v['slurm-partition'] ? { partition: String(v['slurm-partition']) } : {}),
    ...(count('slurm-gpus-per-trial', undefined, 0) ? { gpusPerTrial: count('slurm-gpus-per-trial', 0, 0) } : {}),
    cpusPerTrial: count('slurm-cpus-per-trial', 1, 1),
    ...(v['sbatch-arg'] ? { sbatchArgs: (v['sbatch-arg'] as string[]).map(String) } : {}),
  };
}

function parseBackboneRange(v: string | undefined): ExperimentSpec['backboneRange'] {
  if (v === undefined) return undefined;
  if (v === 'auto' || v === '0-255' || v === '0-1' || v === '-1-1') return v;
  throw new UsageError(`--backbone-range must be auto, 0-255, 0-1 or -1-1 (got '${v}')`);
}
