// The training view's parts: which worker events change which part, and the builders that
// depend only on their arguments (the summary cards, the leaderboard's columns, the learning-curve
// chart configuration, the final-model and backend descriptions).
import type { BackendInfo, EpochRecord, ExperimentRecord, LeaderboardRow, TrialRecord, WorkerEvent } from '../src/shared/protocol';
import { describeConfig } from '../src/search/space';
import { card, cards, statusPill } from './common';
import { h } from './dom';
import { type Column, pill } from './components';
import { compact, duration, int, num, pct } from './format';

/** Parts of the panel, re-rendered only when an event changed what they show. */
export type Part = 'status' | 'cards' | 'activity' | 'legend' | 'charts' | 'board' | 'log';
export const ALL_PARTS: Part[] = ['status', 'cards', 'activity', 'legend', 'charts', 'board', 'log'];

/** What each worker event can change (the rest of the panel stays as it is). */
export const PARTS_OF: Record<WorkerEvent['type'], Part[]> = {
  backend: ['cards'],
  experimentStarted: ['status', 'cards', 'activity'],
  dataProgress: ['activity'],
  trialStarted: ['cards', 'activity', 'legend', 'charts', 'board'],
  epochEnded: ['cards', 'activity', 'legend', 'charts', 'board'],
  batchProgress: ['activity', 'cards'],
  trialEnded: ['cards', 'activity', 'legend', 'charts', 'board'],
  experimentEnded: ALL_PARTS,
  log: ['log'],
  error: ['status', 'log'],
  ready: [],
  pong: [],
  predictions: [],
};

/** The summary cards: budget, best score, trials, throughput, backend and images. */
export function summaryCards(o: {
  used: number;
  budget: number;
  left: number;
  running: boolean;
  search: TrialRecord[];
  finalFit: TrialRecord | undefined;
  best: TrialRecord | undefined;
  ips: number | undefined;
  progress: { trialId: string } | null;
  backend: BackendInfo | undefined;
  counts: Record<string, number> | undefined;
  meter: HTMLElement;
}): HTMLElement {
  const by = (st: string) => o.search.filter((t) => t.status === st).length;
  return cards(
    card(
      'Budget used',
      duration(o.used),
      h(
        'div',
        null,
        o.meter,
        h('span', null, `of ${duration(o.budget)} · ${o.running ? `${duration(o.left)} left` : `${pct(o.budget ? o.used / o.budget : null, 0)}`}`),
      ),
    ),
    card(
      'Best validation accuracy',
      o.best ? pct(o.best.bestValAccuracy, 2) : '—',
      o.best ? `trial ${o.best.id} · ${describeConfig(o.best.config)}` : 'no score yet',
      'The best search trial on VALIDATION (images it did not train on): it chose the model. TEST accuracy, in the Evaluation panel, is the estimate for new images.',
    ),
    card(
      'Trials',
      int(o.search.length),
      [
        ...(['running', 'done', 'pruned', 'failed', 'cancelled', 'interrupted'] as const).map((s) => (by(s) ? `${by(s)} ${s}` : '')),
        o.finalFit ? `final fit ${o.finalFit.status}` : '',
      ]
        .filter(Boolean)
        .join(' · ') || 'none yet',
    ),
    card('Throughput', o.ips ? `${compact(o.ips)} img/s` : '—', o.progress ? `trial ${o.progress.trialId}` : 'last measured'),
    backendCard(o.backend),
    o.counts
      ? card(
          'Images',
          int((o.counts.TRAIN ?? 0) + (o.counts.VALIDATION ?? 0) + (o.counts.TEST ?? 0)),
          `${int(o.counts.TRAIN)} train · ${int(o.counts.VALIDATION)} val · ${int(o.counts.TEST)} test`,
        )
      : null,
  );
}

