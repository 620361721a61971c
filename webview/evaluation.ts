// Panel 3: evaluation. Summary metrics of the final model on TEST; a score threshold that
// recomputes precision, recall, F1 and the confusion matrix in the webview from the
// per-example scores (sent once, no round trip); PR curves with the threshold marked; a
// keyboard-usable confusion matrix whose cells filter the gallery of images (evaluation-gallery.ts).
import type { ChartConfiguration } from 'chart.js';
import { argmaxRow, atThreshold, type PrPoint, prCurve, type Scored, type ThresholdMetrics } from '../src/eval/metrics';
import type { EvaluationPanelData, HostToWebview, PanelViewState } from '../src/shared/protocol';
import { patchViewState } from './bridge';
import { ChartBox } from './charts';
import { banner, errorKindControl, ImageBook, section, showGallery, thresholdSlider } from './common';
import { button, dataGrid, dropdown, type DropdownHandle, type GridHandle, segmented, tabs } from './components';
import { confusionTable } from './confusion-matrix';
import { coalesce, h, replaceChildren } from './dom';
import { galleryRows, type GallerySelection, galleryTile } from './evaluation-gallery';
import { MultiLabelEvaluation } from './evaluation-multilabel';
import { accuracyNote, type ClassRow, classColumns, clamp01, evaluationHeader, metric, summaryCards } from './evaluation-shared';
import { prChartConfig, prLayout, prLegend } from './pr-chart';
import { pct, plural } from './format';
import type { ErrorDetail } from './error-detail';
import { errorViews } from './mislabelled';

const PAGE = 48;

export class EvaluationView {
  private data: EvaluationPanelData | undefined;
  private d: Scored | undefined;
  private classes: string[] = [];
  private pred!: Int32Array;
  private top!: Float32Array;
  private curves: (PrPoint[] | null)[] = [];
  /** All (image, class) pairs pooled: the "All classes" curve. */
  private micro: PrPoint[] | null = null;
  private auc: (number | null)[] = [];
  private ap: (number | null)[] = [];
  private metrics: ThresholdMetrics | undefined;
  private threshold = 0.5;
  private normalise = false;
  private cell: [number, number] | null = null;
  private galleryClass = -1;
  private galleryMode: 'fp' | 'fn' = 'fp';
  private prClass = -1;
  private galleryLimit = PAGE;
  private readonly images = new ImageBook();
  /** The multi-label view, when the experiment is multi-label. */
  private multi: MultiLabelEvaluation | undefined;
  /** The detail view of one image (gallery and likely-mislabelled tiles open it). */
  private detail: ErrorDetail | undefined;

  private thresholdInfo!: HTMLElement;
  private grid!: GridHandle<ClassRow>;
  private matrixEl!: HTMLElement;
  private galleryEl!: HTMLElement;
  private galleryHead!: HTMLElement;
  private prChart: ChartBox<'line'> | undefined;
  private galleryClassDd!: DropdownHandle<string>;
  private modeSeg!: { el: HTMLElement; setValue(v: 'fp' | 'fn'): void };
  private focusCell: [number, number] = [0, 0];
  private readonly scheduleUpdate = coalesce(() => this.update());

  constructor(private readonly root: HTMLElement) {}

  onMessage(m: Exclude<HostToWebview, { type: 'response' }>): void {
    if (m.type === 'init' && m.panel === 'evaluation') this.init(m.data);
    else if (m.type === 'images') {
      this.images.add(m.images);
      this.multi?.addImages(m.images);
    } else if (m.type === 'loading') replaceChildren(this.root, h('div.loading', null, h('vscode-progress-ring', { 'aria-label': 'Loading' }), m.message));
  }

