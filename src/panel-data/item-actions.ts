// What the evaluation's detail view needs from a dataset item besides its thumbnail: a larger
// picture, and where its file goes when it is relabelled in a class-folder dataset. Pure Node (no
// `vscode`); the host applies the edits (src/host/panels/evaluation-actions.ts).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ImageByteReader } from '../data';
import type { Dataset, DatasetItem } from '../data/types';
import { makeThumbnail } from './thumbnails';

/** Side of the detail view's picture (never enlarged: small images are scaled up, pixelated, by the page). */
export const DETAIL_SIZE = 512;

/** The item's picture as a PNG `data:` URI of at most `size` px; null when it cannot be read. */
export async function itemPreview(item: DatasetItem, size = DETAIL_SIZE): Promise<string | null> {
  const reader = new ImageByteReader();
  try {
    const png = await makeThumbnail(item.ref, reader, size);
    return `data:image/png;base64,${png.toString('base64')}`;
  } catch {
    return null;
  } finally {
    reader.close();
  }
}

/**
 * Where a class-folder dataset's image goes to be labelled `label`: the same path with the class
 * folder (`[partition/]class/…`) renamed. Throws with the reason when it cannot be moved.
 */
export function classFolderMove(dataset: Dataset, item: DatasetItem, label: string): { from: string; to: string; display: string } {
  if (dataset.format !== 'folder' || item.ref.kind !== 'file')
    throw new Error(
      dataset.format === 'zip' || item.ref.kind === 'zip'
        ? `${item.display} lies inside a zip; relabelling it is not supported. Change its folder in the zip, or use a CSV.`
        : `Relabelling ${dataset.format.toUpperCase()} datasets from the panel is not supported.`,
    );
  const parts = item.display.split('/');
  const old = item.labels[0];
  const idx = parts.length >= 3 && parts[1] === old ? 1 : parts[0] === old ? 0 : -1;
  if (idx < 0 || idx === parts.length - 1) throw new Error(`${item.display} is not in a folder named after its class ${old}; move it by hand.`);
  const moved = [...parts];
  moved[idx] = label;
  const display = moved.join('/');
  const to = join(dataset.source, ...moved);
  if (existsSync(to)) throw new Error(`${display} exists already; rename one of the two images first.`);
  return { from: item.ref.path, to, display };
}
