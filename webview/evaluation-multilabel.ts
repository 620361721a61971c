// Panel 3, multi-label: every image may carry several labels, each scored by its own sigmoid.
// Summary (label accuracy = 1 − Hamming loss, exact match, micro/macro F1, macro AUC/AP), a
// threshold that is one for all labels or each label's best-F1 threshold (then every label's can be
// moved on its own), per-label precision/recall/F1 recomputed in the webview from the per-example
// scores, PR curves per label with the operating point, and false positives/negatives per label.
import { labelColumn, multiLabelDecisions, type MultiLabelDecisions, type MultiScored, type PrPoint, prCurve } from '../src/eval/metrics';
import type { EvaluationPanelData, PanelViewState } from '../src/shared/protocol';
import { patchViewState, request } from './bridge';
import { ChartBox } from './charts';
import { banner, errorKindControl, ImageBook, imageTile, section, showGallery, thresholdSlider } from './common';
import { button, dataGrid, dropdown, type GridHandle, segmented, type SliderHandle, tabs } from './components';
import { coalesce, h, replaceChildren } from './dom';
import { clamp01, metric, multiLabelSummaryCards, naCell } from './evaluation-shared';
import { prChartConfig, prLayout, prLegend } from './pr-chart';
import { int, pct, plural } from './format';

interface LabelRow {
  index: number;
  name: string;
  threshold: number;
  support: number;
  predicted: number;
  precision: number | null;
  recall: number | null;
  f1: number | null;
  auc: number | null;
  ap: number | null;
}

type Mode = 'global' | 'per-label';
const PAGE = 48;

type MultiLabelState = Pick<PanelViewState, 'threshold' | 'thresholdMode' | 'labelThresholds' | 'prClass' | 'galleryClass' | 'galleryMode' | 'tab'>;

export class MultiLabelEvaluation {
  private d!: MultiScored;
  private classes: string[] = [];
  private curves: (PrPoint[] | null)[] = [];
  private micro: PrPoint[] | null = null;
  private auc: (number | null)[] = [];
  private ap: (number | null)[] = [];
  private best: number[] = [];
  private mode: Mode = 'global';
  private threshold = 0.5;
  private labelThresholds: number[] = [];
  private decisions: MultiLabelDecisions | undefined;
  private prClass = -1;
  private galleryClass = 0;
  private galleryMode: 'fp' | 'fn' = 'fp';
  private galleryLimit = PAGE;
  private readonly images = new ImageBook();
  private readonly scheduleUpdate = coalesce(() => this.update());

  private info!: HTMLElement;
  private grid!: GridHandle<LabelRow>;
  private prChart!: ChartBox<'line'>;
  private galleryHead!: HTMLElement;
  private galleryEl!: HTMLElement;
  private labelSlider!: HTMLElement;
  private globalSlider!: SliderHandle;

  constructor(
    private readonly root: HTMLElement,
    private readonly data: EvaluationPanelData,
  ) {}

  /** Thumbnails that arrive from the host. */
  addImages(images: Record<string, string>): void {
    this.images.add(images);
  }

  dispose(): void {
    this.prChart?.dispose();
  }

  render(head: HTMLElement, st: MultiLabelState): void {
    const ev = this.data.evaluation!;
    this.scoreAndRestore(st);
    const k = this.classes.length;
    const summary = multiLabelSummaryCards(ev, k);
    const toolbar = this.thresholdBar();
    const labelOptions = this.classes.map((c, i) => ({ value: String(i), label: c }));
    const metricsTab = this.metricsTab(labelOptions);
    const errorsTab = this.errorsTab(labelOptions);
    const t = tabs(
      [
        { id: 'metrics', label: 'Metrics', content: metricsTab },
        { id: 'errors', label: 'Errors per label', content: errorsTab },
      ],
      st.tab === 'errors' ? 'errors' : 'metrics',
      (id) => patchViewState({ tab: id }),
    );
    const notes = this.notes(ev.partition);
    replaceChildren(this.root, head, summary, ...notes, toolbar, t.el);
    this.renderThresholdControls();
    this.update();
  }

