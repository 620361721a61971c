// Chart.js set-up: only the parts the panels use are registered (smaller bundle), and every
// chart can be rebuilt from its factory when the theme changes (canvas colours are baked in).
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  type ChartConfiguration,
  type ChartType,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  ScatterController,
  Tooltip,
} from 'chart.js';
import { h } from './dom';
import { applyChartDefaults } from './theme';

let registered = false;
export function registerCharts(): void {
  if (registered) return;
  registered = true;
  Chart.register(BarController, BarElement, CategoryScale, LinearScale, LineController, LineElement, PointElement, ScatterController, Tooltip, Legend, Filler);
  applyChartDefaults();
}

const boxes = new Set<ChartBox<ChartType>>();

/** Rebuilds every chart (after a theme change). */
export function rebuildCharts(): void {
  for (const b of boxes) b.rebuild();
}

/** A chart in a sized container, described by a factory so it can be rebuilt at any time. */
export class ChartBox<T extends ChartType> {
  readonly el: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  chart: Chart<T> | undefined;
  private optionsKey = '';

  constructor(
    label: string,
    private readonly factory: () => ChartConfiguration<T>,
    opts: { height?: number; className?: string } = {},
  ) {
    this.canvas = h('canvas', { role: 'img', 'aria-label': label }) as HTMLCanvasElement;
    this.el = h(`div.chart-box${opts.className ? `.${opts.className}` : ''}`, null, this.canvas);
    if (opts.height) this.el.style.height = `${opts.height}px`;
    boxes.add(this as unknown as ChartBox<ChartType>);
  }

  /** Creates the chart on first call, then updates it from the factory's data. */
  render(): void {
    this.draw();
    // What is drawn, for tests and assistive tools: the series' names and the x axis' extent.
    const datasets = this.chart?.data.datasets ?? [];
    this.el.setAttribute('data-series', datasets.map((ds) => ds.label ?? '').join('|'));
    const x = this.chart?.scales.x;
    if (x && Number.isFinite(x.max)) this.el.setAttribute('data-x-max', String(x.max));
  }

  private draw(): void {
    if (!this.chart) {
      const cfg = this.factory();
      this.optionsKey = optionsKey(cfg.options);
      this.chart = new Chart(this.canvas, cfg);
      return;
    }
    const cfg = this.factory();
    this.chart.data = cfg.data;
    // New options make Chart.js resolve them all again: replace them only when they changed
    // (their serialisable part; callbacks are rebuilt from the same code every time).
    const key = optionsKey(cfg.options);
    if (cfg.options && key !== this.optionsKey) this.chart.options = cfg.options as typeof this.chart.options;
    this.optionsKey = key;
    this.chart.update('none');
  }

  rebuild(): void {
    this.chart?.destroy();
    this.chart = undefined;
    this.render();
  }

  setHeight(px: number): void {
    this.el.style.height = `${px}px`;
    this.chart?.resize();
  }

  dispose(): void {
    this.chart?.destroy();
    boxes.delete(this as unknown as ChartBox<ChartType>);
  }
}

function optionsKey(options: unknown): string {
  return JSON.stringify(options ?? null);
}
