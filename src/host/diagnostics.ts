// Dataset problems as editor diagnostics: when an AutoML Vision CSV is opened or saved, its
// structure is validated (rows, partitions, labels, missing files, class counts; no decoding)
// and the findings appear on its lines in the Problems panel.
import * as vscode from 'vscode';
import { openDataset, validateStructure } from '../data';
import type { Finding } from '../data/types';
import { looksLikeAutomlCsv } from '../shared/discover';
import { settings } from './config';

const SEVERITY: Record<Finding['severity'], vscode.DiagnosticSeverity> = {
  error: vscode.DiagnosticSeverity.Error,
  warning: vscode.DiagnosticSeverity.Warning,
  info: vscode.DiagnosticSeverity.Information,
};

export function toDiagnostics(findings: Finding[], file: string, doc?: vscode.TextDocument): vscode.Diagnostic[] {
  return findings
    .filter((f) => f.file === file)
    .map((f) => {
      const line = Math.max(0, (f.line ?? 1) - 1);
      const text = doc && line < doc.lineCount ? doc.lineAt(line).text : '';
      // From the offending field (when known) to the end of the row.
      const start = Math.min(Math.max(0, (f.column ?? 1) - 1), Math.max(0, text.length - 1));
      const range = new vscode.Range(line, start, line, Math.max(start + 1, text.length));
      const d = new vscode.Diagnostic(range, f.message, SEVERITY[f.severity]);
      d.source = 'AutoML';
      d.code = f.code;
      return d;
    });
}

export class DatasetDiagnostics implements vscode.Disposable {
  readonly collection = vscode.languages.createDiagnosticCollection('automl');
  private readonly subscriptions: vscode.Disposable[] = [];
  private readonly running = new Map<string, Promise<Finding[]>>();

  constructor() {
    this.subscriptions.push(
      vscode.workspace.onDidOpenTextDocument((d) => void this.maybeValidate(d)),
      vscode.workspace.onDidSaveTextDocument((d) => void this.maybeValidate(d)),
      vscode.workspace.onDidCloseTextDocument((d) => this.collection.delete(d.uri)),
    );
    for (const d of vscode.workspace.textDocuments) void this.maybeValidate(d);
  }

  private async maybeValidate(doc: vscode.TextDocument): Promise<void> {
    if (doc.uri.scheme !== 'file' || !/\.csv$/i.test(doc.uri.fsPath)) return;
    if (!looksLikeAutomlCsv(doc.uri.fsPath)) return;
    await this.validate(doc.uri.fsPath, doc);
  }

  /** Validates a dataset's structure and publishes the findings on the CSV's lines. */
  async validate(path: string, doc?: vscode.TextDocument): Promise<Finding[]> {
    const pending = this.running.get(path);
    if (pending) return pending;
    const job = (async () => {
      const cfg = settings();
      const dataset = await openDataset(path, { seed: cfg.seed, gcsPrefixMap: cfg.gcsPrefixMap });
      const findings = validateStructure(dataset);
      if (/\.csv$/i.test(path)) this.collection.set(vscode.Uri.file(path), toDiagnostics(findings, path, doc));
      return findings;
    })().finally(() => this.running.delete(path));
    this.running.set(path, job);
    return job;
  }

  dispose(): void {
    this.collection.dispose();
    for (const s of this.subscriptions) s.dispose();
  }
}
