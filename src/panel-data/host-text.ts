// What the host writes in VS Code's own UI (outside the panels): the Experiments view's rows, the
// notification when an experiment ends, the prediction server's endpoint and status-bar item.
// Pure text, so that it is unit-tested without VS Code; src/host puts it on screen.
import type { EpochRecord, ExperimentRecord, TrialRecord } from '../shared/protocol';
import { describeConfig } from '../search/space';

const pct = (x: number | null | undefined) => (x === null || x === undefined ? '–' : `${(x * 100).toFixed(1)}%`);

export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h ${String(Math.round((seconds % 3600) / 60)).padStart(2, '0')}m`;
}

/** A tree row: the label, the short description after it (the key number first), and the full text for the tooltip. */
export interface RowText {
  label: string;
  description: string;
  tooltip: string;
}

/**
 * An experiment's row: its name, then "86.0% test · done · 3m 10s". The number comes first so that a
 * narrow sidebar cuts the time, not the accuracy.
 */
export function experimentRowText(r: ExperimentRecord, status: string): RowText {
  const acc = r.test ? `${pct(r.test.accuracy)} ${r.test.partition.toLowerCase()}` : '';
  return {
    label: r.spec.name,
    description: [acc, status, formatDuration(r.secondsUsed)].filter(Boolean).join(' · '),
    tooltip: `${r.spec.name} — ${status}${r.test ? ` — ${r.test.partition} accuracy ${pct(r.test.accuracy)}` : ''} — ${formatDuration(r.secondsUsed)} used`,
  };
}

/**
 * A trial's row: its id, then "76.7% val · 3 ep · 12s" (the configuration, long, is in the tooltip).
 * The final fit trains on VALIDATION too, so it has no validation score: "final fit" instead.
 */
export function trialRowText(t: TrialRecord): RowText {
  const acc = t.trainOn === 'TRAIN' ? (t.bestValAccuracy === null ? '' : `${pct(t.bestValAccuracy)} val`) : 'final fit';
  const epochs = `${Number.isInteger(t.epochsDone) ? t.epochsDone : t.epochsDone.toFixed(1)} ep`;
  const config = describeConfig(t.config);
  return {
    label: t.id,
    description: [acc, t.status === 'done' ? '' : t.status, epochs, formatDuration(t.seconds ?? 0)].filter(Boolean).join(' · '),
    tooltip: `${t.id} — ${config} — ${t.origin} — ${t.status}${t.trainOn === 'TRAIN' ? ` — best validation accuracy ${pct(t.bestValAccuracy)}` : ' — trained on TRAIN+VALIDATION (no validation score)'}`,
  };
}

/**
 * The notification when an experiment ends well (done or stopped with a model): what it scored, and
 * its action. "Open Results" opens the Evaluation panel when there are TEST metrics (the training
 * panel is usually on screen already), else the dashboard.
 */
export function endedNotification(r: ExperimentRecord): { message: string; action: string; command: 'automl.openEvaluation' | 'automl.openDashboard' } {
  const acc = r.test ? ` — ${r.test.partition.toLowerCase()} accuracy ${(r.test.accuracy * 100).toFixed(1)}%` : '';
  return {
    message: `AutoML: ${r.spec.name} ${r.status}${acc}`,
    action: 'Open Results',
    command: r.test ? 'automl.openEvaluation' : 'automl.openDashboard',
  };
}

/** The AutoML Vision-shaped predict endpoint of a model served at `baseUrl` (src/predict/server.ts). */
export function predictEndpoint(baseUrl: string, model: string): string {
  return `${baseUrl}/v1/models/${encodeURIComponent(model)}:predict`;
}

/** The prediction server's notification, status-bar text and tooltip. */
export function serverText(baseUrl: string, model: string, where = '127.0.0.1 only'): { notification: string; statusText: string; statusTooltip: string } {
  const endpoint = predictEndpoint(baseUrl, model);
  return {
    notification: `AutoML: serving ${model} on ${baseUrl} (${where}): POST ${endpoint} with the bearer token.`,
    statusText: `$(radio-tower) AutoML serving ${model}`,
    statusTooltip: `Prediction server: POST ${endpoint} (bearer token). Click to copy the URL, the token or a curl example, or to stop it.`,
  };
}

/**
 * One epoch in the output channel. The final fit trains on TRAIN+VALIDATION, so its score on
 * VALIDATION is on images it trains on: "fit_acc on seen VALIDATION", not "val_acc".
 */
export function epochLine(r: EpochRecord): string {
  const seen = r.trialId === 'final';
  const v = r.valAccuracy === null ? '' : ` ${seen ? 'acc on seen VALIDATION' : 'val_acc'} ${(r.valAccuracy * 100).toFixed(2)}%`;
  return `${r.trialId} epoch ${r.epoch}: loss ${r.loss.toFixed(4)}${v} (${Math.round(r.imagesPerSec)} img/s)`;
}
