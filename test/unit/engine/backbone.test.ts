import * as assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { BACKBONE_PREFIX, chooseRange, loadBackbone, resolveBackbone, setBackboneTrainable, truncateAt } from '../../../src/engine/model/backbone';
import { loadModel, saveModel } from '../../../src/engine/model/io';
import { buildModel } from '../../../src/engine/model/build';

const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

describe('pretrained backbone (transfer learning)', () => {
  let dir: string;
  const shape = { inputShape: [12, 12, 3] as [number, number, number], numClasses: 5, multiLabel: false, mean: 100, std: 60 };
  const convnet = {
    family: 'convnet',
    'convnet/blocks': 2,
    'convnet/filters': 4,
    'convnet/convs_per_block': 1,
    'convnet/batchnorm': true,
    'convnet/head': 'gap',
    'convnet/dense': 0,
    'convnet/dropout': 0,
  };
  let own: tfl.LayersModel;
  before(async () => {
    await tf.setBackend('cpu');
    dir = mkdtempSync(join(tmpdir(), 'automl-backbone-'));
    own = buildModel(convnet, shape, 4);
    await saveModel(own, join(dir, 'own'), { input: { range: '0-255' } });
    await saveModel(own, join(dir, 'own-unmarked'));
  });
  after(() => {
    own.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it("cuts this product's models at the input of their logits, taking raw pixels as they say", async () => {
    const bb = await loadBackbone(join(dir, 'own'));
    assert.equal(bb.info.range, '0-255');
    assert.deepEqual(bb.info.inputShape, [12, 12, 3]);
    assert.deepEqual(bb.info.featureShape, [8]);
    assert.equal(bb.info.weightLayers, 4 + 1 - 1, 'two convs and two BatchNorms (the logits are cut off)');
    const features = tfl.model({ inputs: bb.input, outputs: bb.features });
    const want = tfl.model({ inputs: own.inputs, outputs: own.getLayer('logits').input as tfl.SymbolicTensor });
    const x = tf.randomUniform([3, 12, 12, 3], 0, 255, 'float32', 1);
    assert.ok(maxDiff(features.predict(x) as tf.Tensor, want.predict(x) as tf.Tensor) < 1e-5);
    assert.ok(bb.info.flops > 0);
    tf.dispose(x);
    bb.dispose();
  });

  it('maps raw pixels to the range a functional or Sequential backbone was trained on', async () => {
    // Unmarked: the usual −1…1 of pretrained models, through a Rescaling layer after the input.
    const bb = await loadBackbone(join(dir, 'own-unmarked'));
    assert.equal(bb.info.range, '-1-1');
    const features = tfl.model({ inputs: bb.input, outputs: bb.features });
    const want = tfl.model({ inputs: own.inputs, outputs: own.getLayer('logits').input as tfl.SymbolicTensor });
    const x = tf.randomUniform([2, 12, 12, 3], 0, 255, 'float32', 2);
    const mapped = tf.sub(tf.div(x, 127.5), 1);
    assert.ok(maxDiff(features.predict(x) as tf.Tensor, want.predict(mapped) as tf.Tensor) < 1e-5);
    bb.dispose();
    // A Sequential model (conv, pool, flatten, dense) read with 0–1: features are the flatten's input.
    const seq = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [12, 12, 3], filters: 3, kernelSize: 3, activation: 'relu' }),
        tfl.layers.maxPooling2d({ poolSize: 2 }),
        tfl.layers.flatten(),
        tfl.layers.dense({ units: 4 }),
      ],
    });
    await saveModel(seq, join(dir, 'seq'));
    const sb = await loadBackbone(join(dir, 'seq'), '0-1');
    assert.deepEqual(sb.info.featureShape, [5, 5, 3]);
    assert.equal(sb.info.weightLayers, 1);
    const sf = tfl.model({ inputs: sb.input, outputs: sb.features });
    const upToPool = tfl.model({ inputs: seq.inputs, outputs: seq.layers[1].output as tfl.SymbolicTensor });
    assert.ok(maxDiff(sf.predict(x) as tf.Tensor, upToPool.predict(tf.div(x, 255)) as tf.Tensor) < 1e-5);
    tf.dispose([x, mapped]);
    sb.dispose();
    seq.dispose();
  });

  it('gives a backbone of any input size the size it is asked for, and refuses nested models', async () => {
    const input = tfl.input({ shape: [null, null, 1] as unknown as number[] });
    const y = tfl.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'same' }).apply(input) as tfl.SymbolicTensor;
    const pooled = tfl.layers.globalAveragePooling2d({}).apply(y) as tfl.SymbolicTensor;
    const anySize = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 2 }).apply(pooled) as tfl.SymbolicTensor });
    await saveModel(anySize, join(dir, 'any'));
    await assert.rejects(loadBackbone(join(dir, 'any'), '0-1'), /any size; give the input size/);
    const bb = await loadBackbone(join(dir, 'any'), '0-1', { size: 20 });
    assert.deepEqual(bb.info.inputShape, [20, 20, 1]);
    bb.dispose();
    const outer = tfl.input({ shape: [12, 12, 3] });
    const nested = tfl.model({ inputs: outer, outputs: own.apply(outer) as tfl.SymbolicTensor });
    await saveModel(nested, join(dir, 'nested'));
    await assert.rejects(loadBackbone(join(dir, 'nested')), /holds whole models/);
    anySize.dispose();
  });

  it('builds a transfer model with a new head: the backbone frozen, then its top opened by fraction', async () => {
    const bb = await loadBackbone(join(dir, 'own'));
    const cfg = { family: 'transfer', 'transfer/unfreeze': 0.5, 'transfer/dropout': 0.1 };
    assert.throws(
      () => buildModel(cfg, { ...shape, numClasses: 3 }, 7),
      /A transfer-learning trial needs a pretrained backbone \(setting automl\.backbone, --backbone\)/,
    );
    const model = buildModel(cfg, { ...shape, numClasses: 3 }, 7, bb);
    assert.deepEqual(model.outputs[0].shape, [null, 3]);
    const backboneLayers = model.layers.filter((l) => l.name.startsWith(BACKBONE_PREFIX) && l.countParams() > 0);
    assert.equal(backboneLayers.length, 4);
    assert.ok(backboneLayers.every((l) => !l.trainable));
    // Only the new head (its feature normalisation and the logits) trains at first.
    assert.deepEqual(model.trainableWeights.map((w) => w.originalName).sort(), ['head_norm/beta', 'head_norm/gamma', 'logits/bias', 'logits/kernel']);
    setBackboneTrainable(model, 0.5);
    assert.deepEqual(
      backboneLayers.map((l) => l.trainable),
      [false, false, true, true],
    );
    // The backbone's weights are the pretrained ones.
    const pre = own.layers.find((l) => l.getClassName() === 'Conv2D')!.getWeights()[0];
    const got = backboneLayers.find((l) => l.getClassName() === 'Conv2D')!.getWeights()[0];
    assert.equal(maxDiff(pre, got), 0);
    // Saved and loaded like any model, trainable flags included.
    await saveModel(model, join(dir, 'transfer'));
    const back = await loadModel(join(dir, 'transfer'));
    const x = tf.randomUniform([2, 12, 12, 3], 0, 255, 'float32', 3);
    assert.ok(maxDiff(back.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor) < 1e-6);
    assert.deepEqual(
      back.layers.filter((l) => l.name.startsWith(BACKBONE_PREFIX) && l.countParams() > 0).map((l) => l.trainable),
      [false, false, true, true],
    );
    tf.dispose(x);
    model.dispose();
    back.dispose();
  });

  describe('where it comes from', () => {
    let server: Server;
    let base: string;
    const requests: string[] = [];
    before(async () => {
      server = createServer((req, res) => {
        requests.push(req.url ?? '');
        const file = join(dir, (req.url ?? '/').replace(/^\/+/, ''));
        if (req.url === '/graph/model.json') {
          res.end(JSON.stringify({ format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [] }));
        } else if (existsSync(file) && !file.endsWith('/')) {
          res.end(readFileSync(file));
        } else {
          res.statusCode = 404;
          res.end('not found');
        }
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => server.close());

    it('takes a folder or a model.json path, and names what is missing', async () => {
      assert.equal(await resolveBackbone(join(dir, 'own'), join(dir, 'cache')), join(dir, 'own'));
      assert.equal(await resolveBackbone(join(dir, 'own', 'model.json'), join(dir, 'cache')), join(dir, 'own'));
      await assert.rejects(resolveBackbone(join(dir, 'nope'), join(dir, 'cache')), /nope: no such file or folder/);
      mkdirSync(join(dir, 'empty'));
      await assert.rejects(resolveBackbone(join(dir, 'empty'), join(dir, 'cache')), /no model\.json in .*empty/);
      writeFileSync(join(dir, 'empty', 'model.json'), JSON.stringify({ format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [] }));
      await assert.rejects(resolveBackbone(join(dir, 'empty'), join(dir, 'cache')), /graph model .* cannot be fine-tuned/);
    });

    it('downloads a URL once, with its weight files, into the cache', async () => {
      const url = `${base}/own/model.json`;
      const cached = await resolveBackbone(url, join(dir, 'cache'));
      assert.deepEqual(requests, ['/own/model.json', '/own/weights.bin']);
      assert.ok(cached.startsWith(join(dir, 'cache')));
      assert.deepEqual(readFileSync(join(cached, 'weights.bin')), readFileSync(join(dir, 'own', 'weights.bin')));
      assert.equal(await resolveBackbone(url, join(dir, 'cache')), cached);
      assert.equal(requests.length, 2, 'the second call is served from the cache');
      // The downloaded copy loads as a backbone.
      const bb = await loadBackbone(cached);
      assert.equal(bb.info.range, '0-255');
      bb.dispose();
      await assert.rejects(resolveBackbone(`${base}/missing/model.json`, join(dir, 'cache')), /missing\/model\.json: the server answered 404/);
      await assert.rejects(resolveBackbone(`${base}/graph/model.json`, join(dir, 'cache')), /graph model/);
      await assert.rejects(resolveBackbone('http://127.0.0.1:1/model.json', join(dir, 'cache')), /download failed \(.*\); check the URL and the network/);
    });
  });
});

// Range choice, truncation and fixed-window pooling backbones. (Imports are hoisted.)

describe('pretrained backbone: range, cut and size', () => {
  let dir: string;
  type Layer = { class_name: string; name?: string; config: { name?: string } };
  type Root = { class_name: string; config: { layers: Layer[]; output_layers: unknown[]; input_layers: unknown[] } };
  const rootOf = (json: tf.io.ModelJSON) => {
    const top = json.modelTopology as Root & { model_config?: Root };
    return top.model_config ?? top;
  };
  const namesOf = (json: tf.io.ModelJSON) => rootOf(json).config.layers.map((l) => l.name ?? l.config.name);
  before(async () => {
    await tf.setBackend('cpu');
    dir = mkdtempSync(join(tmpdir(), 'automl-backbone-cut-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('chooses the input range: the user first, then the metadata, then −1…1', () => {
    const stated = chooseRange('auto', '0-1');
    assert.equal(stated.range, '0-1');
    assert.match(stated.why, /metadata/);
    assert.match(stated.why, /0-1/);
    assert.equal(chooseRange('auto', '-1-1').range, '-1-1');
    assert.match(chooseRange('auto', '-1-1').why, /metadata/);
    const raw = chooseRange('auto', '0-255');
    assert.equal(raw.range, '0-255');
    assert.match(raw.why, /raw pixels/);
    const unstated = chooseRange('auto', undefined);
    assert.equal(unstated.range, '-1-1');
    assert.doesNotMatch(unstated.why, /metadata states/);
    assert.equal(chooseRange('auto', 'bogus').range, '-1-1');
    assert.equal(chooseRange('auto', 1).range, '-1-1');
    // The user's choice wins over the metadata.
    assert.deepEqual(chooseRange('0-255', '0-1'), { range: '0-255', why: 'set by the user' });
    assert.deepEqual(chooseRange('0-1', '-1-1'), { range: '0-1', why: 'set by the user' });
    assert.deepEqual(chooseRange('-1-1', undefined), { range: '-1-1', why: 'set by the user' });
  });

  it('reads the range from the saved metadata', async () => {
    const m = tfl.sequential({
      layers: [tfl.layers.conv2d({ inputShape: [6, 6, 1], filters: 2, kernelSize: 3 }), tfl.layers.flatten(), tfl.layers.dense({ units: 2 })],
    });
    await saveModel(m, join(dir, 'stated'), { input: { range: '0-1' } });
    const bb = await loadBackbone(join(dir, 'stated'));
    assert.equal(bb.info.range, '0-1');
    assert.match(bb.info.rangeWhy, /metadata/);
    // The user's range wins over it.
    const user = await loadBackbone(join(dir, 'stated'), '0-255');
    assert.equal(user.info.range, '0-255');
    assert.equal(user.info.rangeWhy, 'set by the user');
    bb.dispose();
    user.dispose();
    m.dispose();
  });

  it('truncates a functional model JSON to the layers upstream of the cut', async () => {
    // in → a → b ─┐
    //  └──→ side ─┴→ cat → pool → out
    const input = tfl.input({ shape: [8, 8, 3], name: 'in' });
    const a = tfl.layers.conv2d({ name: 'a', filters: 2, kernelSize: 3, padding: 'same' }).apply(input) as tfl.SymbolicTensor;
    const b = tfl.layers.conv2d({ name: 'b', filters: 3, kernelSize: 3, padding: 'same' }).apply(a) as tfl.SymbolicTensor;
    const side = tfl.layers.conv2d({ name: 'side', filters: 2, kernelSize: 1 }).apply(input) as tfl.SymbolicTensor;
    const cat = tfl.layers.concatenate({ name: 'cat' }).apply([b, side]) as tfl.SymbolicTensor;
    const pool = tfl.layers.globalAveragePooling2d({ name: 'pool' }).apply(cat) as tfl.SymbolicTensor;
    const out = tfl.layers.dense({ name: 'out', units: 2 }).apply(pool) as tfl.SymbolicTensor;
    const m = tfl.model({ inputs: input, outputs: out });
    await saveModel(m, join(dir, 'branch'));
    const json = JSON.parse(readFileSync(join(dir, 'branch', 'model.json'), 'utf8')) as tf.io.ModelJSON;
    const original = JSON.stringify(json);
    assert.deepEqual(namesOf(json), ['in', 'a', 'b', 'side', 'cat', 'pool', 'out']);

    const cutB = truncateAt(json, 'b');
    assert.deepEqual(namesOf(cutB), ['in', 'a', 'b']);
    assert.deepEqual(rootOf(cutB).config.output_layers, [['b', 0, 0]]);
    assert.deepEqual(rootOf(cutB).config.input_layers, rootOf(json).config.input_layers);
    const cutCat = truncateAt(json, 'cat');
    assert.deepEqual(namesOf(cutCat), ['in', 'a', 'b', 'side', 'cat']);
    assert.deepEqual(rootOf(cutCat).config.output_layers, [['cat', 0, 0]]);
    const cutSide = truncateAt(json, 'side');
    assert.deepEqual(namesOf(cutSide), ['in', 'side']);
    assert.equal(JSON.stringify(json), original, 'the given JSON is left as it was');
    assert.throws(() => truncateAt(json, 'nope'), /no layer nope to cut at/);

    // The truncated JSON loads (weights of the dropped layers ignored) and computes b.
    const trunk = await loadModel(join(dir, 'branch'), { transform: (j) => truncateAt(j, 'b'), strict: false });
    assert.deepEqual(trunk.outputs[0].shape, [null, 8, 8, 3]);
    assert.deepEqual(
      trunk.layers.map((l) => l.name),
      ['in', 'a', 'b'],
    );
    const x = tf.randomUniform([2, 8, 8, 3], 0, 1, 'float32', 4);
    const want = tfl.model({ inputs: m.inputs, outputs: b });
    assert.ok(maxDiff(trunk.predict(x) as tf.Tensor, want.predict(x) as tf.Tensor) < 1e-5);
    tf.dispose(x);
    trunk.dispose();
    m.dispose();
  });

  it('truncates a Sequential model JSON after the cut', async () => {
    const m = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ name: 's1', inputShape: [6, 6, 1], filters: 2, kernelSize: 3 }),
        tfl.layers.conv2d({ name: 's2', filters: 2, kernelSize: 3 }),
        tfl.layers.flatten({ name: 'sflat' }),
        tfl.layers.dense({ name: 'sout', units: 2 }),
      ],
    });
    await saveModel(m, join(dir, 'seq-cut'));
    const json = JSON.parse(readFileSync(join(dir, 'seq-cut', 'model.json'), 'utf8')) as tf.io.ModelJSON;
    const names = (j: tf.io.ModelJSON) => {
      const root = rootOf(j) as unknown as { config: Layer[] | { layers: Layer[] } };
      const layers = Array.isArray(root.config) ? root.config : root.config.layers;
      return layers.map((l) => l.name ?? l.config.name).filter((n) => !n?.startsWith('input'));
    };
    assert.deepEqual(names(truncateAt(json, 's2')), ['s1', 's2']);
    assert.deepEqual(names(truncateAt(json, 's1')), ['s1']);
    assert.throws(() => truncateAt(json, 'nope'), /no layer nope/);
    m.dispose();
  });

  describe('a backbone that pools its whole feature map with a fixed window', () => {
    // 12×12 → c1 12×12×4 → c2 6×6×8 → AveragePooling2D(6) 1×1×8 → flatten → dense.
    let model: tfl.LayersModel;
    before(async () => {
      const input = tfl.input({ shape: [12, 12, 3] });
      const c1 = tfl.layers.conv2d({ name: 'c1', filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(input) as tfl.SymbolicTensor;
      const c2 = tfl.layers.conv2d({ name: 'c2', filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }).apply(c1) as tfl.SymbolicTensor;
      const pool = tfl.layers.averagePooling2d({ name: 'pool', poolSize: 6 }).apply(c2) as tfl.SymbolicTensor;
      const flat = tfl.layers.flatten({ name: 'flat' }).apply(pool) as tfl.SymbolicTensor;
      const out = tfl.layers.dense({ name: 'out', units: 3 }).apply(flat) as tfl.SymbolicTensor;
      model = tfl.model({ inputs: input, outputs: out });
      await saveModel(model, join(dir, 'pooled'));
    });
    after(() => model.dispose());

    it('is cut before the pooling: 4-D features with a spatial size above 1', async () => {
      const bb = await loadBackbone(join(dir, 'pooled'), '0-1');
      assert.deepEqual(bb.info.inputShape, [12, 12, 3]);
      assert.deepEqual(bb.info.featureShape, [6, 6, 8]);
      assert.equal(bb.features.shape.length, 4);
      assert.equal((bb.features.sourceLayer as tfl.layers.Layer).name, `${BACKBONE_PREFIX}c2`);
      assert.equal(bb.info.weightLayers, 2);
      assert.deepEqual(bb.info.taps, ['c1', 'c2']);
      const features = tfl.model({ inputs: bb.input, outputs: bb.features });
      const want = tfl.model({ inputs: model.inputs, outputs: model.getLayer('c2').output as tfl.SymbolicTensor });
      const x = tf.randomUniform([2, 12, 12, 3], 0, 255, 'float32', 6);
      assert.ok(maxDiff(features.predict(x) as tf.Tensor, want.predict(tf.div(x, 255)) as tf.Tensor) < 1e-5);
      tf.dispose(x);
      bb.dispose();
    });

    it('takes another input size when asked, with the same weights', async () => {
      const bb = await loadBackbone(join(dir, 'pooled'), '0-1', { size: 20 });
      assert.deepEqual(bb.info.inputShape, [20, 20, 3]);
      assert.deepEqual(bb.info.featureShape, [10, 10, 8]);
      assert.deepEqual(bb.input.shape, [null, 20, 20, 3]);
      assert.equal(bb.info.weightLayers, 2);
      // The same convolutions applied to a 20×20 input.
      const input = tfl.input({ shape: [20, 20, 3] });
      const c1 = model.getLayer('c1').apply(input) as tfl.SymbolicTensor;
      const want = tfl.model({ inputs: input, outputs: model.getLayer('c2').apply(c1) as tfl.SymbolicTensor });
      const features = tfl.model({ inputs: bb.input, outputs: bb.features });
      const x = tf.randomUniform([2, 20, 20, 3], 0, 255, 'float32', 7);
      assert.ok(maxDiff(features.predict(x) as tf.Tensor, want.predict(tf.div(x, 255)) as tf.Tensor) < 1e-5);
      tf.dispose(x);
      bb.dispose();
      // Its native size needs no rebuild and gives the native shapes.
      const same = await loadBackbone(join(dir, 'pooled'), '0-1', { size: 12 });
      assert.deepEqual(same.info.featureShape, [6, 6, 8]);
      same.dispose();
    });
  });
});
