// The experiment store: plain files in the workspace, readable by people and by every part of
// the product (worker, host, CLI, webviews through the host).
//
//   <experiments>/<id>/experiment.json          ExperimentRecord (spec, status, backend, results)
//   <experiments>/<id>/events.jsonl             every persisted worker event, appended as it happens
//   <experiments>/<id>/leaderboard.json         LeaderboardRow[]
//   <experiments>/<id>/trials/<tid>/trial.json  TrialRecord
//   <experiments>/<id>/trials/<tid>/history.jsonl  EpochRecord per epoch
//   <experiments>/<id>/trials/<tid>/model/      best checkpoint (tfjs layers model)
//   <experiments>/<id>/final/                   the final model (model/ or ensemble.json) and evaluation
//
// Every JSON file is written atomically; logs are appended line by line. A process killed at
// any moment leaves an experiment that reads back, and `resume` carries on from it.
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { EpochRecord, ExperimentRecord, ExperimentSpec, LeaderboardRow, TrialRecord, WorkerEvent } from '../shared/protocol';
import { isPersistedEvent } from '../shared/protocol';
import { appendJsonLine, readJson, readJsonLines, writeJsonAtomic } from './files';

export class ExperimentStore {
  constructor(readonly dir: string) {}

  /**
   * Creates the experiment's folder with an exclusive mkdir, so two runs started in the same
   * second (the same id) get two folders: the second is `<id>-2`, then `-3` … `spec.id` is
   * set to the id used.
   */
  static create(experimentsRoot: string, spec: ExperimentSpec): ExperimentStore {
    mkdirSync(experimentsRoot, { recursive: true });
    const base = spec.id;
    for (let n = 1; ; n++) {
      const id = n === 1 ? base : `${base}-${n}`;
      try {
        mkdirSync(join(experimentsRoot, id));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST' && n < 1000) continue;
        throw e;
      }
      spec.id = id;
      const store = new ExperimentStore(join(experimentsRoot, id));
      store.writeRecord({ spec, status: 'queued', secondsUsed: 0 });
      return store;
    }
  }

  static exists(dir: string): boolean {
    return existsSync(join(dir, 'experiment.json'));
  }

  file(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  readRecord(): ExperimentRecord {
    const rec = readJson<ExperimentRecord>(this.file('experiment.json'));
    if (!rec) throw new Error(`${this.dir} is not an experiment (no experiment.json)`);
    return rec;
  }

  writeRecord(rec: ExperimentRecord): void {
    writeJsonAtomic(this.file('experiment.json'), rec);
  }

  updateRecord(patch: Partial<ExperimentRecord>): ExperimentRecord {
    const rec = { ...this.readRecord(), ...patch };
    this.writeRecord(rec);
    return rec;
  }

  /**
   * Marks a running (or queued) experiment failed with `message`, when the record can still be
   * written; returns whether it did. For an error that escaped the experiment (a write to a full
   * disk): the record then says why, instead of "running" or "stopped unexpectedly (code 0)".
   */
  markFailedIfRunning(message: string): boolean {
    try {
      const rec = this.readRecord();
      if (rec.status !== 'running' && rec.status !== 'queued') return false;
      this.writeRecord({ ...rec, status: 'failed', error: message, endedAt: new Date().toISOString() });
      return true;
    } catch {
      // The disk is still full (or the record unreadable): the host marks it interrupted when the worker exits.
      return false;
    }
  }

  appendEvent(e: WorkerEvent): void {
    if (isPersistedEvent(e)) appendJsonLine(this.file('events.jsonl'), { time: new Date().toISOString(), ...e });
  }

  readEvents(): (WorkerEvent & { time: string })[] {
    return readJsonLines(this.file('events.jsonl'));
  }

  trialDir(trialId: string): string {
    return this.file('trials', trialId);
  }

  modelDir(trialId: string): string {
    return join(this.trialDir(trialId), 'model');
  }

  writeTrial(trial: TrialRecord): void {
    writeJsonAtomic(join(this.trialDir(trial.id), 'trial.json'), trial);
  }

  appendHistory(rec: EpochRecord): void {
    appendJsonLine(join(this.trialDir(rec.trialId), 'history.jsonl'), rec);
  }

  /** Drops a trial's epoch history (a trial that is rerun from scratch after an interruption). */
  resetHistory(trialId: string): void {
    rmSync(join(this.trialDir(trialId), 'history.jsonl'), { force: true });
  }

  readHistory(trialId: string): EpochRecord[] {
    return readJsonLines(join(this.trialDir(trialId), 'history.jsonl'));
  }

  readTrials(): TrialRecord[] {
    const root = this.file('trials');
    if (!existsSync(root)) return [];
    const out: TrialRecord[] = [];
    for (const name of readdirSync(root)) {
      const t = readJson<TrialRecord>(join(root, name, 'trial.json'));
      if (t) out.push(t);
    }
    return out.sort((a, b) => a.index - b.index);
  }

  writeLeaderboard(rows: LeaderboardRow[]): void {
    writeJsonAtomic(this.file('leaderboard.json'), rows);
  }

  readLeaderboard(): LeaderboardRow[] {
    return readJson<LeaderboardRow[]>(this.file('leaderboard.json')) ?? [];
  }
}

export interface ExperimentSummary {
  dir: string;
  record: ExperimentRecord;
}

/** Lists the experiments under a root folder, newest first. Unreadable folders are skipped. */
export function listExperiments(experimentsRoot: string): ExperimentSummary[] {
  if (!existsSync(experimentsRoot)) return [];
  const out: ExperimentSummary[] = [];
  for (const name of readdirSync(experimentsRoot)) {
    const dir = join(experimentsRoot, name);
    try {
      if (!statSync(dir).isDirectory() || !ExperimentStore.exists(dir)) continue;
      out.push({ dir, record: new ExperimentStore(dir).readRecord() });
    } catch {
      // A folder being written or damaged by hand: not listed rather than breaking the list.
    }
  }
  return out.sort((a, b) => (a.record.spec.createdAt < b.record.spec.createdAt ? 1 : -1));
}

/** A folder-safe experiment id from the time and the dataset name. */
export function newExperimentId(datasetPath: string, now = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  const stamp = `${now.getFullYear()}${pad(now.getMonth() + 1)}${pad(now.getDate())}-${pad(now.getHours())}${pad(now.getMinutes())}${pad(now.getSeconds())}`;
  const base = datasetPath.split(/[\\/]/).filter(Boolean).pop() ?? 'dataset';
  const name =
    base
      .replace(/\.(csv|zip)$/i, '')
      .replace(/[^A-Za-z0-9_-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40) || 'dataset';
  return `${stamp}-${name}`;
}
