// A fresh workspace folder per test run: a copy of the sample dataset (training writes its experiments
// next to it, in .automl/) and a CSV with broken rows for the diagnostics tests.
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './code-server';

/** Paths inside the test workspace, relative to its root; the suites use the same names. */
export const SAMPLE_CSV = 'examples/fashion-sample/dataset.csv';
export const BROKEN_CSV = 'examples/broken-rows.csv';
export const SAMPLE_IMAGE = 'examples/fashion-sample/images/bag/0006.png';

/**
 * An AutoML Vision CSV with one good row and one of each common mistake. Lines (1-based):
 *   1 good row
 *   2 image that does not exist           -> missing-file (error)
 *   3 misspelt partition "TRIAN"          -> unknown-partition (error)
 *   4 empty image path                    -> empty-path (error)
 *   5 good row, no label                  -> unlabelled (warning)
 */
export const BROKEN_CSV_TEXT = [
  'TRAIN,fashion-sample/images/bag/0006.png,bag',
  'TRAIN,fashion-sample/images/bag/does-not-exist.png,bag',
  'TRIAN,fashion-sample/images/bag/0036.png,bag',
  'TRAIN,,bag',
  'TEST,fashion-sample/images/bag/0048.png',
  '',
].join('\n');

/**
 * Folder settings of the untrusted-workspace pass: values of settings the manifest lists as
 * restrictedConfigurations, which VS Code must ignore while the folder is not trusted.
 */
export const UNTRUSTED_FOLDER_SETTINGS = {
  'automl.experimentsFolder': '/tmp/automl-untrusted-must-not-be-used',
  'automl.backend': 'cpu',
};

/**
 * The untrusted pass's crafted experiment (relative to the workspace): status `running`, and a
 * worker.json with a fresh-looking heartbeat that names the pid of a harmless `sleep` the harness
 * started. The extension must neither reattach to it nor signal that pid (the suite checks the
 * `sleep` is still alive after automl.stopExperiment).
 */
export const DECOY_EXPERIMENT = '.automl/experiments/decoy-worker';

const decoys = new Map<string, ChildProcess>();
const created = new Set<string>();
let exitHook = false;

export function makeWorkspace(opts: { untrustedSettings?: boolean } = {}): string {
  const ws = mkdtempSync(join(tmpdir(), 'automl-ws-'));
  created.add(ws);
  if (!exitHook) {
    exitHook = true;
    // Also on Ctrl+C (test/vscode/code-server.ts turns SIGINT/SIGTERM into process.exit).
    process.on('exit', () => {
      decoys.forEach((c) => c.kill('SIGKILL'));
      created.forEach((w) => rmSync(w, { recursive: true, force: true }));
    });
  }
  mkdirSync(join(ws, 'examples'), { recursive: true });
  cpSync(join(REPO_ROOT, 'examples', 'fashion-sample'), join(ws, 'examples', 'fashion-sample'), { recursive: true });
  writeFileSync(join(ws, BROKEN_CSV), BROKEN_CSV_TEXT);
  if (opts.untrustedSettings) {
    mkdirSync(join(ws, '.vscode'));
    writeFileSync(join(ws, '.vscode', 'settings.json'), JSON.stringify(UNTRUSTED_FOLDER_SETTINGS, null, 2));
    plantDecoyWorker(ws);
  }
  return ws;
}

function plantDecoyWorker(ws: string): void {
  const sleep = spawn('sleep', ['600'], { stdio: 'ignore' });
  sleep.unref();
  decoys.set(ws, sleep);
  const dir = join(ws, DECOY_EXPERIMENT);
  mkdirSync(dir, { recursive: true });
  const now = new Date().toISOString();
  const spec = {
    id: 'decoy-worker',
    name: 'decoy-worker',
    dataset: join(ws, SAMPLE_CSV),
    budgetMinutes: 1,
    backend: 'cpu',
    seed: 1,
    imageSize: 0,
    fit: 'pad',
    cacheDir: join(ws, '.cache'),
    createdAt: now,
  };
  writeFileSync(join(dir, 'experiment.json'), JSON.stringify({ spec, status: 'running', secondsUsed: 0, startedAt: now }, null, 2));
  // A heartbeat an hour ahead looks fresh whenever the window opens.
  const beat = { pid: sleep.pid, startedAt: now, heartbeatAt: new Date(Date.now() + 3600_000).toISOString() };
  writeFileSync(join(dir, 'worker.json'), JSON.stringify(beat, null, 2));
}

export function removeWorkspace(ws: string): void {
  decoys.get(ws)?.kill('SIGKILL');
  decoys.delete(ws);
  rmSync(ws, { recursive: true, force: true });
  created.delete(ws);
}
