// Panel 1: the dataset. Label distribution by partition (grouped bars and a table), sample
// thumbnails per label, and the validation findings (a click opens the file at the line).
import type { Finding, LabelCounts, Severity } from '../src/data/types';
import type { DatasetPanelData, HostToWebview } from '../src/shared/protocol';
import { patchViewState, request } from './bridge';
import { ChartBox } from './charts';
import { banner, card, cards, emptyState, header, ImageBook, imageTile } from './common';
import { actionLink, button, dataGrid, pill, segmented, tabs, type Tone } from './components';
import { h, replaceChildren } from './dom';
import { basename, int, pct, plural } from './format';
import { chartColors } from './theme';

const SEVERITY_TONE: Record<Severity, Tone> = { error: 'error', warning: 'warning', info: 'info' };
const SEVERITY_TEXT: Record<Severity, string> = { error: 'Error', warning: 'Warning', info: 'Info' };

export class DatasetView {
  private data: DatasetPanelData | undefined;
  private readonly images = new ImageBook();
  private chart: ChartBox<'bar'> | undefined;
  private severityFilter: Severity | 'all' = 'all';

  constructor(private readonly root: HTMLElement) {}

  onMessage(m: Exclude<HostToWebview, { type: 'response' }>): void {
    if (m.type === 'init' && m.panel === 'dataset') this.init(m.data);
    else if (m.type === 'images') this.images.add(m.images);
  }

  private init(data: DatasetPanelData): void {
    this.data = data;
    this.chart?.dispose();
    this.chart = undefined;
    const state = patchViewState({ kind: 'dataset', target: data.source });
    const s = data.stats;
    const revealBtn = button('Reveal in Explorer', { appearance: 'secondary', onClick: () => void request('reveal', {}) });
    const head = header(
      data.title,
      h('span.mono', { title: data.source }, data.source),
      s
        ? [pill(s.format.toUpperCase(), 'muted', 'Dataset format'), s.multiLabel ? pill('Multi-label', 'info') : null].filter((x): x is HTMLElement => !!x)
        : [],
      [revealBtn.el],
    );
    if (!s) {
      replaceChildren(
        this.root,
        head,
        banner('error', 'The dataset could not be read.', data.error ?? ''),
        data.findings.length ? this.findingsView(data.findings) : null,
      );
      return;
    }
    const f = s.findings;
    const summary = cards(
      card('Images', int(s.totals.total), `${plural(s.classes.length, 'class', 'classes')}`),
      card('TRAIN', int(s.totals.train), pct(s.totals.total ? s.totals.train / s.totals.total : null, 0)),
      card('VALIDATION', int(s.totals.validation), pct(s.totals.total ? s.totals.validation / s.totals.total : null, 0)),
      card('TEST', int(s.totals.test), pct(s.totals.total ? s.totals.test / s.totals.total : null, 0)),
      card(
        'Split by AutoML',
        int(s.splitByUs),
        'rows without a partition',
        'Rows whose partition was chosen here (80/10/10, stratified), and the validation hold-out.',
      ),
      card('Unusable', int(s.unusable), 'missing or unreadable'),
      s.images ? card('Image size', `${int(s.images.width.median)} × ${int(s.images.height.median)}`, 'median width × height') : null,
      s.duplicates ? card('Duplicates', int(s.duplicates.images), `${plural(s.duplicates.leakageGroups, 'group')} across partitions`) : null,
      f.error + f.warning + f.info
        ? card(
            'Findings',
            h('span.findings-count', null, severityCount(f.error, 'error'), severityCount(f.warning, 'warning'), severityCount(f.info, 'info')),
            `${plural(f.error, 'error')} · ${plural(f.warning, 'warning')} · ${f.info} info`,
          )
        : card('Findings', h('span.findings-none', null, h('span.pill-dot', { 'aria-hidden': 'true' }), 'None'), 'the dataset looks good'),
    );
    const notices: HTMLElement[] = [];
    if (f.error) notices.push(banner('error', `${plural(f.error, 'error')} must be fixed before training.`, 'See Findings.'));
    const small = s.counts.filter((c) => c.train < 10);
    if (small.length)
      notices.push(
        banner(
          'warning',
          `${plural(small.length, 'label')} with fewer than 10 TRAIN images:`,
          small
            .slice(0, 8)
            .map((c) => c.label)
            .join(', ') + (small.length > 8 ? ', …' : ''),
        ),
      );

    const active = (['labels', 'samples', 'findings'] as const).includes(state.tab as 'labels') ? (state.tab as string) : 'labels';
    const t = tabs(
      [
        { id: 'labels', label: 'Labels', content: this.labelsView(s.counts) },
        { id: 'samples', label: 'Samples', content: this.samplesView(data) },
        { id: 'findings', label: 'Findings', content: this.findingsView(data.findings), badge: data.findings.length },
      ],
      active,
      (id) => patchViewState({ tab: id }),
    );
    replaceChildren(this.root, head, summary, ...notices, t.el);
    (this.chart as ChartBox<'bar'> | undefined)?.render();
  }

