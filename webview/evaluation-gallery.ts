// The single-label evaluation's gallery: which TEST images a confusion-matrix cell, or an error
// kind (false positives or negatives, of one class or all), selects at the score threshold, most
// confident first, and the tile of each (true label, prediction, score).
import type { Scored } from '../src/eval/metrics';
import { request } from './bridge';
import { imageTile, type Tile } from './common';
import { h } from './dom';

/** What the gallery shows: the scored images and the filter chosen in the panel. */
export interface GallerySelection {
  d: Scored;
  classes: string[];
  /** Each image's top class and its score. */
  pred: Int32Array;
  top: Float32Array;
  threshold: number;
  /** A confusion-matrix cell [true, predicted] (predicted k: below the threshold), or null. */
  cell: [number, number] | null;
  /** The class of the error kind (-1: every class), when no cell is chosen. */
  galleryClass: number;
  galleryMode: 'fp' | 'fn';
}

/** The images the selection picks (most confident first) and a title that says what they are. */
export function galleryRows(g: GallerySelection): { rows: number[]; title: string } {
  const d = g.d;
  const k = d.k;
  const t = g.threshold;
  const out: number[] = [];
  let title: string;
  const covered = (i: number) => g.top[i] >= t;
  if (g.cell) {
    const [r, c] = g.cell;
    for (let i = 0; i < d.n; i++) if (d.labels[i] === r && (c < k ? covered(i) && g.pred[i] === c : !covered(i))) out.push(i);
    title = `True ${g.classes[r]}, ${c < k ? `predicted ${g.classes[c]}` : 'below the threshold'}`;
  } else {
    const gc = g.galleryClass;
    if (g.galleryMode === 'fp') {
      for (let i = 0; i < d.n; i++) if (covered(i) && g.pred[i] !== d.labels[i] && (gc < 0 || g.pred[i] === gc)) out.push(i);
      title = gc < 0 ? 'False positives: wrong predictions' : `False positives of ${g.classes[gc]}: predicted ${g.classes[gc]}, labelled otherwise`;
    } else {
      for (let i = 0; i < d.n; i++) if (!(covered(i) && g.pred[i] === d.labels[i]) && (gc < 0 || d.labels[i] === gc)) out.push(i);
      title =
        gc < 0 ? 'False negatives: images not predicted as their label' : `False negatives of ${g.classes[gc]}: labelled ${g.classes[gc]}, not predicted so`;
    }
  }
  out.sort((a, b) => g.top[b] - g.top[a]);
  return { rows: out, title };
}

/** The tile of image `i`: its true label, its prediction (or none below the threshold) and its score; a click opens it (`onOpen`: in the detail view). */
export function galleryTile(g: GallerySelection, i: number, itemIds: number[], itemNames: Record<string, string>, onOpen?: () => void): Tile {
  const { d, classes } = g;
  const k = d.k;
  const key = String(itemIds[i]);
  const name = itemNames[key] ?? `item ${key}`;
  const y = d.labels[i];
  const c = g.pred[i];
  const isCovered = g.top[i] >= g.threshold;
  const right = isCovered && c === y;
  return imageTile(
    key,
    `${name}: labelled ${classes[y]}, predicted ${isCovered ? classes[c] : 'nothing'} (score ${g.top[i].toFixed(3)})`,
    [
      h('span.tile-line', null, h('span.muted', null, 'true '), classes[y]),
      h(`span.tile-line.${right ? 'good' : 'bad'}`, null, h('span.muted', null, 'pred '), isCovered ? classes[c] : `(${classes[c]})`),
      h('span.tile-line.score', null, g.top[i].toFixed(3), !isCovered ? h('span.muted', null, ' < thr') : null),
    ],
    {
      title: `${name}\nscore ${g.top[i].toFixed(4)}${k > 1 ? ` · true-class score ${d.scores[i * k + y].toFixed(4)}` : ''}`,
      onClick: onOpen ?? (() => void request('openItem', { key })),
      className: right ? 'tile-right' : 'tile-wrong',
    },
  );
}
