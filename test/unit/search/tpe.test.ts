import * as assert from 'node:assert/strict';
import { Asha } from '../../../src/search/asha';
import { buildSpace, configKey, isActive, sampleConfig, validValue } from '../../../src/search/space';
import { type Observation, proposeTpe } from '../../../src/search/tpe';
import { rng } from '../../../src/shared/random';
import type { TrialConfig } from '../../../src/shared/protocol';

const space = buildSpace({ imageSizes: [28], channels: 1, numClasses: 10, separable: true });

/** A synthetic objective: best with resnet and a learning rate near 1e-3. */
function objective(c: TrialConfig): number {
  const lr = c['train/optimizer'] === 'adamw' ? Number(c['train/lr']) : Number(c['train/sgd_lr']) / 50;
  return (c.family === 'resnet' ? 0.5 : 0) + 0.5 * Math.exp(-Math.abs(Math.log10(lr / 1e-3)) * 2);
}

describe('search space', () => {
  it('samples only active, valid parameters', () => {
    const random = rng(3);
    for (let i = 0; i < 200; i++) {
      const c = sampleConfig(space, random);
      for (const p of space) {
        if (p.name in c) {
          assert.ok(isActive(p, c), `${p.name} inactive but set in ${configKey(c)}`);
          assert.ok(validValue(p, c[p.name]), `${p.name}=${c[p.name]} out of range`);
        } else {
          assert.ok(!isActive(p, c), `${p.name} active but missing`);
        }
      }
    }
  });
});

describe('TPE', () => {
  function runTpe(seed: number, n: number): Observation[] {
    const random = rng(seed);
    const obs: Observation[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) {
      const { config } = proposeTpe(space, obs, random, seen);
      seen.add(configKey(config));
      obs.push({ config, score: objective(config) });
    }
    return obs;
  }

  it('is deterministic for a seed', () => {
    assert.deepEqual(
      runTpe(7, 25).map((o) => configKey(o.config)),
      runTpe(7, 25).map((o) => configKey(o.config)),
    );
    assert.notDeepEqual(
      runTpe(7, 10).map((o) => configKey(o.config)),
      runTpe(8, 10).map((o) => configKey(o.config)),
    );
  });

  it('concentrates on the good region better than random sampling', () => {
    let tpeLate = 0;
    let randomLate = 0;
    for (const seed of [1, 2, 3, 4, 5]) {
      const obs = runTpe(seed, 40).slice(20);
      tpeLate += obs.reduce((a, o) => a + o.score, 0) / obs.length;
      const random = rng(seed + 100);
      let s = 0;
      for (let i = 0; i < 20; i++) s += objective(sampleConfig(space, random));
      randomLate += s / 20;
    }
    assert.ok(tpeLate > randomLate + 0.1 * 5, `TPE mean ${tpeLate / 5} vs random ${randomLate / 5}`);
  });

  it('never proposes a config already seen', () => {
    const obs = runTpe(11, 30);
    assert.equal(new Set(obs.map((o) => configKey(o.config))).size, 30);
  });
});

describe('ASHA', () => {
  it('promotes the best third of a rung and starts new trials otherwise', () => {
    const a = new Asha({ minResource: 1, maxResource: 9, eta: 3 });
    assert.deepEqual(a.resources, [1, 3, 9]);
    assert.equal(a.next().kind, 'new');
    a.report('a', 0, 0.5);
    a.report('b', 0, 0.9);
    assert.equal(a.next().kind, 'new');
    a.report('c', 0, 0.7);
    const d = a.next();
    assert.deepEqual(d, { kind: 'promote', trialId: 'b', rung: 1, resource: 3, fromResource: 1 });
    a.markPromoted('b', 0);
    assert.equal(a.next().kind, 'new');
    // Three more at rung 0: the quota becomes 2; the next best (c, 0.7 vs new ones) is promoted.
    a.report('d', 0, 0.1);
    a.report('e', 0, 0.2);
    a.report('f', 0, 0.3);
    const d2 = a.next();
    assert.equal(d2.kind, 'promote');
    assert.equal((d2 as { trialId: string }).trialId, 'c');
  });

  it('retired trials are not promoted', () => {
    const a = new Asha({ minResource: 1, maxResource: 3, eta: 3 });
    a.report('a', 0, 0.9);
    a.report('b', 0, 0.5);
    a.report('c', 0, 0.4);
    a.retire('a');
    assert.equal(a.next().kind, 'new');
  });
});
