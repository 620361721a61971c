// Entry of the training worker process (`dist/worker.js`), started by the host with
// `child_process.fork`. It runs one experiment per process and talks over the IPC channel
// with the messages of shared/protocol.ts; every persisted event also goes to the experiment's
// `events.jsonl`, and `worker.json` carries a heartbeat, so a host that reloads can find a
// worker still training, follow it from the files and stop it with SIGTERM.
// Training never runs in the extension host.
import { join } from 'node:path';
import type { HostToWorker, WorkerEvent, WorkerHeartbeat } from '../shared/protocol';
import { runDataWorkerIfRequested } from '../data/pool';
import { writeJsonAtomic } from '../store/files';
import { runExperiment } from './experiment';

let cancelled = false;
let running = false;
let keepAlive = false;

// Image decode threads re-enter this bundle; they run the decode loop and nothing below.
const isDecodeThread = runDataWorkerIfRequested();

function send(e: WorkerEvent): void {
  if (process.send && process.connected) {
    try {
      process.send(e);
    } catch {
      // The host went away between the check and the send; the event is in events.jsonl anyway.
    }
  }
}

function cancel(reason: string): void {
  if (cancelled) return;
  cancelled = true;
  send({ type: 'log', level: 'info', message: `Stopping: ${reason}; the best model so far is kept` });
}

function startHeartbeat(dir: string): () => void {
  const file = join(dir, 'worker.json');
  const beat: WorkerHeartbeat = { pid: process.pid, startedAt: new Date().toISOString(), heartbeatAt: new Date().toISOString() };
  const write = () => {
    beat.heartbeatAt = new Date().toISOString();
    try {
      writeJsonAtomic(file, beat);
    } catch {
      // A failed heartbeat only makes a reloaded window think the worker is gone.
    }
  };
  write();
  const timer = setInterval(write, 3000);
  timer.unref();
  return () => {
    clearInterval(timer);
    beat.endedAt = new Date().toISOString();
    write();
  };
}

function main(): void {
  process.on('message', (m: HostToWorker) => {
    switch (m.type) {
      case 'ping':
        send({ type: 'pong', id: m.id });
        break;
      case 'cancel':
        cancel(m.reason ?? 'cancelled');
        break;
      case 'start': {
        if (running) {
          send({ type: 'error', message: 'This worker is already running an experiment' });
          return;
        }
        running = true;
        keepAlive = m.keepAliveOnDisconnect === true;
        const stopHeartbeat = startHeartbeat(m.experimentDir);
        runExperiment({
          experimentDir: m.experimentDir,
          spec: m.spec,
          resume: m.resume,
          emit: send,
          isCancelled: () => cancelled,
        })
          .catch((e) => send({ type: 'error', message: e instanceof Error ? e.message : String(e) }))
          .finally(() => {
            stopHeartbeat();
            // Let the last messages drain, then leave.
            setTimeout(() => process.exit(0), 50);
          });
        break;
      }
    }
  });

  // SIGTERM (a reloaded host, or `kill`) stops like a cancel: within one batch, keeping the best model.
  process.on('SIGTERM', () => {
    if (!running) process.exit(0);
    if (cancelled) process.exit(143);
    cancel('stopped by SIGTERM');
  });

  // The host going away: the CLI's worker stops; the extension's keeps training (see keepAlive).
  process.on('disconnect', () => {
    if (!running) process.exit(0);
    if (!keepAlive) cancel('the host process went away');
  });

  // `worker.js --probe <backend>`: load that backend, print its BackendInfo as JSON, exit 0 (or
  // print why not and exit 1). The runtime installer uses it to verify an install in a process
  // of its own.
  const probeAt = process.argv.indexOf('--probe');
  if (probeAt >= 0) {
    const preference = (process.argv[probeAt + 1] ?? 'auto') as import('../shared/protocol').BackendPreference;
    void import('../engine/runtime').then(({ initBackend }) =>
      initBackend({ preference }).then(
        (info) => {
          process.stdout.write(JSON.stringify(info) + '\n');
          process.exit(0);
        },
        (e) => {
          process.stdout.write(JSON.stringify({ error: e instanceof Error ? e.message : String(e) }) + '\n');
          process.exit(1);
        },
      ),
    );
  } else {
    send({ type: 'ready', pid: process.pid });
  }
}

if (!isDecodeThread) main();
