// What the four panels share: the webview set-up (strict CSP, nonce per load, resource roots),
// one panel per target (revealed when asked again), the ready handshake and requests matched to
// responses by id.
//
// retainContextWhenHidden is off: a hidden panel's page is dropped and rebuilt when shown
// again. That is cheap here because every page asks for its whole state (`ready` → `init`),
// keeps its view state with setState, and the training panel's history is on disk.
import { isAbsolute, relative, resolve } from 'node:path';
import * as vscode from 'vscode';
import type { ExperimentFeed } from '../../worker/feed';
import type { HostToWebview, PanelInit, PanelKind, PanelViewState, WebviewMethod, WebviewRequests, WebviewToHost } from '../../shared/protocol';
import type { LoadedDataset } from '../../panel-data/data';
import { makeNonce, panelHtml } from '../../panel-data/html';
import type { ImagePrediction } from '../../shared/protocol';

/** Opens and reads a dataset (the lead wires the data layer; see index.ts `defaultDatasetLoader`). */
export type DatasetLoader = (path: string, options: { seed?: number; multiLabel?: boolean; withStats: boolean }) => Promise<LoadedDataset>;

/** Predicts image files with an experiment's final model (`PredictorClient.predictFiles` in src/predict/client.ts, wired in src/extension.ts). */
export type PredictImages = (experimentDir: string, paths: string[]) => Promise<ImagePrediction[]>;

export interface PanelDeps {
  extensionUri: vscode.Uri;
  feed: ExperimentFeed;
  loadDataset: DatasetLoader;
  /** Absent until prediction is wired: the predict panel then says so. */
  predict?: PredictImages;
  /** Folder for thumbnails of datasets opened outside an experiment (e.g. under globalStorageUri). */
  thumbnailsDir: string;
  /** Opens another panel (filled by `registerPanelSerializers`). */
  openPanel?: (kind: PanelKind, target: string) => void;
  log?: (message: string) => void;
}

export const VIEW_TYPES: Record<PanelKind, string> = {
  dataset: 'automl.dataset',
  training: 'automl.training',
  evaluation: 'automl.evaluation',
  predict: 'automl.predict',
};

export class RequestError extends Error {}

export abstract class PanelBase implements vscode.Disposable {
  private static readonly open = new Map<string, PanelBase>();

  /** The webview has said `ready` and got its `init`: pushes reach it. */
  protected live = false;
  protected viewState: PanelViewState | undefined;
  protected readonly disposables: vscode.Disposable[] = [];
  private disposed = false;

  static key(kind: PanelKind, target: string): string {
    return `${kind}:${resolve(target)}`;
  }

  static find<T extends PanelBase>(kind: PanelKind, target: string): T | undefined {
    return PanelBase.open.get(PanelBase.key(kind, target)) as T | undefined;
  }

  static createWebviewPanel(kind: PanelKind, title: string, deps: PanelDeps, roots: vscode.Uri[], column?: vscode.ViewColumn): vscode.WebviewPanel {
    return vscode.window.createWebviewPanel(
      VIEW_TYPES[kind],
      title,
      { viewColumn: column ?? vscode.ViewColumn.Active, preserveFocus: false },
      { enableScripts: true, enableFindWidget: true, retainContextWhenHidden: false, localResourceRoots: PanelBase.roots(deps, roots) },
    );
  }

  static roots(deps: PanelDeps, extra: vscode.Uri[]): vscode.Uri[] {
    return [vscode.Uri.joinPath(deps.extensionUri, 'dist'), vscode.Uri.joinPath(deps.extensionUri, 'media'), ...extra];
  }

