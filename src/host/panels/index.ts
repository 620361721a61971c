// The panels' entry for the extension: `registerPanelSerializers(context, services)` in
// `activate` registers the four webview serializers (panels come back after a reload with their
// view state) and returns the functions the commands call to open panels.
//
//   const panels = registerPanelSerializers(context, { feed: manager, predict: predictImages, log: (m) => output.appendLine(m) });
//   vscode.commands.registerCommand('automl.openDashboard', (dir) => panels.showTraining(dir));
import { join } from 'node:path';
import * as vscode from 'vscode';
import { computeStats, openDataset, validateDataset } from '../../data';
import type { PanelKind, PanelViewState } from '../../shared/protocol';
import { settings } from '../config';
import type { ExperimentFeed } from '../../worker/feed';
import { type DatasetLoader, type PanelDeps, type PredictImages, VIEW_TYPES } from './base';
import { DatasetPanel } from './dataset-panel';
import { EvaluationPanel } from './evaluation-panel';
import { PredictPanel } from './predict-panel';
import { TrainingPanel } from './training-panel';

export type { DatasetLoader, PanelDeps, PredictImages } from './base';
export { DatasetPanel, EvaluationPanel, PredictPanel, TrainingPanel };

export interface PanelServices {
  /** Live worker events and stop (the ExperimentManager). */
  feed: ExperimentFeed;
  /** Predicts image files with an experiment's final model; absent: the predict panel says it is unavailable. */
  predict?: PredictImages;
  /** Dataset reader; default `defaultDatasetLoader` (structure-level validation, no decoding). */
  loadDataset?: DatasetLoader;
  /** Folder for dataset thumbnails; default `<globalStorage>/thumbnails`. */
  thumbnailsDir?: string;
  log?: (message: string) => void;
}

export interface Panels {
  deps: PanelDeps;
  showDataset(datasetPath: string, column?: vscode.ViewColumn): DatasetPanel;
  showTraining(experimentDir: string, column?: vscode.ViewColumn): TrainingPanel;
  showEvaluation(experimentDir: string, column?: vscode.ViewColumn): EvaluationPanel;
  showPredict(experimentDir: string, column?: vscode.ViewColumn): PredictPanel;
  /** Opens the predict panel and predicts these files in it. */
  predictFiles(experimentDir: string, paths: string[]): Promise<void>;
}

/** Reads a dataset with the data layer: structure-level validation, no image decoding. */
export const defaultDatasetLoader: DatasetLoader = async (path, options) => {
  const dataset = await openDataset(path, { seed: options.seed, multiLabel: options.multiLabel, gcsPrefixMap: settings().gcsPrefixMap });
  if (!options.withStats) return { dataset, findings: dataset.findings };
  const result = await validateDataset(dataset, { level: 'structure' });
  return { dataset, stats: computeStats(dataset, result), findings: [...result] };
};

export function registerPanelSerializers(context: vscode.ExtensionContext, services: PanelServices): Panels {
  const deps: PanelDeps = {
    extensionUri: context.extensionUri,
    feed: services.feed,
    predict: services.predict,
    loadDataset: services.loadDataset ?? defaultDatasetLoader,
    thumbnailsDir: services.thumbnailsDir ?? join(context.globalStorageUri.fsPath, 'thumbnails'),
    log: services.log,
  };
  const panels: Panels = {
    deps,
    showDataset: (p, column) => DatasetPanel.createOrShow(deps, p, column),
    showTraining: (dir, column) => TrainingPanel.createOrShow(deps, dir, column),
    showEvaluation: (dir, column) => EvaluationPanel.createOrShow(deps, dir, column),
    showPredict: (dir, column) => PredictPanel.createOrShow(deps, dir, column),
    predictFiles: async (dir, paths) => {
      await PredictPanel.createOrShow(deps, dir).predictFiles(paths);
    },
  };
  deps.openPanel = (kind: PanelKind, target: string) => {
    if (kind === 'training') panels.showTraining(target);
    else if (kind === 'evaluation') panels.showEvaluation(target);
    else if (kind === 'predict') panels.showPredict(target);
    else panels.showDataset(target);
  };
  const revive: Record<PanelKind, (panel: vscode.WebviewPanel, target: string) => void> = {
    dataset: (panel, t) => DatasetPanel.revive(panel, deps, t),
    training: (panel, t) => TrainingPanel.revive(panel, deps, t),
    evaluation: (panel, t) => EvaluationPanel.revive(panel, deps, t),
    predict: (panel, t) => PredictPanel.revive(panel, deps, t),
  };
  for (const kind of Object.keys(VIEW_TYPES) as PanelKind[]) {
    context.subscriptions.push(
      vscode.window.registerWebviewPanelSerializer(VIEW_TYPES[kind], {
        async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: unknown) {
          const s = state as Partial<PanelViewState> | undefined;
          if (!s || typeof s.target !== 'string' || !s.target) {
            // A page that never got its state (closed while loading): nothing to restore.
            panel.dispose();
            return;
          }
          revive[kind](panel, s.target);
        },
      }),
    );
  }
  return panels;
}