  private init(data: EvaluationPanelData): void {
    this.data = data;
    this.prChart?.dispose();
    this.prChart = undefined;
    const st = patchViewState({ kind: 'evaluation', target: data.experimentDir });
    const e = data.experiment;
    const p = data.predictions;
    const ev = data.evaluation;
    const head = evaluationHeader(data);
    if (!p || !ev || data.error) {
      replaceChildren(
        this.root,
        head,
        banner(
          e.status === 'running' ? 'info' : 'warning',
          data.error ?? 'No evaluation yet.',
          e.status === 'running' ? 'The final model is evaluated on TEST when the search ends.' : '',
        ),
      );
      return;
    }
    this.multi?.dispose();
    this.multi = undefined;
    if (e.multiLabel || p.multiLabel) {
      this.d = undefined;
      this.multi = new MultiLabelEvaluation(this.root, data);
      this.multi.render(head, st);
      return;
    }
    this.classes = p.classes;
    const k = p.classes.length;
    const n = p.itemIds.length;
    this.d = { n, k, scores: Float32Array.from(p.scores), labels: Int32Array.from(p.labels) };
    this.scorePredictions(this.d);
    this.auc = ev.perClass.auc;
    this.ap = ev.perClass.averagePrecision;
    this.restoreViewState(st, k);

    const summary = summaryCards(ev, k);
    const toolbar = this.thresholdBar();
    const classOptions = [{ value: '-1', label: 'All classes' }, ...this.classes.map((c, i) => ({ value: String(i), label: c }))];
    const metricsTab = this.metricsTab(classOptions);
    const matrixTab = this.matrixTab(classOptions);
    const views = errorViews({ data, d: this.d, classes: this.classes, images: this.images }, this.detail);
    this.detail = views.detail;
    const active = st.tab === 'matrix' || st.tab === 'mislabelled' ? st.tab : 'metrics';
    const t = tabs(
      [
        { id: 'metrics', label: 'Metrics', content: metricsTab },
        { id: 'matrix', label: 'Confusion matrix & errors', content: matrixTab },
        { id: 'mislabelled', label: 'Likely mislabelled', content: views.mislabelled.el, badge: views.mislabelled.count },
      ],
      active,
      (id) => patchViewState({ tab: id }),
    );
    const notes: HTMLElement[] = [];
    const absent = this.classes.filter((_, c) => !this.curves[c]);
    if (absent.length)
      notes.push(
        banner(
          'info',
          `${plural(absent.length, 'class', 'classes')} without ${ev.partition} images:`,
          `${absent.slice(0, 6).join(', ')}${absent.length > 6 ? ', …' : ''}. Their AUC and AP are n/a and left out of the macro averages.`,
        ),
      );
    if (e.status === 'cancelled')
      notes.push(banner('warning', 'The experiment was stopped early:', 'these are the metrics of the best model found before it stopped.'));
    replaceChildren(this.root, head, summary, accuracyNote(ev.partition, e), ...notes, toolbar, t.el);
    this.update();
  }

