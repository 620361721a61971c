// What the single- and multi-label evaluation views share: the panel's title bar and the headline
// cards of each, cells and metric chips (the precision-recall chart is in pr-chart.ts).
import type { EvaluationPanelData } from '../src/shared/protocol';
import { request } from './bridge';
import { card, cards, header } from './common';
import { button, type Column, pill } from './components';
import { h } from './dom';
import { int, num, plural, pct } from './format';

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

/**
 * What the accuracy here means, next to the training panel's "best validation accuracy": this set chose
 * nothing; VALIDATION chose the model (and the final fit may train on it).
 */
export function accuracyNote(partition: string, e: EvaluationPanelData['experiment']): HTMLElement {
  const fit = e.finalModel?.kind === 'final-fit';
  return h(
    'p.accuracy-note.muted',
    null,
    h('strong', null, `${partition} accuracy`),
    `: the final model on ${partition} images, used neither to train nor to choose it — the estimate for new images. `,
    h('strong', null, 'Best validation accuracy'),
    ' (training panel): the best search trial on VALIDATION, which chose the model',
    fit ? '; the final model then retrained on TRAIN+VALIDATION for longer, so it can score higher here.' : '.',
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

export function naCell(x: number | null, why: string, digits?: number): HTMLElement | string {
  if (x === null || !Number.isFinite(x)) return h('span.muted', { title: why || 'Not defined' }, 'n/a');
  return digits ? num(x, digits) : pct(x, 1);
}

export function metric(label: string, value: string, title: string, id: string): HTMLElement {
  return h('span.metric', { title, 'data-metric': id }, h('span.metric-label', null, label), h('span.metric-value', null, value));
}

/** A class's row of the single-label metrics table. */
export interface ClassRow {
  index: number;
  name: string;
  support: number;
  predicted: number;
  precision: number | null;
  recall: number | null;
  f1: number | null;
  auc: number | null;
  ap: number | null;
}

/** The single-label metrics table's columns (narrow enough to sit beside the PR chart from about 1000 px). */
export function classColumns(): Column<ClassRow>[] {
  return [
    { title: 'Class', width: 'minmax(90px, 1fr)', render: (r) => r.name },
    { title: 'Support', align: 'right', width: 'minmax(64px, 1fr)', description: 'Images of this class in the set', render: (r) => int(r.support) },
    {
      title: 'Predicted',
      align: 'right',
      width: 'minmax(64px, 1fr)',
      description: 'Images predicted as this class at the threshold',
      render: (r) => int(r.predicted),
    },
    {
      title: 'Precision',
      align: 'right',
      width: 'minmax(64px, 1fr)',
      render: (r) => naCell(r.precision, r.predicted === 0 ? 'Nothing is predicted as this class at this threshold' : ''),
    },
    {
      title: 'Recall',
      align: 'right',
      width: 'minmax(64px, 1fr)',
      render: (r) => naCell(r.recall, r.support === 0 ? 'No image of this class in the set' : ''),
    },
    { title: 'F1', align: 'right', width: 'minmax(64px, 1fr)', render: (r) => naCell(r.f1, '') },
    {
      title: 'AUC',
      align: 'right',
      width: 'minmax(64px, 1fr)',
      description: 'ROC AUC, one-vs-rest (threshold-free)',
      render: (r) => naCell(r.auc, 'Undefined: the class is absent from the set', 4),
    },
    {
      title: 'AP',
      align: 'right',
      width: 'minmax(64px, 1fr)',
      description: 'Average precision (threshold-free)',
      render: (r) => naCell(r.ap, 'Undefined: the class is absent from the set', 4),
    },
  ];
}
