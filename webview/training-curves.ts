// The training view's learning curves, in two groups so that neither squeezes the other:
// - the search trials (a few epochs each) on their own loss and accuracy charts, x = epoch of the trial,
//   training solid and validation dashed, with the chips that pick which trials are drawn;
// - the final fit (tens of epochs, trained on TRAIN+VALIDATION) on charts of its own. Its score on
//   VALIDATION is on images it trains on, so it is drawn dotted and named "on seen VALIDATION", never
//   "validation": only the training curves and TEST (the Evaluation panel) say how good it is.
import type { ChartConfiguration, ChartDataset } from 'chart.js';
import type { EpochRecord, TrialRecord } from '../src/shared/protocol';
import { describeConfig } from '../src/search/space';
import { getViewState, patchViewState } from './bridge';
import { ChartBox } from './charts';
import { emptyState } from './common';
import { segmented } from './components';
import { h, replaceChildren } from './dom';
import { num, pct } from './format';
import { alpha, chartColors, seriesColor, seriesCss } from './theme';

type History = Map<string, Map<number, EpochRecord>>;
type Metric = 'loss' | 'accuracy';

export interface CurveSource {
  /** All trials, in search order (the final fit among them). */
  trials(): TrialRecord[];
  history: History;
  running(): boolean;
}

const isSearch = (t: TrialRecord) => t.trainOn === 'TRAIN';

/** The two groups of learning curves and the trial chips. */
export class LearningCurves {
  readonly el: HTMLElement;
  private readonly legendEl: HTMLElement;
  private readonly fitEl: HTMLElement;
  private readonly boxes: ChartBox<'line'>[];
  private legendKey = '';

  constructor(
    private readonly src: CurveSource,
    private readonly onChange: () => void,
  ) {
    const color = (id: string) => seriesColor(this.src.trials().find((t) => t.id === id)?.index ?? 0);
    const search = (metric: Metric) =>
      new ChartBox<'line'>(
        `${metric === 'loss' ? 'Loss' : 'Accuracy'} per epoch of each search trial: training (solid) and validation (dashed)`,
        () => curveConfig(this.shownTrials(), this.src.history, color, metric, 'search'),
        { height: 260, className: 'search-curves' },
      );
    const fit = (metric: Metric) =>
      new ChartBox<'line'>(
        `${metric === 'loss' ? 'Loss' : 'Accuracy'} per epoch of the final fit on TRAIN+VALIDATION: training (solid), on seen VALIDATION (dotted)`,
        () => curveConfig(this.finalFit() ? [this.finalFit()!.id] : [], this.src.history, color, metric, 'final'),
        { height: 220, className: 'final-curves' },
      );
    this.boxes = [search('loss'), search('accuracy'), fit('loss'), fit('accuracy')];
    const [sLoss, sAcc, fLoss, fAcc] = this.boxes;
    this.legendEl = h('div.legend', { role: 'group', 'aria-label': 'Search trials shown on the curves' });
    const filter = segmented<'top' | 'all'>(
      'Trials on the curves',
      [
        { value: 'top', label: 'Top 5 + running' },
        { value: 'all', label: 'All' },
      ],
      getViewState().selectedTrials ? ('custom' as 'top') : (getViewState().curveFilter ?? 'top'),
      (v) => {
        patchViewState({ curveFilter: v, selectedTrials: undefined });
        this.onChange();
      },
    );
    const pair = (loss: ChartBox<'line'>, acc: ChartBox<'line'>, accCaption: string) =>
      h(
        'div.chart-pair',
        null,
        h('figure.chart-fig', null, h('figcaption', null, 'Loss'), loss.el),
        h('figure.chart-fig', null, h('figcaption', null, accCaption), acc.el),
      );
    this.fitEl = h(
      'div.final-fit-curves',
      { hidden: true },
      h('h3.curves-title', null, 'Final fit on TRAIN+VALIDATION'),
      h(
        'p.note.muted',
        null,
        'The final fit retrains the best configuration on TRAIN and VALIDATION together, for longer. Its accuracy on VALIDATION is measured on images it trains on ' +
          '(dotted), so it is no validation score: how good the final model is, is its TEST accuracy (Evaluation).',
      ),
      h(
        'div.toolbar',
        null,
        h('span.legend-key.muted', { 'aria-hidden': 'true' }, h('span.key-solid'), 'training (TRAIN+VALIDATION)', h('span.key-dotted'), 'on seen VALIDATION'),
      ),
      pair(fLoss, fAcc, 'Training accuracy (the final fit trains on TRAIN+VALIDATION)'),
    );
    this.el = h(
      'div.curves',
      null,
      h('h3.curves-title', null, 'Search trials'),
      h(
        'div.toolbar',
        null,
        filter.el,
        h('span.legend-key.muted', { 'aria-hidden': 'true' }, h('span.key-solid'), 'training', h('span.key-dashed'), 'validation'),
        h('span.muted.hint', null, 'x: epochs of each trial'),
      ),
      this.legendEl,
      pair(sLoss, sAcc, 'Accuracy'),
      this.fitEl,
    );
  }

  private finalFit(): TrialRecord | undefined {
    return this.src.trials().find((t) => !isSearch(t));
  }

  /** Search trials drawn on the curves: the chosen ones, or the top 5 by validation accuracy and those running. */
  shownTrials(): string[] {
    const st = getViewState();
    const all = this.src.trials().filter(isSearch);
    if (st.selectedTrials) return st.selectedTrials.filter((id) => all.some((t) => t.id === id));
    if (st.curveFilter === 'all') return all.map((t) => t.id);
    const top = all
      .filter((t) => t.bestValAccuracy !== null)
      .sort((a, b) => (b.bestValAccuracy ?? 0) - (a.bestValAccuracy ?? 0))
      .slice(0, 5)
      .map((t) => t.id);
    const set = new Set([...top, ...all.filter((t) => t.status === 'running').map((t) => t.id)]);
    return all.filter((t) => set.has(t.id)).map((t) => t.id);
  }

