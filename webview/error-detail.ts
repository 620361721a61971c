// The evaluation's detail view of one image (a gallery error or a likely mislabelled image): the
// picture enlarged (small images pixelated, not blurred), its label, the prediction and score, the
// top 5 classes, where it comes from (file, CSV line), and what can be done about it: open the
// file, reveal its CSV line, relabel it, exclude it. Esc closes; ← → (and ↑ ↓) go to the
// previous and next image of the list it was opened from.
import './error-detail.css';
import type { Scored } from '../src/eval/metrics';
import { topClasses } from '../src/eval/mislabelled';
import type { EvaluationPanelData, ItemEditResult } from '../src/shared/protocol';
import { request } from './bridge';
import type { ImageBook } from './common';
import { button, dropdown } from './components';
import { h, replaceChildren } from './dom';
import { basename } from './format';

/** What the detail view reads: the evaluated images' scores and where each comes from. */
export interface DetailSource {
  data: EvaluationPanelData;
  d: Scored;
  classes: string[];
  images: ImageBook;
}

/** One image of the list the view steps through: its row in the scores, and a suggested label. */
export interface DetailEntry {
  row: number;
  suggested?: number;
}

/** What the user did to an image from this panel (kept while the panel lives). */
export interface ItemEdit {
  kind: 'relabelled' | 'excluded';
  label?: string;
  message: string;
}

const PIXELATE_BELOW = 128;

export class ErrorDetail {
  private entries: DetailEntry[] = [];
  private at = 0;
  private title = '';
  private overlay: HTMLElement | undefined;
  private opener: Element | null = null;
  private readonly large = new Map<string, string | null>();
  /** Edits by item key; the tiles show them too (`onEdit`). */
  readonly edits = new Map<string, ItemEdit>();

  constructor(
    private readonly src: DetailSource,
    private readonly onEdit: (key: string, edit: ItemEdit) => void = () => undefined,
    /** Another book of thumbnails to take the picture from (the mislabelled tab's). */
    private readonly moreImages: () => ImageBook | undefined = () => undefined,
  ) {}

  get isOpen(): boolean {
    return !!this.overlay;
  }

  /** Shows `entries[at]`, stepping through `entries`; `title` says what the list is. */
  open(entries: DetailEntry[], at: number, title: string): void {
    if (!entries.length) return;
    this.entries = entries;
    this.at = Math.max(0, Math.min(entries.length - 1, at));
    this.title = title;
    if (!this.overlay) {
      this.opener = document.activeElement;
      for (const old of document.querySelectorAll('.detail-overlay')) old.remove();
      this.overlay = h('div.detail-overlay');
      this.overlay.addEventListener('mousedown', (e) => {
        if (e.target === this.overlay) this.close();
      });
      this.overlay.addEventListener('keydown', (e) => this.key(e));
      document.body.appendChild(this.overlay);
    }
    this.render();
  }

  close(): void {
    this.overlay?.remove();
    this.overlay = undefined;
    if (this.opener instanceof HTMLElement && this.opener.isConnected) this.opener.focus();
    this.opener = null;
  }

  /** Goes `step` images on (wrapping around). */
  go(step: number): void {
    const n = this.entries.length;
    this.at = (((this.at + step) % n) + n) % n;
    this.render();
  }

  private key(e: KeyboardEvent): void {
    const inField = (e.target as Element | null)?.closest('vscode-dropdown, input, select, textarea');
    if (e.key === 'Escape') {
      // A dropdown open on the page closes first.
      if (inField && (inField as HTMLElement & { open?: boolean }).open) return;
      e.preventDefault();
      this.close();
    } else if (!inField && (e.key === 'ArrowRight' || e.key === 'ArrowDown')) {
      e.preventDefault();
      this.go(1);
    } else if (!inField && (e.key === 'ArrowLeft' || e.key === 'ArrowUp')) {
      e.preventDefault();
      this.go(-1);
    } else if (e.key === 'Tab') this.keepFocus(e);
  }

