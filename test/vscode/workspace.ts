// A fresh workspace folder per test run: a copy of the sample dataset (training writes its experiments
// next to it, in .automl/) and a CSV with broken rows for the diagnostics tests.
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

const created = new Set<string>();
let exitHook = false;

export function makeWorkspace(opts: { untrustedSettings?: boolean } = {}): string {
  const ws = mkdtempSync(join(tmpdir(), 'automl-ws-'));
  created.add(ws);
  if (!exitHook) {
    exitHook = true;
    // Also on Ctrl+C (test/vscode/code-server.ts turns SIGINT/SIGTERM into process.exit).
    process.on('exit', () => created.forEach((w) => rmSync(w, { recursive: true, force: true })));
  }
  mkdirSync(join(ws, 'examples'), { recursive: true });
  cpSync(join(REPO_ROOT, 'examples', 'fashion-sample'), join(ws, 'examples', 'fashion-sample'), { recursive: true });
  writeFileSync(join(ws, BROKEN_CSV), BROKEN_CSV_TEXT);
  if (opts.untrustedSettings) {
    mkdirSync(join(ws, '.vscode'));
    writeFileSync(join(ws, '.vscode', 'settings.json'), JSON.stringify(UNTRUSTED_FOLDER_SETTINGS, null, 2));
  }
  return ws;
}

export function removeWorkspace(ws: string): void {
  rmSync(ws, { recursive: true, force: true });
  created.delete(ws);
}
