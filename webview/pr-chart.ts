// The precision-recall chart of the single- and multi-label evaluation views: every class in its own
// colour with an HTML legend (click a class to focus it; the focused one is drawn thick with its
// operating point at the threshold), and the layout that keeps the chart beside the per-class table
// (and in view, sticky, while the threshold slider moves) on panels from about 1000 px wide.
import type { ChartConfiguration, ChartDataset } from 'chart.js';
import type { PrPoint } from '../src/eval/metrics';
import { h, replaceChildren } from './dom';
import { pct } from './format';
import { alpha, chartColors, seriesColor, seriesCss } from './theme';

/** The one-vs-rest point of a PR curve at a score threshold: the lowest curve threshold ≥ t. */
function operatingPoint(curve: PrPoint[], t: number): PrPoint | null {
  let found: PrPoint | null = null;
  for (const p of curve) {
    if (p.threshold >= t) found = p;
    else break;
  }
  return found;
}

/**
 * PR curves of every class, each in its series colour (faint unless focused), with one focused (the
 * selected class, or the micro-average when `selected` is -1) and its operating point at its threshold.
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
  // With one class focused the others fade further, so that it stands out.
  const faint = sel === -1 ? 0.5 : 0.28;
  o.curves.forEach((points, ci) => {
    if (points && ci !== sel) datasets.push(curve(points, o.names[ci], alpha(seriesColor(ci), faint), 1.25, 2));
  });
  const focusColor = sel === -1 ? alpha(c.foreground, 1) : seriesColor(sel);
  const focused = sel === -1 ? o.micro : o.curves[sel];
  const focusLabel = sel === -1 ? o.microLabel : o.names[sel];
  if (focused) {
    datasets.push(curve(focused, focusLabel, focusColor, 3, 1));
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
        // The legend is HTML (prLegend): every class, clickable.
        legend: { display: false },
        tooltip: {
          // The nearest curve names itself on hover.
          filter: (it, i) => i === 0,
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

export interface PrLegendHandle {
  el: HTMLElement;
  /** Marks the focused class (-1: the micro-average). */
  set(selected: number): void;
}

/** The PR chart's legend: the micro-average and each class with its colour; a click focuses it. */
export function prLegend(names: string[], microLabel: string, selected: number, onPick: (c: number) => void): PrLegendHandle {
  const el = h('div.legend.pr-legend', { role: 'group', 'aria-label': 'Curves on the precision-recall chart (click to focus one)' });
  const set = (sel: number) => {
    replaceChildren(
      el,
      [-1, ...names.map((_, i) => i)].map((ci) => {
        const sw = h('span.pr-swatch', { 'aria-hidden': 'true' });
        sw.style.backgroundColor = ci === -1 ? 'var(--vscode-foreground)' : seriesCss(ci);
        const b = h(
          'button.chip',
          { type: 'button', 'aria-pressed': ci === sel ? 'true' : 'false', 'data-class': ci, title: `Focus ${ci === -1 ? microLabel : names[ci]}` },
          sw,
          ci === -1 ? microLabel : names[ci],
        );
        b.addEventListener('click', () => onPick(ci));
        return b;
      }),
    );
  };
  set(selected);
  return { el, set };
}

/** The per-class table beside the PR chart (title, class picker, chart, legend), the chart column sticky. */
export function prLayout(table: HTMLElement, picker: HTMLElement, chart: HTMLElement, legend: HTMLElement, manyColumns = false): HTMLElement {
  return h(
    `div.pr-layout${manyColumns ? '.many-columns' : ''}`,
    null,
    h('div.col.pr-table', null, table),
    h('div.col.pr-side', null, h('div.toolbar', null, h('h3', null, 'Precision–recall'), picker), chart, legend),
  );
}
