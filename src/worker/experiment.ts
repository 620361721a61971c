// The worker's entry to one experiment: its phases live in src/experiment/ (see its README.md).
export { type RunContext, dataMemoryBytes, pixelStats, runExperiment } from '../experiment/run';
