// Entry of the training worker process (`dist/worker.js`), started by the host with
// `child_process.fork`. It runs one experiment per process and talks over the IPC channel
// with the messages of shared/protocol.ts. Training never runs in the extension host.
import type { HostToWorker, WorkerEvent } from '../shared/protocol';
import { runExperiment } from './experiment';

let cancelled = false;
let running = false;

function send(e: WorkerEvent): void {
  if (process.send && process.connected) process.send(e);
}

process.on('message', (m: HostToWorker) => {
  switch (m.type) {
    case 'ping':
      send({ type: 'pong', id: m.id });
      break;
    case 'cancel':
      cancelled = true;
      send({ type: 'log', level: 'info', message: `Stopping: ${m.reason ?? 'cancelled'}; the best model so far is kept` });
      break;
    case 'start':
      if (running) {
        send({ type: 'error', message: 'This worker is already running an experiment' });
        return;
      }
      running = true;
      runExperiment({
        experimentDir: m.experimentDir,
        spec: m.spec,
        resume: m.resume,
        emit: send,
        isCancelled: () => cancelled,
      })
        .catch((e) => send({ type: 'error', message: e instanceof Error ? e.message : String(e) }))
        .finally(() => {
          // Let the last messages drain, then leave.
          setTimeout(() => process.exit(0), 50);
        });
      break;
  }
});

// The host going away (window closed, CLI interrupted) ends the worker's channel: stop cleanly.
process.on('disconnect', () => {
  cancelled = true;
  if (!running) process.exit(0);
});

send({ type: 'ready', pid: process.pid });
