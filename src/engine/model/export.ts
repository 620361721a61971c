// Exports an experiment's final model for use outside this product: a TF.js layers model
// (`model.json` + weights) with `labels.json`, the preprocessing spec and a README saying how to
// load it with plain `@tensorflow/tfjs` in a browser or Node. No tfjs import: files are copied.
//
// A TF SavedModel: tfjs (tfjs-node included) can read SavedModels but not write them, so the TF.js
// export is converted by TensorFlow's own converter, `tensorflowjs_converter` from the Python package
// `tensorflowjs`, when the user has it (`pip install tensorflowjs`); otherwise the error says so.
//
// ONNX: converted here, in TypeScript (onnx/), with the preprocessing in the model's metadata; a copy
// is kept in the experiment (final/model.onnx) for the prediction server to run in ONNX Runtime.
import { spawn } from 'node:child_process';
import { accessSync, constants, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { ExperimentStore } from '../../store/store';
import { PRODUCT_VERSION } from '../../shared/version';
import { EXPERIMENT_ONNX, type OnnxModelInfo, onnxModelBytes } from './onnx/export-onnx';

export type ExportFormat = 'tfjs' | 'savedmodel' | 'onnx';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['tfjs', 'savedmodel', 'onnx'];

export interface ExportResult {
  format: ExportFormat;
  dir: string;
  files: string[];
}

export interface ExportOptions {
  /** Environment in which `tensorflowjs_converter` is looked up (PATH) and run; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Output lines of the converter, as they come. */
  onOutput?: (line: string) => void;
}

export async function exportModel(store: ExperimentStore, outDir: string, format: ExportFormat, opts: ExportOptions = {}): Promise<ExportResult> {
  if (format === 'savedmodel') return exportSavedModel(store, outDir, opts);
  if (format === 'onnx') return exportOnnx(store, outDir);
  return exportTfjs(store, outDir);
}

/** The TensorFlow.js converter on PATH (AUTOML_TFJS_CONVERTER overrides), or null. */
export function findConverter(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.AUTOML_TFJS_CONVERTER) return env.AUTOML_TFJS_CONVERTER;
  const names = process.platform === 'win32' ? ['tensorflowjs_converter.exe', 'tensorflowjs_converter.cmd'] : ['tensorflowjs_converter'];
  for (const dir of (env.PATH ?? env.Path ?? '').split(delimiter).filter(Boolean)) {
    for (const n of names) {
      try {
        accessSync(join(dir, n), constants.X_OK);
        return join(dir, n);
      } catch {
        // not here
      }
    }
  }
  return null;
}

