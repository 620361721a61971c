// The one place an ExperimentSpec is put together, for the CLI (`automl train`) and the
// extension (`automl.trainDataset`). Options left at their defaults are left out of the spec,
// so experiment.json only records what was chosen. No `vscode` import.
import { basename } from 'node:path';
import { newExperimentId } from './store';
import type { BackendPreference, ExperimentSpec } from '../shared/protocol';

export interface SpecOptions {
  /** Absolute path of the dataset. */
  dataset: string;
  budgetMinutes: number;
  backend: BackendPreference;
  seed: number;
  /** 0: chosen from the data. */
  imageSize: number;
  fit: 'pad' | 'crop';
  cacheDir: string;
  multiLabel?: boolean;
  strategy?: ExperimentSpec['strategy'];
  /** 0 or unset: a quarter of RAM. */
  dataMemoryMB?: number;
  finalFit?: boolean;
  tta?: boolean;
  /** Blank or `none`: no backbone; `auto`: chosen from the data (catalogue.ts). */
  backbone?: string;
  backboneRange?: ExperimentSpec['backboneRange'];
  /** Where trials run; unset or local: in the worker. */
  executor?: ExperimentSpec['executor'];
}

/** The spec of a new experiment; its id (time and dataset name) is made unique by `ExperimentStore.create`. */
export function makeSpec(o: SpecOptions, now = new Date()): ExperimentSpec {
  return {
    id: newExperimentId(o.dataset, now),
    name: basename(o.dataset),
    dataset: o.dataset,
    budgetMinutes: o.budgetMinutes,
    backend: o.backend,
    seed: o.seed,
    imageSize: o.imageSize,
    fit: o.fit,
    multiLabel: o.multiLabel === true ? true : undefined,
    cacheDir: o.cacheDir,
    strategy: o.strategy,
    dataMemoryMB: o.dataMemoryMB || undefined,
    finalFit: o.finalFit === false ? false : undefined,
    tta: o.tta === false ? false : undefined,
    backbone: o.backbone?.trim() && o.backbone.trim() !== 'none' ? o.backbone.trim() : undefined,
    backboneRange: o.backboneRange === 'auto' ? undefined : o.backboneRange,
    executor: o.executor && o.executor.kind !== 'local' ? o.executor : undefined,
    createdAt: now.toISOString(),
  };
}
