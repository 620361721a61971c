// The predict panel of one experiment: images picked with the file dialog, dropped or pasted
// into the page, or sent by the "Predict with AutoML Model" command, predicted by the injected
// `predict` dependency (`PredictorClient.predictFiles`, src/predict/client.ts). Only in a trusted
// workspace: the command refuses (commands.ts) and so does every predict request of a restored panel.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type SharpFn from 'sharp';
import * as vscode from 'vscode';
import type { PanelInit, PredictionView, WebviewMethod, WebviewRequests } from '../../shared/protocol';
import { PanelBase, type PanelDeps, RequestError } from './base';
import { experimentName, readPredictData } from '../../panel-data/data';

const IMAGE_EXTENSIONS = ['png', 'jpg', 'jpeg', 'webp', 'gif', 'bmp', 'tif', 'tiff'];
const MAX_BYTES = 25 * 1024 * 1024;
const PREVIEW_SIZE = 160;
const UNTRUSTED = 'AutoML does not predict in an untrusted workspace: prediction runs code on your data. Trust this folder to predict.';

export class PredictPanel extends PanelBase {
  /** Predictions made before the page was ready (sent after `init`). */
  private pending: PredictionView[] = [];

  static createOrShow(deps: PanelDeps, experimentDir: string, column?: vscode.ViewColumn): PredictPanel {
    const open = PanelBase.find<PredictPanel>('predict', experimentDir);
    if (open) {
      open.reveal(column);
      return open;
    }
    const panel = PanelBase.createWebviewPanel('predict', title(experimentDir), deps, [], column);
    return new PredictPanel(panel, deps, experimentDir);
  }

  static revive(panel: vscode.WebviewPanel, deps: PanelDeps, experimentDir: string): PredictPanel {
    return new PredictPanel(panel, deps, experimentDir);
  }

  private constructor(panel: vscode.WebviewPanel, deps: PanelDeps, experimentDir: string) {
    super('predict', experimentDir, panel, deps, []);
    panel.title = title(experimentDir);
  }

  /** Predicts files and shows the results (used by the "Predict with AutoML Model" command). */
  async predictFiles(paths: string[]): Promise<PredictionView[]> {
    const results = await this.predictPaths(paths);
    if (this.live) this.post({ type: 'predictions', results });
    else this.pending.push(...results);
    return results;
  }

  protected async load(): Promise<PanelInit> {
    const data = readPredictData(this.target, !!this.deps.predict);
    if (!vscode.workspace.isTrusted) return { panel: 'predict', data: { ...data, available: false, reason: UNTRUSTED } };
    return { panel: 'predict', data };
  }

  protected afterInit(): void {
    if (this.pending.length) {
      this.post({ type: 'predictions', results: this.pending });
      this.pending = [];
    }
  }

  protected revealTarget(): string {
    return this.target;
  }

  protected async handle(method: WebviewMethod, params: unknown): Promise<unknown> {
    // Before the file dialog or the temporary files: nothing of a predict request runs untrusted.
    if (!vscode.workspace.isTrusted && ['pickImages', 'predictUris', 'predictBytes'].includes(method)) throw new RequestError(UNTRUSTED);
    switch (method) {
      case 'pickImages': {
        const picked = await vscode.window.showOpenDialog({
          canSelectMany: true,
          openLabel: 'Predict',
          title: 'Images to predict',
          filters: { Images: IMAGE_EXTENSIONS },
        });
        if (!picked?.length) return null;
        return this.predictPaths(picked.map((u) => u.fsPath));
      }
      case 'predictUris': {
        const { uris } = params as WebviewRequests['predictUris']['params'];
        const paths = uris
          .map((u) => {
            try {
              return vscode.Uri.parse(u, true);
            } catch {
              return undefined;
            }
          })
          .filter((u): u is vscode.Uri => !!u && u.scheme === 'file' && IMAGE_EXTENSIONS.some((e) => u.path.toLowerCase().endsWith(`.${e}`)))
          .map((u) => u.fsPath);
        if (!paths.length) throw new RequestError('Drop image files (PNG, JPEG, WebP, GIF, BMP or TIFF).');
        return this.predictPaths(paths);
      }
      case 'predictBytes': {
        const { images } = params as WebviewRequests['predictBytes']['params'];
        const dir = mkdtempSync(join(tmpdir(), 'automl-predict-'));
        try {
          const paths = images.slice(0, 50).map((img, i) => {
            const bytes = Buffer.from(img.base64, 'base64');
            if (bytes.length > MAX_BYTES) throw new RequestError(`${img.name} is larger than 25 MB.`);
            const safe = basename(img.name).replace(/[^\w.-]+/g, '_') || `image-${i}`;
            const p = join(dir, `${i}-${safe}`);
            writeFileSync(p, bytes);
            return p;
          });
          const results = await this.predictPaths(paths);
          return results.map((r, i) => ({ ...r, name: images[i]?.name ?? r.name, path: images[i]?.name ?? r.path }));
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }
      default:
        throw new RequestError(`The predict panel does not handle "${method}".`);
    }
  }

  private async predictPaths(paths: string[]): Promise<PredictionView[]> {
    // A panel restored with the window (or opened before trust was withdrawn) must not predict either.
    if (!vscode.workspace.isTrusted) throw new RequestError(UNTRUSTED);
    if (!this.deps.predict) throw new RequestError('Prediction is not available in this build.');
    const results = await this.deps.predict(this.target, paths);
    return Promise.all(
      results.map(async (r) => ({
        ...r,
        scores: [...r.scores].sort((a, b) => b.score - a.score),
        name: basename(r.path),
        preview: await preview(r.path),
      })),
    );
  }
}

const title = (dir: string) => `Predict · ${experimentName(dir)}`;

let sharpModule: typeof SharpFn | undefined;
/** A small PNG of the image as a data: URI (the image may lie outside the webview's roots). */
async function preview(path: string): Promise<string | undefined> {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    if (!sharpModule) sharpModule = require('sharp') as typeof SharpFn;
    const png = await sharpModule(path, { pages: 1, failOn: 'none' })
      .rotate()
      .resize({ width: PREVIEW_SIZE, height: PREVIEW_SIZE, fit: 'inside', withoutEnlargement: true })
      .png()
      .toBuffer();
    return `data:image/png;base64,${png.toString('base64')}`;
  } catch {
    return undefined;
  }
}