  /** The scores and PR curves of the predictions, and the thresholds and choices saved in the view state (when they still apply). */
  private scoreAndRestore(st: MultiLabelState): void {
    const p = this.data.predictions!;
    const ev = this.data.evaluation!;
    this.classes = p.classes;
    const k = p.classes.length;
    const n = p.itemIds.length;
    this.d = { n, k, scores: Float32Array.from(p.scores), truth: Uint8Array.from(p.labels) };
    this.curves = [];
    for (let c = 0; c < k; c++) {
      const { s, y } = labelColumn(this.d, c);
      this.curves.push(prCurve(s, y));
    }
    this.micro = prCurve(this.d.scores, this.d.truth);
    this.auc = ev.perClass.auc;
    this.ap = ev.perClass.averagePrecision;
    this.best = ev.multiLabelMetrics?.bestF1Thresholds ?? new Array<number>(k).fill(0.5);
    this.threshold = clamp01(st.threshold ?? 0.5);
    this.mode = st.thresholdMode === 'per-label' ? 'per-label' : 'global';
    this.labelThresholds = st.labelThresholds?.length === k ? st.labelThresholds.map(clamp01) : [...this.best];
    this.prClass = st.prClass !== undefined && st.prClass < k ? st.prClass : -1;
    this.galleryClass = st.galleryClass !== undefined && st.galleryClass < k ? st.galleryClass : 0;
    this.galleryMode = st.galleryMode ?? 'fp';
  }

  /** The threshold mode (one for all labels, or one per label) and the sliders, with the live summary. */
  private thresholdBar(): HTMLElement {
    this.globalSlider = thresholdSlider('Score threshold (all labels)', this.threshold, 'threshold', (v) => {
      this.threshold = v;
      patchViewState({ threshold: v });
      this.scheduleUpdate();
    });
    const modeSeg = segmented<Mode>(
      'Thresholds',
      [
        { value: 'global', label: 'One for all labels' },
        { value: 'per-label', label: 'Per label (best F1)' },
      ],
      this.mode,
      (v) => {
        this.mode = v;
        patchViewState({ thresholdMode: v });
        this.renderThresholdControls();
        this.update();
      },
    );
    this.labelSlider = h('div.label-threshold');
    this.info = h('div.threshold-info', { 'aria-live': 'polite' });
    return h('div.threshold-bar', { role: 'region', 'aria-label': 'Score thresholds' }, modeSeg.el, this.globalSlider.el, this.labelSlider, this.info);
  }

