// The extension host side of AutoML for VS Code: commands, the Experiments and Datasets views,
// the status bar, the output channel and notifications. Training runs in a worker process
// (see worker/manager.ts); nothing here trains.
import { existsSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import * as vscode from 'vscode';
import { exportModel } from './engine/export';
import { installRuntime } from './engine/install';
import { expectedBackend } from './engine/runtime-probe';
import { experimentsRoot, settings } from './host/config';
import { DatasetTreeProvider, DatasetNode } from './host/dataset-tree';
import { DatasetDiagnostics } from './host/diagnostics';
import { ExperimentNode, ExperimentTreeProvider, TrialNode, formatDuration } from './host/experiment-tree';
import { ExperimentManager } from './worker/manager';
import { registerPanelSerializers } from './host/panels';
import { predictFolder } from './predict/batch';
import { PredictorClient } from './predict/client';
import { type RunningServer, startPredictionServer } from './predict/server';
import { probeBackend } from './worker/client';
import type { BackendPreference, ExperimentSpec, WorkerEvent } from './shared/protocol';
import { ExperimentStore, listExperiments, newExperimentId } from './store/store';

/** Options a caller (a test, another extension) can pass to `automl.trainDataset` instead of answering prompts. */
export interface TrainOptions {
  budgetMinutes?: number;
  backend?: BackendPreference;
  seed?: number;
  imageSize?: number;
  /** Open the training panel (default true). */
  openPanel?: boolean;
}

export interface AutomlApi {
  manager: ExperimentManager;
  experimentsRoot: () => string | undefined;
}

let output: vscode.OutputChannel;

export function activate(context: vscode.ExtensionContext): AutomlApi {
  output = vscode.window.createOutputChannel('AutoML');
  const manager = new ExperimentManager({
    env: { AUTOML_RUNTIME_DIR: runtimeDir(context), AUTOML_CACHE_DIR: join(context.globalStorageUri.fsPath, 'images') },
  });
  const experiments = new ExperimentTreeProvider(experimentsRoot, manager);
  const diagnostics = new DatasetDiagnostics();
  const predictor = new PredictorClient({ env: { AUTOML_RUNTIME_DIR: runtimeDir(context) } });
  const panels = registerPanelSerializers(context, {
    feed: manager,
    predict: (dir, paths) => predictor.predictFiles(dir, paths),
    log: (m) => output.appendLine(m),
  });
  const datasets = new DatasetTreeProvider();
  const status = vscode.window.createStatusBarItem('automl.status', vscode.StatusBarAlignment.Left, 10);
  status.name = 'AutoML';
  const live = new Map<string, { best: number | null; backend?: string; started: number; budget: number; name: string }>();

  const updateStatus = () => {
    const runs = [...live.entries()];
    if (!runs.length) {
      status.hide();
      return;
    }
    const [dir, s] = runs[0];
    const used = (Date.now() - s.started) / 1000;
    const best = s.best === null ? '' : ` · best ${(s.best * 100).toFixed(1)}%`;
    status.text = `$(sync~spin) AutoML ${formatDuration(used)}/${formatDuration(s.budget)}${best}${s.backend ? ` · ${s.backend}` : ''}`;
    status.tooltip = `${s.name}: training (${runs.length} running). Click to open the dashboard.`;
    status.command = { command: 'automl.openDashboard', title: 'Open Dashboard', arguments: [dir] };
    status.show();
  };
  const statusTimer = setInterval(updateStatus, 1000);

  context.subscriptions.push(
    output,
    status,
    diagnostics,
    { dispose: () => clearInterval(statusTimer) },
    { dispose: () => manager.dispose() },
    { dispose: () => predictor.dispose() },
    vscode.window.registerTreeDataProvider('automl.experiments', experiments),
    vscode.window.registerTreeDataProvider('automl.datasets', datasets),
    manager.onAnyEvent((dir, e) => {
      logEvent(dir, e);
      const s = live.get(dir);
      if (s) {
        if (e.type === 'backend') s.backend = e.backend.name;
        if (e.type === 'trialEnded' && e.trial.trainOn === 'TRAIN' && e.trial.bestValAccuracy !== null) {
          s.best = Math.max(s.best ?? 0, e.trial.bestValAccuracy);
        }
      }
      if (e.type !== 'batchProgress' && e.type !== 'log') experiments.refresh();
    }),
    manager.onEnded((dir, exit) => {
      live.delete(dir);
      experiments.refresh();
      updateStatus();
      const store = new ExperimentStore(dir);
      const rec = store.readRecord();
      const name = rec.spec.name;
      if (rec.status === 'done' || rec.status === 'cancelled') {
        const acc = rec.test ? ` — ${rec.test.partition.toLowerCase()} accuracy ${(rec.test.accuracy * 100).toFixed(1)}%` : '';
        void vscode.window.showInformationMessage(`AutoML: ${name} ${rec.status}${acc}`, 'Open Results').then((pick) => {
          if (pick) void vscode.commands.executeCommand('automl.openDashboard', dir);
        });
      } else {
        const why = rec.error ?? (exit?.signal ? `worker killed by ${exit.signal}` : `worker exited with code ${exit?.code}`);
        void vscode.window.showErrorMessage(`AutoML: ${name} ${rec.status}: ${why.split('\n')[0]}`, 'Resume', 'Show Log').then((pick) => {
          if (pick === 'Resume') void vscode.commands.executeCommand('automl.resumeExperiment', dir);
          if (pick === 'Show Log') output.show();
        });
      }
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('automl.experimentsFolder')) experiments.refresh();
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(() => experiments.refresh()),
  );

  const track = (dir: string, spec: ExperimentSpec) => {
    live.set(dir, { best: null, started: Date.now(), budget: spec.budgetMinutes * 60, name: spec.name });
    updateStatus();
    experiments.refresh();
  };

  const requireTrust = (what: string): boolean => {
    if (vscode.workspace.isTrusted) return true;
    void vscode.window.showErrorMessage(
      `AutoML does not ${what} in an untrusted workspace: training runs code on your data. Trust this folder to ${what}.`,
      'Manage Workspace Trust',
    ).then((pick) => pick && vscode.commands.executeCommand('workbench.trust.manage'));
    return false;
  };

  const trainDataset = async (target?: vscode.Uri | DatasetNode | string, opts: TrainOptions = {}) => {
    if (!requireTrust('train')) return undefined;
    const root = experimentsRoot();
    if (!root) {
      void vscode.window.showErrorMessage('AutoML: open a folder first; experiments are stored in it.');
      return undefined;
    }
    let dataset = datasetPath(target);
    if (!dataset) {
      dataset = await pickDataset(datasets);
      if (!dataset) return undefined;
    }
    const cfg = settings();
    // Validation first: problems go to the Problems panel, errors stop here with a clear message.
    let findings;
    try {
      findings = await diagnostics.validate(dataset);
    } catch (e) {
      void vscode.window.showErrorMessage(`AutoML: cannot read ${dataset}: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
    const errors = findings.filter((f) => f.severity === 'error');
    if (errors.length) {
      const first = errors[0];
      const where = `${basename(first.file)}${first.line ? `:${first.line}` : ''}`;
      void vscode.window
        .showErrorMessage(`AutoML: ${basename(dataset)} has ${errors.length} error${errors.length > 1 ? 's' : ''} (first: ${where}: ${first.message})`, 'Show Problems')
        .then((pick) => pick && vscode.commands.executeCommand('workbench.actions.view.problems'));
      return undefined;
    }
    let budget = opts.budgetMinutes;
    if (budget === undefined) {
      budget = await pickBudget(cfg.timeBudgetMinutes, opts.backend ?? cfg.backend, runtimeDir(context));
      if (budget === undefined) return undefined;
    }
    const spec: ExperimentSpec = {
      id: newExperimentId(dataset),
      name: basename(dataset),
      dataset,
      budgetMinutes: budget,
      backend: opts.backend ?? cfg.backend,
      seed: opts.seed ?? cfg.seed,
      imageSize: opts.imageSize ?? cfg.imageSize,
      fit: cfg.imageFit,
      dataMemoryMB: cfg.dataMemoryMB || undefined,
      finalFit: cfg.finalFit === false ? false : undefined,
      tta: cfg.testTimeAugmentation === false ? false : undefined,
      backbone: cfg.backbone.trim() || undefined,
      backboneRange: cfg.backboneInputRange !== 'auto' ? cfg.backboneInputRange : undefined,
      cacheDir: join(context.globalStorageUri.fsPath, 'images'),
      createdAt: new Date().toISOString(),
    };
    const store = ExperimentStore.create(root, spec);
    output.appendLine(`[${spec.id}] starting: ${dataset}, ${budget} min, backend ${spec.backend}`);
    manager.start(store.dir, spec, false);
    track(store.dir, spec);
    if (opts.openPanel !== false) await vscode.commands.executeCommand('automl.openDashboard', store.dir);
    return store.dir;
  };

  const register = (id: string, fn: (...args: never[]) => unknown) => context.subscriptions.push(vscode.commands.registerCommand(id, fn));

  register('automl.trainDataset', trainDataset);
  register('automl.newExperiment', async () => {
    const dataset = await pickDataset(datasets);
    if (dataset) return trainDataset(dataset);
    return undefined;
  });
  register('automl.stopExperiment', async (node?: ExperimentNode | string) => {
    const dir = experimentDir(node) ?? (await pickExperiment(manager, 'running'));
    if (!dir) return;
    manager.stop(dir);
    output.appendLine(`[${basename(dir)}] stop requested: the worker stops after the current batch and keeps the best model`);
  });
  register('automl.resumeExperiment', async (node?: ExperimentNode | string) => {
    if (!requireTrust('train')) return;
    const dir = experimentDir(node) ?? (await pickExperiment(manager, 'resumable'));
    if (!dir) return;
    const rec = new ExperimentStore(dir).readRecord();
    if (manager.isRunning(dir)) return void vscode.window.showInformationMessage(`AutoML: ${rec.spec.name} is already running.`);
    if (rec.secondsUsed >= rec.spec.budgetMinutes * 60) {
      return void vscode.window.showWarningMessage(`AutoML: ${rec.spec.name} has used its ${rec.spec.budgetMinutes}-minute budget.`);
    }
    manager.start(dir, rec.spec, true);
    track(dir, { ...rec.spec, budgetMinutes: rec.spec.budgetMinutes - rec.secondsUsed / 60 });
  });
  register('automl.deleteExperiment', async (node?: ExperimentNode | string) => {
    const dir = experimentDir(node) ?? (await pickExperiment(manager, 'all'));
    if (!dir) return;
    if (manager.isRunning(dir)) return void vscode.window.showWarningMessage('AutoML: stop the experiment before deleting it.');
    const name = basename(dir);
    const ok = await vscode.window.showWarningMessage(`Delete experiment ${name} and its models?`, { modal: true }, 'Delete');
    if (ok !== 'Delete') return;
    rmSync(dir, { recursive: true, force: true });
    experiments.refresh();
  });
  register('automl.revealExperiment', async (node?: ExperimentNode | string) => {
    const dir = experimentDir(node) ?? (await pickExperiment(manager, 'all'));
    if (dir) await vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(join(dir, 'experiment.json')));
  });
  register('automl.openDashboard', async (node?: ExperimentNode | TrialNode | string) => {
    const dir = experimentDir(node) ?? (await pickExperiment(manager, 'all'));
    if (dir) panels.showTraining(dir);
  });
  register('automl.openEvaluation', async (node?: ExperimentNode | string) => {
    const dir = experimentDir(node) ?? (await pickExperiment(manager, 'evaluated'));
    if (dir) panels.showEvaluation(dir);
  });
  register('automl.openPredict', async (node?: ExperimentNode | string) => {
    const dir = experimentDir(node) ?? (await pickExperiment(manager, 'evaluated'));
    if (dir) panels.showPredict(dir);
  });
  register('automl.predictImage', async (uri?: vscode.Uri, uris?: vscode.Uri[]) => {
    if (!requireTrust('predict')) return;
    const files = (uris && uris.length ? uris : uri ? [uri] : []).map((u) => u.fsPath);
    const dir = await pickExperiment(manager, 'evaluated');
    if (!dir) return;
    // A folder: every image under it into a CSV next to it, opened when done.
    if (files.length === 1 && statSync(files[0]).isDirectory()) {
      const folder = files[0];
      const csv = `${folder.replace(/[\\/]+$/, '')}-predictions.csv`;
      const r = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `AutoML: predicting ${basename(folder)}` }, (progress) =>
        predictFolder(predictor, dir, folder, csv, { onProgress: (done, total) => progress.report({ message: `${done}/${total} images` }) }),
      );
      await vscode.window.showTextDocument(vscode.Uri.file(r.csv));
      void vscode.window.showInformationMessage(`AutoML: predicted ${r.images} images${r.failed ? ` (${r.failed} could not be used: see the error column)` : ''}.`);
      return;
    }
    if (files.length) await panels.predictFiles(dir, files);
    else panels.showPredict(dir);
  });
  register('automl.showDataset', async (target?: vscode.Uri | DatasetNode | string) => {
    const dataset = datasetPath(target) ?? (await pickDataset(datasets));
    if (dataset) panels.showDataset(dataset);
  });
  register('automl.showLog', () => output.show());
  register('automl.refresh', () => {
    experiments.refresh();
    datasets.refresh();
  });
  register('automl.validateDataset', async (target?: vscode.Uri | DatasetNode | string) => {
    const dataset = datasetPath(target) ?? (await pickDataset(datasets));
    if (!dataset) return undefined;
    const findings = await diagnostics.validate(dataset);
    const count = (s: string) => findings.filter((f) => f.severity === s).length;
    output.appendLine(`[validate] ${dataset}: ${count('error')} errors, ${count('warning')} warnings`);
    for (const f of findings) output.appendLine(`  ${f.severity}: ${f.file}${f.line ? `:${f.line}` : ''}: ${f.message}`);
    const summary = `AutoML: ${basename(dataset)}: ${count('error')} errors, ${count('warning')} warnings`;
    void (count('error') ? vscode.window.showErrorMessage(summary, 'Show Problems') : vscode.window.showInformationMessage(summary, 'Show Problems')).then(
      (pick) => pick && vscode.commands.executeCommand('workbench.actions.view.problems'),
    );
    return findings;
  });
  register('automl.exportModel', async (node?: ExperimentNode | string, formatArg?: 'tfjs' | 'savedmodel') => {
    const dir = experimentDir(node) ?? (await pickExperiment(manager, 'evaluated'));
    if (!dir) return undefined;
    const format =
      formatArg ??
      (
        await vscode.window.showQuickPick(
          [
            { label: 'TF.js layers model', description: 'model.json + weights, labels, preprocessing; plain @tensorflow/tfjs in a browser or Node', format: 'tfjs' as const },
            { label: 'TensorFlow SavedModel', description: 'for Python TensorFlow / TF Serving; needs `pip install tensorflowjs` (its converter)', format: 'savedmodel' as const },
          ],
          { title: 'AutoML: export format' },
        )
      )?.format;
    if (!format) return undefined;
    const target = await vscode.window.showOpenDialog({
      canSelectFiles: false,
      canSelectFolders: true,
      canSelectMany: false,
      openLabel: 'Export here',
      title: `AutoML: folder for the ${format === 'tfjs' ? 'TF.js model (model.json, weights' : 'SavedModel (saved_model.pb, variables'}, labels.json, preprocessing.json, README)`,
    });
    if (!target?.[0]) return undefined;
    const outDir = join(target[0].fsPath, `${basename(dir)}-${format}`);
    try {
      const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `AutoML: exporting ${basename(dir)} (${format})` }, () =>
        exportModel(new ExperimentStore(dir), outDir, format, { onOutput: (line) => output.appendLine(`[export] ${line}`) }),
      );
      void vscode.window.showInformationMessage(`AutoML: exported the model to ${outDir}`, 'Reveal').then(
        (pick) => pick && vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(join(outDir, 'README.md'))),
      );
      return result.dir;
    } catch (e) {
      void vscode.window.showErrorMessage(`AutoML: export failed: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  });
  register('automl.installGpuRuntime', async () => {
    if (!requireTrust('install a runtime')) return undefined;
    const dir = runtimeDir(context);
    return vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'AutoML: installing the native TensorFlow runtime', cancellable: true },
      async (progress, token) => {
        const abort = new AbortController();
        token.onCancellationRequested(() => abort.abort());
        output.appendLine(`[runtime] installing into ${dir}`);
        // With automl.backend set to webgpu the runtime is Dawn; otherwise tfjs-node(-gpu), as the machine allows.
        const result = await installRuntime({
          runtimeDir: dir,
          variant: settings().backend === 'webgpu' ? 'webgpu' : 'auto',
          signal: abort.signal,
          onOutput: (line) => {
            output.appendLine(`[runtime] ${line}`);
            progress.report({ message: line.slice(0, 80) });
          },
          verify: async (backend) => {
            progress.report({ message: `verifying ${backend} in a separate process…` });
            const info = await probeBackend(backend, { env: { AUTOML_RUNTIME_DIR: dir } });
            return info.reasons[info.reasons.length - 1];
          },
        });
        output.appendLine(`[runtime] ${result.message}`);
        if (result.ok) void vscode.window.showInformationMessage(`AutoML: ${result.message}`);
        else void vscode.window.showErrorMessage(`AutoML: ${result.message}`, 'Show Log').then((pick) => pick && output.show());
        return result;
      },
    );
  });
  // The prediction server: HTTP in the extension host (127.0.0.1, bearer token), inference in the
  // prediction process. One server at a time, serving the chosen experiment's final model.
  let server: RunningServer | undefined;
  const stopServer = async () => {
    if (!server) return;
    await server.close();
    output.appendLine(`[server] stopped ${server.url}`);
    server = undefined;
    await vscode.commands.executeCommand('setContext', 'automl.serverRunning', false);
  };
  context.subscriptions.push({ dispose: () => void stopServer() });
  register('automl.startServer', async (node?: ExperimentNode | string) => {
    if (!requireTrust('serve models')) return undefined;
    const dir = experimentDir(node) ?? (await pickExperiment(manager, 'evaluated'));
    if (!dir) return undefined;
    await stopServer();
    const name = basename(dir).replace(/[^A-Za-z0-9_.-]+/g, '-');
    server = await startPredictionServer({ models: [{ name, path: dir }], predictor, log: (l) => output.appendLine(`[server] ${l}`) });
    await vscode.commands.executeCommand('setContext', 'automl.serverRunning', true);
    const curl = `curl -s -H "Authorization: Bearer ${server.token}" -d '{"payload":{"image":{"imageBytes":"'"$(base64 -w0 image.png)"'"}}}' ${server.url}/v1/models/${name}:predict`;
    output.appendLine(`[server] serving ${name} on ${server.url} (token in the notification; POST /v1/models/${name}:predict)`);
    void vscode.window.showInformationMessage(`AutoML: serving ${name} on ${server.url} (127.0.0.1 only).`, 'Copy Token', 'Copy curl Example').then((pick) => {
      if (pick === 'Copy Token') void vscode.env.clipboard.writeText(server?.token ?? '');
      if (pick === 'Copy curl Example') void vscode.env.clipboard.writeText(curl);
    });
    return { url: server.url, token: server.token, name };
  });
  register('automl.stopServer', stopServer);

  // A window that reloads finds the workers still training and follows them again.
  const root = experimentsRoot();
  if (root && existsSync(root)) {
    for (const dir of manager.reattach(root)) {
      const rec = new ExperimentStore(dir).readRecord();
      output.appendLine(`[${rec.spec.id}] re-attached to a worker still training`);
      track(dir, { ...rec.spec, budgetMinutes: rec.spec.budgetMinutes - rec.secondsUsed / 60 });
    }
  }
  return { manager, experimentsRoot };
}

