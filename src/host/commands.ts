// The bodies of the extension's commands. Each takes the Ctx and returns the function that
// `activate` registers under the command's id (package.json `contributes.commands`).
import { rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import * as vscode from 'vscode';
import { type ExportFormat, exportModel as exportFinalModel } from '../engine/model/export';
import { installRuntime } from '../engine/runtime/install';
import { predictFolder } from '../predict/batch';
import type { BackendPreference } from '../shared/protocol';
import { makeSpec } from '../store/spec';
import { ExperimentStore } from '../store/store';
import { probeBackend } from '../worker/client';
import { experimentsRoot, settings } from './config';
import type { Ctx } from './ctx';
import type { DatasetNode } from './dataset-tree';
import type { ExperimentNode, TrialNode } from './experiment-tree';
import { datasetPath, experimentDir, pickBudget, pickDataset, pickExperiment } from './pick';

export type Cmd = (...args: never[]) => unknown;

/** Options a caller (a test, another extension) can pass to `automl.trainDataset` instead of answering prompts. */
export interface TrainOptions {
  budgetMinutes?: number;
  backend?: BackendPreference;
  seed?: number;
  imageSize?: number;
  /** Open the training panel (default true). */
  openPanel?: boolean;
}

export function trainDataset(ctx: Ctx) {
  return async (target?: vscode.Uri | DatasetNode | string, opts: TrainOptions = {}): Promise<string | undefined> => {
    if (!ctx.requireTrust('train')) return undefined;
    const root = experimentsRoot();
    if (!root) {
      void vscode.window.showErrorMessage('AutoML: open a folder first; experiments are stored in it.');
      return undefined;
    }
    let dataset = datasetPath(target);
    if (!dataset) {
      dataset = await pickDataset(ctx.datasets);
      if (!dataset) return undefined;
    }
    const cfg = settings();
    // Validation first: problems go to the Problems panel, errors stop here with a clear message.
    let findings;
    try {
      findings = await ctx.diagnostics.validate(dataset);
    } catch (e) {
      void vscode.window.showErrorMessage(`AutoML: cannot read ${dataset}: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
    const errors = findings.filter((f) => f.severity === 'error');
    if (errors.length) {
      const first = errors[0];
      const where = `${basename(first.file)}${first.line ? `:${first.line}` : ''}`;
      void vscode.window
        .showErrorMessage(
          `AutoML: ${basename(dataset)} has ${errors.length} error${errors.length > 1 ? 's' : ''} (first: ${where}: ${first.message})`,
          'Show Problems',
        )
        .then((pick) => pick && vscode.commands.executeCommand('workbench.actions.view.problems'));
      return undefined;
    }
    let budget = opts.budgetMinutes;
    if (budget === undefined) {
      budget = await pickBudget(cfg.timeBudgetMinutes, opts.backend ?? cfg.backend, ctx.runtimeDir);
      if (budget === undefined) return undefined;
    }
    const spec = makeSpec({
      dataset,
      budgetMinutes: budget,
      backend: opts.backend ?? cfg.backend,
      seed: opts.seed ?? cfg.seed,
      imageSize: opts.imageSize ?? cfg.imageSize,
      fit: cfg.imageFit,
      cacheDir: ctx.cacheDir,
      dataMemoryMB: cfg.dataMemoryMB,
      finalFit: cfg.finalFit,
      tta: cfg.testTimeAugmentation,
      backbone: cfg.backbone,
      backboneRange: cfg.backboneInputRange,
      executor: cfg.executor,
    });
    const store = ExperimentStore.create(root, spec);
    ctx.output.appendLine(`[${spec.id}] starting: ${dataset}, ${budget} min, backend ${spec.backend}`);
    ctx.manager.start(store.dir, spec, false);
    ctx.track(store.dir, spec);
    if (opts.openPanel !== false) await vscode.commands.executeCommand('automl.openDashboard', store.dir);
    return store.dir;
  };
}

export function newExperiment(ctx: Ctx): Cmd {
  const train = trainDataset(ctx);
  return async () => {
    const dataset = await pickDataset(ctx.datasets);
    if (dataset) return train(dataset);
    return undefined;
  };
}

export function stopExperiment(ctx: Ctx): Cmd {
  return async (node?: ExperimentNode | string) => {
    if (!ctx.requireTrust('stop training')) return;
    const dir = experimentDir(node) ?? (await pickExperiment(ctx.manager, 'running'));
    if (!dir) return;
    const refused = ctx.manager.stop(dir);
    if (refused) {
      ctx.output.appendLine(`[${basename(dir)}] ${refused}`);
      void vscode.window.showErrorMessage(`AutoML: ${refused}`);
      return;
    }
    ctx.output.appendLine(`[${basename(dir)}] stop requested: the worker stops after the current batch and keeps the best model`);
  };
}

export function resumeExperiment(ctx: Ctx): Cmd {
  return async (node?: ExperimentNode | string) => {
    if (!ctx.requireTrust('train')) return;
    const dir = experimentDir(node) ?? (await pickExperiment(ctx.manager, 'resumable'));
    if (!dir) return;
    const rec = new ExperimentStore(dir).readRecord();
    if (ctx.manager.isRunning(dir)) return void vscode.window.showInformationMessage(`AutoML: ${rec.spec.name} is already running.`);
    if (rec.secondsUsed >= rec.spec.budgetMinutes * 60) {
      return void vscode.window.showWarningMessage(`AutoML: ${rec.spec.name} has used its ${rec.spec.budgetMinutes}-minute budget.`);
    }
    ctx.manager.start(dir, rec.spec, true);
    ctx.track(dir, { ...rec.spec, budgetMinutes: rec.spec.budgetMinutes - rec.secondsUsed / 60 });
  };
}

export function deleteExperiment(ctx: Ctx): Cmd {
  return async (node?: ExperimentNode | string) => {
    const dir = experimentDir(node) ?? (await pickExperiment(ctx.manager, 'all'));
    if (!dir) return;
    if (ctx.manager.isRunning(dir)) return void vscode.window.showWarningMessage('AutoML: stop the experiment before deleting it.');
    const name = basename(dir);
    const ok = await vscode.window.showWarningMessage(`Delete experiment ${name} and its models?`, { modal: true }, 'Delete');
    if (ok !== 'Delete') return;
    rmSync(dir, { recursive: true, force: true });
    ctx.experiments.refresh();
  };
}

export function revealExperiment(ctx: Ctx): Cmd {
  return async (node?: ExperimentNode | string) => {
    const dir = experimentDir(node) ?? (await pickExperiment(ctx.manager, 'all'));
    if (dir) await vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(join(dir, 'experiment.json')));
  };
}

export function openDashboard(ctx: Ctx): Cmd {
  return async (node?: ExperimentNode | TrialNode | string) => {
    const dir = experimentDir(node) ?? (await pickExperiment(ctx.manager, 'all'));
    if (dir) ctx.panels.showTraining(dir);
  };
}

export function openEvaluation(ctx: Ctx): Cmd {
  return async (node?: ExperimentNode | string) => {
    const dir = experimentDir(node) ?? (await pickExperiment(ctx.manager, 'evaluated'));
    if (dir) ctx.panels.showEvaluation(dir);
  };
}

export function openPredict(ctx: Ctx): Cmd {
  return async (node?: ExperimentNode | string) => {
    if (!ctx.requireTrust('predict')) return;
    const dir = experimentDir(node) ?? (await pickExperiment(ctx.manager, 'evaluated'));
    if (dir) ctx.panels.showPredict(dir);
  };
}

export function predictImage(ctx: Ctx): Cmd {
  return async (uri?: vscode.Uri, uris?: vscode.Uri[]) => {
    if (!ctx.requireTrust('predict')) return;
    const files = (uris && uris.length ? uris : uri ? [uri] : []).map((u) => u.fsPath);
    const dir = await pickExperiment(ctx.manager, 'evaluated');
    if (!dir) return;
    // A folder: every image under it into a CSV next to it, opened when done.
    if (files.length === 1 && statSync(files[0]).isDirectory()) {
      const folder = files[0];
      const csv = `${folder.replace(/[\\/]+$/, '')}-predictions.csv`;
      const r = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `AutoML: predicting ${basename(folder)}` },
        (progress) => predictFolder(ctx.predictor, dir, folder, csv, { onProgress: (done, total) => progress.report({ message: `${done}/${total} images` }) }),
      );
      await vscode.window.showTextDocument(vscode.Uri.file(r.csv));
      void vscode.window.showInformationMessage(
        `AutoML: predicted ${r.images} images${r.failed ? ` (${r.failed} could not be used: see the error column)` : ''}` +
          `${r.unlike ? `; ${r.unlike} look unlike the training data: see the ood_warning column` : ''}.`,
      );
      return;
    }
    if (files.length) await ctx.panels.predictFiles(dir, files);
    else ctx.panels.showPredict(dir);
  };
}

export function showDataset(ctx: Ctx): Cmd {
  return async (target?: vscode.Uri | DatasetNode | string) => {
    const dataset = datasetPath(target) ?? (await pickDataset(ctx.datasets));
    if (dataset) ctx.panels.showDataset(dataset);
  };
}

export function validateDataset(ctx: Ctx): Cmd {
  return async (target?: vscode.Uri | DatasetNode | string) => {
    const dataset = datasetPath(target) ?? (await pickDataset(ctx.datasets));
    if (!dataset) return undefined;
    const findings = await ctx.diagnostics.validate(dataset);
    const count = (s: string) => findings.filter((f) => f.severity === s).length;
    ctx.output.appendLine(`[validate] ${dataset}: ${count('error')} errors, ${count('warning')} warnings`);
    for (const f of findings) ctx.output.appendLine(`  ${f.severity}: ${f.file}${f.line ? `:${f.line}` : ''}: ${f.message}`);
    const summary = `AutoML: ${basename(dataset)}: ${count('error')} errors, ${count('warning')} warnings`;
    void (count('error') ? vscode.window.showErrorMessage(summary, 'Show Problems') : vscode.window.showInformationMessage(summary, 'Show Problems')).then(
      (pick) => pick && vscode.commands.executeCommand('workbench.actions.view.problems'),
    );
    return findings;
  };
}

export function showLog(ctx: Ctx): Cmd {
  return () => ctx.output.show();
}

export function refresh(ctx: Ctx): Cmd {
  return () => {
    ctx.experiments.refresh();
    ctx.datasets.refresh();
  };
}

export function exportModel(ctx: Ctx): Cmd {
  return async (node?: ExperimentNode | string, formatArg?: ExportFormat) => {
    const dir = experimentDir(node) ?? (await pickExperiment(ctx.manager, 'evaluated'));
    if (!dir) return undefined;
    const format =
      formatArg ??
      (
        await vscode.window.showQuickPick(
          [
            {
              label: 'TF.js layers model',
              description: 'model.json + weights, labels, preprocessing; plain @tensorflow/tfjs in a browser or Node',
              format: 'tfjs' as const,
            },
            {
              label: 'ONNX model',
              description: 'model.onnx with labels and preprocessing in its metadata; ONNX Runtime in Python, C#, C++, Java, the browser',
              format: 'onnx' as const,
            },
            {
              label: 'TensorFlow SavedModel',
              description: 'for Python TensorFlow / TF Serving; needs `pip install tensorflowjs` (its converter)',
              format: 'savedmodel' as const,
            },
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
      title: `AutoML: folder for the ${format === 'tfjs' ? 'TF.js model (model.json, weights' : format === 'onnx' ? 'ONNX model (model.onnx' : 'SavedModel (saved_model.pb, variables'}, labels.json, preprocessing.json, README)`,
    });
    if (!target?.[0]) return undefined;
    const outDir = join(target[0].fsPath, `${basename(dir)}-${format}`);
    try {
      const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `AutoML: exporting ${basename(dir)} (${format})` },
        () => exportFinalModel(new ExperimentStore(dir), outDir, format, { onOutput: (line) => ctx.output.appendLine(`[export] ${line}`) }),
      );
      void vscode.window
        .showInformationMessage(`AutoML: exported the model to ${outDir}`, 'Reveal')
        .then((pick) => pick && vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(join(outDir, 'README.md'))));
      return result.dir;
    } catch (e) {
      void vscode.window.showErrorMessage(`AutoML: export failed: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  };
}

export function installGpuRuntime(ctx: Ctx): Cmd {
  return async () => {
    if (!ctx.requireTrust('install a runtime')) return undefined;
    const dir = ctx.runtimeDir;
    const output = ctx.output;
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
  };
}
