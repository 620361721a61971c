// The training panel of one experiment: history from the store at open, then live worker events
// (coalesced every 150 ms, batch progress reduced to the latest) from the ExperimentFeed.
import * as vscode from 'vscode';
import type { PanelInit, WebviewMethod, WorkerEvent } from '../../shared/protocol';
import { PanelBase, type PanelDeps, RequestError } from './base';
import { experimentName, readTrainingData } from '../../panel-data/data';

const FLUSH_MS = 150;

export class TrainingPanel extends PanelBase {
  private queue: WorkerEvent[] = [];
  private timer: NodeJS.Timeout | undefined;

  static createOrShow(deps: PanelDeps, experimentDir: string, column?: vscode.ViewColumn): TrainingPanel {
    const open = PanelBase.find<TrainingPanel>('training', experimentDir);
    if (open) {
      open.reveal(column);
      return open;
    }
    const panel = PanelBase.createWebviewPanel('training', title(experimentDir), deps, [vscode.Uri.file(experimentDir)], column);
    return new TrainingPanel(panel, deps, experimentDir);
  }

  static revive(panel: vscode.WebviewPanel, deps: PanelDeps, experimentDir: string): TrainingPanel {
    return new TrainingPanel(panel, deps, experimentDir);
  }

  private constructor(panel: vscode.WebviewPanel, deps: PanelDeps, experimentDir: string) {
    super('training', experimentDir, panel, deps, [vscode.Uri.file(experimentDir)]);
    panel.title = title(experimentDir);
    this.disposables.push(
      deps.feed.onEvent(experimentDir, (e) => this.onEvent(e)),
      { dispose: () => this.timer && clearTimeout(this.timer) },
    );
  }

  protected async load(): Promise<PanelInit> {
    this.queue = [];
    return { panel: 'training', data: readTrainingData(this.target, this.deps.feed.isRunning(this.target)) };
  }

  protected revealTarget(): string {
    return this.target;
  }

  protected mayOpen(): boolean {
    return false;
  }

  protected async handle(method: WebviewMethod): Promise<unknown> {
    if (method !== 'stop') throw new RequestError(`The training panel does not handle "${method}".`);
    if (!vscode.workspace.isTrusted) throw new RequestError('AutoML does not stop training in an untrusted workspace.');
    if (!this.deps.feed.isRunning(this.target)) return { stopped: false };
    const choice = await vscode.window.showWarningMessage(
      'Stop this experiment?',
      { modal: true, detail: 'Training stops within one batch. The best model so far is kept and evaluated on TEST; you can resume later.' },
      'Stop',
    );
    if (choice !== 'Stop') return { stopped: false };
    const refused = this.deps.feed.stop(this.target);
    if (refused) throw new RequestError(refused);
    return { stopped: true };
  }

  private onEvent(e: WorkerEvent): void {
    if (!this.live) return; // the next `init` reads everything from the store
    if (e.type === 'pong' || e.type === 'ready') return;
    if (e.type === 'batchProgress' || e.type === 'dataProgress') {
      const i = this.queue.findIndex((q) => q.type === e.type);
      if (i >= 0) this.queue.splice(i, 1);
    }
    this.queue.push(e);
    if (e.type === 'experimentEnded') this.flush();
    else if (!this.timer) this.timer = setTimeout(() => this.flush(), FLUSH_MS);
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.queue.length) return;
    const events = this.queue;
    this.queue = [];
    this.post({ type: 'events', events });
  }
}

const title = (dir: string) => `Training · ${experimentName(dir)}`;
