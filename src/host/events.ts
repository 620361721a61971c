// What the host does with the training workers: their events into the output channel, the status
// bar and the Experiments view; a notification when an experiment ends; and, after a window
// reload, following the workers still training.
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import * as vscode from 'vscode';
import type { WorkerEvent } from '../shared/protocol';
import { endedNotification, epochLine } from '../panel-data/host-text';
import { ExperimentStore } from '../store/store';
import type { WorkerExit } from '../worker/client';
import { experimentsRoot } from './config';
import type { Ctx } from './ctx';

export function onWorkerEvent(ctx: Ctx): (dir: string, e: WorkerEvent) => void {
  return (dir, e) => {
    logEvent(ctx.output, dir, e);
    ctx.status.onEvent(dir, e);
    if (e.type !== 'batchProgress' && e.type !== 'log') ctx.experiments.refresh();
  };
}

export function onWorkerEnded(ctx: Ctx): (dir: string, exit: WorkerExit | undefined) => void {
  return (dir, exit) => {
    ctx.status.ended(dir);
    ctx.experiments.refresh();
    ctx.status.update();
    const rec = new ExperimentStore(dir).readRecord();
    const name = rec.spec.name;
    if (rec.status === 'done' || rec.status === 'cancelled') {
      // "Open Results" goes to the evaluation: the training panel is usually the one on screen already.
      const n = endedNotification(rec);
      void vscode.window.showInformationMessage(n.message, n.action).then((pick) => {
        if (pick) void vscode.commands.executeCommand(n.command, dir);
      });
    } else {
      const why = rec.error ?? (exit?.signal ? `worker killed by ${exit.signal}` : `worker exited with code ${exit?.code}`);
      void vscode.window.showErrorMessage(`AutoML: ${name} ${rec.status}: ${why.split('\n')[0]}`, 'Resume', 'Show Log').then((pick) => {
        if (pick === 'Resume') void vscode.commands.executeCommand('automl.resumeExperiment', dir);
        if (pick === 'Show Log') ctx.output.show();
      });
    }
  };
}

/**
 * A window that reloads finds the workers still training and follows them again. Only in a trusted
 * workspace (it rewrites experiment files, and may later signal the pid a worker.json names);
 * an untrusted one is reattached when it is granted trust.
 */
export function reattachWorkers(ctx: Ctx): void {
  if (!vscode.workspace.isTrusted) return;
  const root = experimentsRoot();
  if (!root || !existsSync(root)) return;
  for (const dir of ctx.manager.reattach(root)) {
    const rec = new ExperimentStore(dir).readRecord();
    ctx.output.appendLine(`[${rec.spec.id}] re-attached to a worker still training`);
    ctx.track(dir, { ...rec.spec, budgetMinutes: rec.spec.budgetMinutes - rec.secondsUsed / 60 });
  }
}

function logEvent(output: vscode.OutputChannel, dir: string, e: WorkerEvent): void {
  const tag = `[${basename(dir)}]`;
  switch (e.type) {
    case 'log':
      output.appendLine(`${tag} ${e.level === 'info' ? '' : `${e.level}: `}${e.message}`);
      break;
    case 'backend':
      output.appendLine(`${tag} backend ${e.backend.name}: ${e.backend.reasons.join('; ')}`);
      break;
    case 'epochEnded':
      output.appendLine(`${tag} ${epochLine(e.record)}`);
      break;
    case 'trialEnded':
      output.appendLine(`${tag} ${e.trial.id} ${e.trial.status}${e.trial.error ? `: ${e.trial.error}` : ''}`);
      break;
    case 'error':
      output.appendLine(`${tag} error: ${e.message}`);
      break;
    case 'experimentEnded':
      output.appendLine(
        `${tag} ${e.experiment.status}${e.experiment.test ? `: ${e.experiment.test.partition} accuracy ${(e.experiment.test.accuracy * 100).toFixed(2)}%` : ''}`,
      );
      break;
    default:
      break;
  }
}
