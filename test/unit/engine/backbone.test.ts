import * as assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { BACKBONE_PREFIX, loadBackbone, resolveBackbone, setBackboneTrainable } from '../../../src/engine/backbone';
import { loadModel, saveModel } from '../../../src/engine/model-io';
import { buildModel } from '../../../src/engine/models';

const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

describe('pretrained backbone (transfer learning)', () => {
  let dir: string;
  const shape = { inputShape: [12, 12, 3] as [number, number, number], numClasses: 5, multiLabel: false, mean: 100, std: 60 };
  const convnet = { family: 'convnet', 'convnet/blocks': 2, 'convnet/filters': 4, 'convnet/convs_per_block': 1, 'convnet/batchnorm': true, 'convnet/head': 'gap', 'convnet/dense': 0, 'convnet/dropout': 0 };
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
    assert.throws(() => buildModel(cfg, { ...shape, numClasses: 3 }, 7), /A transfer-learning trial needs a pretrained backbone \(setting automl\.backbone, --backbone\)/);
    const model = buildModel(cfg, { ...shape, numClasses: 3 }, 7, bb);
    assert.deepEqual(model.outputs[0].shape, [null, 3]);
    const backboneLayers = model.layers.filter((l) => l.name.startsWith(BACKBONE_PREFIX) && l.countParams() > 0);
    assert.equal(backboneLayers.length, 4);
    assert.ok(backboneLayers.every((l) => !l.trainable));
    // Only the new head (its feature normalisation and the logits) trains at first.
    assert.deepEqual(model.trainableWeights.map((w) => w.originalName).sort(), ['head_norm/beta', 'head_norm/gamma', 'logits/bias', 'logits/kernel']);
    setBackboneTrainable(model, 0.5);
    assert.deepEqual(backboneLayers.map((l) => l.trainable), [false, false, true, true]);
    // The backbone's weights are the pretrained ones.
    const pre = own.layers.find((l) => l.getClassName() === 'Conv2D')!.getWeights()[0];
    const got = backboneLayers.find((l) => l.getClassName() === 'Conv2D')!.getWeights()[0];
    assert.equal(maxDiff(pre, got), 0);
    // Saved and loaded like any model, trainable flags included.
    await saveModel(model, join(dir, 'transfer'));
    const back = await loadModel(join(dir, 'transfer'));
    const x = tf.randomUniform([2, 12, 12, 3], 0, 255, 'float32', 3);
    assert.ok(maxDiff(back.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor) < 1e-6);
    assert.deepEqual(back.layers.filter((l) => l.name.startsWith(BACKBONE_PREFIX) && l.countParams() > 0).map((l) => l.trainable), [false, false, true, true]);
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
