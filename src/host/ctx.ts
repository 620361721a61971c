// What every command works with, made once in `activate`: the extension's context, the output
// channel, the experiment manager, the two views, the dataset diagnostics, the prediction
// process, the panels, the status bar and the prediction server while one runs.
import { join } from 'node:path';
import * as vscode from 'vscode';
import { PredictorClient } from '../predict/client';
import type { RunningServer } from '../predict/server';
import type { ExperimentSpec } from '../shared/protocol';
import { ExperimentManager } from '../worker/manager';
import { experimentsRoot } from './config';
import { DatasetTreeProvider } from './dataset-tree';
import { DatasetDiagnostics } from './diagnostics';
import { ExperimentTreeProvider } from './experiment-tree';
import { type Panels, registerPanelSerializers } from './panels';
import { StatusBar } from './status';

export class Ctx {
  readonly output: vscode.OutputChannel;
  readonly manager: ExperimentManager;
  readonly experiments: ExperimentTreeProvider;
  readonly diagnostics: DatasetDiagnostics;
  readonly predictor: PredictorClient;
  readonly panels: Panels;
  readonly datasets: DatasetTreeProvider;
  readonly status: StatusBar;
  /** The prediction server (one at a time), while it runs. */
  server: RunningServer | undefined;

  constructor(readonly extension: vscode.ExtensionContext) {
    this.output = vscode.window.createOutputChannel('AutoML');
    this.manager = new ExperimentManager({ env: { AUTOML_RUNTIME_DIR: this.runtimeDir, AUTOML_CACHE_DIR: this.cacheDir } });
    this.experiments = new ExperimentTreeProvider(experimentsRoot, this.manager);
    this.diagnostics = new DatasetDiagnostics();
    this.predictor = new PredictorClient({ env: { AUTOML_RUNTIME_DIR: this.runtimeDir } });
    this.panels = registerPanelSerializers(extension, {
      feed: this.manager,
      predict: (dir, paths) => this.predictor.predictFiles(dir, paths),
      log: (m) => this.output.appendLine(m),
    });
    this.datasets = new DatasetTreeProvider();
    this.status = new StatusBar();
    extension.subscriptions.push(
      this.output,
      this.status,
      this.diagnostics,
      { dispose: () => this.manager.dispose() },
      { dispose: () => this.predictor.dispose() },
    );
  }

  /** Where `AutoML: Install GPU Runtime` installs the native runtimes. */
  get runtimeDir(): string {
    return join(this.extension.globalStorageUri.fsPath, 'runtime');
  }

  /** The extension's image cache (decoded images, downloaded backbones). */
  get cacheDir(): string {
    return join(this.extension.globalStorageUri.fsPath, 'images');
  }

  /** Shows a training (or resumed, or re-attached) experiment in the status bar and the tree. */
  track(dir: string, spec: ExperimentSpec): void {
    this.status.track(dir, spec);
    this.experiments.refresh();
  }

  /** True in a trusted workspace; otherwise says why not and offers to manage trust. */
  requireTrust(what: string): boolean {
    if (vscode.workspace.isTrusted) return true;
    void vscode.window
      .showErrorMessage(
        `AutoML does not ${what} in an untrusted workspace: training runs code on your data. Trust this folder to ${what}.`,
        'Manage Workspace Trust',
      )
      .then((pick) => pick && vscode.commands.executeCommand('workbench.trust.manage'));
    return false;
  }
}
