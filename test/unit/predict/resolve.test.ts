import * as assert from 'node:assert/strict';
import '@tensorflow/tfjs-backend-cpu';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePng } from '../../../src/data/png';
import { buildModel } from '../../../src/engine/model/build';
import { saveModel } from '../../../src/engine/model/io';
import { Predictor } from '../../../src/engine/model/predict';
import { resolvePredictionModel } from '../../../src/predict/resolve';
import type { ExperimentSpec, TrialRecord } from '../../../src/shared/protocol';
import { ExperimentStore } from '../../../src/store/store';

const spec: ExperimentSpec = {
  id: 'crashed',
  name: 'x',
  dataset: '/data/x.csv',
  budgetMinutes: 1,
  backend: 'auto',
  seed: 1,
  imageSize: 0,
  fit: 'pad',
  cacheDir: '/tmp/c',
  createdAt: '2026-01-01T00:00:00Z',
};

const trial = (id: string, index: number, acc: number, hasModel: boolean): TrialRecord =>
  ({
    id,
    index,
    config: {},
    origin: 'portfolio',
    status: 'completed',
    rung: 0,
    epochs: 1,
    epochsDone: 1,
    trainOn: 'TRAIN',
    rungScores: [acc],
    bestValAccuracy: acc,
    bestValLoss: 1,
    bestEpoch: 0,
    params: 1,
    memoryEstimate: 1,
    startedAt: '2026-01-01T00:00:00Z',
    hasModel,
  }) as unknown as TrialRecord;

async function saveTinyModel(dir: string): Promise<void> {
  const model = buildModel(
    { family: 'convnet', 'convnet/blocks': 1, 'convnet/filters': 4, 'convnet/convs_per_block': 1, 'convnet/head': 'flatten', 'convnet/dense': 8 },
    { inputShape: [8, 8, 1], numClasses: 2, multiLabel: false, mean: 0, std: 1 },
    1,
  );
  await saveModel(model, dir, { classes: ['cat', 'dog'], multiLabel: false, input: { height: 8, width: 8, channels: 1, fit: 'pad' } });
  model.dispose();
}

describe('the model predict and serve use', function () {
  this.timeout(120_000);
  let root: string;
  beforeEach(() => (root = mkdtempSync(join(tmpdir(), 'automl-resolve-'))));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('falls back to the best trial checkpoint of an experiment with no final model, and says so', async () => {
    const store = ExperimentStore.create(root, { ...spec });
    store.updateRecord({ status: 'running' });
    store.writeTrial(trial('t001', 0, 0.5, true));
    await saveTinyModel(store.modelDir('t001'));
    store.writeTrial(trial('t003', 2, 0.812, true));
    await saveTinyModel(store.modelDir('t003'));
    store.writeTrial(trial('t004', 3, 0.9, false)); // better, but never checkpointed
    assert.throws(() => resolvePredictionModel(join(root, 'nothing')), /no trained model/);

    const r = resolvePredictionModel(store.dir);
    assert.equal(r.dir, store.modelDir('t003'));
    assert.equal(r.note, "no final model; using trial t003's checkpoint (val 81.2 %)");

    const image = join(root, 'a.png');
    writeFileSync(
      image,
      encodePng(
        8,
        8,
        1,
        Uint8Array.from({ length: 64 }, (_, i) => (i * 37) % 256),
      ),
    );
    const p = await Predictor.load(r.dir);
    try {
      const [res] = await p.predictFiles([image], 2);
      assert.equal(res.error, undefined);
      assert.deepEqual(res.scores.map((s) => s.label).sort(), ['cat', 'dog']);
    } finally {
      p.dispose();
    }

    // A final model wins once it exists.
    await saveTinyModel(join(store.dir, 'final', 'model'));
    assert.deepEqual(resolvePredictionModel(store.dir), { dir: join(store.dir, 'final', 'model') });
  });
});
