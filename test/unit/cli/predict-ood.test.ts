// `automl predict` says when an image is unlike the training data: a warning line above its labels,
// the verdict in --json, and the ood_warning column of a folder's CSV.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { buildModel } from '../../../src/engine/model/build';
import { saveModel } from '../../../src/engine/model/io';
import { calibrateScores, trainingImageStats } from '../../../src/eval/ood';
import type { ImagePrediction, OodCalibration } from '../../../src/shared/protocol';
import { cleanupTemp, tempDir, write, writePng } from '../data/helpers';
import { encodePng } from '../../../src/data/png';

const CLI = path.join(__dirname, '..', '..', '..', 'src', 'cli.js');

const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, AUTOML_BACKEND: 'wasm' } });

describe('cli: predict warns about images unlike the training data', function () {
  this.timeout(120_000);
  let d: string;
  let modelDir: string;
  let gray: string;
  let bee: string;
  before(async () => {
    await tf.setBackend('cpu');
    d = tempDir('automl-cli-ood-');
    modelDir = path.join(d, 'model');
    const model = buildModel(
      { family: 'convnet', 'convnet/blocks': 1, 'convnet/filters': 4 },
      { inputShape: [8, 8, 1], numClasses: 2, multiLabel: false, mean: 100, std: 50 },
      1,
    );
    await saveModel(model, modelDir, { classes: ['shirt', 'bag'], multiLabel: false, input: { height: 8, width: 8, channels: 1, fit: 'pad' } });
    model.dispose();
    // Trained on 8×8 gray images; a score threshold far above any score, so only the mismatch checks fire.
    const calibration: OodCalibration = {
      version: 1,
      images: trainingImageStats([{ width: 8, height: 8 }], 1),
      score: calibrateScores([1e6], 'energy', false),
    };
    writeFileSync(path.join(modelDir, 'ood.json'), JSON.stringify(calibration));
    gray = writePng(path.join(d, 'images', 'gray.png'), 8, 8, 1, 3);
    const W = 120;
    const H = 90;
    bee = write(
      path.join(d, 'images', 'bee.png'),
      encodePng(
        W,
        H,
        3,
        Uint8Array.from({ length: W * H * 3 }, (_, i) => [240, 190, 20][i % 3]),
      ),
    );
  });
  after(cleanupTemp);

  it('prints a warning line with the reasons above the labels of the colour photo only', () => {
    const r = cli('predict', modelDir, gray, bee, '--top', '2');
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    const at = lines.indexOf(bee);
    assert.ok(at > 0, r.stdout);
    assert.ok(!lines.slice(0, at).some((l) => l.includes('warning')), 'the gray 8×8 image gets no warning');
    assert.equal(lines[at + 1], '  warning: a colour image, but the model was trained on grayscale images: it sees only the brightness');
    assert.match(lines[at + 2], /^ {2}warning: 120×90 px, far larger than the training images \(8×8 px\)/);
    assert.match(lines[at + 3], /^ +\d+\.\d\d % {2}(shirt|bag)$/);
  });

  it('--json carries the verdict with the score check', () => {
    const r = cli('predict', modelDir, gray, bee, '--json');
    assert.equal(r.status, 0, r.stderr);
    const { predictions } = JSON.parse(r.stdout.trim().split('\n').pop()!) as { predictions: ImagePrediction[] };
    assert.equal(predictions[0].ood?.flagged, false);
    assert.equal(predictions[0].ood?.score?.kind, 'energy');
    assert.equal(predictions[0].ood?.score?.flagged, false);
    assert.equal(predictions[1].ood?.flagged, true);
    assert.equal(predictions[1].ood?.warnings.length, 2);
  });

  it('a folder: the CSV has the ood_warning and ood_score columns and the summary counts the flagged images', () => {
    const csv = path.join(d, 'out.csv');
    const r = cli('predict', modelDir, path.join(d, 'images'), '--out', csv, '--top', '1');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Predicted 2 images \(0 could not be used, 1 unlike the training data: see the ood_warning column\)/);
    const rows = readFileSync(csv, 'utf8').trim().split('\n');
    assert.equal(rows[0], 'path,label_1,score_1,error,ood_warning,ood_score');
    assert.match(
      rows[1],
      /^bee\.png,(shirt|bag),[\d.]+,,"a colour image, but the model was trained on grayscale images: it sees only the brightness; 120×90 px, far larger/,
    );
    assert.match(rows[2], /^gray\.png,(shirt|bag),[\d.]+,,,-?\d+(\.\d+)?$/);
  });
});
