// Pieces every panel uses: the header, summary cards, banners, empty states, image tiles.
import type { ExperimentStatus, TrialStatus } from '../src/shared/protocol';
import { request } from './bridge';
import { button, pill, segmented, slider, type SliderHandle, type Tone } from './components';
import { h, replaceChildren } from './dom';

export function header(title: string, subtitle: string | Node | null, pills: Node[], actions: Node[]): HTMLElement {
  return h(
    'header.panel-header',
    null,
    h('div.panel-title', null, h('h1', null, title), ...pills),
    subtitle ? h('div.panel-subtitle', null, subtitle) : null,
    actions.length ? h('div.panel-actions', null, actions) : null,
  );
}

export function card(label: string, value: string | Node, detail?: string | Node, title?: string): HTMLElement {
  return h('div.card', { title }, h('div.card-label', null, label), h('div.card-value', null, value), detail ? h('div.card-detail', null, detail) : null);
}

/**
 * The summary cards in even rows: all on one row when the panel is wide enough, else two or three even
 * rows (3×2 for six, 4+3 for seven), never one card alone on a row (styles.css, `.cards`).
 */
export function cards(...items: (HTMLElement | null)[]): HTMLElement {
  const shown = items.filter((x): x is HTMLElement => !!x);
  const { wide, mid } = cardColumns(shown.length);
  const el = h(`section.cards${shown.length >= 7 && shown.length <= 8 ? '.cards-long' : ''}`, { 'aria-label': 'Summary', 'data-n': shown.length }, shown);
  el.style.setProperty('--wide', String(wide));
  el.style.setProperty('--mid', String(mid));
  return el;
}

/** Columns of n cards on a wide panel and on a medium one. */
export function cardColumns(n: number): { wide: number; mid: number } {
  const mid = n <= 4 ? Math.max(1, n) : n === 5 || n === 6 || n === 9 ? 3 : 4;
  return { wide: n <= 8 ? Math.max(1, n) : Math.ceil(n / 2), mid };
}

export type BannerKind = 'info' | 'warning' | 'error' | 'success';

export function banner(kind: BannerKind, title: string, detail?: string, actions: Node[] = []): HTMLElement {
  return h(
    `div.banner.banner-${kind}`,
    { role: kind === 'error' ? 'alert' : 'status' },
    h('div.banner-text', null, h('strong', null, title), detail ? h('span.banner-detail', null, ` ${detail}`) : null),
    actions.length ? h('div.banner-actions', null, actions) : null,
  );
}

export function emptyState(title: string, detail?: string): HTMLElement {
  return h('div.empty-state', null, h('p.empty-title', null, title), detail ? h('p.empty-detail', null, detail) : null);
}

export function section(title: string, ...children: (Node | null)[]): HTMLElement {
  return h('section.section', null, h('h2', null, title), ...children);
}

const STATUS_TONE: Record<ExperimentStatus | TrialStatus, Tone> = {
  queued: 'muted',
  running: 'running',
  done: 'success',
  failed: 'error',
  cancelled: 'warning',
  interrupted: 'warning',
  pruned: 'muted',
};

const STATUS_TEXT: Record<ExperimentStatus | TrialStatus, string> = {
  queued: 'Queued',
  running: 'Running',
  done: 'Done',
  failed: 'Failed',
  cancelled: 'Stopped',
  interrupted: 'Interrupted',
  pruned: 'Pruned',
};

export function statusPill(status: ExperimentStatus | TrialStatus, title?: string): HTMLElement {
  return pill(STATUS_TEXT[status] ?? status, STATUS_TONE[status] ?? 'muted', title);
}

/** An image tile whose picture arrives later (`setImage`), with a caption. */
export interface Tile {
  el: HTMLElement;
  key: string;
  setImage(uri: string): void;
}

