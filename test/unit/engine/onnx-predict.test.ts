// `export --format onnx` end to end, and prediction with ONNX Runtime: the export folder's files and
// metadata, the experiment's copy that the prediction process serves with ONNX Runtime (in process,
// and through the worker and the REST server) with the same scores as TF.js, and TF.js again once
// the final model changed after the export.
import * as assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { buildModel } from '../../../src/engine/model/build';
import { exportModel } from '../../../src/engine/model/export';
import { saveModel } from '../../../src/engine/model/io';
import { installRuntime, runtimePackageFor } from '../../../src/engine/runtime/install';
import { readOnnxMetadata } from '../../../src/engine/model/onnx/export-onnx';
import { decodeModel } from '../../../src/engine/model/onnx/proto';
import { Predictor } from '../../../src/engine/model/predict';
import { PredictorClient } from '../../../src/predict/client';
import { startPredictionServer } from '../../../src/predict/server';
import type { ExperimentSpec, ImagePrediction } from '../../../src/shared/protocol';
import { ExperimentStore } from '../../../src/store/store';
import { FASHION, randomiseBatchNorm } from './onnx-helpers';

const WORKER = join(__dirname, '..', '..', '..', 'src', 'worker', 'main.js');
const CLASSES = readdirSync(FASHION).sort();
const IMAGES = CLASSES.map((c) => join(FASHION, c, readdirSync(join(FASHION, c)).sort()[0]));

const spec: ExperimentSpec = {
  id: 'fashion-onnx',
  name: 'fashion.csv',
  dataset: '/d/fashion.csv',
  budgetMinutes: 1,
  backend: 'cpu',
  seed: 1,
  imageSize: 0,
  fit: 'pad',
  cacheDir: '/tmp/c',
  createdAt: '2026-01-01T00:00:00Z',
};

function scoresByLabel(r: ImagePrediction[]): Map<string, number>[] {
  return r.map((p) => {
    assert.equal(p.error, undefined, p.error);
    return new Map(p.scores.map((s) => [s.label, s.score]));
  });
}

function maxDiff(a: Map<string, number>[], b: Map<string, number>[]): number {
  let m = 0;
  a.forEach((row, i) => row.forEach((v, k) => (m = Math.max(m, Math.abs(v - b[i].get(k)!)))));
  return m;
}

async function tfjsPredictions(dir: string): Promise<ImagePrediction[]> {
  process.env.AUTOML_PREDICT_ENGINE = 'tfjs';
  try {
    const p = await Predictor.load(dir);
    assert.equal(p.engine, 'tfjs');
    const r = await p.predictFiles(IMAGES, CLASSES.length);
    p.dispose();
    return r;
  } finally {
    delete process.env.AUTOML_PREDICT_ENGINE;
  }
}