  /** Metrics tab: the per-label table and the PR curves. */
  private metricsTab(labelOptions: { value: string; label: string }[]): HTMLElement {
    this.grid = dataGrid<LabelRow>(
      'Metrics per label at its threshold',
      [
        { title: 'Label', width: 'minmax(110px, 1.6fr)', render: (r) => r.name },
        { title: 'Threshold', align: 'right', width: 'minmax(76px, 1fr)', render: (r) => r.threshold.toFixed(2) },
        { title: 'Support', align: 'right', width: 'minmax(70px, 1fr)', description: 'Images with this label', render: (r) => int(r.support) },
        {
          title: 'Predicted',
          align: 'right',
          width: 'minmax(70px, 1fr)',
          description: 'Images given this label at its threshold',
          render: (r) => int(r.predicted),
        },
        { title: 'Precision', align: 'right', width: 'minmax(70px, 1fr)', render: (r) => naCell(r.precision, 'Nothing is given this label at this threshold') },
        { title: 'Recall', align: 'right', width: 'minmax(70px, 1fr)', render: (r) => naCell(r.recall, 'No image has this label in the set') },
        { title: 'F1', align: 'right', width: 'minmax(60px, 1fr)', render: (r) => naCell(r.f1, '') },
        {
          title: 'AUC',
          align: 'right',
          width: 'minmax(70px, 1fr)',
          description: 'ROC AUC (threshold-free)',
          render: (r) => naCell(r.auc, 'Undefined: the label is absent from the set, or on every image', 4),
        },
        {
          title: 'AP',
          align: 'right',
          width: 'minmax(70px, 1fr)',
          description: 'Average precision (threshold-free)',
          render: (r) => naCell(r.ap, 'Undefined: the label is absent from the set', 4),
        },
      ],
      { rowClass: (r) => (r.support === 0 ? 'muted-row' : undefined) },
    );
    const pick = (c: number) => {
      this.prClass = c;
      patchViewState({ prClass: c });
      prDd.setValue(String(c));
      legend.set(c);
      this.renderThresholdControls();
      this.prChart.render();
    };
    const prDd = dropdown('Label', [{ value: '-1', label: 'All labels (micro-average)' }, ...labelOptions], String(this.prClass), (v) => pick(Number(v)));
    const legend = prLegend(this.classes, 'All labels (micro-average)', this.prClass, pick);
    this.prChart = new ChartBox<'line'>(
      'Precision-recall curves per label, with the operating point at its threshold marked',
      () =>
        prChartConfig({
          curves: this.curves,
          micro: this.micro,
          names: this.classes,
          selected: this.prClass,
          threshold: (c) => (c < 0 ? (this.mode === 'global' ? this.threshold : null) : this.thresholdOf(c)),
          microLabel: 'All labels (micro-average)',
        }),
      { height: 360 },
    );
    return prLayout(this.grid.el, prDd.el, this.prChart.el, legend.el, true);
  }

  /** Errors tab: false positives or negatives of one label. */
  private errorsTab(labelOptions: { value: string; label: string }[]): HTMLElement {
    const galleryDd = dropdown('Label', labelOptions, String(this.galleryClass), (v) => {
      this.galleryClass = Number(v);
      this.galleryLimit = PAGE;
      patchViewState({ galleryClass: this.galleryClass });
      this.renderGallery();
    });
    const galleryMode = errorKindControl(this.galleryMode, (v) => {
      this.galleryMode = v;
      this.galleryLimit = PAGE;
      patchViewState({ galleryMode: v });
      this.renderGallery();
    });
    this.galleryHead = h('div.gallery-head');
    this.galleryEl = h('div.tiles.gallery', { 'aria-live': 'polite' });
    return section('Images', h('div.toolbar', null, galleryDd.el, galleryMode.el), this.galleryHead, this.galleryEl);
  }

  /** The banners above the panel: what multi-label means, and the labels absent from the set. */
  private notes(partition: string): HTMLElement[] {
    const notes: HTMLElement[] = [banner('info', 'Multi-label:', 'each image may have several labels; a label is given when its score reaches its threshold.')];
    const absent = this.classes.filter((_, c) => !this.curves[c]);
    if (absent.length)
      notes.push(
        banner(
          'info',
          `${plural(absent.length, 'label')} without ${partition} images:`,
          `${absent.slice(0, 6).join(', ')}${absent.length > 6 ? ', …' : ''}. Their AUC and AP are n/a.`,
        ),
      );
    return notes;
  }

  private thresholdOf(c: number): number {
    return this.mode === 'global' ? this.threshold : this.labelThresholds[c];
  }

  /** In per-label mode a second slider moves the threshold of the label chosen for the PR curve. */
  private renderThresholdControls(): void {
    this.globalSlider.el.style.display = this.mode === 'global' ? '' : 'none';
    if (this.mode === 'global') {
      replaceChildren(this.labelSlider);
      return;
    }
    const c = this.prClass < 0 ? 0 : this.prClass;
    const s = thresholdSlider(`Threshold of ${this.classes[c]}`, this.labelThresholds[c], 'label-threshold', (v) => {
      this.labelThresholds[c] = v;
      patchViewState({ labelThresholds: this.labelThresholds });
      this.scheduleUpdate();
    });
    const reset = button('Reset to best F1', {
      appearance: 'secondary',
      onClick: () => {
        this.labelThresholds = [...this.best];
        patchViewState({ labelThresholds: this.labelThresholds });
        this.renderThresholdControls();
        this.update();
      },
    });
    replaceChildren(
      this.labelSlider,
      s.el,
      reset.el,
      this.prClass < 0 ? h('span.muted.hint', null, 'Choose a label for the PR curve to move its threshold') : null,
    );
  }