/** A Keras SavedModel converted from the TF.js export by `tensorflowjs_converter`, with the same labels, preprocessing and a README. */
async function exportSavedModel(store: ExperimentStore, outDir: string, opts: ExportOptions): Promise<ExportResult> {
  const env = opts.env ?? process.env;
  const converter = findConverter(env);
  finalModelDir(store);
  if (!converter) {
    throw new Error(
      'A TF SavedModel export needs the TensorFlow.js converter (tfjs can read SavedModels but not write them): ' +
        'run `pip install tensorflowjs`, make sure `tensorflowjs_converter` is on PATH (or set AUTOML_TFJS_CONVERTER to it), and export again. ' +
        'The tfjs format needs nothing: `--format tfjs`.',
    );
  }
  if (existsSync(outDir) && readdirSync(outDir).length) throw new Error(`${outDir} is not empty: choose a new folder for the SavedModel`);
  const tmp = mkdtempSync(join(tmpdir(), 'automl-savedmodel-'));
  try {
    const tfjs = await exportTfjs(store, tmp);
    const args = ['--input_format=tfjs_layers_model', '--output_format=keras_saved_model', join(tmp, 'model.json'), outDir];
    const { code, tail } = await new Promise<{ code: number | null; tail: string[] }>((resolve, reject) => {
      const child = spawn(converter, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      const lines: string[] = [];
      const onData = (b: Buffer) => {
        for (const line of b.toString('utf8').split(/\r?\n/).filter(Boolean)) {
          lines.push(line);
          if (lines.length > 20) lines.shift();
          opts.onOutput?.(line);
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.on('error', (e) => reject(new Error(`could not run ${converter}: ${e.message}`)));
      child.on('close', (c) => resolve({ code: c, tail: lines }));
    });
    if (code !== 0) throw new Error(`${converter} failed (exit ${code}):\n${tail.join('\n')}`);
    if (!existsSync(join(outDir, 'saved_model.pb'))) throw new Error(`${converter} finished but wrote no saved_model.pb into ${outDir}`);
    for (const f of ['labels.json', 'preprocessing.json']) cpSync(join(tfjs.dir, f), join(outDir, f));
    const rec = store.readRecord();
    const pre = JSON.parse(readFileSync(join(outDir, 'preprocessing.json'), 'utf8')) as { input: number[]; output: string };
    writeFileSync(
      join(outDir, 'README.md'),
      `# ${rec.spec.name}: image classifier exported by AutoML for VS Code (TensorFlow SavedModel)

- Experiment: \`${rec.spec.id}\`; converted from its TF.js model by \`tensorflowjs_converter\` (Keras SavedModel).
- Input: ${pre.input.join('×')}, raw pixel values 0–255, NHWC float32 (see \`preprocessing.json\`).
- Output: ${pre.output}; label names in \`labels.json\` (same order).

## Load it

\`\`\`python
import json, tensorflow as tf
model = tf.keras.models.load_model('.')          # or tf.saved_model.load('.')
labels = json.load(open('labels.json'))
img = tf.image.resize_with_pad(tf.io.decode_image(open('x.png', 'rb').read(), channels=${pre.input[2] ?? 3}), ${pre.input[0]}, ${pre.input[1]})
scores = model(tf.expand_dims(tf.cast(img, tf.float32), 0))[0].numpy()
\`\`\`
`,
    );
    return { format: 'savedmodel', dir: outDir, files: readdirSync(outDir).sort() };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function finalModelDir(store: ExperimentStore): string {
  const modelDir = store.file('final', 'model');
  if (!existsSync(join(modelDir, 'model.json'))) {
    throw new Error(`${store.dir} has no final model yet (status ${store.readRecord().status}); train or resume it first`);
  }
  return modelDir;
}

interface ModelFacts {
  classes: string[];
  input: { height: number; width: number; channels: number; fit: string } | undefined;
  preprocessing: { input: number[] | undefined; layout: string; dtype: string; range: string; resize: string; channels: string; output: string };
}

/** What the final model takes and gives, from its metadata (and the record for older models). */
function modelFacts(store: ExperimentStore, modelDir: string): ModelFacts {
  const rec = store.readRecord();
  const json = JSON.parse(readFileSync(join(modelDir, 'model.json'), 'utf8')) as { userDefinedMetadata?: Record<string, unknown> };
  const meta = json.userDefinedMetadata ?? {};
  const classes = (meta.classes as string[] | undefined) ?? rec.classes ?? [];
  const input = meta.input as ModelFacts['input'];
  const preprocessing = {
    input: input ? [input.height, input.width, input.channels] : rec.inputShape,
    layout: 'NHWC',
    dtype: 'float32',
    range: 'raw pixel values 0–255 (the model normalises them itself)',
    resize: input?.fit === 'crop' ? 'keep aspect ratio, fill, centre-crop' : 'keep aspect ratio, fit inside, pad with black',
    channels: input?.channels === 1 ? 'grayscale' : 'RGB (alpha composited on white)',
    output: rec.multiLabel ? 'sigmoid score per label' : 'softmax probabilities over labels.json',
  };
  return { classes, input, preprocessing };
}

/** model.onnx (+ labels, preprocessing, README) in `outDir`, and the experiment's copy for the prediction server. */
async function exportOnnx(store: ExperimentStore, outDir: string): Promise<ExportResult> {
  const rec = store.readRecord();
  const modelDir = finalModelDir(store);
  const { classes, input, preprocessing } = modelFacts(store, modelDir);
  if (!preprocessing.input) throw new Error(`${join(modelDir, 'model.json')} does not say its input size (no AutoML metadata); it cannot be exported to ONNX`);
  const [h, w, c] = preprocessing.input;
  const info: OnnxModelInfo = {
    name: rec.spec.name,
    experimentId: rec.spec.id,
    classes,
    input: { height: h, width: w, channels: c === 1 ? 1 : 3, fit: input?.fit === 'crop' ? 'crop' : 'pad' },
    multiLabel: rec.multiLabel === true,
    version: PRODUCT_VERSION,
  };
  const bytes = onnxModelBytes(modelDir, info);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'model.onnx'), bytes);
  writeFileSync(join(store.dir, EXPERIMENT_ONNX), bytes);
  writeFileSync(join(outDir, 'labels.json'), JSON.stringify(classes, null, 2) + '\n');
  writeFileSync(join(outDir, 'preprocessing.json'), JSON.stringify(preprocessing, null, 2) + '\n');
  writeFileSync(join(outDir, 'README.md'), onnxReadme(rec.spec.name, rec.spec.id, info));
  return { format: 'onnx', dir: outDir, files: readdirSync(outDir).sort() };
}

function onnxReadme(name: string, id: string, info: OnnxModelInfo): string {
  const { height: h, width: w, channels: c, fit } = info.input;
  const resize = fit === 'crop' ? `ImageOps.fit(img, (${w}, ${h}), Image.BILINEAR)` : `ImageOps.pad(img, (${w}, ${h}), Image.BILINEAR, color=0)`;
  return `# ${name}: image classifier exported by AutoML for VS Code (ONNX)

- Experiment: \`${id}\`; opset 13, runs in ONNX Runtime (Python, C#, C++, Java, JavaScript) or any ONNX runtime.
- Input \`image\`: float32 [N, ${h}, ${w}, ${c}] (NHWC), ${c === 1 ? 'grayscale' : 'RGB'}, raw pixel values 0–255 (no scaling: the model normalises itself); ${fit === 'crop' ? 'resize to cover and centre-crop' : 'resize to fit inside and pad with black'}.
- Output \`scores\`: ${info.multiLabel ? 'a sigmoid score per label' : 'softmax probabilities'}; label names in \`labels.json\` and in the model's metadata (\`labels\`).

## Python

\`\`\`python
import json, numpy as np, onnxruntime as ort
from PIL import Image, ImageOps
sess = ort.InferenceSession('model.onnx')
labels = json.loads(sess.get_modelmeta().custom_metadata_map['labels'])
img = ${resize.replace('img', `Image.open('x.jpg').convert('${c === 1 ? 'L' : 'RGB'}')`)}
x = np.asarray(img, dtype=np.float32).reshape(1, ${h}, ${w}, ${c})
scores = sess.run(None, {'image': x})[0][0]
print(labels[int(scores.argmax())], float(scores.max()))
\`\`\`

See docs/onnx.md in the AutoML for VS Code repository for C# and the metadata keys.
`;
}

async function exportTfjs(store: ExperimentStore, outDir: string): Promise<ExportResult> {
  const rec = store.readRecord();
  const modelDir = finalModelDir(store);
  const { classes, preprocessing } = modelFacts(store, modelDir);
  mkdirSync(outDir, { recursive: true });
  cpSync(modelDir, outDir, { recursive: true });
  writeFileSync(join(outDir, 'labels.json'), JSON.stringify(classes, null, 2) + '\n');
  writeFileSync(join(outDir, 'preprocessing.json'), JSON.stringify(preprocessing, null, 2) + '\n');
  const [h, w, c] = (preprocessing.input as number[] | undefined) ?? [0, 0, 0];
  writeFileSync(
    join(outDir, 'README.md'),
    `# ${rec.spec.name}: image classifier exported by AutoML for VS Code

- Experiment: \`${rec.spec.id}\`; ${rec.test ? `${rec.test.partition} accuracy ${(rec.test.accuracy * 100).toFixed(2)} % on ${rec.test.count} images` : 'not evaluated'}.
- Input: ${h}×${w}×${c} (${preprocessing.channels}), ${preprocessing.resize}; raw pixel values 0–255, NHWC float32.
- Output: ${preprocessing.output}; label names in \`labels.json\` (same order).

## Load it

\`\`\`js
import * as tf from '@tensorflow/tfjs';
const model = await tf.loadLayersModel('path/or/url/to/model.json');
const labels = await (await fetch('labels.json')).json();
// img: an <img>, <canvas> or ImageData
const x = tf.tidy(() => {
  let t = tf.browser.fromPixels(img, ${c || 3});          // 0–255, HWC
  t = tf.image.resizeBilinear(t, [${h}, ${w}]);   // or pad/crop as in preprocessing.json
  return t.toFloat().expandDims(0);
});
const scores = await model.predict(x).data();
\`\`\`
`,
  );
  return { format: 'tfjs', dir: outDir, files: readdirSync(outDir).sort() };
}
