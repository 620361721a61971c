// `automl train`'s executor flags: Slurm's flags need `--executor slurm`, and a bad value is named.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const CLI = path.join(__dirname, '..', '..', '..', 'src', 'cli.js');

function train(...flags: string[]): { code: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'train', '/nonexistent/dataset', ...flags], { encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr };
}

describe('cli: train --executor', function () {
  this.timeout(60_000);

  it('refuses Slurm flags without --executor slurm, an unknown executor and a bad count, naming the flag', () => {
    const cases: [string[], RegExp][] = [
      [['--parallel', '2'], /--parallel needs --executor slurm/],
      [['--sbatch-arg=--account=lab'], /--sbatch-arg needs --executor slurm/],
      [['--executor', 'kubernetes'], /--executor must be local or slurm \(got 'kubernetes'\)/],
      [['--executor', 'slurm', '--parallel', '0'], /--parallel must be a whole number of at least 1 \(got '0'\)/],
      [['--executor', 'slurm', '--slurm-gpus-per-trial', '1.5'], /--slurm-gpus-per-trial must be a whole number of at least 0/],
    ];
    for (const [flags, message] of cases) {
      const r = train(...flags);
      assert.notEqual(r.code, 0, flags.join(' '));
      assert.match(r.stderr, message, flags.join(' '));
    }
  });

  it('with valid Slurm flags goes on to the dataset (which does not exist here)', () => {
    const r = train('--executor', 'slurm', '--parallel', '3', '--slurm-partition', 'gpu', '--slurm-gpus-per-trial', '1', '--sbatch-arg=--qos=short');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /\/nonexistent\/dataset: no such file or folder/);
  });
});
