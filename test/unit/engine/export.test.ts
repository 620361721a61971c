import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportModel, findConverter } from '../../../src/engine/model/export';
import { loadModel, saveModel } from '../../../src/engine/model/io';
import { buildModel } from '../../../src/engine/model/build';
import type { ExperimentSpec } from '../../../src/shared/protocol';
import { ExperimentStore } from '../../../src/store/store';

describe('export', () => {
  let root: string;
  before(async () => {
    await tf.setBackend('cpu');
  });
  beforeEach(() => (root = mkdtempSync(join(tmpdir(), 'automl-export-'))));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const spec: ExperimentSpec = {
    id: 'e1',
    name: 'shapes.csv',
    dataset: '/d/shapes.csv',
    budgetMinutes: 1,
    backend: 'cpu',
    seed: 1,
    imageSize: 0,
    fit: 'pad',
    cacheDir: '/tmp/c',
    createdAt: '2026-01-01T00:00:00Z',
  };

  async function trained(): Promise<{ store: ExperimentStore; model: ReturnType<typeof buildModel> }> {
    const store = ExperimentStore.create(root, spec);
    store.updateRecord({ status: 'done', classes: ['circle', 'square'], inputShape: [8, 8, 1] });
    const model = buildModel(
      { family: 'convnet', 'convnet/blocks': 1, 'convnet/filters': 4 },
      { inputShape: [8, 8, 1], numClasses: 2, multiLabel: false, mean: 10, std: 20 },
      3,
    );
    await saveModel(model, store.file('final', 'model'), { classes: ['circle', 'square'], input: { height: 8, width: 8, channels: 1, fit: 'pad' } });
    return { store, model };
  }

  it('writes a TF.js layers model with labels, preprocessing and a README, loadable and predicting the same', async () => {
    const { store, model } = await trained();
    const out = join(root, 'export');
    const r = await exportModel(store, out, 'tfjs');
    assert.deepEqual(r.files, ['README.md', 'labels.json', 'model.json', 'preprocessing.json', 'weights.bin']);
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'labels.json'), 'utf8')), ['circle', 'square']);
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'preprocessing.json'), 'utf8')).input, [8, 8, 1]);
    assert.match(readFileSync(join(out, 'README.md'), 'utf8'), /tf\.loadLayersModel/);
    const loaded = await loadModel(out);
    const x = tf.randomUniform([1, 8, 8, 1], 0, 255);
    const a = (model.predict(x) as tf.Tensor).dataSync();
    const b = (loaded.predict(x) as tf.Tensor).dataSync();
    assert.deepEqual(Array.from(a), Array.from(b));
    // The model.json uses only standard layer classes (a browser's plain tfjs can read it).
    const topology = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')).modelTopology.config.layers as { class_name: string }[];
    for (const l of topology)
      assert.ok(
        ['InputLayer', 'Rescaling', 'Conv2D', 'Activation', 'MaxPooling2D', 'Flatten', 'Dense', 'Dropout', 'GlobalAveragePooling2D'].includes(l.class_name),
        l.class_name,
      );
  });

  it('says what to do when there is no model yet', async () => {
    const store = ExperimentStore.create(root, spec);
    await assert.rejects(exportModel(store, join(root, 'x'), 'tfjs'), /no final model yet/);
  });

  describe('SavedModel through tensorflowjs_converter', () => {
    // A stand-in for the Python converter: records its arguments, checks it was given a readable TF.js
    // model, and writes what the real one writes (saved_model.pb, variables/), or fails like it.
    function standIn(behaviour: 'ok' | 'fail' | 'silent'): NodeJS.ProcessEnv {
      const bin = join(root, 'bin');
      mkdirSync(bin, { recursive: true });
      writeFileSync(
        join(bin, 'tensorflowjs_converter'),
        `#!/usr/bin/env node
const fs = require('fs'), path = require('path');
const args = process.argv.slice(2);
fs.writeFileSync(${JSON.stringify(join(root, 'args.json'))}, JSON.stringify(args));
if (${JSON.stringify(behaviour)} === 'fail') { console.error('ValueError: Unknown layer: Rescaling'); process.exit(1); }
const [input, output] = args.slice(-2);
JSON.parse(fs.readFileSync(input, 'utf8')).modelTopology.config.layers.length;
console.log('converting ' + input);
if (${JSON.stringify(behaviour)} === 'silent') process.exit(0);
fs.mkdirSync(path.join(output, 'variables'), { recursive: true });
fs.writeFileSync(path.join(output, 'saved_model.pb'), 'pb');
fs.writeFileSync(path.join(output, 'variables', 'variables.index'), 'ix');
`,
      );
      chmodSync(join(bin, 'tensorflowjs_converter'), 0o755);
      return { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    }

    it('finds the converter on PATH, or says how to install it', async () => {
      const { store } = await trained();
      assert.equal(findConverter({ PATH: join(root, 'nothing-here') }), null);
      await assert.rejects(exportModel(store, join(root, 'sm'), 'savedmodel', { env: { PATH: join(root, 'nothing-here') } }), /pip install tensorflowjs/);
      assert.equal(findConverter(standIn('ok')), join(root, 'bin', 'tensorflowjs_converter'));
    });

    it('converts the TF.js export into a Keras SavedModel with labels, preprocessing and a README', async () => {
      const { store } = await trained();
      const lines: string[] = [];
      const out = join(root, 'sm');
      const r = await exportModel(store, out, 'savedmodel', { env: standIn('ok'), onOutput: (l) => lines.push(l) });
      assert.equal(r.format, 'savedmodel');
      assert.deepEqual(r.files, ['README.md', 'labels.json', 'preprocessing.json', 'saved_model.pb', 'variables']);
      const args = JSON.parse(readFileSync(join(root, 'args.json'), 'utf8')) as string[];
      assert.deepEqual(args.slice(0, 2), ['--input_format=tfjs_layers_model', '--output_format=keras_saved_model']);
      assert.equal(args[3], out);
      assert.match(lines.join('\n'), /converting .*model\.json/);
      assert.ok(!existsSync(args[2]), 'the temporary TF.js export is removed');
      assert.deepEqual(JSON.parse(readFileSync(join(out, 'labels.json'), 'utf8')), ['circle', 'square']);
      assert.match(readFileSync(join(out, 'README.md'), 'utf8'), /tf\.keras\.models\.load_model/);
    });

    it('reports a failing converter with its output, and one that writes nothing', async () => {
      const { store } = await trained();
      await assert.rejects(exportModel(store, join(root, 'sm1'), 'savedmodel', { env: standIn('fail') }), /failed \(exit 1\):\nValueError: Unknown layer/);
      await assert.rejects(exportModel(store, join(root, 'sm2'), 'savedmodel', { env: standIn('silent') }), /wrote no saved_model\.pb/);
    });
  });
});
