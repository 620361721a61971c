// What a command works on when it was not given it: the dataset or experiment a tree node, an
// Explorer URI or a string names, else asked for with a quick pick; and the time budget.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { expectedBackend } from '../engine/runtime/probe';
import { budgetChoices } from '../search/plan';
import type { BackendPreference } from '../shared/protocol';
import { listExperiments } from '../store/store';
import type { ExperimentManager } from '../worker/manager';
import { experimentsRoot } from './config';
import { DatasetNode, type DatasetTreeProvider } from './dataset-tree';
import { ExperimentNode, TrialNode } from './experiment-tree';

export function datasetPath(target: vscode.Uri | DatasetNode | string | undefined): string | undefined {
  if (!target) return undefined;
  if (typeof target === 'string') return target;
  if (target instanceof vscode.Uri) return target.fsPath;
  if (target instanceof DatasetNode) return target.dataset.path;
  return undefined;
}

export function experimentDir(node: ExperimentNode | TrialNode | string | undefined): string | undefined {
  if (!node) return undefined;
  if (typeof node === 'string') return node;
  if (node instanceof ExperimentNode) return node.dir;
  if (node instanceof TrialNode) return node.experimentDir;
  return undefined;
}

export async function pickDataset(datasets: DatasetTreeProvider): Promise<string | undefined> {
  const found = datasets.list();
  const browse = { label: '$(folder-opened) Browse…', detail: 'A CSV, a folder of class folders, a zip or a folder of IDX files' };
  const pick = await vscode.window.showQuickPick([...found.map((d) => ({ label: d.label, description: d.detail, path: d.path })), browse], {
    title: 'AutoML: dataset to train on',
    placeHolder: 'Choose a dataset',
  });
  if (!pick) return undefined;
  if ('path' in pick) return pick.path;
  const uris = await vscode.window.showOpenDialog({ canSelectFiles: true, canSelectFolders: true, canSelectMany: false, openLabel: 'Train on this' });
  return uris?.[0]?.fsPath;
}

export async function pickBudget(defaultMinutes: number, backend: BackendPreference, runtime: string): Promise<number | undefined> {
  const expected = backend === 'auto' ? expectedBackend(runtime) : { name: backend, why: 'set in automl.backend' };
  const items: (vscode.QuickPickItem & { minutes?: number })[] = budgetChoices(defaultMinutes);
  const pick = await vscode.window.showQuickPick(items, {
    title: `AutoML: time budget · backend ${expected.name}: ${expected.why}`,
    placeHolder: 'How long may the search and training take?',
  });
  if (!pick) return undefined;
  if (pick.minutes !== undefined) return pick.minutes;
  const text = await vscode.window.showInputBox({
    title: 'AutoML: time budget in minutes',
    value: String(defaultMinutes),
    validateInput: (v) => (Number(v) > 0 ? undefined : 'A positive number of minutes'),
  });
  return text ? Number(text) : undefined;
}

export async function pickExperiment(manager: ExperimentManager, which: 'running' | 'resumable' | 'evaluated' | 'all'): Promise<string | undefined> {
  const root = experimentsRoot();
  if (!root) return undefined;
  const items = listExperiments(root).filter(({ dir, record }) => {
    switch (which) {
      case 'running':
        return manager.isRunning(dir);
      case 'resumable':
        return ['interrupted', 'cancelled', 'failed'].includes(record.status) && !manager.isRunning(dir);
      case 'evaluated':
        return record.finalModel !== undefined && existsSync(join(dir, 'final', 'model', 'model.json'));
      default:
        return true;
    }
  });
  // One candidate: no need to ask.
  if (items.length === 1 && which !== 'all') return items[0].dir;
  if (!items.length) {
    void vscode.window.showInformationMessage(`AutoML: no ${which === 'all' ? '' : which + ' '}experiments.`);
    return undefined;
  }
  const pick = await vscode.window.showQuickPick(
    items.map(({ dir, record }) => ({ label: record.spec.name, description: `${record.status} · ${record.spec.id}`, dir })),
    { title: 'AutoML: experiment' },
  );
  return pick?.dir;
}
