// The Slurm benchmark (`npm run bench -- --parts slurm [--budget 5]`): the same search of the sample
// dataset (examples/fashion-sample, no final fit, so the whole budget is search) with the local
// executor, then with the Slurm executor, 2 trials at a time, on the one-node test cluster of
// scripts/slurm/start-test-cluster.sh (this machine's 2 CPUs, 1 per job). The target (issue 23):
// the Slurm run finishes at least 1.6× the trials of the local one in the same budget.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ExperimentStore } from '../store/store';

export interface SlurmBenchDeps {
  root: string;
  minutes: number;
  train: (dataset: string, minutes: number, extra: string[], env: NodeJS.ProcessEnv) => Promise<{ experiment: string; testAccuracy: number | null }>;
  table: (headers: string[], rows: (string | number)[][]) => string;
}

export const SLURM_TARGET = 1.6;

export async function benchSlurm(d: SlurmBenchDeps): Promise<{ text: string; ratio: number }> {
  execFileSync('bash', [join(d.root, 'scripts', 'slurm', 'start-test-cluster.sh')], { stdio: 'inherit' });
  const dataset = join(d.root, 'examples', 'fashion-sample');
  const common = ['--no-final-fit', '--backend', 'wasm', '--backbone', 'none'];
  const runs: { name: string; extra: string[] }[] = [
    { name: 'local (1 worker, all cores)', extra: [] },
    { name: 'slurm --parallel 2 (1 CPU each)', extra: ['--executor', 'slurm', '--parallel', '2'] },
  ];
  const rows: (string | number)[][] = [];
  const counts: number[] = [];
  for (const r of runs) {
    console.log(`  ${r.name}: ${d.minutes} min`);
    // The executor's own poll interval (3 s): a job's end is seen from its outcome file, not at the next poll.
    const res = await d.train(dataset, d.minutes, [...common, ...r.extra], {});
    const trials = new ExperimentStore(res.experiment).readTrials().filter((t) => t.trainOn === 'TRAIN');
    const finished = trials.filter((t) => t.status === 'done');
    const epochs = trials.reduce((s, t) => s + t.epochsDone, 0);
    const best = Math.max(0, ...trials.map((t) => t.bestValAccuracy ?? 0));
    counts.push(finished.length);
    rows.push([
      r.name,
      finished.length,
      trials.filter((t) => t.rung > 0).length,
      epochs.toFixed(1),
      `${(best * 100).toFixed(2)} %`,
      res.testAccuracy === null ? '-' : `${(res.testAccuracy * 100).toFixed(2)} %`,
    ]);
  }
  const ratio = counts[1] / Math.max(1, counts[0]);
  const text =
    d.table(['executor', 'trials done', 'promoted', 'epochs trained', 'best val acc', 'test acc'], rows) +
    `\n\nSlurm / local trials: ${ratio.toFixed(2)}× (target ≥ ${SLURM_TARGET}×: ${ratio >= SLURM_TARGET ? 'met' : 'NOT met'})`;
  return { text, ratio };
}