  renderCharts(): void {
    const fit = this.finalFit();
    this.fitEl.hidden = !fit || !(this.src.history.get(fit.id)?.size ?? 0);
    for (const box of this.boxes) {
      if (box.el.closest('[hidden]') && !box.chart) continue;
      box.render();
      const datasets = box.chart?.data.datasets ?? [];
      box.el.setAttribute('data-points', String(datasets.reduce((n, ds) => n + ds.data.length, 0)));
    }
  }

  renderLegend(): void {
    const shown = new Set(this.shownTrials());
    const all = this.src.trials().filter(isSearch);
    // The chips change when a trial appears, changes status or best score, or is shown or hidden.
    const key = JSON.stringify(all.map((t) => [t.id, t.status, t.bestValAccuracy, shown.has(t.id), t.origin]));
    if (key === this.legendKey && this.legendEl.childElementCount > 0) return;
    this.legendKey = key;
    if (!all.length) {
      replaceChildren(this.legendEl, emptyState('No epochs yet.', this.src.running() ? 'Curves appear as the first epoch ends.' : undefined));
      return;
    }
    const chips = all.map((t) => {
      const on = shown.has(t.id);
      const sw = h('span.swatch', { 'aria-hidden': 'true' });
      sw.style.backgroundColor = seriesCss(t.index);
      const b = h(
        'button.chip',
        {
          type: 'button',
          'aria-pressed': on ? 'true' : 'false',
          title: `${t.id}: ${describeConfig(t.config)} (${t.origin})${t.bestValAccuracy !== null ? ` · best val acc ${pct(t.bestValAccuracy, 2)}` : ''}`,
        },
        sw,
        t.id,
        t.status === 'running' ? h('span.chip-live', { 'aria-label': 'running' }, '●') : null,
      );
      b.addEventListener('click', () => {
        const cur = new Set(this.shownTrials());
        if (cur.has(t.id)) cur.delete(t.id);
        else cur.add(t.id);
        patchViewState({ selectedTrials: all.filter((x) => cur.has(x.id)).map((x) => x.id) });
        this.onChange();
      });
      return b;
    });
    replaceChildren(this.legendEl, chips);
  }

  dispose(): void {
    for (const b of this.boxes) b.dispose();
  }
}

/**
 * The learning curves of the given trials for one metric. `search`: training solid, validation dashed,
 * x the epochs of each trial. `final`: the final fit's training curve solid and its score on seen
 * VALIDATION dotted and faint, named so.
 */
export function curveConfig(
  shown: string[],
  history: History,
  colorOf: (trialId: string) => string,
  metric: Metric,
  kind: 'search' | 'final',
): ChartConfiguration<'line'> {
  const c = chartColors();
  const datasets: ChartDataset<'line', { x: number; y: number | null }[]>[] = [];
  const trainName = kind === 'final' ? `training ${metric === 'loss' ? 'loss' : 'accuracy'} (TRAIN+VALIDATION)` : 'training';
  const valName = kind === 'final' ? `${metric === 'loss' ? 'loss' : 'accuracy'} on seen VALIDATION` : 'validation';
  for (const id of shown) {
    const recs = [...(history.get(id)?.values() ?? [])].sort((a, b) => a.epoch - b.epoch);
    const solid = alpha(colorOf(id), 1);
    const common = {
      borderColor: solid,
      backgroundColor: solid,
      pointRadius: recs.length > 30 ? 0 : 2,
      pointHoverRadius: 4,
      borderWidth: 2,
      tension: 0.2,
      spanGaps: true,
    };
    const label = (what: string) => (kind === 'final' ? `final fit ${what}` : `${id} ${what}`);
    datasets.push({ ...common, label: label(trainName), data: recs.map((r) => ({ x: r.epoch, y: metric === 'loss' ? r.loss : r.accuracy })) });
    if (recs.some((r) => (metric === 'loss' ? r.valLoss : r.valAccuracy) !== null)) {
      const dotted =
        kind === 'final' ? { borderColor: alpha(colorOf(id), 0.55), backgroundColor: alpha(colorOf(id), 0.55), borderDash: [2, 3], borderWidth: 1.5 } : {};
      datasets.push({
        ...common,
        borderDash: [5, 4],
        ...dotted,
        label: label(valName),
        data: recs.map((r) => ({ x: r.epoch, y: metric === 'loss' ? r.valLoss : r.valAccuracy })),
      });
    }
  }
  return {
    type: 'line',
    data: { datasets },
    options: {
      responsive: true,
      parsing: false,
      normalized: true,
      interaction: { mode: 'nearest', intersect: false },
      plugins: {
        legend: { display: false },
        tooltip: {
          callbacks: {
            title: (items) => (items.length ? `epoch ${items[0].parsed.x}${kind === 'search' ? ' of the trial' : ' of the final fit'}` : ''),
            label: (item) => `${item.dataset.label}: ${metric === 'accuracy' ? pct(item.parsed.y, 2) : num(item.parsed.y, 4)}`,
          },
        },
      },
      scales: {
        x: {
          type: 'linear',
          title: { display: true, text: kind === 'search' ? 'epoch of the trial' : 'epoch of the final fit', color: c.muted },
          ticks: { precision: 0 },
          min: 0,
        },
        y: metric === 'accuracy' ? { min: 0, max: 1, ticks: { callback: (v) => pct(Number(v), 0) } } : { beginAtZero: true },
      },
    },
  };
}
