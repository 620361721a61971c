// Batch prediction of a folder of images into a CSV: every image under the folder (recursively),
// its top labels with scores, and the reason for any image that could not be used. Runs through
// the prediction process. No `vscode` import.
import { readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { isImagePath } from '../data/paths';
import { oodText } from '../eval/ood';
import type { ImagePrediction } from '../shared/protocol';

export interface FilePredictor {
  predictFiles(model: string, paths: string[], topK?: number): Promise<ImagePrediction[]>;
}

export function listImages(folder: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && isImagePath(p)) out.push(p);
    }
  };
  walk(folder);
  return out;
}

const csvField = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

export interface FolderPrediction {
  csv: string;
  images: number;
  failed: number;
  /** Images flagged as unlike the training data. */
  unlike: number;
}

/**
 * Predicts every image under `folder` and writes `csvPath`: path,label_1,score_1,…,label_k,score_k,error,ood_warning
 * (the reasons the image is unlike the training data, src/eval/ood.ts; empty when none), ood_score.
 */
export async function predictFolder(
  predictor: FilePredictor,
  model: string,
  folder: string,
  csvPath: string,
  opts: { topK?: number; chunk?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<FolderPrediction> {
  const images = listImages(folder);
  if (!images.length) throw new Error(`${folder}: no images (PNG, JPEG, WebP, GIF, BMP, TIFF) in it or below it`);
  const topK = opts.topK ?? 3;
  const chunk = opts.chunk ?? 64;
  const header = ['path', ...Array.from({ length: topK }, (_, i) => [`label_${i + 1}`, `score_${i + 1}`]).flat(), 'error', 'ood_warning', 'ood_score'];
  const rows = [header.join(',')];
  let failed = 0;
  let unlike = 0;
  for (let i = 0; i < images.length; i += chunk) {
    const part = images.slice(i, i + chunk);
    const results = await predictor.predictFiles(model, part, topK);
    results.forEach((r, j) => {
      const cells = [relative(folder, part[j])];
      for (let k = 0; k < topK; k++) cells.push(r.scores[k]?.label ?? '', r.scores[k] ? r.scores[k].score.toFixed(5) : '');
      cells.push(r.error ?? '', oodText(r.ood), r.ood?.score ? String(r.ood.score.value) : '');
      if (r.error) failed++;
      if (r.ood?.flagged) unlike++;
      rows.push(cells.map(csvField).join(','));
    });
    opts.onProgress?.(Math.min(images.length, i + chunk), images.length);
  }
  writeFileSync(csvPath, rows.join('\n') + '\n');
  return { csv: csvPath, images: images.length, failed, unlike };
}
