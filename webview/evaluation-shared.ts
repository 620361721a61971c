// What the single- and multi-label evaluation views share: the panel's title bar and the headline
// cards of each, cells and metric chips, and the precision-recall chart with its operating point.
import type { ChartConfiguration, ChartDataset } from 'chart.js';
import type { PrPoint } from '../src/eval/metrics';
import type { EvaluationPanelData } from '../src/shared/protocol';
import { request } from './bridge';
import { card, cards, header } from './common';
import { button, pill } from './components';
import { h } from './dom';
import { int, num, plural, pct } from './format';
import { alpha, chartColors, seriesColor } from './theme';

/** The panel's title bar: experiment, partition and size, and the actions. */
export function evaluationHeader(data: EvaluationPanelData): HTMLElement {
  const e = data.experiment;
  const actions = [
    button('Open Training', { appearance: 'secondary', onClick: () => void request('openPanel', { kind: 'training' }) }).el,
    button('Predict…', { appearance: 'secondary', onClick: () => void request('openPanel', { kind: 'predict' }) }).el,
  ];
  const p = data.predictions;
  const ev = data.evaluation;
  return header(
    `Evaluation · ${e.spec.name || e.spec.id}`,
    h(
      'span.muted',
      null,
      ev
        ? `${ev.partition} · ${plural(ev.count, 'image')} · ${e.multiLabel || p?.multiLabel ? plural(ev.classes.length, 'label') : plural(ev.classes.length, 'class', 'classes')}`
        : e.spec.dataset,
    ),
    ev ? [pill(ev.partition, 'info', 'Partition the final model was evaluated on (never seen in training or model selection)')] : [],
    actions,
  );
}

/** The headline metrics of a single-label evaluation. */
export function summaryCards(ev: NonNullable<EvaluationPanelData['evaluation']>, k: number): HTMLElement {
  return cards(
    card('Accuracy', pct(ev.accuracy, 2), 'top class, any score'),
    card('Macro AUC', num(ev.macroAuc, 4), 'ROC, one-vs-rest', 'Mean over the classes present in the set'),
    card('Macro AP', num(ev.macroAveragePrecision, 4), 'average precision'),
    card(
      'Top-5 accuracy',
      ev.top5Accuracy === undefined ? 'n/a' : pct(ev.top5Accuracy, 2),
      ev.top5Accuracy === undefined ? '5 classes or fewer' : 'true label in the top 5',
    ),
    card('Log loss', num(ev.loss, 4)),
    card('Images', int(ev.count), `${ev.partition} · ${plural(k, 'class', 'classes')}`),
  );
}

/** The headline metrics of a multi-label evaluation (at the default threshold 0.5). */
export function multiLabelSummaryCards(ev: NonNullable<EvaluationPanelData['evaluation']>, k: number): HTMLElement {
  const m = ev.multiLabelMetrics;
  return cards(
    card('Label accuracy', pct(ev.accuracy, 2), 'decisions at 0.5 that are right', '1 − Hamming loss, over every (image, label) pair'),
    card('Exact match', m ? pct(m.exactMatch, 2) : 'n/a', 'whole label set right, at 0.5'),
    card('Micro F1', m ? pct(m.microF1, 2) : 'n/a', 'at 0.5, all labels pooled'),
    card('Macro AUC', num(ev.macroAuc, 4), 'ROC, per label', 'Mean over labels present in the set'),
    card('Macro AP', num(ev.macroAveragePrecision, 4), 'average precision'),
    card('Images', int(ev.count), `${ev.partition} · ${plural(k, 'label')}`),
  );
}

export function clamp01(x: number): number {
  return Number.isFinite(x) ? Math.max(0, Math.min(1, x)) : 0.5;
}

/** The one-vs-rest point of a PR curve at a score threshold: the lowest curve threshold ≥ t. */
function operatingPoint(curve: PrPoint[], t: number): PrPoint | null {
  let found: PrPoint | null = null;
  for (const p of curve) {
    if (p.threshold >= t) found = p;
    else break;
  }
  return found;
}

