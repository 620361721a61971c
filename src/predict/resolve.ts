// Which model folder `predict` and `serve` use for a path: a model folder given directly, an
// experiment's final model, or — for an experiment that stopped or crashed before its final model —
// the best trial's checkpoint (with a note saying so).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { bestTrial } from '../search/search';
import { ExperimentStore } from '../store/store';

export interface ResolvedModel {
  /** The folder to load: the path itself, `<experiment>/final/model`, or a trial's `model/`. */
  dir: string;
  /** Set when the model is a fallback (to print on stderr). */
  note?: string;
}

/** The model to predict with, or throws naming where it looked. */
export function resolvePredictionModel(path: string): ResolvedModel {
  if (existsSync(join(path, 'model.json'))) return { dir: path };
  // An ONNX export (a folder with model.onnx, or the file): run by ONNX Runtime when it is installed.
  if (existsSync(join(path, 'model.onnx')) || (path.endsWith('.onnx') && existsSync(path))) return { dir: path };
  const final = join(path, 'final', 'model');
  if (existsSync(join(final, 'model.json'))) return { dir: final };
  if (ExperimentStore.exists(path)) {
    const store = new ExperimentStore(path);
    const trials = store.readTrials().filter((t) => existsSync(join(store.modelDir(t.id), 'model.json')));
    const best = bestTrial(trials);
    if (best) {
      const val = best.bestValAccuracy === null ? '' : ` (val ${(best.bestValAccuracy * 100).toFixed(1)} %)`;
      return { dir: store.modelDir(best.id), note: `no final model; using trial ${best.id}'s checkpoint${val}` };
    }
  }
  throw new Error(`${path}: no trained model (looked for model.json, model.onnx, final/model/model.json and the trials' checkpoints)`);
}
