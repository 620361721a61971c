// The evaluation's "Likely mislabelled" tab: images whose held-out prediction confidently
// disagrees with their label (confident learning, src/eval/mislabelled.ts), ranked, each tile
// showing its label → the suggested one; a click opens the detail view, where one button
// relabels it as suggested.
import { likelyMislabelled, type MislabelCandidate, type MislabelRanking } from '../src/eval/mislabelled';
import { onHostMessage } from './bridge';
import { ImageBook, imageTile, showGallery, type Tile } from './common';
import { segmented } from './components';
import { h, replaceChildren } from './dom';
import { type DetailSource, ErrorDetail, type ItemEdit } from './error-detail';
import { plural } from './format';

const PAGE = 48;
const TITLE = 'Likely mislabelled';

export class MislabelledView {
  readonly el: HTMLElement;
  private ranking: MislabelRanking = 'margin';
  private limit = PAGE;
  private candidates: MislabelCandidate[] = [];
  private readonly tiles: HTMLElement;
  private readonly summary: HTMLElement;
  /** Its own thumbnails: the matrix tab's gallery forgets the tiles of other galleries when it redraws. */
  readonly images = new ImageBook();

  constructor(
    private readonly src: DetailSource,
    private readonly detail: ErrorDetail,
  ) {
    const p = src.data.predictions!;
    this.summary = h('div.gallery-head');
    this.tiles = h('div.tiles.mislabelled-tiles', { 'aria-live': 'polite' });
    const rank = segmented<MislabelRanking>(
      'Rank by',
      [
        { value: 'margin', label: 'Margin' },
        { value: 'self-confidence', label: 'Lowest score of its label' },
      ],
      this.ranking,
      (v) => {
        this.ranking = v;
        this.limit = PAGE;
        this.compute();
        this.render();
      },
    );
    this.el = h(
      'section.section.mislabelled',
      null,
      h('h2', null, TITLE),
      h(
        'p.mislabelled-about.muted',
        null,
        `Images of ${p.partition} (held out: the final model never trained on them) whose predicted class is confidently another than their label. `,
        'A class counts as confident when its score is at least the average score the model gives that class on the images labelled with it ',
        '(confident learning, Northcutt et al. 2021). Margin: suggested class score minus the label’s score.',
      ),
      h('div.toolbar', null, rank.el),
      this.summary,
      this.tiles,
    );
    this.compute();
    this.render();
  }

  /** How many images are listed (for the tab's badge). */
  get count(): number {
    return this.candidates.length;
  }

  /** A relabel or exclusion done in the detail view: the tile says so. */
  edited(key: string, edit: ItemEdit): void {
    const tile = this.tiles.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (!tile) return;
    tile.classList.add(`tile-${edit.kind}`);
    tile.querySelector('.tile-edit')?.remove();
    tile.querySelector('.tile-caption')?.append(h('span.tile-line.tile-edit', null, edit.kind === 'excluded' ? 'excluded' : `now ${edit.label}`));
  }

  private compute(): void {
    const { d } = this.src;
    this.candidates = likelyMislabelled(d, this.ranking);
  }

  private render(): void {
    const { classes, data } = this.src;
    const images = this.images;
    const p = data.predictions!;
    const n = this.candidates.length;
    replaceChildren(
      this.summary,
      h(
        'span.gallery-title',
        null,
        plural(n, 'image'),
        h(
          'span.muted',
          null,
          ` of ${p.itemIds.length.toLocaleString('en-US')} · ${this.ranking === 'margin' ? 'largest margin' : 'lowest score of its label'} first`,
        ),
      ),
    );
    const entries = this.candidates.map((c) => ({ row: c.index, suggested: c.suggested }));
    const tiles: Tile[] = this.candidates.slice(0, this.limit).map((c, at) => {
      const key = String(p.itemIds[c.index]);
      const name = data.itemNames[key] ?? `item ${key}`;
      const t = imageTile(
        key,
        `${name}: labelled ${classes[c.given]}, likely ${classes[c.suggested]} (score ${c.suggestedScore.toFixed(3)})`,
        [
          h('span.tile-line', null, h('span.muted', null, 'label '), classes[c.given]),
          h('span.tile-line.good', null, h('span.muted', null, '→ '), classes[c.suggested]),
          h('span.tile-line.score', null, c.suggestedScore.toFixed(3), h('span.muted', null, ` vs ${c.selfConfidence.toFixed(3)}`)),
        ],
        {
          title: `${name}\n${classes[c.suggested]} ${c.suggestedScore.toFixed(4)} · its label ${classes[c.given]} ${c.selfConfidence.toFixed(4)}`,
          onClick: () => this.detail.open(entries, at, TITLE),
          className: 'tile-wrong',
        },
      );
      t.el.dataset.key = key;
      const edit = this.detail.edits.get(key);
      if (edit) queueMicrotask(() => this.edited(key, edit));
      return t;
    });
    showGallery(this.tiles, images, {
      tiles,
      total: n,
      page: PAGE,
      empty: `No image of ${p.partition} is confidently predicted as another class than its label.`,
      onMore: () => {
        this.limit += PAGE;
        this.render();
      },
    });
  }
}

/** The detail view and the mislabelled tab of one evaluation, wired so that an edit shows on the tiles. */
export function errorViews(src: DetailSource, previous?: ErrorDetail): { detail: ErrorDetail; mislabelled: MislabelledView } {
  previous?.close();
  unsubscribe?.();
  const holder: { view?: MislabelledView } = {};
  const detail = new ErrorDetail(
    src,
    (key, e) => holder.view?.edited(key, e),
    () => holder.view?.images,
  );
  const view = (holder.view = new MislabelledView(src, detail));
  const own = view.images;
  unsubscribe = onHostMessage((m) => m.type === 'images' && own.add(m.images));
  return { detail, mislabelled: view };
}

let unsubscribe: (() => void) | undefined;
