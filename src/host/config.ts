// The extension's settings, read in one place.
import { isAbsolute, join } from 'node:path';
import * as vscode from 'vscode';
import type { BackendPreference, ExecutorSpec } from '../shared/protocol';

export interface Settings {
  timeBudgetMinutes: number;
  backend: BackendPreference;
  imageSize: number;
  imageFit: 'pad' | 'crop';
  dataMemoryMB: number;
  finalFit: boolean;
  testTimeAugmentation: boolean;
  backbone: string;
  backboneInputRange: 'auto' | '0-255' | '0-1' | '-1-1';
  experimentsFolder: string;
  seed: number;
  gcsPrefixMap: Record<string, string>;
  /** `automl.executor` and `automl.slurm.*`: where trials run. */
  executor: ExecutorSpec;
}

export function settings(): Settings {
  const c = vscode.workspace.getConfiguration('automl');
  return {
    timeBudgetMinutes: c.get<number>('timeBudgetMinutes', 10),
    backend: c.get<BackendPreference>('backend', 'auto'),
    imageSize: c.get<number>('imageSize', 0),
    imageFit: c.get<'pad' | 'crop'>('imageFit', 'pad'),
    dataMemoryMB: c.get<number>('dataMemoryMB', 0),
    finalFit: c.get<boolean>('finalFit', true),
    testTimeAugmentation: c.get<boolean>('testTimeAugmentation', true),
    backbone: c.get<string>('backbone', 'auto'),
    backboneInputRange: c.get<Settings['backboneInputRange']>('backboneInputRange', 'auto'),
    experimentsFolder: c.get<string>('experimentsFolder', '.automl/experiments'),
    seed: c.get<number>('seed', 1),
    gcsPrefixMap: c.get<Record<string, string>>('gcsPrefixMap', {}),
    executor: executorSetting(c),
  };
}

function executorSetting(c: vscode.WorkspaceConfiguration): ExecutorSpec {
  if (c.get<string>('executor', 'local') !== 'slurm') return { kind: 'local' };
  const partition = c.get<string>('slurm.partition', '').trim();
  const gpus = Math.max(0, Math.floor(c.get<number>('slurm.gpusPerTrial', 0)));
  const args = c.get<string[]>('slurm.sbatchArgs', []).filter((a) => typeof a === 'string' && a.trim());
  return {
    kind: 'slurm',
    parallel: Math.max(1, Math.floor(c.get<number>('slurm.parallel', 2))),
    cpusPerTrial: Math.max(1, Math.floor(c.get<number>('slurm.cpusPerTrial', 1))),
    ...(partition ? { partition } : {}),
    ...(gpus ? { gpusPerTrial: gpus } : {}),
    ...(args.length ? { sbatchArgs: args } : {}),
  };
}

/** The experiments folder: the setting, relative to the first workspace folder. Undefined without a folder. */
export function experimentsRoot(): string | undefined {
  const folder = settings().experimentsFolder;
  if (isAbsolute(folder)) return folder;
  const ws = vscode.workspace.workspaceFolders?.[0];
  return ws ? join(ws.uri.fsPath, folder) : undefined;
}
