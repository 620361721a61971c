import * as assert from 'node:assert/strict';
import { budgetChoices } from '../../../src/search/plan';
import { expectedBackend } from '../../../src/engine/runtime/probe';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

describe('budget choices', () => {
  it('marks the preset that equals the default instead of listing the same minutes twice', () => {
    const choices = budgetChoices(10);
    assert.deepEqual(
      choices.map((c) => c.minutes),
      [3, 10, 60, 480, undefined],
    );
    assert.equal(new Set(choices.map((c) => c.minutes)).size, choices.length);
    assert.match(choices.find((c) => c.minutes === 10)!.description, /^10 minutes · default \(automl\.timeBudgetMinutes\)$/);
    assert.equal(choices.filter((c) => /default/.test(c.description)).length, 1);
    assert.equal(choices[0].label, 'Try it');
    assert.equal(choices.at(-1)!.label, 'Custom…');
  });

  it('lists a default that no preset has first, as its own row', () => {
    const choices = budgetChoices(25);
    assert.deepEqual(choices[0], { label: 'Default', description: '25 minutes (automl.timeBudgetMinutes)', minutes: 25 });
    assert.deepEqual(
      choices.map((c) => c.minutes),
      [25, 3, 10, 60, 480, undefined],
    );
    assert.ok(!choices.slice(1).some((c) => /default/.test(c.description)));
  });

  it('says why a backend will train without nested brackets (the budget pick shows it in its title)', () => {
    const root = mkdtempSync(join(tmpdir(), 'automl-budget-'));
    try {
      const why = expectedBackend(root).why;
      assert.doesNotMatch(why, /\([^)]*\(/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
