import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as assert from 'node:assert/strict';
import { makeSpec } from '../../../src/store/spec';
import { PRODUCT_VERSION } from '../../../src/shared/version';

describe('makeSpec', () => {
  const base = { dataset: '/data/flowers.csv', budgetMinutes: 10, backend: 'auto' as const, seed: 1, imageSize: 0, fit: 'pad' as const, cacheDir: '/cache' };
  const now = new Date(2026, 0, 2, 3, 4, 5);

  it('names the experiment after the dataset and stamps id and createdAt with one time', () => {
    const spec = makeSpec(base, now);
    assert.equal(spec.name, 'flowers.csv');
    assert.equal(spec.id, '20260102-030405-flowers');
    assert.equal(spec.createdAt, now.toISOString());
  });

  it('leaves options at their defaults out of the spec', () => {
    const spec = makeSpec({ ...base, multiLabel: false, dataMemoryMB: 0, finalFit: true, tta: true, backbone: '  ', backboneRange: 'auto' }, now);
    const json = JSON.parse(JSON.stringify(spec)) as Record<string, unknown>;
    assert.deepEqual(Object.keys(json).sort(), ['backend', 'budgetMinutes', 'cacheDir', 'createdAt', 'dataset', 'fit', 'id', 'imageSize', 'name', 'seed']);
  });

  it('keeps the options that were chosen', () => {
    const spec = makeSpec(
      { ...base, multiLabel: true, strategy: 'fixed', dataMemoryMB: 512, finalFit: false, tta: false, backbone: ' /m ', backboneRange: '0-1' },
      now,
    );
    assert.equal(spec.multiLabel, true);
    assert.equal(spec.strategy, 'fixed');
    assert.equal(spec.dataMemoryMB, 512);
    assert.equal(spec.finalFit, false);
    assert.equal(spec.tta, false);
    assert.equal(spec.backbone, '/m');
    assert.equal(spec.backboneRange, '0-1');
  });
});

describe('PRODUCT_VERSION', () => {
  it('is package.json’s version', () => {
    assert.match(PRODUCT_VERSION, /^\d+\.\d+\.\d+/);
    assert.equal(PRODUCT_VERSION, (JSON.parse(readFileSync(join(__dirname, '../../../../package.json'), 'utf8')) as { version: string }).version);
  });
});
