// The status bar item while experiments train: time used of the budget, best validation accuracy
// so far and the backend of the first one; a click opens its dashboard. Ticks once a second.
import * as vscode from 'vscode';
import type { ExperimentSpec, WorkerEvent } from '../shared/protocol';
import { formatDuration } from '../panel-data/host-text';

interface LiveRun {
  best: number | null;
  backend?: string;
  started: number;
  /** Seconds. */
  budget: number;
  name: string;
}

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('automl.status', vscode.StatusBarAlignment.Left, 10);
  private readonly live = new Map<string, LiveRun>();
  private readonly timer = setInterval(() => this.update(), 1000);

  constructor() {
    this.item.name = 'AutoML';
  }

  track(dir: string, spec: ExperimentSpec): void {
    this.live.set(dir, { best: null, started: Date.now(), budget: spec.budgetMinutes * 60, name: spec.name });
    this.update();
  }

  onEvent(dir: string, e: WorkerEvent): void {
    const s = this.live.get(dir);
    if (!s) return;
    if (e.type === 'backend') s.backend = e.backend.name;
    if (e.type === 'trialEnded' && e.trial.trainOn === 'TRAIN' && e.trial.bestValAccuracy !== null) {
      s.best = Math.max(s.best ?? 0, e.trial.bestValAccuracy);
    }
  }

  ended(dir: string): void {
    this.live.delete(dir);
  }

  update(): void {
    const runs = [...this.live.entries()];
    if (!runs.length) {
      this.item.hide();
      return;
    }
    const [dir, s] = runs[0];
    const used = (Date.now() - s.started) / 1000;
    const best = s.best === null ? '' : ` · best ${(s.best * 100).toFixed(1)}%`;
    this.item.text = `$(sync~spin) AutoML ${formatDuration(used)}/${formatDuration(s.budget)}${best}${s.backend ? ` · ${s.backend}` : ''}`;
    this.item.tooltip = `${s.name}: training (${runs.length} running). Click to open the dashboard.`;
    this.item.command = { command: 'automl.openDashboard', title: 'Open Dashboard', arguments: [dir] };
    this.item.show();
  }

  dispose(): void {
    clearInterval(this.timer);
    this.item.dispose();
  }
}
