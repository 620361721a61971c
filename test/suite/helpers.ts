// Shared helpers of the extension-host suite (runs inside VS Code's extension host).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { ExperimentRecord, TrialRecord } from '../../src/shared/protocol';

export { waitFor } from '../vscode/wait';

export const EXTENSION_ID = 'automl-vscode.automl-vscode';

/**
 * The untrusted pass's crafted experiment (test/vscode/workspace.ts DECOY_EXPERIMENT; not imported: that
 * module is the harness's): status `running`, worker.json naming the pid of a `sleep` the harness started.
 */
export const DECOY_EXPERIMENT = '.automl/experiments/decoy-worker';

/** Is there a process with this pid (signal 0 checks without signalling)? */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** What activate() returns (src/extension.ts AutomlApi), as far as the tests use it. */
export interface AutomlApiForTests {
  manager: { isRunning(dir: string): boolean; running(): string[] };
  experimentsRoot(): string | undefined;
}

export interface Manifest {
  contributes: {
    commands: { command: string; title: string }[];
    viewsContainers: { activitybar: { id: string; title: string }[] };
    views: Record<string, { id: string; name: string }[]>;
    configuration: { properties: Record<string, { default?: unknown }> };
  };
  capabilities?: { untrustedWorkspaces?: { supported: boolean | 'limited'; restrictedConfigurations?: string[] } };
}

export function extension(): vscode.Extension<AutomlApiForTests> {
  const ext = vscode.extensions.getExtension<AutomlApiForTests>(EXTENSION_ID);
  assert.ok(ext, `extension ${EXTENSION_ID} is not loaded (extensionDevelopmentPath wrong, or publisher/name changed)`);
  return ext;
}

export async function activated(): Promise<AutomlApiForTests> {
  const ext = extension();
  return ext.isActive ? ext.exports : ext.activate();
}

export function manifest(): Manifest {
  return extension().packageJSON as Manifest;
}

export function workspaceRoot(): string {
  const ws = vscode.workspace.workspaceFolders?.[0];
  assert.ok(ws, 'the test run must open a workspace folder (test/vscode/workspace.ts makes one)');
  return ws.uri.fsPath;
}

/** A file of the test workspace (see test/vscode/workspace.ts for what it holds). */
export function wsFile(rel: string): vscode.Uri {
  const p = join(workspaceRoot(), rel);
  assert.ok(existsSync(p), `test workspace file missing: ${p}`);
  return vscode.Uri.file(p);
}

export function readRecord(dir: string): ExperimentRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'experiment.json'), 'utf8')) as ExperimentRecord;
  } catch {
    return undefined;
  }
}

export function readTrial(dir: string, trialId: string): TrialRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'trials', trialId, 'trial.json'), 'utf8')) as TrialRecord;
  } catch {
    return undefined;
  }
}