export function deactivate(): void {
  // Workers keep training across a window reload; the manager's dispose only stops following.
}

function runtimeDir(context: vscode.ExtensionContext): string {
  return join(context.globalStorageUri.fsPath, 'runtime');
}

function logEvent(dir: string, e: WorkerEvent): void {
  const tag = `[${basename(dir)}]`;
  switch (e.type) {
    case 'log':
      output.appendLine(`${tag} ${e.level === 'info' ? '' : `${e.level}: `}${e.message}`);
      break;
    case 'backend':
      output.appendLine(`${tag} backend ${e.backend.name}: ${e.backend.reasons.join('; ')}`);
      break;
    case 'epochEnded': {
      const r = e.record;
      const v = r.valAccuracy === null ? '' : ` val_acc ${(r.valAccuracy * 100).toFixed(2)}%`;
      output.appendLine(`${tag} ${r.trialId} epoch ${r.epoch}: loss ${r.loss.toFixed(4)}${v} (${Math.round(r.imagesPerSec)} img/s)`);
      break;
    }
    case 'trialEnded':
      output.appendLine(`${tag} ${e.trial.id} ${e.trial.status}${e.trial.error ? `: ${e.trial.error}` : ''}`);
      break;
    case 'error':
      output.appendLine(`${tag} error: ${e.message}`);
      break;
    case 'experimentEnded':
      output.appendLine(`${tag} ${e.experiment.status}${e.experiment.test ? `: ${e.experiment.test.partition} accuracy ${(e.experiment.test.accuracy * 100).toFixed(2)}%` : ''}`);
      break;
    default:
      break;
  }
}

