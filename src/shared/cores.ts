// The CPU cores this process may use: a Slurm job's allocation (SLURM_CPUS_PER_TASK) when it runs
// in one, else every logical core. The wasm backend's threads and the image decode pool take this
// many, so that two 1-CPU trial jobs on a 2-core node do not each start two threads.
import { availableParallelism, cpus } from 'node:os';

export function logicalCores(): number {
  try {
    return availableParallelism();
  } catch {
    return Math.max(1, cpus().length);
  }
}

export function allottedCores(env: NodeJS.ProcessEnv = process.env, available: number = logicalCores()): number {
  const slurm = Number(env.SLURM_CPUS_PER_TASK);
  return Number.isInteger(slurm) && slurm > 0 ? slurm : Math.max(1, available);
}
