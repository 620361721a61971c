// The `train` and `resume` commands' run in the terminal: the worker started and followed, its
// events printed as lines as they come, then the leaderboard, the test metrics and (with --json)
// one JSON object.
import type { ExperimentRecord, ExperimentSpec, LeaderboardRow, WorkerEvent } from './shared/protocol';
import type { ExperimentStore } from './store/store';
import { WorkerClient } from './worker/client';

/** One line on stdout. */
export function out(line = ''): void {
  process.stdout.write(line + '\n');
}

export async function runWorker(store: ExperimentStore, spec: ExperimentSpec, isResume: boolean, json: boolean): Promise<number> {
  const started = Date.now();
  const client = WorkerClient.start({ experimentDir: store.dir, spec, resume: isResume });
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts === 1) {
      process.stderr.write('\nStopping after the current batch (Ctrl+C again to kill)…\n');
      client.cancel('interrupted from the terminal');
    } else {
      client.kill();
    }
  };
  process.on('SIGINT', onSigint);
  let ended: ExperimentRecord | undefined;
  let board: LeaderboardRow[] = [];
  client.onEvent((e) => {
    printEvent(e, spec);
    if (e.type === 'experimentEnded') {
      ended = e.experiment;
      board = e.leaderboard;
    }
  });
  const exit = await client.done;
  process.off('SIGINT', onSigint);
  const record = ended ?? exit.experiment;
  if (board.length) printLeaderboard(board);
  const elapsed = (Date.now() - started) / 1000;
  if (record?.test) {
    const t = record.test;
    out(
      `\n${t.partition} (${t.count} images): accuracy ${(t.accuracy * 100).toFixed(2)} %, macro AUC ${t.macroAuc?.toFixed(4) ?? 'n/a'}, macro AP ${t.macroAveragePrecision?.toFixed(4) ?? 'n/a'}`,
    );
  }
  out(`Experiment: ${store.dir} (${record?.status ?? 'unknown'}, ${elapsed.toFixed(0)} s)`);
  if (json) {
    out(
      JSON.stringify({
        experiment: store.dir,
        status: record?.status,
        backend: record?.backend?.name,
        bestTrial: record?.bestTrialId ?? null,
        finalModel: record?.finalModel ?? null,
        testAccuracy: record?.test?.accuracy ?? null,
        macroAuc: record?.test?.macroAuc ?? null,
        macroAveragePrecision: record?.test?.macroAveragePrecision ?? null,
        trials: finishedTrials(store),
        elapsedSeconds: Math.round(elapsed * 10) / 10,
        peakRssMB: record?.peakRssMB ?? null,
        trainImagesPerSec: bestThroughput(store),
        error: record?.error,
      }),
    );
  }
  if (exit.interrupted) {
    process.stderr.write(`The worker stopped unexpectedly (${exit.signal ?? `code ${exit.code}`}); resume with: automl resume ${store.dir}\n`);
    return 1;
  }
  if (record?.status === 'failed') {
    process.stderr.write(`Failed: ${record.error}\n`);
    return 1;
  }
  return record?.status === 'done' || record?.status === 'cancelled' ? 0 : 1;
}

/**
 * Trials that ended (done, pruned, failed or cancelled), read from the store rather than from the
 * events seen: a worker killed before `experimentEnded` sends no leaderboard, yet its finished
 * trials are on disk. A trial left `running` or `interrupted` by the kill is not counted.
 */
export function finishedTrials(store: ExperimentStore): number {
  try {
    return store.readTrials().filter((t) => t.status !== 'running' && t.status !== 'interrupted').length;
  } catch {
    return 0;
  }
}

/** Training throughput of the final model's trial (images/s), as measured in its last segment. */
function bestThroughput(store: ExperimentStore): number | null {
  const rec = store.readRecord();
  const ids = rec.finalModel?.trials ?? [];
  const t = store.readTrials().find((x) => ids.includes(x.id));
  return t?.imagesPerSec ? Math.round(t.imagesPerSec) : null;
}

/** The last progress line printed (repeats are not printed). */
let lastProgressLine = '';

function printEvent(e: WorkerEvent, spec: ExperimentSpec): void {
  const pct = (x: number | null) => (x === null ? '  -   ' : `${(x * 100).toFixed(2)}%`);
  switch (e.type) {
    case 'backend':
      out(`Backend: ${e.backend.name}`);
      for (const r of e.backend.reasons) out(`  ${r}`);
      break;
    case 'experimentStarted':
      out(
        `Dataset: ${spec.dataset}: ${e.classes.length} classes, ${Object.entries(e.counts)
          .map(([k, v]) => `${v} ${k}`)
          .join(', ')}; budget ${spec.budgetMinutes} min`,
      );
      break;
    case 'epochEnded': {
      const r = e.record;
      out(
        `  ${r.trialId} epoch ${String(r.epoch).padEnd(5)} loss ${r.loss.toFixed(4)} acc ${pct(r.accuracy)} ${r.trialId === 'final' ? 'seen_val' : 'val'}_loss ${r.valLoss?.toFixed(4) ?? '  -  '} ${r.trialId === 'final' ? 'seen_val' : 'val'}_acc ${pct(r.valAccuracy)} ${Math.round(r.imagesPerSec)} img/s`,
      );
      break;
    }
    case 'trialEnded':
      out(
        `  ${e.trial.id} ${e.trial.status}${e.trial.bestValAccuracy !== null ? `: best val_acc ${pct(e.trial.bestValAccuracy)}` : ''}${e.trial.error ? ` (${e.trial.error})` : ''}`,
      );
      break;
    case 'dataProgress':
      // A backbone's download: one line on a terminal's stderr, rewritten as the bytes come (the worker's
      // log reports each quarter anyway, which is what a log file gets).
      if (e.phase === 'backbone' && e.total > 0 && process.stderr.isTTY) {
        const mb = (b: number) => (b / 2 ** 20).toFixed(1);
        const line = `Backbone download: ${mb(e.done)} of ${mb(e.total)} MB`;
        if (line !== lastProgressLine) process.stderr.write(`\r${line}${e.done >= e.total ? '\n' : ''}`);
        lastProgressLine = e.done >= e.total ? '' : line;
      }
      break;
    case 'log':
      // A download that stopped short leaves its progress line open: close it first.
      if (lastProgressLine) process.stderr.write('\n');
      lastProgressLine = '';
      if (e.level !== 'debug') out(e.level === 'warn' || e.level === 'error' ? `warning: ${e.message}` : e.message);
      break;
    case 'error':
      process.stderr.write(`error: ${e.message}\n`);
      break;
    default:
      break;
  }
}

function printLeaderboard(rows: LeaderboardRow[]): void {
  out('\nLeaderboard (validation accuracy):');
  out(`  ${'trial'.padEnd(7)} ${'model'.padEnd(28)} ${'val_acc'.padStart(8)} ${'epochs'.padStart(7)} ${'params'.padStart(9)} ${'time'.padStart(7)}  status`);
  for (const r of rows) {
    const acc = r.valAccuracy === null ? '-' : `${(r.valAccuracy * 100).toFixed(2)}%`;
    out(
      `  ${r.trialId.padEnd(7)} ${r.family.slice(0, 28).padEnd(28)} ${acc.padStart(8)} ${String(r.epochs).padStart(7)} ${String(r.params).padStart(9)} ${`${r.seconds}s`.padStart(7)}  ${r.status} (${r.origin})`,
    );
  }
}
