import * as assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readJsonLines, writeError } from '../../../src/store/files';
import { makeSpec } from '../../../src/store/spec';
import { ExperimentStore, listExperiments, newExperimentId } from '../../../src/store/store';
import type { EpochRecord, ExperimentSpec, TrialRecord } from '../../../src/shared/protocol';

const spec = (id: string, createdAt: string): ExperimentSpec => ({
  id,
  name: 'x',
  dataset: '/data/x.csv',
  budgetMinutes: 1,
  backend: 'auto',
  seed: 1,
  imageSize: 0,
  fit: 'pad',
  cacheDir: '/tmp/c',
  createdAt,
});

describe('experiment store', () => {
  let root: string;
  beforeEach(() => (root = mkdtempSync(join(tmpdir(), 'automl-store-'))));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('creates, updates and lists experiments newest first, leaving no temp files', () => {
    const a = ExperimentStore.create(root, spec('a', '2026-01-01T00:00:00Z'));
    ExperimentStore.create(root, spec('b', '2026-02-01T00:00:00Z'));
    a.updateRecord({ status: 'running', secondsUsed: 12 });
    assert.equal(a.readRecord().secondsUsed, 12);
    assert.deepEqual(
      listExperiments(root).map((e) => e.record.spec.id),
      ['b', 'a'],
    );
    assert.deepEqual(readdirSync(a.dir), ['experiment.json']);
  });

  it('gives two experiments created in the same second two folders (a suffix, not a shared folder)', () => {
    const now = new Date(2026, 10, 22, 9, 5, 7);
    const specs = [0, 1, 2].map(() =>
      makeSpec({ dataset: '/x/digits.csv', budgetMinutes: 1, backend: 'auto', seed: 1, imageSize: 0, fit: 'pad', cacheDir: '/tmp/c' }, now),
    );
    assert.equal(specs[0].id, specs[1].id);
    const stores = specs.map((s) => ExperimentStore.create(root, s));
    assert.deepEqual(
      stores.map((s) => s.dir),
      [join(root, '20261122-090507-digits'), join(root, '20261122-090507-digits-2'), join(root, '20261122-090507-digits-3')],
    );
    assert.deepEqual(
      specs.map((s) => s.id),
      ['20261122-090507-digits', '20261122-090507-digits-2', '20261122-090507-digits-3'],
    );
    assert.deepEqual(
      stores.map((s) => s.readRecord().spec.id),
      specs.map((s) => s.id),
    );
    assert.equal(listExperiments(root).length, 3);
  });

  it('reads a JSON-lines log with a torn last line (a kill mid-write)', () => {
    const s = ExperimentStore.create(root, spec('c', '2026-01-01T00:00:00Z'));
    s.appendEvent({ type: 'log', level: 'info', message: 'one' });
    s.appendEvent({ type: 'batchProgress', trialId: 't', epoch: 1, batch: 1, batches: 2, loss: 1, imagesPerSec: 1 });
    s.appendEvent({ type: 'log', level: 'info', message: 'two' });
    appendFileSync(s.file('events.jsonl'), '{"type":"log","lev');
    const events = s.readEvents();
    // batch progress is not persisted; the torn line is skipped.
    assert.deepEqual(
      events.map((e) => (e.type === 'log' ? e.message : e.type)),
      ['one', 'two'],
    );
    assert.equal(readJsonLines(join(root, 'missing.jsonl')).length, 0);
  });

  it('makes folder-safe experiment ids', () => {
    const id = newExperimentId('/x/My Data (v2).csv', new Date(2026, 10, 22, 9, 5, 7));
    assert.equal(id, '20261122-090507-My-Data-v2');
  });

  it('names the file in a write error and keeps its code; an escaped error marks a running record failed', () => {
    const a = ExperimentStore.create(root, spec('a', '2026-01-01T00:00:00Z'));
    writeFileSync(join(a.dir, 'trials'), 'a file where the trials folder should be');
    const target = join(a.dir, 'trials', 't000', 'trial.json');
    assert.throws(
      () => a.writeTrial({ id: 't000' } as TrialRecord),
      (e: NodeJS.ErrnoException) => {
        assert.match(e.message, /^(Not a directory|.*EEXIST.*) writing /);
        assert.ok(e.message.includes(`writing ${target} (${e.code})`), e.message);
        assert.ok(e.code === 'ENOTDIR' || e.code === 'EEXIST', e.code);
        return true;
      },
    );
    assert.throws(
      () => a.appendHistory({ trialId: 't000' } as EpochRecord),
      (e: Error) => e.message.includes(`writing ${join(a.dir, 'trials', 't000', 'history.jsonl')}`),
    );
    const full = writeError(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }), '/x/experiment.json');
    assert.equal(full.message, 'No space left on device writing /x/experiment.json (ENOSPC)');
    assert.equal((full as NodeJS.ErrnoException).code, 'ENOSPC');
    assert.deepEqual(
      readdirSync(a.dir).filter((f) => f.includes('.tmp-')),
      [],
    );

    a.updateRecord({ status: 'running' });
    assert.equal(a.markFailedIfRunning(full.message), true);
    const rec = a.readRecord();
    assert.equal(rec.status, 'failed');
    assert.equal(rec.error, 'No space left on device writing /x/experiment.json (ENOSPC)');
    assert.equal(a.markFailedIfRunning('again'), false, 'a record that has ended is left as it is');
  });
});
