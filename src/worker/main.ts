// Entry of the worker process (`dist/worker.js`), started by the host with `child_process.fork`.
// Three modes:
//   (default)       one experiment per process: `start`, `cancel`, `ping` in; WorkerEvents out.
//                   Every persisted event also goes to the experiment's `events.jsonl`, and
//                   `worker.json` carries a heartbeat, so a host that reloads can find a worker
//                   still training, follow it from the files and stop it with SIGTERM (after checking
//                   that the pid's command line is `worker.js --experiment <dir> --token <token>`,
//                   src/worker/identity.ts).
//   --predictor     a long-lived inference process: `predict` in, `predictions` out.
//   --probe <name>  loads a backend, prints its BackendInfo as JSON and exits (runtime install checks).
//   --trial-job <spec>  one search segment as a Slurm job (trial-job.ts; src/executor/slurm.ts submits it).
// Training and inference never run in the extension host.
import { join } from 'node:path';
import { runDataWorkerIfRequested } from '../data/decode-pool';
import type { BackendPreference, HostToWorker, WorkerEvent, WorkerHeartbeat } from '../shared/protocol';
import { writeJsonAtomic } from '../store/files';
import { ExperimentStore } from '../store/store';
import { argValue } from './identity';

function send(e: WorkerEvent): void {
  if (process.send && process.connected) {
    try {
      process.send(e);
    } catch {
      // The host went away between the check and the send; the event is in events.jsonl anyway.
    }
  }
}

function startHeartbeat(dir: string): () => void {
  const file = join(dir, 'worker.json');
  // The token of the command line (src/worker/identity.ts): a host checks it before it follows or signals this pid.
  const token = argValue(process.argv, '--token');
  const beat: WorkerHeartbeat = { pid: process.pid, ...(token ? { token } : {}), startedAt: new Date().toISOString(), heartbeatAt: new Date().toISOString() };
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

function trainer(): void {
  let cancelled = false;
  let running = false;
  let keepAlive = false;
  const cancel = (reason: string) => {
    if (cancelled) return;
    cancelled = true;
    send({ type: 'log', level: 'info', message: `Stopping: ${reason}; the best model so far is kept` });
  };
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
        void import('./experiment')
          .then(({ runExperiment }) =>
            runExperiment({ experimentDir: m.experimentDir, spec: m.spec, resume: m.resume, emit: send, isCancelled: () => cancelled }),
          )
          .then(
            () => 0,
            (e: unknown) => {
              const message = e instanceof Error ? e.message : String(e);
              send({ type: 'error', message });
              // An error that escaped the experiment (a write to a full disk, say): the record says failed, with it.
              new ExperimentStore(m.experimentDir).markFailedIfRunning(message);
              return 1;
            },
          )
          .then((code) => {
            stopHeartbeat();
            // Let the last messages drain, then leave.
            setTimeout(() => process.exit(code), 50);
          });
        break;
      }
      default:
        break;
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
  send({ type: 'ready', pid: process.pid });
}

function predictor(): void {
  type Predictor = import('../engine/model/predict').Predictor;
  const loaded = new Map<string, Promise<Predictor>>();
  let backendName: string | undefined;
  const ready = import('../engine/runtime/runtime').then(async ({ initBackend }) => {
    const info = await initBackend({ preference: (process.env.AUTOML_BACKEND as BackendPreference) || 'auto' });
    backendName = info.name;
  });
  process.on('message', (m: HostToWorker) => {
    if (m.type === 'ping') return send({ type: 'pong', id: m.id });
    if (m.type !== 'predict') return;
    void (async () => {
      try {
        await ready;
        const { Predictor } = await import('../engine/model/predict');
        let p = loaded.get(m.model);
        if (!p) {
          p = Predictor.load(m.model);
          loaded.set(m.model, p);
          p.catch(() => loaded.delete(m.model));
        }
        const model = await p;
        const { results, signals } = m.images
          ? await model.predictBytesWithSignals(
              m.images.map((i) => ({ name: i.name, bytes: Buffer.from(i.base64, 'base64') })),
              m.topK,
            )
          : await model.predictFilesWithSignals(m.paths ?? [], m.topK);
        // Whether each image is unlike the training data (src/eval/ood.ts), against the model's `ood.json`.
        const { assessImage, readOodCalibration } = await import('../eval/ood');
        // A score of another kind than the model gives (energy from TF.js, highest probability from ONNX Runtime) is not comparable.
        const calibrated = readOodCalibration(model.dir);
        const calibration = calibrated?.score && calibrated.score.kind !== model.scoreKind ? { ...calibrated, score: undefined } : calibrated;
        signals.forEach((sig, i) => {
          if (sig && !results[i].error) results[i].ood = assessImage(sig, calibration, model.input.channels);
        });
        send({ type: 'predictions', id: m.id, results, backend: model.engine === 'onnxruntime' ? 'onnxruntime (cpu)' : backendName });
      } catch (e) {
        send({ type: 'predictions', id: m.id, error: e instanceof Error ? e.message : String(e) });
      }
    })();
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', pid: process.pid });
}

function probe(preference: BackendPreference): void {
  void import('../engine/runtime/runtime').then(({ initBackend }) =>
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
}

function trialJob(specFile: string): void {
  let cancelled = false;
  // scancel (SIGTERM): stop within a batch and keep the best model; a second one ends the process.
  process.on('SIGTERM', () => {
    if (cancelled) process.exit(143);
    cancelled = true;
    process.stdout.write('Stopping: the job was cancelled (SIGTERM)\n');
  });
  void import('./trial-job')
    .then(({ runTrialJob }) => runTrialJob(specFile, () => cancelled))
    .then(
      (code) => process.exit(code),
      (e: unknown) => {
        process.stderr.write(`Trial job failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
        process.exit(1);
      },
    );
}

// Image decode threads re-enter this bundle: they run the decode loop and nothing else.
if (!runDataWorkerIfRequested()) {
  const probeAt = process.argv.indexOf('--probe');
  const jobAt = process.argv.indexOf('--trial-job');
  if (probeAt >= 0) probe((process.argv[probeAt + 1] ?? 'auto') as BackendPreference);
  else if (jobAt >= 0) trialJob(process.argv[jobAt + 1] ?? '');
  else if (process.argv.includes('--predictor')) predictor();
  else trainer();
}