  /** Tab and Shift+Tab go round the view's controls instead of into the page behind it. */
  private keepFocus(e: KeyboardEvent): void {
    const dialog = this.overlay?.querySelector<HTMLElement>('.detail');
    const items = [...(dialog?.querySelectorAll<HTMLElement>('vscode-button:not([disabled]), vscode-dropdown') ?? [])];
    if (!dialog || !items.length) return;
    const active = document.activeElement;
    if (e.shiftKey && (active === items[0] || active === dialog)) {
      e.preventDefault();
      items[items.length - 1].focus();
    } else if (!e.shiftKey && active === items[items.length - 1]) {
      e.preventDefault();
      items[0].focus();
    }
  }

  private render(): void {
    if (!this.overlay) return;
    const { data, d, classes } = this.src;
    const entry = this.entries[this.at];
    const i = entry.row;
    const k = d.k;
    const key = String(data.predictions!.itemIds[i]);
    const name = data.itemNames[key] ?? `item ${key}`;
    const source = data.itemSources?.[key];
    const y = d.labels[i];
    const top = topClasses(d.scores, i, k, 5);
    const pred = top[0].cls;
    const edit = this.edits.get(key);
    const status = h('div.detail-status', { role: 'status', 'aria-live': 'polite' }, edit ? edit.message : '');

    const picture = h('img.detail-image', { alt: `${name}, labelled ${classes[y]}` }) as HTMLImageElement;
    picture.addEventListener('load', () =>
      picture.classList.toggle('pixelated', picture.naturalWidth < PIXELATE_BELOW && picture.naturalHeight < PIXELATE_BELOW),
    );
    this.showPicture(key, picture);

    const facts = h(
      'dl.detail-facts',
      null,
      h('dt', null, 'Labelled'),
      h('dd.detail-given', null, classes[y], edit?.kind === 'relabelled' ? h('span.detail-edited', null, ` → ${edit.label} (edited)`) : null),
      h('dt', null, 'Predicted'),
      h(`dd.detail-pred.${pred === y ? 'good' : 'bad'}`, null, classes[pred], h('span.muted', null, ` · score ${d.scores[i * k + pred].toFixed(3)}`)),
      h('dt', null, 'Score of its label'),
      h('dd.detail-self', null, d.scores[i * k + y].toFixed(3)),
      entry.suggested !== undefined ? [h('dt', null, 'Suggested label'), h('dd.detail-suggested', null, classes[entry.suggested])] : null,
      h('dt', null, 'Partition'),
      h('dd', null, data.predictions!.partition),
    );
    const best = top[0].score || 1;
    const top5 = h(
      'ol.detail-top5',
      { 'aria-label': 'Top 5 classes' },
      top.map((t) => {
        const fill = h('span.top5-fill');
        fill.style.width = `${Math.max(0, Math.min(100, (t.score / best) * 100)).toFixed(1)}%`;
        return h(
          `li.top5-row${t.cls === y ? '.is-label' : ''}`,
          null,
          h('span.top5-name', null, classes[t.cls]),
          h('span.top5-bar', { 'aria-hidden': 'true' }, fill),
          h('span.top5-score', null, t.score.toFixed(3)),
        );
      }),
    );
    const where = source
      ? h(
          'div.detail-source',
          null,
          source.path ? h('div.detail-path', { title: source.path }, source.path) : null,
          source.line !== undefined ? h('div.detail-line', null, `${basename(source.origin)}, line ${source.line}`) : h('div.muted', null, source.origin),
        )
      : h('div.detail-source.muted', null, 'Where this image comes from is unknown (the dataset could not be read).');

    const actions = this.actions(key, entry, pred, status);
    const dialog = h(
      'div.detail',
      { role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'detail-title', tabindex: '-1' },
      h(
        'div.detail-head',
        null,
        h('h2#detail-title.detail-title', { title: name }, name),
        h('span.detail-pos.muted', null, `${this.at + 1} of ${this.entries.length} · ${this.title}`),
        h(
          'div.detail-nav',
          null,
          button('‹', { appearance: 'icon', ariaLabel: 'Previous image (←)', title: 'Previous image (←)', onClick: () => this.go(-1) }).el,
          button('›', { appearance: 'icon', ariaLabel: 'Next image (→)', title: 'Next image (→)', onClick: () => this.go(1) }).el,
          button('✕', { appearance: 'icon', ariaLabel: 'Close (Esc)', title: 'Close (Esc)', onClick: () => this.close() }).el,
        ),
      ),
      h(
        'div.detail-body',
        null,
        h('div.detail-picture', null, picture),
        h('div.detail-info', null, facts, h('h3', null, 'Top 5'), top5, where, actions, status),
      ),
    );
    replaceChildren(this.overlay, dialog);
    dialog.focus();
  }