  /** Each image's top class and score, the per-class PR curves and the pooled (micro) one. */
  private scorePredictions(d: Scored): void {
    const { n, k } = d;
    this.pred = new Int32Array(n);
    this.top = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const c = argmaxRow(d.scores, i, k);
      this.pred[i] = c;
      this.top[i] = d.scores[i * k + c];
    }
    this.curves = [];
    for (let c = 0; c < k; c++) {
      const s = new Float32Array(n);
      const pos = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        s[i] = d.scores[i * k + c];
        pos[i] = d.labels[i] === c ? 1 : 0;
      }
      this.curves.push(prCurve(s, pos));
    }
    {
      const s = new Float32Array(n * k);
      const pos = new Uint8Array(n * k);
      for (let i = 0; i < n * k; i++) {
        s[i] = d.scores[i];
        pos[i] = d.labels[Math.floor(i / k)] === i % k ? 1 : 0;
      }
      this.micro = prCurve(s, pos);
    }
  }

  /** The threshold, matrix and gallery settings saved in the view state (when they still apply). */
  private restoreViewState(st: PanelViewState, k: number): void {
    this.threshold = clamp01(st.threshold ?? 0.5);
    this.normalise = !!st.normalise;
    this.cell = st.cell && st.cell[0] < k && st.cell[1] <= k ? st.cell : null;
    this.galleryClass = st.galleryClass !== undefined && st.galleryClass < k ? st.galleryClass : -1;
    this.galleryMode = st.galleryMode ?? 'fp';
    this.prClass = st.prClass !== undefined && st.prClass < k ? st.prClass : -1;
    this.focusCell = this.cell ? [this.cell[0], this.cell[1]] : [0, 0];
  }

  /** The score-threshold slider with its live summary. */
  private thresholdBar(): HTMLElement {
    const sl = thresholdSlider('Score threshold', this.threshold, 'threshold', (v) => {
      this.threshold = v;
      patchViewState({ threshold: v });
      this.scheduleUpdate();
    });
    this.thresholdInfo = h('div.threshold-info', { 'aria-live': 'polite' });
    const toolbar = h('div.threshold-bar', { role: 'region', 'aria-label': 'Score threshold' }, sl.el, this.thresholdInfo);
    return toolbar;
  }

  /** Metrics tab: per-class table and PR curves. */
  private metricsTab(classOptions: { value: string; label: string }[]): HTMLElement {
    this.grid = dataGrid<ClassRow>('Metrics per class at the threshold', classColumns(), {
      rowClass: (r) => (r.support === 0 ? 'muted-row' : undefined),
    });
    const prOptions = [{ value: '-1', label: 'All classes (micro-average)' }, ...classOptions.slice(1)];
    const pick = (c: number) => {
      this.prClass = c;
      patchViewState({ prClass: c });
      prDd.setValue(String(c));
      legend.set(c);
      this.prChart?.render();
    };
    const prDd = dropdown('Class', prOptions, String(this.prClass), (v) => pick(Number(v)));
    const legend = prLegend(this.classes, 'All classes (micro-average)', this.prClass, pick);
    this.prChart = new ChartBox<'line'>('Precision-recall curves per class, with the operating point at the threshold marked', () => this.prConfig(), {
      height: 360,
    });
    return prLayout(this.grid.el, prDd.el, this.prChart.el, legend.el);
  }

  /** Matrix tab: confusion matrix and gallery. */
  private matrixTab(classOptions: { value: string; label: string }[]): HTMLElement {
    this.matrixEl = h('div.matrix-wrap');
    const normSeg = segmented<'counts' | 'row'>(
      'Confusion matrix values',
      [
        { value: 'counts', label: 'Counts' },
        { value: 'row', label: 'Row %' },
      ],
      this.normalise ? 'row' : 'counts',
      (v) => {
        this.normalise = v === 'row';
        patchViewState({ normalise: this.normalise });
        this.renderMatrix();
      },
    );
    this.galleryClassDd = dropdown('Class', classOptions, String(this.galleryClass), (v) => {
      this.galleryClass = Number(v);
      this.cell = null;
      this.galleryLimit = PAGE;
      patchViewState({ galleryClass: this.galleryClass, cell: null });
      this.renderMatrix();
      this.renderGallery();
    });
    this.modeSeg = errorKindControl(this.galleryMode, (v) => {
      this.galleryMode = v;
      this.cell = null;
      this.galleryLimit = PAGE;
      patchViewState({ galleryMode: v, cell: null });
      this.renderMatrix();
      this.renderGallery();
    });
    this.galleryHead = h('div.gallery-head');
    this.galleryEl = h('div.tiles.gallery', { 'aria-live': 'polite' });
    return h(
      'div.stack',
      null,
      h(
        'section.section',
        null,
        h(
          'div.toolbar',
          null,
          h('h3', null, 'Confusion matrix'),
          normSeg.el,
          h('span.muted.hint', null, 'Rows: true label · columns: predicted · click or press Enter on a cell to see its images'),
        ),
        this.matrixEl,
      ),
      section('Images', h('div.toolbar', null, this.galleryClassDd.el, this.modeSeg.el), this.galleryHead, this.galleryEl),
    );
  }

  /** Recomputes everything that depends on the threshold (one frame at most per slider move). */
  private update(): void {
    if (!this.d) return;
    const m = atThreshold(this.d, this.threshold);
    this.metrics = m;
    const k = this.d.k;
    const predicted = new Array<number>(k).fill(0);
    const support = new Array<number>(k).fill(0);
    for (let r = 0; r < k; r++) {
      for (let c = 0; c < k; c++) predicted[c] += m.confusion[r][c];
      support[r] = m.confusion[r].reduce((a, b) => a + b, 0);
    }
    const rows: ClassRow[] = this.classes.map((name, c) => ({
      index: c,
      name,
      support: support[c],
      predicted: predicted[c],
      // atThreshold's conventions (precision 1 with no prediction, recall 0 with no example)
      // are for averaging; the table says n/a instead.
      precision: predicted[c] ? m.precision[c] : null,
      recall: support[c] ? m.recall[c] : null,
      f1: predicted[c] && support[c] ? m.f1[c] : support[c] ? 0 : null,
      auc: this.auc[c] ?? null,
      ap: this.ap[c] ?? null,
    }));
    this.grid.setRows(rows);
    const mean = (xs: (number | null)[]) => {
      const ok = xs.filter((x): x is number => x !== null);
      return ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : null;
    };
    replaceChildren(
      this.thresholdInfo,
      metric('Coverage', pct(m.coverage, 1), 'Images whose top score reaches the threshold (the others get no prediction)', 'coverage'),
      metric('Macro precision', pct(mean(rows.map((r) => r.precision)), 1), 'Mean over classes that receive predictions', 'precision'),
      metric('Macro recall', pct(mean(rows.map((r) => r.recall)), 1), 'Mean over classes present in the set', 'recall'),
      metric('Macro F1', pct(mean(rows.map((r) => r.f1)), 1), 'Mean over classes present in the set', 'f1'),
    );
    this.prChart?.render();
    this.renderMatrix();
    this.renderGallery();
  }

  private prConfig(): ChartConfiguration<'line'> {
    return prChartConfig({
      curves: this.curves,
      micro: this.micro,
      names: this.classes,
      selected: this.prClass,
      threshold: () => this.threshold,
      microLabel: 'All classes (micro-average)',
    });
  }

  // ------------------------------------------------------------------------------------------
  // Confusion matrix

  private renderMatrix(): void {
    const m = this.metrics;
    if (!m) return;
    const k = this.classes.length;
    const { table, cols } = confusionTable({
      confusion: m.confusion,
      classes: this.classes,
      normalise: this.normalise,
      cell: this.cell,
      focusCell: this.focusCell,
      threshold: this.threshold,
    });
    if (k > 12) table.classList.add('dense');
    table.addEventListener('click', (ev) => {
      const td = (ev.target as HTMLElement).closest('td.cell') as HTMLElement | null;
      if (td) this.selectCell(Number(td.dataset.row), Number(td.dataset.col));
    });
    table.addEventListener('keydown', (ev) => this.matrixKey(ev, k, cols));
    const hadFocus = this.matrixEl.contains(document.activeElement);
    replaceChildren(this.matrixEl, table);
    if (hadFocus) (table.querySelector('td[tabindex="0"]') as HTMLElement | null)?.focus();
  }

  private matrixKey(ev: KeyboardEvent, k: number, cols: number): void {
    const td = (ev.target as HTMLElement).closest('td.cell') as HTMLElement | null;
    if (!td) return;
    let r = Number(td.dataset.row);
    let c = Number(td.dataset.col);
    switch (ev.key) {
      case 'ArrowUp':
        r = Math.max(0, r - 1);
        break;
      case 'ArrowDown':
        r = Math.min(k - 1, r + 1);
        break;
      case 'ArrowLeft':
        c = Math.max(0, c - 1);
        break;
      case 'ArrowRight':
        c = Math.min(cols - 1, c + 1);
        break;
      case 'Home':
        c = 0;
        break;
      case 'End':
        c = cols - 1;
        break;
      case 'Enter':
      case ' ':
        ev.preventDefault();
        this.selectCell(r, c);
        return;
      case 'Escape':
        if (this.cell) {
          ev.preventDefault();
          this.selectCell(-1, -1);
        }
        return;
      default:
        return;
    }
    ev.preventDefault();
    this.focusCell = [r, c];
    td.tabIndex = -1;
    const next = this.matrixEl.querySelector(`td[data-row="${r}"][data-col="${c}"]`) as HTMLElement | null;
    if (next) {
      next.tabIndex = 0;
      next.focus();
    }
  }

  private selectCell(r: number, c: number): void {
    const same = this.cell && this.cell[0] === r && this.cell[1] === c;
    this.cell = r < 0 || same ? null : [r, c];
    if (r >= 0) this.focusCell = [r, c];
    this.galleryLimit = PAGE;
    patchViewState({ cell: this.cell });
    this.renderMatrix();
    this.renderGallery();
  }

  // ------------------------------------------------------------------------------------------
  // Gallery

  /** What the gallery shows now (see evaluation-gallery.ts). */
  private selection(): GallerySelection {
    const { d, classes, pred, top, threshold, cell, galleryClass, galleryMode } = this;
    return { d: d!, classes, pred, top, threshold, cell, galleryClass, galleryMode };
  }

  private renderGallery(): void {
    if (!this.d || !this.data?.predictions) return;
    const g = this.selection();
    const { rows, title } = galleryRows(g);
    const p = this.data.predictions;
    const names = this.data.itemNames;
    this.galleryClassDd.setValue(String(this.galleryClass));
    this.modeSeg.setValue(this.cell ? ('none' as 'fp') : this.galleryMode);
    const clear = this.cell ? button('Clear cell filter', { appearance: 'secondary', onClick: () => this.selectCell(-1, -1) }).el : null;
    replaceChildren(
      this.galleryHead,
      h('span.gallery-title', null, title, h('span.muted', null, ` · ${plural(rows.length, 'image')}, most confident first`)),
      clear,
    );
    const shown = rows.slice(0, this.galleryLimit);
    const open = (i: number) => () =>
      this.detail?.open(
        rows.map((row) => ({ row })),
        rows.indexOf(i),
        title,
      );
    const tiles = shown.map((i) => galleryTile(g, i, p.itemIds, names, open(i)));
    showGallery(this.galleryEl, this.images, {
      tiles,
      total: rows.length,
      page: PAGE,
      empty: this.cell ? 'No image in this cell.' : 'No error of this kind at this threshold.',
      onMore: () => {
        this.galleryLimit += PAGE;
        this.renderGallery();
      },
    });
  }
}