  private update(): void {
    const t = this.classes.map((_, c) => this.thresholdOf(c));
    const m = multiLabelDecisions(this.d, t);
    this.decisions = m;
    this.grid.setRows(
      this.classes.map((name, c) => ({
        index: c,
        name,
        threshold: t[c],
        support: m.support[c],
        predicted: m.predicted[c],
        precision: m.precision[c],
        recall: m.recall[c],
        f1: m.f1[c],
        auc: this.auc[c] ?? null,
        ap: this.ap[c] ?? null,
      })),
    );
    replaceChildren(
      this.info,
      metric('Label accuracy', pct(m.labelAccuracy, 1), '1 − Hamming loss at these thresholds', 'label-accuracy'),
      metric('Exact match', pct(m.exactMatch, 1), 'Images whose whole label set is right', 'exact'),
      metric('Micro F1', pct(m.microF1, 1), 'All (image, label) pairs pooled', 'micro-f1'),
      metric('Macro F1', pct(m.macroF1, 1), 'Mean over labels present in the set or predicted', 'f1'),
    );
    this.prChart.render();
    this.renderGallery();
  }

  private renderGallery(): void {
    const m = this.decisions;
    if (!m) return;
    const { n, k, scores, truth } = this.d;
    const c = this.galleryClass;
    const t = m.thresholds[c];
    const rows: number[] = [];
    for (let i = 0; i < n; i++) {
      const given = scores[i * k + c] >= t;
      const has = truth[i * k + c] > 0;
      if (this.galleryMode === 'fp' ? given && !has : has && !given) rows.push(i);
    }
    // Most confident mistakes first: high scores for false positives, low ones for false negatives.
    rows.sort((a, b) => (this.galleryMode === 'fp' ? scores[b * k + c] - scores[a * k + c] : scores[a * k + c] - scores[b * k + c]));
    const name = this.classes[c];
    const title =
      this.galleryMode === 'fp' ? `False positives of ${name}: given ${name}, not labelled so` : `False negatives of ${name}: labelled ${name}, not given it`;
    replaceChildren(
      this.galleryHead,
      h('span.gallery-title', null, title, h('span.muted', null, ` · ${plural(rows.length, 'image')}, most confident mistakes first`)),
    );
    const p = this.data.predictions!;
    const labelsOf = (i: number, pred: boolean) =>
      this.classes.filter((_, j) => (pred ? scores[i * k + j] >= m.thresholds[j] : truth[i * k + j] > 0)).join(', ') || '(none)';
    const tiles = rows.slice(0, this.galleryLimit).map((i) => {
      const key = String(p.itemIds[i]);
      const item = this.data.itemNames[key] ?? `item ${key}`;
      return imageTile(
        key,
        `${item}: labels ${labelsOf(i, false)}; given ${labelsOf(i, true)} (${name} score ${scores[i * k + c].toFixed(3)})`,
        [
          h('span.tile-line', null, h('span.muted', null, 'true '), labelsOf(i, false)),
          h('span.tile-line.bad', null, h('span.muted', null, 'pred '), labelsOf(i, true)),
          h('span.tile-line.score', null, `${name} ${scores[i * k + c].toFixed(3)}`),
        ],
        { onClick: () => void request('openItem', { key }), className: 'tile-wrong' },
      );
    });
    showGallery(this.galleryEl, this.images, {
      tiles,
      total: rows.length,
      page: PAGE,
      empty: 'No error of this kind at this threshold.',
      onMore: () => {
        this.galleryLimit += PAGE;
        this.renderGallery();
      },
    });
  }
}
