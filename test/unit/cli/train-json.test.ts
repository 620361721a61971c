// `train --json` counts the trials from the store: a killed worker sends no leaderboard, yet the
// trials it finished are on disk (issue 21).
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finishedTrials } from '../../../src/cli-train';
import type { ExperimentSpec, TrialRecord, TrialStatus } from '../../../src/shared/protocol';
import { ExperimentStore } from '../../../src/store/store';

const spec: ExperimentSpec = {
  id: 'killed',
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

const trial = (id: string, index: number, status: TrialStatus) =>
  ({ id, index, status, config: {}, trainOn: 'TRAIN', bestValAccuracy: 0.5, hasModel: true }) as unknown as TrialRecord;

describe('cli: train --json trial count', () => {
  let root: string;
  beforeEach(() => (root = mkdtempSync(join(tmpdir(), 'automl-cli-train-'))));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('counts the finished trials in the store, not the events seen, and skips the one the kill cut short', () => {
    const store = ExperimentStore.create(root, { ...spec });
    assert.equal(finishedTrials(store), 0);
    store.writeTrial(trial('t000', 0, 'done'));
    store.writeTrial(trial('t001', 1, 'pruned'));
    store.writeTrial(trial('t002', 2, 'running')); // the worker was killed during this one
    assert.equal(finishedTrials(store), 2);
  });
});