  /** The thumbnail at once, the larger picture when the host has made it. */
  private showPicture(key: string, img: HTMLImageElement): void {
    const big = this.large.get(key);
    if (big) {
      img.src = big;
      return;
    }
    const thumb = { key, el: img, setImage: (uri: string) => void (!this.large.get(key) && !img.src && (img.src = uri)) };
    this.src.images.attach(thumb);
    this.moreImages()?.attach(thumb);
    if (this.large.has(key)) return;
    this.large.set(key, null);
    request('itemImage', { key }).then(
      (r) => {
        if (!r?.uri) return;
        this.large.set(key, r.uri);
        if (img.isConnected) img.src = r.uri;
      },
      () => undefined,
    );
  }

  private actions(key: string, entry: DetailEntry, pred: number, status: HTMLElement): HTMLElement {
    const { classes, data } = this.src;
    const source = data.itemSources?.[key];
    const excluded = this.edits.get(key)?.kind === 'excluded';
    const y = this.src.d.labels[entry.row];
    const target = entry.suggested ?? (pred !== y ? pred : (y + 1) % classes.length);
    const pick = dropdown(
      'Relabel as',
      classes.map((c) => ({ value: c, label: c })),
      classes[target],
      () => undefined,
    );
    pick.el.classList.add('detail-relabel-pick');
    const run = (what: string, p: Promise<ItemEditResult>, edit: (r: ItemEditResult) => ItemEdit) => {
      status.classList.remove('error');
      status.textContent = `${what}…`;
      p.then(
        (r) => {
          const e = edit(r);
          this.edits.set(key, e);
          this.onEdit(key, e);
          if (this.overlay && String(data.predictions!.itemIds[this.entries[this.at].row]) === key) this.render();
        },
        (err: Error) => {
          status.classList.add('error');
          status.textContent = err.message;
        },
      );
    };
    const relabel = (label: string) =>
      run(`Relabelling as ${label}`, request('relabelItem', { key, label }), (r) => ({ kind: 'relabelled', label, message: r.message }));
    const csv = source?.format === 'csv';
    return h(
      'div.detail-actions',
      null,
      h(
        'div.detail-buttons',
        null,
        button('Open file', {
          appearance: 'secondary',
          id: 'detail-open',
          disabled: !source?.path,
          title: source?.path ? 'Open the image in VS Code' : 'The image lies inside an archive',
          onClick: () => void request('openItem', { key }).catch((e: Error) => (status.textContent = e.message)),
        }).el,
        button(csv ? 'Reveal CSV line' : 'Reveal file', {
          appearance: 'secondary',
          id: 'detail-reveal',
          disabled: !source || excluded,
          onClick: () => void request('revealItem', { key }).catch((e: Error) => (status.textContent = e.message)),
        }).el,
        entry.suggested !== undefined
          ? button(`Relabel as ${classes[entry.suggested]}`, {
              id: 'detail-accept',
              disabled: excluded,
              onClick: () => relabel(classes[entry.suggested!]),
            }).el
          : null,
      ),
      h(
        'div.detail-buttons',
        null,
        pick.el,
        button('Relabel…', { id: 'detail-relabel', appearance: 'secondary', disabled: excluded, onClick: () => relabel(pick.value()) }).el,
        button('Exclude', {
          id: 'detail-exclude',
          appearance: 'secondary',
          disabled: excluded || !csv,
          title: csv ? 'Remove its row from the CSV (Ctrl+Z in the CSV editor brings it back)' : 'Only rows of a CSV dataset can be excluded from here',
          onClick: () => run('Excluding', request('excludeItem', { key }), (r) => ({ kind: 'excluded', message: r.message })),
        }).el,
      ),
    );
  }
}
