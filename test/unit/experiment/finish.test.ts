import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openExperiment } from '../../../src/experiment/context';
import { finish } from '../../../src/experiment/finish';
import { newTrialRecord } from '../../../src/search/search';
import type { ExperimentSpec, WorkerEvent } from '../../../src/shared/protocol';
import { ExperimentStore } from '../../../src/store/store';

describe('the finish phase', () => {
  let root = '';
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'automl-finish-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const spec: ExperimentSpec = {
    id: 'x',
    name: 'x',
    dataset: '/nowhere.csv',
    budgetMinutes: 1,
    backend: 'cpu',
    seed: 1,
    imageSize: 0,
    fit: 'pad',
    cacheDir: '/tmp/c',
    createdAt: '2026-01-01T00:00:00Z',
  };
  const open = (cancelled = false) => {
    const store = ExperimentStore.create(root, spec);
    const events: WorkerEvent[] = [];
    const ctx = openExperiment({ experimentDir: store.dir, spec, resume: false, emit: (e) => events.push(e), isCancelled: () => cancelled });
    return { store, ctx, events };
  };

  it('marks an experiment that ends without a model failed, naming the trials that failed and why, never done', () => {
    const { store, ctx, events } = open();
    const failed = (id: string, error: string) => ({
      ...newTrialRecord({ id, index: 0, config: { family: 'transfer' }, origin: 'portfolio', epochs: 1, startedAt: '' }),
      status: 'failed' as const,
      error,
    });
    store.writeTrial(failed('t001', 'needs about 4.6 GiB even at batch 4, more than the 2.0 GiB available'));
    store.writeTrial(failed('t002', 'out of memory: Cannot enlarge memory'));
    const record = finish(ctx, { best: null, finalModel: undefined, test: undefined });
    assert.equal(record.status, 'failed');
    assert.match(record.error ?? '', /^No model: none of the 2 trials produced one \(t001: needs about 4\.6 GiB.*; t002: out of memory/);
    assert.equal(store.readRecord().status, 'failed');
    assert.ok(events.some((e) => e.type === 'error' && /No model/.test(e.message)));
    assert.ok(events.some((e) => e.type === 'experimentEnded' && e.experiment.status === 'failed'));
  });

  it('keeps a model-less experiment that the user stopped as cancelled, and one with a model as done', () => {
    assert.equal(finish(open(true).ctx, { best: null, finalModel: undefined, test: undefined }).status, 'cancelled');
    rmSync(root, { recursive: true, force: true });
    const record = finish(open().ctx, { best: null, finalModel: { kind: 'trial', trials: ['t001'], valAccuracy: 0.8 }, test: undefined });
    assert.equal(record.status, 'done');
    assert.equal(record.error, undefined);
  });
});