export function naCell(x: number | null, why: string, digits?: number): HTMLElement | string {
  if (x === null || !Number.isFinite(x)) return h('span.muted', { title: why || 'Not defined' }, 'n/a');
  return digits ? num(x, digits) : pct(x, 1);
}

export function metric(label: string, value: string, title: string, id: string): HTMLElement {
  return h('span.metric', { title, 'data-metric': id }, h('span.metric-label', null, label), h('span.metric-value', null, value));
}

/**
 * PR curves of every class (faint) with one focused (the selected class, or the micro-average when
 * `selected` is -1) and its operating point at its threshold marked. Shared by the single- and
 * multi-label views.
 */
export function prChartConfig(o: {
  curves: (PrPoint[] | null)[];
  micro: PrPoint[] | null;
  names: string[];
  selected: number;
  /** The threshold of a class (-1: the micro-average), or null for no marker. */
  threshold: (c: number) => number | null;
  microLabel: string;
}): ChartConfiguration<'line'> {
  const c = chartColors();
  const datasets: ChartDataset<'line', { x: number; y: number }[]>[] = [];
  const sel = o.selected;
  const faint = alpha(c.foreground, 0.16);
  const ring = alpha(c.background, 1);
  const curve = (points: PrPoint[], label: string, color: string, width: number, order: number): ChartDataset<'line', { x: number; y: number }[]> => ({
    label,
    // Precision p_i holds over recall (r_{i-1}, r_i] (how AP sums it): vertical steps first.
    data: [{ x: 0, y: points[0]?.precision ?? 1 }, ...points.map((p) => ({ x: p.recall, y: p.precision }))],
    borderColor: color,
    backgroundColor: color,
    borderWidth: width,
    pointRadius: 0,
    pointHoverRadius: 0,
    stepped: 'after',
    order,
    clip: 4,
  });
  const focusColor = seriesColor(0);
  o.curves.forEach((points, ci) => {
    if (points && ci !== sel) datasets.push(curve(points, o.names[ci], faint, 1, 2));
  });
  const focused = sel === -1 ? o.micro : o.curves[sel];
  const focusLabel = sel === -1 ? o.microLabel : o.names[sel];
  if (focused) {
    datasets.push(curve(focused, focusLabel, focusColor, 2.5, 1));
    const t = o.threshold(sel);
    const op = t === null ? null : operatingPoint(focused, t);
    if (op && t !== null) {
      datasets.push({
        label: `${focusLabel} at ${t.toFixed(2)}`,
        data: [{ x: op.recall, y: op.precision }],
        showLine: false,
        pointRadius: 6,
        pointHoverRadius: 7,
        borderColor: ring,
        backgroundColor: focusColor,
        borderWidth: 2,
        order: 0,
        clip: 10,
      });
    }
  }
  return {
    type: 'line',
    data: { datasets },
    options: {
      parsing: false,
      interaction: { mode: 'nearest', intersect: false },
      plugins: {
        legend: {
          display: true,
          position: 'bottom',
          labels: { filter: (item) => item.text === focusLabel },
        },
        tooltip: {
          filter: (it) => it.dataset.label?.includes(' at ') === true,
          callbacks: { label: (it) => `${it.dataset.label}: precision ${pct(it.parsed.y, 1)}, recall ${pct(it.parsed.x, 1)}` },
        },
      },
      scales: {
        x: { type: 'linear', min: 0, max: 1, title: { display: true, text: 'recall', color: c.muted }, ticks: { callback: (v) => pct(Number(v), 0) } },
        y: { type: 'linear', min: 0, max: 1, title: { display: true, text: 'precision', color: c.muted }, ticks: { callback: (v) => pct(Number(v), 0) } },
      },
    },
  };
}
