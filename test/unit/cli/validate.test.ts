// `automl validate` decodes every image by default (issue 21), so a dataset that train would
// refuse (a damaged PNG, a 0-byte file) fails validate too; --quick checks the structure only.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { cleanupTemp, pngBytes, tempDir, write, writePng } from '../data/helpers';

const CLI = path.join(__dirname, '..', '..', '..', 'src', 'cli.js');

function validate(
  dataset: string,
  cache: string,
  ...flags: string[]
): { code: number | null; findings: { code: string; severity: string; message: string }[]; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'validate', dataset, '--json', ...flags], { encoding: 'utf8', env: { ...process.env, AUTOML_CACHE_DIR: cache } });
  const last = r.stdout.trim().split('\n').pop() ?? '{}';
  return {
    code: r.status,
    findings: r.stdout ? (JSON.parse(last) as { findingsList: { code: string; severity: string; message: string }[] }).findingsList : [],
    stderr: r.stderr,
  };
}

describe('cli: validate', function () {
  this.timeout(120_000);
  after(cleanupTemp);

  it('decodes images by default: a damaged PNG and a 0-byte file fail it (exit 1); --quick passes the structure', () => {
    const d = tempDir();
    for (let i = 0; i < 12; i++) {
      writePng(path.join(d, 'data', 'cats', `${i}.png`), 8, 8, 1, i);
      writePng(path.join(d, 'data', 'dogs', `${i}.png`), 8, 8, 1, 50 + i);
    }
    const good = pngBytes(8, 8, 1, 99);
    write(path.join(d, 'data', 'cats', 'damaged.png'), good.subarray(0, good.length - 30));
    write(path.join(d, 'data', 'dogs', 'empty.png'), '');

    const full = validate(path.join(d, 'data'), path.join(d, 'cache'));
    assert.equal(full.code, 1, full.stderr);
    const errors = full.findings.filter((f) => f.severity === 'error');
    assert.deepEqual(errors.map((f) => f.code).sort(), ['corrupt-image', 'empty-file']);
    assert.ok(errors.some((f) => /damaged\.png/.test(f.message)));
    assert.ok(errors.some((f) => /empty\.png/.test(f.message)));

    const quick = validate(path.join(d, 'data'), path.join(d, 'cache'), '--quick');
    assert.equal(quick.code, 0, quick.stderr);
    assert.deepEqual(
      quick.findings.filter((f) => f.severity === 'error'),
      [],
    );
  });
});
