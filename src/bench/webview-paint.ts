// Webview message-to-paint: how long a live epoch takes from the host's postMessage to the frame
// that shows it in the training panel's curves. The real panel (dist/webview.js, its HTML and CSP)
// runs in headless Chromium through the webview test harness; each sample posts one `events`
// message with an epochEnded, waits until the chart holds the new point (the panel's data-points
// attribute) and then for the frame after it (requestAnimationFrame, then a task: after the paint).
// Two histories: the recorded sample run, and a long search (many trials × many epochs already drawn).
import type { HostToWebview, TrainingPanelData } from '../shared/protocol';
import { quantile } from './inference';

export interface PaintRow {
  case: string;
  pointsDrawn: number;
  samples: number;
  p50Ms: number;
  p95Ms: number;
}

type Init = Extract<HostToWebview, { type: 'init'; panel: 'training' }>;

/** The init message with `trials` extra finished trials of `epochs` epochs each in the history. */
function withLongHistory(init: Init, trials: number, epochs: number): Init {
  const data: TrainingPanelData = JSON.parse(JSON.stringify(init.data));
  const template = data.trials[0];
  for (let i = 0; i < trials; i++) {
    const id = `h${String(i).padStart(3, '0')}`;
    data.trials.push({ ...template, id, index: 1000 + i, status: 'done', epochsDone: epochs, bestValAccuracy: 0.8 + i / (trials * 10) });
    data.history[id] = Array.from({ length: epochs }, (_, e) => ({
      trialId: id,
      epoch: e + 1,
      loss: 1 / (e + 2),
      accuracy: 0.7 + e / (epochs * 4),
      valLoss: 1.1 / (e + 2),
      valAccuracy: 0.68 + e / (epochs * 4),
      lr: 1e-3,
      imagesPerSec: 600,
      elapsed: 10 * (e + 1),
    }));
  }
  return { ...init, data };
}

export async function benchWebviewPaint(opts: { samples?: number } = {}): Promise<PaintRow[]> {
  // The harness and its fixture live with the webview tests (compiled beside this file by `tsc -p .`).
  const { Harness } = (await import('../../test/ui-webview/harness')) as typeof import('../../test/ui-webview/harness');
  const harness = new Harness();
  await harness.start();
  const rows: PaintRow[] = [];
  try {
    const recording = harness.fixture<{ live: { init: HostToWebview; batches: HostToWebview[] } }>('training.json');
    const base = recording.live.init as Init;
    const cases: [string, Init][] = [
      ['sample run (recorded)', base],
      ['long search (60 trials × 40 epochs drawn)', withLongHistory(base, 60, 40)],
    ];
    for (const [name, init] of cases) {
      const page = await harness.open('training', 'dark');
      try {
        await page.post({ ...init, data: { ...init.data, running: true, asOf: new Date().toISOString() } });
        await page.page.waitForSelector('.chart-box[data-points]');
        // The running trial of the recording: its trialStarted comes first, then live epochs follow.
        const started = recording.live.batches.find((b) => b.type === 'events' && b.events.some((e) => e.type === 'trialStarted'));
        if (started) await page.post(started);
        const trial = started?.type === 'events' ? started.events.find((e) => e.type === 'trialStarted') : undefined;
        const trialId = trial?.type === 'trialStarted' ? trial.trial.id : init.data.trials[0].id;
        await page.page.waitForTimeout(200);
        const times: number[] = [];
        const n = opts.samples ?? 60;
        for (let i = 0; i < n + 5; i++) {
          const message: HostToWebview = {
            type: 'events',
            events: [
              {
                type: 'epochEnded',
                record: { trialId, epoch: 100 + i, loss: 0.5, accuracy: 0.8, valLoss: 0.55, valAccuracy: 0.79, lr: 1e-3, imagesPerSec: 600, elapsed: 100 + i },
              },
            ],
          };
          const ms = await page.page.evaluate(
            (m) =>
              new Promise<number>((resolve, reject) => {
                const box = document.querySelector('.chart-box');
                if (!box) return reject(new Error('no chart'));
                const before = Number(box.getAttribute('data-points'));
                const t0 = performance.now();
                const timeout = setTimeout(() => reject(new Error('the chart did not update within 5 s')), 5000);
                const obs = new MutationObserver(() => {
                  if (Number(box.getAttribute('data-points')) <= before) return;
                  obs.disconnect();
                  clearTimeout(timeout);
                  requestAnimationFrame(() => {
                    const ch = new MessageChannel();
                    ch.port1.onmessage = () => resolve(performance.now() - t0);
                    ch.port2.postMessage(0);
                  });
                });
                obs.observe(box, { attributes: true, attributeFilter: ['data-points'] });
                window.postMessage(m, '*');
              }),
            message as unknown,
          );
          if (i >= 5) times.push(ms); // the first few warm the JIT and the chart
        }
        const points = Number(await page.page.getAttribute('.chart-box', 'data-points'));
        rows.push({ case: name, pointsDrawn: points, samples: times.length, p50Ms: quantile(times, 0.5), p95Ms: quantile(times, 0.95) });
        if (page.errors.length) throw new Error(`the training panel reported errors: ${page.errors.join('; ')}`);
      } finally {
        await page.page.close();
      }
    }
  } finally {
    await harness.stop();
  }
  return rows;
}
