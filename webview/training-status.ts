// The training view's status in words: the banner that says how the experiment ended, the
// activity line (what the worker is doing now: a batch, data preparation, a trial starting) and
// the experiment's log. Builders that depend only on their arguments.
import type { ExperimentRecord, LogLevel, TrialRecord } from '../src/shared/protocol';
import { banner } from './common';
import { type MeterHandle, progressRing } from './components';
import { h, replaceChildren } from './dom';
import { duration, int, num, pct, plural } from './format';
import { describeFinal } from './training-parts';

/** The batch the running trial is on (from `batchProgress`). */
export interface Progress {
  trialId: string;
  epoch: number;
  batch: number;
  batches: number;
  imagesPerSec: number;
}

/** Data preparation before the first trial (from `dataProgress`): decoding, caching, the backbone's download. */
export interface DataProgress {
  phase: string;
  done: number;
  total: number;
}

/**
 * The banner under the header: how the experiment ended, or that it waits; none while it runs. (The
 * header has the one "Open Evaluation" button.)
 */
export function statusBanner(e: ExperimentRecord, running: boolean): HTMLElement | null {
  if (running) return null;
  if (e.status === 'done') {
    return banner(
      'success',
      'Finished.',
      e.test
        ? `${e.test.partition} accuracy ${pct(e.test.accuracy, 2)} on ${plural(e.test.count, 'image')} · final model: ${describeFinal(e)} · ${duration(e.secondsUsed)} used.`
        : `Final model: ${describeFinal(e)}.`,
    );
  }
  if (e.status === 'failed') return banner('error', 'The experiment failed.', e.error ?? 'See the log below.');
  if (e.status === 'cancelled') {
    return banner(
      'warning',
      'Stopped before the budget ran out.',
      e.finalModel
        ? `The best model so far (${describeFinal(e)}) was kept${e.test ? ` and scores ${pct(e.test.accuracy, 2)} on ${e.test.partition}` : ''}.`
        : 'No trial had finished, so there is no model.',
    );
  }
  if (e.status === 'interrupted' || e.status === 'running') {
    return banner(
      'warning',
      'Interrupted.',
      'The training process ended without finishing (closed window, crash or out of memory). Resume it from the Experiments view: finished trials are kept.',
    );
  }
  if (e.status === 'queued') return banner('info', 'Waiting to start…');
  return null;
}

/** The activity line while the experiment runs: a progress ring, what is happening, and the batch or data meter. */
export function activity(o: {
  progress: Progress | null;
  dataProgress: DataProgress | null;
  trials: Map<string, TrialRecord>;
  sortedTrials: () => TrialRecord[];
  meter: MeterHandle;
}): HTMLElement[] {
  if (o.progress) {
    const p = o.progress;
    const t = o.trials.get(p.trialId);
    o.meter.set(p.batches ? p.batch / p.batches : null, `batch ${p.batch} of ${p.batches}`);
    return [
      progressRing('Training'),
      h(
        'span',
        null,
        // Whole epochs: a segment planned at 3.2 epochs runs a 4th, partial one.
        `Trial ${p.trialId}${t ? ` (${t.origin})` : ''} · epoch ${p.epoch + 1}${t ? ` of ${Math.max(p.epoch + 1, Math.ceil(t.epochs))}` : ''} · batch ${p.batch}/${p.batches}`,
      ),
      o.meter.el,
    ];
  }
  if (o.dataProgress) {
    const d = o.dataProgress;
    o.meter.set(d.total ? d.done / d.total : null, `${d.done} of ${d.total}`);
    // The backbone's download counts bytes; the other phases count images.
    const mb = (b: number) => (b / 2 ** 20).toFixed(1);
    const text =
      d.phase === 'backbone' ? `Downloading the backbone: ${mb(d.done)} of ${mb(d.total)} MB` : `Preparing data: ${d.phase} ${int(d.done)} / ${int(d.total)}`;
    return [progressRing('Preparing data'), h('span', null, text), o.meter.el];
  }
  const running = o.sortedTrials().find((t) => t.status === 'running');
  const text = running
    ? running.epochsDone > 0
      ? `Trial ${running.id} (${running.origin}) · epoch ${num(running.epochsDone, Number.isInteger(running.epochsDone) ? 0 : 1)} of ${num(running.epochs, Number.isInteger(running.epochs) ? 0 : 1)} done`
      : `Trial ${running.id} (${running.origin}) is starting…`
    : o.trials.size
      ? 'Choosing the next trial…'
      : 'Starting: backend and data…';
  return [progressRing('Working'), h('span', null, text)];
}

/** The log's summary line (lines and warnings) and its last 200 lines. */
export function renderLog(summaryEl: HTMLElement, listEl: HTMLElement, log: { level: LogLevel; message: string }[]): void {
  const warn = log.filter((l) => l.level === 'warn' || l.level === 'error').length;
  replaceChildren(summaryEl, `Log (${plural(log.length, 'line')}${warn ? `, ${plural(warn, 'warning')}` : ''})`);
  const last = log.slice(-200);
  replaceChildren(
    listEl,
    last.map((l) =>
      h(`li.log-${l.level}`, null, l.level === 'info' ? null : h('span.log-level', null, l.level === 'warn' ? 'warning ' : `${l.level} `), l.message),
    ),
  );
}
