import * as assert from 'node:assert/strict';
import { insertAutomlRows } from '../../../src/bench/main';

describe('bench: BENCHMARKS.md', () => {
  it('adds AutoML rows at the end of their table, above the sections that follow', () => {
    const text = ['# Benchmarks', '', '## AutoML on Fashion-MNIST (…)', '| date | x |', '|---|---|', '| d1 | 1 |', '', '## Micro-benchmarks', '| a | b |'].join(
      '\n',
    );
    const out = insertAutomlRows(text, ['| d2 | 2 |', '| d3 | 3 |']).split('\n');
    assert.deepEqual(out.slice(3, 8), ['| date | x |', '|---|---|', '| d1 | 1 |', '| d2 | 2 |', '| d3 | 3 |']);
    assert.equal(out[9], '## Micro-benchmarks');
    assert.throws(() => insertAutomlRows('# nothing', ['| x |']), /no "## AutoML on Fashion-MNIST" table/);
  });
});