/** The leaderboard's columns; `errorOf` gives a failed trial's error (the status pill's tooltip). */
export function leaderboardColumns(errorOf: (trialId: string) => string | undefined): Column<LeaderboardRow>[] {
  return [
    { title: 'Trial', width: '70px', render: (r) => h('span.mono', null, r.trialId) },
    {
      title: 'Model',
      width: 'minmax(150px, 2fr)',
      // A Slurm trial: its job and node under the model (docs/slurm.md).
      render: (r) =>
        r.job ? h('span', null, r.family, h('span.muted.job', null, `Slurm job ${r.job.id}${r.job.node ? ` on ${r.job.node}` : ' (queued)'}`)) : r.family,
    },
    {
      title: 'Val acc',
      align: 'right',
      width: '90px',
      description: 'Best validation accuracy (the final fit trains on VALIDATION too, so it has none)',
      render: (r) =>
        r.valAccuracy === null
          ? h('span.muted', { title: r.trialId === 'final' ? 'Trained on TRAIN+VALIDATION' : 'No validation score yet' }, '—')
          : pct(r.valAccuracy, 2),
    },
    { title: 'Epochs', align: 'right', width: '84px', render: (r) => num(r.epochs, Number.isInteger(r.epochs) ? 0 : 1) },
    { title: 'Params', align: 'right', width: '90px', render: (r) => compact(r.params) },
    { title: 'Time', align: 'right', width: '90px', render: (r) => duration(r.seconds) },
    { title: 'Status', width: '110px', render: (r) => statusPill(r.status, errorOf(r.trialId)) },
    { title: 'Origin', width: 'minmax(110px, 1fr)', render: (r) => h('span.muted', null, r.origin) },
  ];
}

/**
 * What the accuracies mean, under the cards: the best trial's validation accuracy chose the model;
 * TEST is the unbiased estimate; the final fit has no validation score (it trains on VALIDATION).
 */
export function accuracyNote(e: ExperimentRecord, best: TrialRecord | undefined, finalFit: TrialRecord | undefined): HTMLElement | null {
  if (!best && !e.test) return null;
  return h(
    'p.accuracy-note.muted',
    null,
    best ? [h('strong', null, 'Best validation accuracy'), ': the best search trial on VALIDATION, images it did not train on; it chose the model. '] : null,
    e.test
      ? [
          h('strong', null, `${e.test.partition} accuracy ${pct(e.test.accuracy, 2)}`),
          `: the final model on ${e.test.partition}, images used neither to train nor to choose it — what to expect on new images`,
          finalFit ? ' (the final fit trained longer, on TRAIN+VALIDATION, so it may beat the search’s validation score). ' : '. ',
        ]
      : null,
    finalFit ? 'The final fit has no validation score: it trains on VALIDATION.' : null,
  );
}

/** What the final model is, in words. */
export function describeFinal(e: ExperimentRecord): string {
  const f = e.finalModel;
  if (!f) return 'none';
  const what = f.kind === 'final-fit' ? 'final fit on TRAIN+VALIDATION' : f.kind === 'ensemble' ? `ensemble of ${f.trials.join(', ')}` : `trial ${f.trials[0]}`;
  if (f.tta !== 'flip') return what;
  return `${what}, averaged with its mirror image${f.plainAccuracy !== undefined ? ` (${pct(f.plainAccuracy, 2)} without)` : ''}`;
}

function backendCard(b: BackendInfo | undefined): HTMLElement {
  if (!b) return card('Backend', '—', 'not chosen yet');
  const detail = [b.threads ? `${b.threads} threads` : '', b.versions['tfjs-core'] ? `tfjs ${b.versions['tfjs-core']}` : ''].filter(Boolean).join(' · ');
  return card(
    'Backend',
    h('span', null, b.name, ' ', b.name === 'cpu' ? pill('slow', 'warning', 'Pure JavaScript: for debugging') : null),
    detail || undefined,
    b.reasons.join('\n'),
  );
}

/** The last measured throughput (images/s) of the latest trial that has one. */
export function latestIps(trials: TrialRecord[], history: Map<string, Map<number, EpochRecord>>): number | undefined {
  for (let i = trials.length - 1; i >= 0; i--) {
    const t = trials[i];
    const recs = history.get(t.id);
    if (recs && recs.size) {
      const last = [...recs.values()].sort((a, b) => a.epoch - b.epoch).pop()!;
      if (last.imagesPerSec) return last.imagesPerSec;
    }
    if (t.imagesPerSec) return t.imagesPerSec;
  }
  return undefined;
}
