// loadModel reads weight files only from the model's own folder (issue 21): a model.json whose
// weightsManifest points at ../… or an absolute path is refused before anything is read.
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, saveModel, weightsFile } from '../../../src/engine/model/io';

describe('engine/model/io: weight paths', () => {
  let root: string;
  let dir: string;
  before(async () => {
    await tf.setBackend('cpu');
    root = mkdtempSync(join(tmpdir(), 'automl-io-'));
    dir = join(root, 'model');
    const model = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [3], units: 2 })] });
    await saveModel(model, dir);
    model.dispose();
    // A file outside the model's folder that a hostile model.json would like read.
    copyFileSync(join(dir, 'weights.bin'), join(root, 'outside.bin'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const withPaths = (paths: string[]): void => {
    const file = join(dir, 'model.json');
    const json = JSON.parse(readFileSync(file, 'utf8')) as tf.io.ModelJSON;
    json.weightsManifest[0].paths = paths;
    writeFileSync(file, JSON.stringify(json));
  };

  it('loads weights that lie in the folder', async () => {
    withPaths(['weights.bin']);
    const m = await loadModel(dir);
    assert.equal(m.countParams(), 8);
    m.dispose();
  });

  for (const bad of ['../outside.bin', '/etc/passwd', 'sub/../../outside.bin', '..\\outside.bin', 'C:\\Windows\\win.ini', '\\\\server\\share\\w.bin', '']) {
    it(`refuses the weights path ${JSON.stringify(bad)}, naming it`, async () => {
      withPaths([bad]);
      await assert.rejects(loadModel(dir), (e: Error) => {
        assert.match(e.message, /model\.json: the weights path ".*" leaves the model's folder; weight files must lie inside it/);
        assert.ok(e.message.includes(JSON.stringify(bad).slice(1, -1).replace(/\\\\/g, '\\')), e.message);
        return true;
      });
    });
  }

  it('weightsFile resolves paths in sub-folders', () => {
    assert.equal(weightsFile(dir, 'shards/group1-shard1of2.bin'), join(dir, 'shards', 'group1-shard1of2.bin'));
  });
});
