// Panel 4: predict. Choose images (host file dialog), drop or paste them, and see the top-k
// labels with their scores as bars. Predictions run on the host (the lead's predictImages).
import type { HostToWebview, PredictionView, PredictPanelData } from '../src/shared/protocol';
import { patchViewState, request } from './bridge';
import { banner, emptyState, header } from './common';
import { button, dropdown, progressRing } from './components';
import { h, replaceChildren } from './dom';
import { basename, pct, plural } from './format';

const MAX_BYTES = 25 * 1024 * 1024;

export class PredictView {
  private data: PredictPanelData | undefined;
  private results: PredictionView[] = [];
  private topK = 5;
  private busy = 0;
  private listEl!: HTMLElement;
  private statusEl!: HTMLElement;

  constructor(private readonly root: HTMLElement) {}

  onMessage(m: Exclude<HostToWebview, { type: 'response' }>): void {
    if (m.type === 'init' && m.panel === 'predict') this.init(m.data);
    else if (m.type === 'predictions') this.add(m.results);
  }

  private init(data: PredictPanelData): void {
    this.data = data;
    const st = patchViewState({ kind: 'predict', target: data.experimentDir });
    this.topK = st.topK ?? 5;
    const choose = button('Choose Images…', { onClick: () => this.pick(), disabled: !data.available });
    const k = dropdown(
      'Labels shown',
      [1, 3, 5, 10].filter((n) => n === 1 || n <= Math.max(3, data.classes.length)).map((n) => ({ value: String(n), label: `Top ${n}` })),
      String(this.topK),
      (v) => {
        this.topK = Number(v);
        patchViewState({ topK: this.topK });
        this.renderList();
      },
    );
    const clearBtn = button('Clear', {
      appearance: 'secondary',
      onClick: () => {
        this.results = [];
        this.renderList();
      },
    });
    const drop = h(
      'div.dropzone',
      { tabindex: 0, role: 'button', 'aria-label': 'Drop images here, or press Enter to choose images', 'aria-disabled': data.available ? 'false' : 'true' },
      h('p.drop-title', null, 'Drop images here'),
      h('p.muted', null, 'From your file manager, or from the Explorer while holding Shift. You can also paste an image.'),
    );
    drop.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        this.pick();
      }
    });
    drop.addEventListener('click', () => this.pick());
    const over = (e: DragEvent) => {
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
      drop.classList.add('over');
    };
    drop.addEventListener('dragenter', over);
    drop.addEventListener('dragover', over);
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', (e) => {
      e.preventDefault();
      drop.classList.remove('over');
      if (e.dataTransfer) void this.fromTransfer(e.dataTransfer);
    });
    document.addEventListener('paste', (e) => {
      if (e.clipboardData) void this.fromTransfer(e.clipboardData);
    });
    this.statusEl = h('div.predict-status', { 'aria-live': 'polite' });
    this.listEl = h('div.predictions', { 'aria-label': 'Predictions' });
    replaceChildren(
      this.root,
      header(
        `Predict · ${basename(data.title)}`,
        h('span.muted', null, `${plural(data.classes.length, 'class', 'classes')} · ${data.experimentDir}`),
        [],
        [choose.el],
      ),
      data.available ? null : banner('warning', 'Prediction is not available.', data.reason ?? ''),
      h('div.predict-top', null, drop, h('div.toolbar', null, k.el, clearBtn.el)),
      this.statusEl,
      this.listEl,
    );
    this.renderList();
  }

  private pick(): void {
    if (!this.data?.available) return;
    void this.run(request('pickImages', {}));
  }

  private async fromTransfer(dt: DataTransfer): Promise<void> {
    if (!this.data?.available) return;
    const files = [...dt.files].filter((f) => f.type.startsWith('image/') || /\.(png|jpe?g|webp|gif|bmp|tiff?)$/i.test(f.name));
    if (files.length) {
      const big = files.filter((f) => f.size > MAX_BYTES);
      if (big.length) this.setStatus(`Skipped ${plural(big.length, 'file')} over 25 MB.`);
      const images = await Promise.all(
        files.filter((f) => f.size <= MAX_BYTES).map(async (f) => ({ name: f.name, base64: toBase64(new Uint8Array(await f.arrayBuffer())) })),
      );
      if (images.length) await this.run(request('predictBytes', { images }));
      return;
    }
    const uris = (dt.getData('text/uri-list') || dt.getData('application/vnd.code.uri-list') || '')
      .split(/\r?\n/)
      .map((s) => s.trim())
      .filter((s) => s && !s.startsWith('#'));
    if (uris.length) await this.run(request('predictUris', { uris }));
  }

  private async run(p: Promise<PredictionView[] | null>): Promise<void> {
    this.busy++;
    this.renderStatus();
    try {
      const r = await p;
      if (r) this.add(r);
    } catch (e) {
      this.setStatus(`Prediction failed: ${(e as Error).message}`, true);
    } finally {
      this.busy--;
      this.renderStatus();
    }
  }

  private add(results: PredictionView[]): void {
    this.results = [...results, ...this.results].slice(0, 200);
    this.renderList();
  }

  private lastStatus: { text: string; error: boolean } | null = null;
  private setStatus(text: string, error = false): void {
    this.lastStatus = { text, error };
    this.renderStatus();
  }

  private renderStatus(): void {
    if (this.busy) replaceChildren(this.statusEl, h('span.busy', null, progressRing('Predicting'), 'Predicting…'));
    else if (this.lastStatus) replaceChildren(this.statusEl, h(this.lastStatus.error ? 'span.error-text' : 'span.muted', null, this.lastStatus.text));
    else replaceChildren(this.statusEl);
  }

  private renderList(): void {
    if (!this.results.length) {
      replaceChildren(this.listEl, emptyState('No predictions yet.', 'Choose or drop images to see what the model thinks they show.'));
      return;
    }
    replaceChildren(
      this.listEl,
      this.results.map((r) => {
        const preview = r.preview ? h('img.predict-img', { src: r.preview, alt: r.name }) : h('div.predict-img.placeholder', { 'aria-hidden': 'true' });
        if (preview instanceof HTMLImageElement) {
          preview.addEventListener('load', () => {
            if (preview.naturalWidth < 64 && preview.naturalHeight < 64) preview.classList.add('pixelated');
          });
        }
        const top = r.scores.slice(0, this.topK);
        const body = r.error
          ? h('p.error-text', null, r.error)
          : h(
              'ol.bars',
              { 'aria-label': `Top ${top.length} labels for ${r.name}` },
              top.map((s, i) => {
                const fill = h('span.bar-fill');
                fill.style.width = `${Math.max(0.5, s.score * 100).toFixed(1)}%`;
                if (i === 0) fill.classList.add('first');
                return h(
                  'li.bar-row',
                  null,
                  h('span.bar-label', { title: s.label }, s.label),
                  h('span.bar-track', { 'aria-hidden': 'true' }, fill),
                  h('span.bar-value', null, pct(s.score, 1)),
                );
              }),
            );
        return h(
          'article.prediction',
          { 'aria-label': `Prediction for ${r.name}` },
          preview,
          h(
            'div.prediction-body',
            null,
            h(
              'div.prediction-title',
              null,
              h('strong', { title: r.path }, r.name),
              r.ms !== undefined ? h('span.muted', null, ` · ${Math.round(r.ms)} ms`) : null,
            ),
            r.ood?.flagged && !r.error ? oodBanner(r.ood.warnings) : null,
            body,
          ),
        );
      }),
    );
  }
}

/** The warning above the labels of an image unlike the training data, with each check's reason. */
function oodBanner(warnings: string[]): HTMLElement {
  return h(
    'div.banner.banner-warning.ood-warning',
    { role: 'status' },
    h(
      'div.banner-text',
      null,
      h('strong', null, 'This image is not like the training images: the labels below may mean little.'),
      h(
        'ul.ood-reasons',
        null,
        warnings.map((w) => h('li', null, w.charAt(0).toUpperCase() + w.slice(1))),
      ),
    ),
  );
}

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