function datasetPath(target: vscode.Uri | DatasetNode | string | undefined): string | undefined {
  if (!target) return undefined;
  if (typeof target === 'string') return target;
  if (target instanceof vscode.Uri) return target.fsPath;
  if (target instanceof DatasetNode) return target.dataset.path;
  return undefined;
}

function experimentDir(node: ExperimentNode | TrialNode | string | undefined): string | undefined {
  if (!node) return undefined;
  if (typeof node === 'string') return node;
  if (node instanceof ExperimentNode) return node.dir;
  if (node instanceof TrialNode) return node.experimentDir;
  return undefined;
}

async function pickDataset(datasets: DatasetTreeProvider): Promise<string | undefined> {
  const found = datasets.list();
  const browse = { label: '$(folder-opened) Browse…', detail: 'A CSV, a folder of class folders, a zip or a folder of IDX files' };
  const pick = await vscode.window.showQuickPick(
    [...found.map((d) => ({ label: d.label, description: d.detail, path: d.path })), browse],
    { title: 'AutoML: dataset to train on', placeHolder: 'Choose a dataset' },
  );
  if (!pick) return undefined;
  if ('path' in pick) return pick.path;
  const uris = await vscode.window.showOpenDialog({ canSelectFiles: true, canSelectFolders: true, canSelectMany: false, openLabel: 'Train on this' });
  return uris?.[0]?.fsPath;
}

async function pickBudget(defaultMinutes: number, backend: BackendPreference, runtime: string): Promise<number | undefined> {
  const expected = backend === 'auto' ? expectedBackend(runtime) : { name: backend, why: 'set in automl.backend' };
  const items: (vscode.QuickPickItem & { minutes?: number })[] = [
    { label: 'Quick', description: '10 minutes', minutes: 10 },
    { label: 'Standard', description: '1 hour', minutes: 60 },
    { label: 'Thorough', description: '8 hours', minutes: 480 },
    { label: `Default`, description: `${defaultMinutes} minutes (automl.timeBudgetMinutes)`, minutes: defaultMinutes },
    { label: 'Custom…', description: 'any number of minutes' },
  ];
  const pick = await vscode.window.showQuickPick(items, {
    title: `AutoML: time budget — backend: ${expected.name} (${expected.why})`,
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

async function pickExperiment(manager: ExperimentManager, which: 'running' | 'resumable' | 'evaluated' | 'all'): Promise<string | undefined> {
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
