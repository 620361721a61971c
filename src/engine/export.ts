// Exports an experiment's final model for use outside this product: a TF.js layers model
// (`model.json` + weights) with `labels.json`, the preprocessing spec and a README saying how to
// load it with plain `@tensorflow/tfjs` in a browser or Node. No tfjs import: files are copied.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExperimentStore } from '../store/store';

export interface ExportResult {
  format: 'tfjs' | 'savedmodel';
  dir: string;
  files: string[];
}

export function exportModel(store: ExperimentStore, outDir: string, format: 'tfjs' | 'savedmodel'): ExportResult {
  const rec = store.readRecord();
  const modelDir = store.file('final', 'model');
  if (!existsSync(join(modelDir, 'model.json'))) {
    throw new Error(`${store.dir} has no final model yet (status ${rec.status}); train or resume it first`);
  }
  if (format === 'savedmodel') {
    throw new Error(
      'A TF SavedModel export needs the native TensorFlow runtime (tfjs-node): install it with `automl install-runtime` ' +
        '(or "AutoML: Install GPU Runtime"). The tfjs format works everywhere: `--format tfjs`.',
    );
  }
  const json = JSON.parse(readFileSync(join(modelDir, 'model.json'), 'utf8')) as { userDefinedMetadata?: Record<string, unknown> };
  const meta = json.userDefinedMetadata ?? {};
  const classes = (meta.classes as string[] | undefined) ?? rec.classes ?? [];
  const input = meta.input as { height: number; width: number; channels: number; fit: string } | undefined;
  mkdirSync(outDir, { recursive: true });
  cpSync(modelDir, outDir, { recursive: true });
  writeFileSync(join(outDir, 'labels.json'), JSON.stringify(classes, null, 2) + '\n');
  const preprocessing = {
    input: input ? [input.height, input.width, input.channels] : rec.inputShape,
    layout: 'NHWC',
    dtype: 'float32',
    range: 'raw pixel values 0–255 (the model normalises them itself)',
    resize: input?.fit === 'crop' ? 'keep aspect ratio, fill, centre-crop' : 'keep aspect ratio, fit inside, pad with black',
    channels: input?.channels === 1 ? 'grayscale' : 'RGB (alpha composited on white)',
    output: rec.multiLabel ? 'sigmoid score per label' : 'softmax probabilities over labels.json',
  };
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
  return { format, dir: outDir, files: readdirSync(outDir).sort() };
}