  private labelsView(counts: LabelCounts[]): HTMLElement {
    const many = counts.length > 16;
    this.chart = new ChartBox<'bar'>(
      'Images per label and partition',
      () => {
        const c = chartColors();
        // Empty partitions (no TEST rows, say) get no bar slot.
        const parts = (
          [
            { key: 'train', label: 'TRAIN', color: c.partition.TRAIN },
            { key: 'validation', label: 'VALIDATION', color: c.partition.VALIDATION },
            { key: 'test', label: 'TEST', color: c.partition.TEST },
          ] as const
        ).filter((p) => counts.some((x) => x[p.key] > 0));
        return {
          type: 'bar',
          data: {
            labels: counts.map((x) => x.label),
            datasets: parts.map((p) => ({
              label: p.label,
              data: counts.map((x) => x[p.key]),
              backgroundColor: p.color,
              borderWidth: 0,
              borderRadius: 2,
              maxBarThickness: 28,
            })),
          },
          options: {
            indexAxis: many ? 'y' : 'x',
            responsive: true,
            plugins: { legend: { position: 'top', align: 'end' }, tooltip: { mode: 'index', intersect: false } },
            scales: {
              x: { grid: { display: many }, ticks: { autoSkip: false, maxRotation: 60 }, beginAtZero: true, grace: '8%' },
              y: { grid: { display: !many }, ticks: { autoSkip: false }, beginAtZero: true, grace: '8%' },
            },
          },
        };
      },
      { height: many ? Math.min(2400, 60 + counts.length * 22) : 300 },
    );
    // The share of all images: the bar's full width is 100 %, not the largest class.
    const all = this.data?.stats?.totals.total || counts.reduce((n, c) => n + c.total, 0);
    const grid = dataGrid<LabelCounts>('Images per label', [
      { title: 'Label', width: 'minmax(140px, 2fr)', render: (r) => r.label },
      { title: 'TRAIN', align: 'right', render: (r) => int(r.train) },
      { title: 'VALIDATION', align: 'right', render: (r) => int(r.validation) },
      { title: 'TEST', align: 'right', render: (r) => int(r.test) },
      { title: 'Total', align: 'right', render: (r) => int(r.total) },
      {
        title: 'Share',
        width: 'minmax(150px, 1.5fr)',
        description: 'Share of all images (the full bar is 100 %)',
        render: (r) => {
          const share = all ? r.total / all : 0;
          const bar = h('span.inline-bar-fill');
          bar.style.width = `${(share * 100).toFixed(1)}%`;
          return h(
            'span.share-cell',
            null,
            h('span.inline-bar', { title: `${pct(share)} of all images`, 'data-share': share.toFixed(4) }, bar),
            h('span.share-pct', null, pct(share)),
          );
        },
      },
    ]);
    grid.setRows(counts);
    return h('div.stack', null, h('section.section', { 'aria-label': 'Label distribution chart' }, this.chart.el), grid.el);
  }

  private samplesView(data: DatasetPanelData): HTMLElement {
    if (!data.samples.length) return emptyState('No images to show.');
    const rows = data.samples.map((s) => {
      const tiles = s.images.map((img) => {
        const t = imageTile(img.key, `${s.label}: ${img.display}`, [
          h('span.tile-name', null, basename(img.display)),
          img.partition ? h('span.tile-tag', null, img.partition) : '',
        ]);
        this.images.attach(t);
        return t.el;
      });
      return h(
        'section.sample-row',
        { 'aria-label': `Samples of ${s.label}` },
        h('h3', null, s.label, h('span.muted', null, ` · ${plural(s.total, 'image')}`)),
        tiles.length ? h('div.tiles', null, tiles) : h('p.muted', null, 'No usable image.'),
      );
    });
    return h('div.samples', null, rows);
  }

  private findingsView(findings: Finding[]): HTMLElement {
    const rank: Record<Severity, number> = { error: 0, warning: 1, info: 2 };
    findings = findings
      .map((f, i) => ({ f, i }))
      .sort((a, b) => rank[a.f.severity] - rank[b.f.severity] || a.i - b.i)
      .map((x) => x.f);
    const list = h('ul.findings', { 'aria-label': 'Findings' });
    const render = () => {
      const shown = findings.filter((f) => this.severityFilter === 'all' || f.severity === this.severityFilter);
      replaceChildren(
        list,
        shown.length
          ? shown.map((f) => {
              const where = `${basename(f.file)}${f.line ? `:${f.line}` : ''}${f.column ? `:${f.column}` : ''}`;
              return h(
                'li.finding',
                null,
                pill(SEVERITY_TEXT[f.severity], SEVERITY_TONE[f.severity]),
                actionLink(
                  where,
                  () => void request('openFile', { path: f.file, line: f.line, column: f.column }),
                  `Open ${f.file}${f.line ? ` at line ${f.line}` : ''}`,
                ),
                h('span.finding-message', null, f.message),
                h('span.finding-code.muted', null, f.code),
              );
            })
          : [h('li.finding-none', null, findings.length ? 'No finding of this severity.' : 'No findings: the dataset looks good.')],
      );
    };
    const count = (s: Severity) => findings.filter((f) => f.severity === s).length;
    const filter = segmented<Severity | 'all'>(
      'Severity',
      [
        { value: 'all', label: `All (${findings.length})` },
        { value: 'error', label: `Errors (${count('error')})` },
        { value: 'warning', label: `Warnings (${count('warning')})` },
        { value: 'info', label: `Info (${count('info')})` },
      ],
      this.severityFilter,
      (v) => {
        this.severityFilter = v;
        render();
      },
    );
    render();
    return h('div.stack', null, h('div.toolbar', null, filter.el), list);
  }
}

function severityCount(n: number, s: Severity): HTMLElement {
  return h(`span.sev.sev-${s}`, { title: `${n} ${s}${n === 1 ? '' : 's'}` }, h('span.pill-dot', { 'aria-hidden': 'true' }), String(n));
}
