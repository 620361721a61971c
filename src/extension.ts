// The extension host side of AutoML for VS Code: `activate` registers the views, the commands
// (bodies in host/commands.ts) and the handlers of the workers' events (host/events.ts). Training
// runs in a worker process (see worker/manager.ts); nothing here trains.
import * as vscode from 'vscode';
import * as commands from './host/commands';
import { experimentsRoot } from './host/config';
import { Ctx } from './host/ctx';
import { onWorkerEnded, onWorkerEvent, reattachWorkers } from './host/events';
import { serverActions, startServer, stopServer } from './host/server';
import { PRODUCT_VERSION } from './shared/version';
import type { ExperimentManager } from './worker/manager';

export type { TrainOptions } from './host/commands';

export interface AutomlApi {
  manager: ExperimentManager;
  experimentsRoot: () => string | undefined;
  /** The extension's version (package.json). */
  version: string;
}

export function activate(context: vscode.ExtensionContext): AutomlApi {
  const ctx = new Ctx(context);
  const register = (id: string, command: commands.Cmd) => context.subscriptions.push(vscode.commands.registerCommand(id, command));

  context.subscriptions.push(
    vscode.window.registerTreeDataProvider('automl.experiments', ctx.experiments),
    vscode.window.registerTreeDataProvider('automl.datasets', ctx.datasets),
    ctx.manager.onAnyEvent(onWorkerEvent(ctx)),
    ctx.manager.onEnded(onWorkerEnded(ctx)),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('automl.experimentsFolder')) ctx.experiments.refresh();
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(() => {
      reattachWorkers(ctx);
      ctx.experiments.refresh();
    }),
  );

  register('automl.trainDataset', commands.trainDataset(ctx));
  register('automl.newExperiment', commands.newExperiment(ctx));
  register('automl.stopExperiment', commands.stopExperiment(ctx));
  register('automl.resumeExperiment', commands.resumeExperiment(ctx));
  register('automl.deleteExperiment', commands.deleteExperiment(ctx));
  register('automl.revealExperiment', commands.revealExperiment(ctx));
  register('automl.openDashboard', commands.openDashboard(ctx));
  register('automl.openEvaluation', commands.openEvaluation(ctx));
  register('automl.openPredict', commands.openPredict(ctx));
  register('automl.predictImage', commands.predictImage(ctx));
  register('automl.showDataset', commands.showDataset(ctx));
  register('automl.showLog', commands.showLog(ctx));
  register('automl.refresh', commands.refresh(ctx));
  register('automl.validateDataset', commands.validateDataset(ctx));
  register('automl.exportModel', commands.exportModel(ctx));
  register('automl.installGpuRuntime', commands.installGpuRuntime(ctx));
  register('automl.startServer', startServer(ctx));
  register('automl.stopServer', stopServer(ctx));
  register('automl.serverActions', serverActions(ctx));
  context.subscriptions.push({ dispose: () => void stopServer(ctx)() });

  reattachWorkers(ctx);
  return { manager: ctx.manager, experimentsRoot, version: PRODUCT_VERSION };
}

export function deactivate(): void {
  // Workers keep training across a window reload; the manager's dispose only stops following.
}