export function imageTile(key: string, alt: string, caption: (Node | string)[], opts: { onClick?: () => void; title?: string; className?: string } = {}): Tile {
  const frame = h('div.tile-frame', { 'aria-hidden': 'true' });
  const el = h(
    opts.onClick ? 'button.tile' : 'figure.tile',
    {
      title: opts.title ?? alt,
      type: opts.onClick ? 'button' : undefined,
      class: opts.className ? `tile ${opts.className}` : undefined,
      'aria-label': opts.onClick ? alt : undefined,
    },
    frame,
    h('figcaption.tile-caption', null, caption),
  );
  if (opts.onClick) el.addEventListener('click', opts.onClick);
  return {
    el,
    key,
    setImage(uri) {
      if (frame.firstChild) return;
      const img = h('img', { alt, src: uri, loading: 'lazy', decoding: 'async' }) as HTMLImageElement;
      img.addEventListener('load', () => {
        if (img.naturalWidth < 64 && img.naturalHeight < 64) img.classList.add('pixelated');
      });
      frame.appendChild(img);
      frame.classList.add('loaded');
    },
  };
}

/** Keeps image URIs by key and fills tiles as URIs arrive. */
export class ImageBook {
  private readonly uris = new Map<string, string>();
  private readonly waiting = new Map<string, Set<Tile>>();

  add(images: Record<string, string>): void {
    for (const [k, uri] of Object.entries(images)) {
      this.uris.set(k, uri);
      const ts = this.waiting.get(k);
      if (ts) {
        for (const t of ts) t.setImage(uri);
        this.waiting.delete(k);
      }
    }
  }

  has(key: string): boolean {
    return this.uris.has(key);
  }

  /** Shows the image now if known, else when it arrives. */
  attach(t: Tile): void {
    const uri = this.uris.get(t.key);
    if (uri) {
      t.setImage(uri);
      return;
    }
    let set = this.waiting.get(t.key);
    if (!set) this.waiting.set(t.key, (set = new Set()));
    set.add(t);
  }

  /** Forgets tiles that are no longer on screen. */
  detachAll(): void {
    this.waiting.clear();
  }
}

/**
 * Shows the first `tiles` of a longer list of `total` images in a gallery: the tiles take their
 * pictures from `images` (now or when they arrive), a "Show N more" button stays while images remain,
 * and the thumbnails not known yet are asked of the host in one request.
 */
export function showGallery(el: HTMLElement, images: ImageBook, o: { tiles: Tile[]; total: number; page: number; empty: string; onMore: () => void }): void {
  images.detachAll();
  const want = o.tiles.filter((t) => !images.has(t.key)).map((t) => t.key);
  for (const t of o.tiles) images.attach(t);
  const left = o.total - o.tiles.length;
  const more = left > 0 ? button(`Show ${Math.min(o.page, left)} more`, { appearance: 'secondary', onClick: o.onMore }).el : null;
  replaceChildren(el, o.tiles.length ? o.tiles.map((t) => t.el) : [emptyState(o.empty)], more ? h('div.more', null, more) : null);
  if (want.length) {
    request('thumbnails', { keys: want }).then(
      (uris) => images.add(uris),
      () => undefined,
    );
  }
}

/** A score threshold: 0–1 in steps of 0.01, shown with two decimals (both evaluation panels). */
export function thresholdSlider(label: string, value: number, id: string, onInput: (v: number) => void): SliderHandle {
  return slider({ label, min: 0, max: 1, step: 0.01, value, format: (v) => v.toFixed(2), id, onInput });
}

/** Which errors a gallery shows: false positives or false negatives of the chosen class. */
export function errorKindControl(value: 'fp' | 'fn', onChange: (v: 'fp' | 'fn') => void): { el: HTMLElement; setValue(v: 'fp' | 'fn'): void } {
  return segmented<'fp' | 'fn'>(
    'Errors shown',
    [
      { value: 'fp', label: 'False positives' },
      { value: 'fn', label: 'False negatives' },
    ],
    value,
    onChange,
  );
}