describe('ONNX export and prediction with ONNX Runtime', function () {
  this.timeout(120_000);
  let root: string;
  let store: ExperimentStore;
  before(async () => {
    await tf.setBackend('cpu');
    root = mkdtempSync(join(tmpdir(), 'automl-onnx-predict-'));
    store = ExperimentStore.create(root, spec);
    store.updateRecord({ status: 'done', classes: CLASSES, inputShape: [28, 28, 1] });
    const model = buildModel(
      { family: 'resnet', 'resnet/depth': 8, 'resnet/width': 4 },
      { inputShape: [28, 28, 1], numClasses: CLASSES.length, multiLabel: false, mean: 72, std: 90 },
      4,
    );
    randomiseBatchNorm(model, 4);
    await saveModel(model, store.file('final', 'model'), { classes: CLASSES, multiLabel: false, input: { height: 28, width: 28, channels: 1, fit: 'pad' } });
    model.dispose();
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('exports model.onnx with labels, preprocessing and a README, its metadata saying how to feed it', async () => {
    const out = join(root, 'export');
    const r = await exportModel(store, out, 'onnx');
    assert.equal(r.format, 'onnx');
    assert.deepEqual(r.files, ['README.md', 'labels.json', 'model.onnx', 'preprocessing.json']);
    const meta = readOnnxMetadata(readFileSync(join(out, 'model.onnx')));
    assert.deepEqual(JSON.parse(meta.labels), CLASSES);
    assert.deepEqual(JSON.parse(meta.input_shape), [28, 28, 1]);
    assert.equal(meta.input_layout, 'NHWC');
    assert.equal(meta.input_range, '0-255');
    assert.equal(meta.input_fit, 'pad');
    assert.equal(meta.multi_label, 'false');
    const proto = decodeModel(readFileSync(join(out, 'model.onnx')));
    assert.equal(proto.irVersion, 7);
    assert.deepEqual(
      proto.opsetImport.map((o) => [o.domain ?? '', o.version]),
      [['', 13]],
    );
    const dims = (v: (typeof proto.graph.input)[number]) => v.type.tensorType.shape.dim.map((d) => ('dimValue' in d ? d.dimValue : d.dimParam));
    assert.equal(proto.graph.input[0].name, 'image');
    assert.deepEqual(dims(proto.graph.input[0]), ['N', 28, 28, 1]);
    assert.equal(proto.graph.output[0].name, 'scores');
    assert.deepEqual(dims(proto.graph.output[0]), ['N', CLASSES.length]);
    assert.match(readFileSync(join(out, 'README.md'), 'utf8'), /onnxruntime as ort[\s\S]*ImageOps\.pad\(.*\(28, 28\)/);
    assert.ok(existsSync(join(store.dir, 'final', 'model.onnx')), 'the experiment keeps a copy for the prediction server');
  });

  it('predicts with ONNX Runtime from the experiment and from the export folder, with the scores TF.js gives', async () => {
    const want = scoresByLabel(await tfjsPredictions(store.file('final', 'model')));
    for (const dir of [store.dir, store.file('final', 'model'), join(root, 'export'), join(root, 'export', 'model.onnx')]) {
      const p = await Predictor.load(dir);
      assert.equal(p.engine, 'onnxruntime', dir);
      assert.deepEqual(p.classes, CLASSES);
      const got = scoresByLabel(await p.predictFiles(IMAGES, CLASSES.length));
      p.dispose();
      assert.ok(maxDiff(got, want) <= 1e-4, `${dir}: ${maxDiff(got, want)}`);
    }
  });

  it('serves the experiment through the worker and the REST server with ONNX Runtime, scores equal to TF.js', async () => {
    const want = scoresByLabel(await tfjsPredictions(store.file('final', 'model')));
    const client = new PredictorClient({ workerPath: WORKER, env: { AUTOML_BACKEND: 'cpu' } });
    const server = await startPredictionServer({ models: [{ name: 'fashion', path: store.file('final', 'model') }], predictor: client });
    try {
      const got: Map<string, number>[] = [];
      for (const img of IMAGES) {
        const body = JSON.stringify({ payload: { image: { imageBytes: readFileSync(img).toString('base64') } }, params: { maxPredictions: CLASSES.length } });
        const reply = await new Promise<{ payload: { displayName: string; classification: { score: number } }[] }>((resolve, reject) => {
          const req = request(`${server.url}/v1/models/fashion:predict`, { method: 'POST', headers: { authorization: `Bearer ${server.token}` } }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
          });
          req.on('error', reject);
          req.end(body);
        });
        got.push(new Map(reply.payload.map((p) => [p.displayName, p.classification.score])));
      }
      assert.equal(client.backend, 'onnxruntime (cpu)');
      assert.ok(got.every((row) => row.size === CLASSES.length));
      assert.ok(maxDiff(got, want) <= 1e-4, String(maxDiff(got, want)));
    } finally {
      await server.close();
      client.dispose();
    }
  });

  it('installs ONNX Runtime through the runtime manager: the version the tests check, without install scripts (no CUDA download)', async () => {
    const r = runtimePackageFor('onnx');
    assert.equal(r.pkg, 'onnxruntime-node');
    const installed = JSON.parse(readFileSync(join(require.resolve('onnxruntime-node'), '..', '..', 'package.json'), 'utf8')) as { version: string };
    assert.equal(r.version, installed.version);
    // A stand-in npm records how it was called.
    const npm = join(root, 'npm-stand-in.sh');
    writeFileSync(npm, `#!/bin/sh\necho "$@ ONNXRUNTIME_NODE_INSTALL=$ONNXRUNTIME_NODE_INSTALL" > "${join(root, 'npm-args.txt')}"\n`);
    chmodSync(npm, 0o755);
    const result = await installRuntime({ runtimeDir: join(root, 'runtime'), variant: 'onnx', npm });
    assert.equal(result.ok, true, result.message);
    const args = readFileSync(join(root, 'npm-args.txt'), 'utf8');
    assert.match(args, /^install onnxruntime-node@1\.31\.1 .*--ignore-scripts/);
    assert.doesNotMatch(args, /--allow-scripts/);
    assert.match(args, /ONNXRUNTIME_NODE_INSTALL=skip/);
  });

  it('goes back to TF.js when the final model changed after the export', async () => {
    const model = buildModel(
      { family: 'convnet', 'convnet/blocks': 1, 'convnet/filters': 4 },
      { inputShape: [28, 28, 1], numClasses: CLASSES.length, multiLabel: false, mean: 72, std: 90 },
      9,
    );
    await saveModel(model, store.file('final', 'model'), { classes: CLASSES, multiLabel: false, input: { height: 28, width: 28, channels: 1, fit: 'pad' } });
    model.dispose();
    const p = await Predictor.load(store.dir);
    assert.equal(p.engine, 'tfjs');
    p.dispose();
  });
});
