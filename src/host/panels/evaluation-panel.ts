// The evaluation panel of one experiment: metrics and per-example scores from `final/`, names
// and thumbnails of the evaluated images from the dataset (thumbnails in `<experiment>/thumbnails`).
import * as vscode from 'vscode';
import type { Dataset } from '../../data/types';
import type { PanelInit, WebviewMethod, WebviewRequests } from '../../shared/protocol';
import { ExperimentStore } from '../../store/store';
import { isInside, openFileAt, PanelBase, type PanelDeps, RequestError } from './base';
import { experimentName, experimentThumbnails, readEvaluationData } from '../../panel-data/data';
import { ThumbnailCache } from '../../panel-data/thumbnails';
import { itemPreview } from '../../panel-data/item-actions';
import { excludeItem, relabelItem, revealItem } from './evaluation-actions';

export class EvaluationPanel extends PanelBase {
  private dataset: Dataset | undefined;
  private datasetTried = false;
  private allowed = new Set<number>();
  private readonly thumbs: ThumbnailCache;

  static createOrShow(deps: PanelDeps, experimentDir: string, column?: vscode.ViewColumn): EvaluationPanel {
    const open = PanelBase.find<EvaluationPanel>('evaluation', experimentDir);
    if (open) {
      open.reveal(column);
      return open;
    }
    const panel = PanelBase.createWebviewPanel('evaluation', title(experimentDir), deps, [vscode.Uri.file(experimentDir)], column);
    return new EvaluationPanel(panel, deps, experimentDir);
  }

  static revive(panel: vscode.WebviewPanel, deps: PanelDeps, experimentDir: string): EvaluationPanel {
    return new EvaluationPanel(panel, deps, experimentDir);
  }

  private constructor(panel: vscode.WebviewPanel, deps: PanelDeps, experimentDir: string) {
    super('evaluation', experimentDir, panel, deps, [vscode.Uri.file(experimentDir)]);
    panel.title = title(experimentDir);
    this.thumbs = new ThumbnailCache(experimentThumbnails(experimentDir));
    this.disposables.push(
      { dispose: () => this.thumbs.dispose() },
      // Opened while the experiment runs: show the evaluation as soon as it exists.
      deps.feed.onEvent(experimentDir, (e) => {
        if (e.type === 'experimentEnded') void this.refresh();
      }),
    );
  }

  protected async load(): Promise<PanelInit> {
    const record = new ExperimentStore(this.target).readRecord();
    if (!this.datasetTried && record.test) {
      this.datasetTried = true;
      this.postNow({ type: 'loading', message: 'Reading the evaluation and the dataset…' });
      try {
        const loaded = await this.deps.loadDataset(record.spec.dataset, { seed: record.spec.seed, multiLabel: record.spec.multiLabel, withStats: false });
        this.dataset = loaded.dataset;
      } catch (e) {
        this.deps.log?.(`AutoML evaluation: cannot read the dataset ${record.spec.dataset}: ${(e as Error).message}`);
      }
    }
    const data = readEvaluationData(this.target, this.dataset);
    this.allowed = new Set(data.predictions?.itemIds ?? []);
    return { panel: 'evaluation', data };
  }

  protected revealTarget(): string {
    return this.target;
  }

  protected mayOpen(path: string): boolean {
    return isInside(path, this.target);
  }

  protected async handle(method: WebviewMethod, params: unknown): Promise<unknown> {
    if (method === 'thumbnails') return this.thumbnails((params as WebviewRequests['thumbnails']['params']).keys);
    if (method === 'itemImage' || method === 'revealItem' || method === 'relabelItem' || method === 'excludeItem') return this.itemAction(method, params);
    if (method === 'openItem') {
      const it = this.item((params as WebviewRequests['openItem']['params']).key);
      if (!it) throw new RequestError('The dataset could not be read, so this image cannot be opened.');
      if (it.ref.kind !== 'file')
        throw new RequestError(`${it.display} lies inside ${it.ref.kind === 'zip' ? it.ref.zip : it.ref.file}; it cannot be opened on its own.`);
      await openFileAt(it.ref.path);
      return undefined;
    }
    throw new RequestError(`The evaluation panel does not handle "${method}".`);
  }

  /** The detail view's picture and its actions on the dataset (evaluation-actions.ts). */
  private async itemAction(method: 'itemImage' | 'revealItem' | 'relabelItem' | 'excludeItem', params: unknown): Promise<unknown> {
    const p = params as WebviewRequests['relabelItem']['params'];
    const it = this.item(p.key);
    if (!it || !this.dataset) throw new RequestError('The dataset could not be read, so this image cannot be shown or changed.');
    if (method === 'itemImage') return { uri: await itemPreview(it) };
    if (method === 'revealItem') return revealItem(this.dataset, it);
    return method === 'relabelItem' ? relabelItem(this.dataset, it, p.label) : excludeItem(this.dataset, it);
  }

  private item(key: string) {
    const id = Number(key);
    if (!Number.isInteger(id) || !this.allowed.has(id)) return undefined;
    return this.dataset?.items[id];
  }

  /** Answers with the thumbnails that exist; makes the others and pushes them as they come. */
  private thumbnails(keys: string[]): Record<string, string> {
    const out: Record<string, string> = {};
    const missing: { key: string; item: NonNullable<ReturnType<EvaluationPanel['item']>> }[] = [];
    for (const key of keys.slice(0, 500)) {
      const it = this.item(key);
      if (!it) continue;
      const f = this.thumbs.existing(it);
      if (f) out[key] = this.uri(f);
      else missing.push({ key, item: it });
    }
    if (missing.length) {
      void this.thumbs.getMany(missing, (paths) => {
        const images: Record<string, string> = {};
        for (const [k, p] of Object.entries(paths)) images[k] = this.uri(p);
        this.post({ type: 'images', images });
      });
    }
    return out;
  }

  private uri(path: string): string {
    return this.panel.webview.asWebviewUri(vscode.Uri.file(path)).toString();
  }
}

const title = (dir: string) => `Evaluation · ${experimentName(dir)}`;
