// Colours from VS Code's theme variables, for the canvas charts (CSS handles everything else).
// VS Code sets the variables on <html> and the theme kind as a class on <body>; when the user
// switches themes both change, and the charts are redrawn with the new colours.
import { Chart, type ChartDataset } from 'chart.js';

export function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim() || getComputedStyle(document.body).getPropertyValue(name).trim();
  return v || fallback;
}

export type ThemeKind = 'light' | 'dark' | 'high-contrast' | 'high-contrast-light';

export function themeKind(): ThemeKind {
  const c = document.body.classList;
  if (c.contains('vscode-high-contrast-light')) return 'high-contrast-light';
  if (c.contains('vscode-high-contrast')) return 'high-contrast';
  if (c.contains('vscode-light')) return 'light';
  return 'dark';
}

export interface ChartColors {
  foreground: string;
  muted: string;
  grid: string;
  background: string;
  /** Series colours: VS Code's chart palette first. */
  series: string[];
  partition: { TRAIN: string; VALIDATION: string; TEST: string };
  focus: string;
  font: string;
}

export function chartColors(): ChartColors {
  const blue = cssVar('--vscode-charts-blue', '#3794ff');
  const orange = cssVar('--vscode-charts-orange', '#d18616');
  const green = cssVar('--vscode-charts-green', '#89d185');
  const purple = cssVar('--vscode-charts-purple', '#b180d7');
  const red = cssVar('--vscode-charts-red', '#f14c4c');
  const yellow = cssVar('--vscode-charts-yellow', '#cca700');
  const fg = cssVar('--vscode-foreground', '#cccccc');
  const hc = themeKind().startsWith('high-contrast');
  return {
    foreground: fg,
    muted: cssVar('--vscode-descriptionForeground', fg),
    grid: hc ? cssVar('--vscode-contrastBorder', fg) : cssVar('--vscode-charts-lines', 'rgba(128,128,128,0.35)'),
    background: cssVar('--vscode-editor-background', '#1e1e1e'),
    series: [blue, orange, green, purple, red, yellow],
    partition: { TRAIN: blue, VALIDATION: orange, TEST: green },
    focus: cssVar('--vscode-focusBorder', blue),
    font: cssVar('--vscode-font-family', 'system-ui, sans-serif'),
  };
}

/** A CSS colour with an alpha, via color-mix (works for any CSS colour syntax). */
export function withAlpha(color: string, alpha: number): string {
  return `color-mix(in srgb, ${color} ${Math.round(alpha * 100)}%, transparent)`;
}

/** Canvas needs concrete colours: resolves color-mix() and variables through the DOM. */
const probe = (): HTMLElement => {
  let el = document.getElementById('color-probe');
  if (!el) {
    el = document.createElement('span');
    el.id = 'color-probe';
    el.hidden = true;
    document.body.appendChild(el);
  }
  return el;
};
export function resolveColor(css: string): string {
  const el = probe();
  el.style.color = '';
  el.style.color = css;
  return getComputedStyle(el).color || css;
}

export function alpha(color: string, a: number): string {
  return resolveColor(withAlpha(color, a));
}

const SERIES_VARS: [string, string][] = [
  ['--vscode-charts-blue', '#3794ff'],
  ['--vscode-charts-orange', '#d18616'],
  ['--vscode-charts-green', '#89d185'],
  ['--vscode-charts-purple', '#b180d7'],
  ['--vscode-charts-red', '#f14c4c'],
  ['--vscode-charts-yellow', '#cca700'],
];

/** The i-th series colour as CSS (follows theme changes by itself; for DOM swatches). */
export function seriesCss(i: number): string {
  const [name, fallback] = SERIES_VARS[i % SERIES_VARS.length];
  const base = `var(${name}, ${fallback})`;
  return Math.floor(i / SERIES_VARS.length) % 2 === 1 ? `color-mix(in srgb, ${base} 55%, var(--vscode-foreground))` : base;
}

/** The i-th series colour, resolved for the canvas: VS Code's six chart colours, then the same mixed with the foreground. */
export function seriesColor(i: number): string {
  return resolveColor(seriesCss(i));
}

export function applyChartDefaults(): ChartColors {
  const c = chartColors();
  Chart.defaults.color = c.muted;
  Chart.defaults.borderColor = c.grid;
  Chart.defaults.font.family = c.font;
  Chart.defaults.font.size = 12;
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.plugins.tooltip.backgroundColor = cssVar('--vscode-editorHoverWidget-background', c.background);
  Chart.defaults.plugins.tooltip.titleColor = cssVar('--vscode-editorHoverWidget-foreground', c.foreground);
  Chart.defaults.plugins.tooltip.bodyColor = cssVar('--vscode-editorHoverWidget-foreground', c.foreground);
  Chart.defaults.plugins.tooltip.borderColor = cssVar('--vscode-editorHoverWidget-border', c.grid);
  Chart.defaults.plugins.tooltip.borderWidth = 1;
  Chart.defaults.plugins.tooltip.cornerRadius = 3;
  Chart.defaults.plugins.legend.labels.boxWidth = 12;
  Chart.defaults.plugins.legend.labels.boxHeight = 12;
  return c;
}

/** Calls `fn` when the theme (body class or the variables on <html>) changes. */
export function onThemeChange(fn: () => void): void {
  let timer: number | undefined;
  const fire = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = window.setTimeout(() => {
      applyChartDefaults();
      fn();
    }, 50);
  };
  new MutationObserver(fire).observe(document.body, { attributes: true, attributeFilter: ['class', 'data-vscode-theme-kind'] });
  new MutationObserver(fire).observe(document.documentElement, { attributes: true, attributeFilter: ['style'] });
}

export type LineDataset = ChartDataset<'line', { x: number; y: number | null }[]>;
