// The dataset panel: label counts per partition, sample thumbnails per label (made in the
// background and pushed as they come), and validation findings that open the file at the line.
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import * as vscode from 'vscode';
import type { Dataset } from '../../data/types';
import type { PanelInit, WebviewMethod } from '../../shared/protocol';
import { isInside, PanelBase, type PanelDeps, RequestError } from './base';
import { datasetPanelData } from '../../panel-data/data';
import { ThumbnailCache } from '../../panel-data/thumbnails';

export class DatasetPanel extends PanelBase {
  private dataset: Dataset | undefined;
  private findingFiles = new Set<string>();
  private sampleKeys: string[] = [];
  private readonly thumbs: ThumbnailCache;

  static createOrShow(deps: PanelDeps, datasetPath: string, column?: vscode.ViewColumn): DatasetPanel {
    const open = PanelBase.find<DatasetPanel>('dataset', datasetPath);
    if (open) {
      open.reveal(column);
      return open;
    }
    const panel = PanelBase.createWebviewPanel('dataset', `Dataset · ${basename(datasetPath)}`, deps, DatasetPanel.rootsFor(deps, datasetPath), column);
    return new DatasetPanel(panel, deps, datasetPath);
  }

  static revive(panel: vscode.WebviewPanel, deps: PanelDeps, datasetPath: string): DatasetPanel {
    return new DatasetPanel(panel, deps, datasetPath);
  }

  private static thumbDir(deps: PanelDeps, datasetPath: string): string {
    return join(deps.thumbnailsDir, createHash('sha1').update(datasetPath).digest('hex').slice(0, 16));
  }

  private static rootsFor(deps: PanelDeps, datasetPath: string): vscode.Uri[] {
    return [vscode.Uri.file(DatasetPanel.thumbDir(deps, datasetPath))];
  }

  private constructor(panel: vscode.WebviewPanel, deps: PanelDeps, datasetPath: string) {
    super('dataset', datasetPath, panel, deps, DatasetPanel.rootsFor(deps, datasetPath));
    panel.title = `Dataset · ${basename(datasetPath)}`;
    this.thumbs = new ThumbnailCache(DatasetPanel.thumbDir(deps, datasetPath));
    this.disposables.push({ dispose: () => this.thumbs.dispose() });
  }

  protected async load(): Promise<PanelInit> {
    this.postNow({ type: 'loading', message: `Reading ${basename(this.target)}…` });
    try {
      const loaded = await this.deps.loadDataset(this.target, { withStats: true });
      this.dataset = loaded.dataset;
      this.findingFiles = new Set(loaded.findings.map((f) => f.file));
      const data = datasetPanelData(this.target, loaded);
      this.sampleKeys = data.samples.flatMap((s) => s.images.map((img) => img.key));
      return { panel: 'dataset', data };
    } catch (e) {
      this.dataset = undefined;
      const file = (e as { file?: string }).file;
      return {
        panel: 'dataset',
        data: {
          source: this.target,
          title: `Dataset · ${basename(this.target)}`,
          stats: null,
          findings: file ? [{ severity: 'error', code: (e as { code?: string }).code ?? 'dataset-error', message: (e as Error).message, file }] : [],
          samples: [],
          error: (e as Error).message,
        },
      };
    }
  }

  /** Thumbnails of the samples, made after `init` and pushed in batches. */
  protected afterInit(): void {
    const ds = this.dataset;
    if (!ds) return;
    const wanted = this.sampleKeys.map((key) => ({ key, item: ds.items[Number(key)] })).filter((x) => !!x.item);
    const ready: Record<string, string> = {};
    const missing = wanted.filter(({ key, item }) => {
      const f = this.thumbs.existing(item);
      if (f) ready[key] = this.uri(f);
      return !f;
    });
    if (Object.keys(ready).length) this.post({ type: 'images', images: ready });
    void this.thumbs.getMany(missing, (paths) => {
      const images: Record<string, string> = {};
      for (const [k, p] of Object.entries(paths)) images[k] = this.uri(p);
      this.post({ type: 'images', images });
    });
  }

  protected revealTarget(): string {
    return this.target;
  }

  protected mayOpen(path: string): boolean {
    if (this.findingFiles.has(path)) return true;
    let root = this.target;
    try {
      if (!statSync(root).isDirectory()) root = dirname(root);
    } catch {
      root = dirname(root);
    }
    return isInside(path, root);
  }

  protected async handle(method: WebviewMethod): Promise<unknown> {
    throw new RequestError(`The dataset panel does not handle "${method}".`);
  }

  private uri(path: string): string {
    return this.panel.webview.asWebviewUri(vscode.Uri.file(path)).toString();
  }
}