  protected constructor(
    readonly kind: PanelKind,
    readonly target: string,
    readonly panel: vscode.WebviewPanel,
    protected readonly deps: PanelDeps,
    roots: vscode.Uri[],
  ) {
    PanelBase.open.set(PanelBase.key(kind, target), this);
    panel.iconPath = vscode.Uri.joinPath(deps.extensionUri, 'media', 'automl.svg');
    panel.webview.options = { enableScripts: true, localResourceRoots: PanelBase.roots(deps, roots) };
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((m: WebviewToHost) => void this.receive(m)),
      panel.onDidChangeViewState(() => {
        // A hidden page is destroyed (no retained context); it says `ready` again when shown.
        if (!panel.visible) this.live = false;
      }),
    );
    this.reload();
  }

  /** Loads a fresh page (new nonce). */
  protected reload(): void {
    this.live = false;
    const webview = this.panel.webview;
    const dist = vscode.Uri.joinPath(this.deps.extensionUri, 'dist');
    webview.html = panelHtml({
      kind: this.kind,
      title: this.panel.title,
      cspSource: webview.cspSource,
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(dist, 'webview.js')).toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(dist, 'webview.css')).toString(),
      nonce: makeNonce(),
    });
  }

  reveal(column?: vscode.ViewColumn): void {
    this.panel.reveal(column, false);
  }

  /** The panel's whole state for `init` (read from disk each time the page asks). */
  protected abstract load(): Promise<PanelInit>;

  /** Panel-specific requests; the base handles openFile (if `mayOpen` allows), reveal and openPanel. */
  protected handle(method: WebviewMethod, _params: unknown): Promise<unknown> {
    return Promise.reject(new RequestError(`This panel does not handle "${method}".`));
  }

  /** Called after `init` was posted (push what the page needs next). */
  protected afterInit(): void {}

  /** May the page open this file? (Only files the panel showed, or inside its folders.) */
  protected mayOpen(_path: string): boolean {
    return false;
  }

  /** The folder `reveal` shows. */
  protected abstract revealTarget(): string;

  protected post(m: HostToWebview): void {
    if (this.live && !this.disposed) void this.panel.webview.postMessage(m);
  }

  /** Posts even before `init` (loading messages). */
  protected postNow(m: HostToWebview): void {
    if (!this.disposed) void this.panel.webview.postMessage(m);
  }

  /** Sends the state again (e.g. the experiment ended and the evaluation exists now). */
  async refresh(): Promise<void> {
    if (!this.live) return;
    await this.sendInit();
  }

  private async sendInit(): Promise<void> {
    try {
      const init = await this.load();
      if (this.disposed) return;
      await this.panel.webview.postMessage({ type: 'init', ...init } as HostToWebview);
      this.live = true;
      this.afterInit();
    } catch (e) {
      this.deps.log?.(`AutoML panel ${this.kind} ${this.target}: ${(e as Error).stack ?? e}`);
      this.postNow({ type: 'failed', message: (e as Error).message });
    }
  }

  private async receive(m: WebviewToHost): Promise<void> {
    if (!m || typeof m !== 'object') return;
    if (m.type === 'ready') {
      this.live = false;
      await this.sendInit();
      return;
    }
    if (m.type === 'state') {
      this.viewState = m.state;
      return;
    }
    if (m.type !== 'request' || typeof m.id !== 'number') return;
    try {
      const result = await this.dispatch(m.method, m.params);
      this.postNow({ type: 'response', id: m.id, ok: true, result: result ?? null });
    } catch (e) {
      if (!(e instanceof RequestError)) this.deps.log?.(`AutoML panel ${this.kind}: ${m.method} failed: ${(e as Error).stack ?? e}`);
      this.postNow({ type: 'response', id: m.id, ok: false, error: (e as Error).message ?? String(e) });
    }
  }

  private async dispatch<M extends WebviewMethod>(method: M, params: WebviewRequests[M]['params']): Promise<unknown> {
    switch (method) {
      case 'openFile': {
        const p = params as WebviewRequests['openFile']['params'];
        if (typeof p.path !== 'string' || !isAbsolute(p.path) || !this.mayOpen(p.path)) throw new RequestError('This file is not part of the panel.');
        await openFileAt(p.path, p.line, p.column);
        return undefined;
      }
      case 'reveal': {
        const uri = vscode.Uri.file(this.revealTarget());
        const inWorkspace = vscode.workspace.getWorkspaceFolder(uri);
        await vscode.commands.executeCommand(inWorkspace ? 'revealInExplorer' : 'revealFileInOS', uri);
        return undefined;
      }
      case 'openPanel': {
        const p = params as WebviewRequests['openPanel']['params'];
        if (!this.deps.openPanel) throw new RequestError('Panels cannot be opened from here.');
        if (p.kind === 'dataset') throw new RequestError('Use "Show Dataset".');
        this.deps.openPanel(p.kind, this.target);
        return undefined;
      }
      default:
        return this.handle(method, params);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.live = false;
    if (PanelBase.open.get(PanelBase.key(this.kind, this.target)) === this) PanelBase.open.delete(PanelBase.key(this.kind, this.target));
    this.panel.dispose();
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}

export function isInside(child: string, parent: string): boolean {
  const rel = relative(resolve(parent), resolve(child));
  return rel === '' || (!!rel && !rel.startsWith('..') && !isAbsolute(rel));
}

const TEXT_FILE = /\.(csv|tsv|txt|json|jsonl|md)$/i;

/** Opens a text file at a 1-based line/column, anything else (images) with VS Code's default editor. */
export async function openFileAt(path: string, line?: number, column?: number): Promise<void> {
  const uri = vscode.Uri.file(path);
  if (line !== undefined || TEXT_FILE.test(path)) {
    const pos = new vscode.Position(Math.max(0, (line ?? 1) - 1), Math.max(0, (column ?? 1) - 1));
    await vscode.window.showTextDocument(uri, { selection: new vscode.Range(pos, pos), preview: true });
  } else {
    await vscode.commands.executeCommand('vscode.open', uri);
  }
}
