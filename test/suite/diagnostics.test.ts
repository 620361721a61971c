// Problems of a dataset CSV as editor diagnostics (the Problems panel). The test workspace holds
// examples/broken-rows.csv; test/vscode/workspace.ts (BROKEN_CSV_TEXT) documents its lines:
//   1 good · 2 missing image · 3 partition "TRIAN" · 4 empty path · 5 no label (warning)
import * as assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { activated, waitFor, workspaceRoot, wsFile } from './helpers';

const BROKEN_CSV = 'examples/broken-rows.csv';

describe('Dataset CSV diagnostics', function () {
  this.timeout(60_000);

  it('shows the broken rows of a CSV as diagnostics when it is opened and saved', async () => {
    await activated();
    const uri = wsFile(BROKEN_CSV);
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(doc);
    await doc.save();
    const diags = await waitFor(
      'diagnostics on broken-rows.csv',
      () => {
        const d = vscode.languages.getDiagnostics(uri);
        return d.length >= 3 ? d : undefined;
      },
      30_000,
    );
    const errorLines = diags.filter((d) => d.severity === vscode.DiagnosticSeverity.Error).map((d) => d.range.start.line + 1);
    for (const line of [2, 3, 4]) assert.ok(errorLines.includes(line), `no error on line ${line}: ${JSON.stringify(errorLines)}`);
    // Line 1 is a good row: nothing may blame its image (dataset-wide findings such as "a single
    // class" may sit on line 1, as file-level diagnostics do).
    assert.ok(!diags.some((d) => d.range.start.line === 0 && /0006\.png/.test(d.message)), 'the good row (line 1) must not be flagged');
    const warn = diags.find((d) => d.range.start.line === 4);
    assert.equal(warn?.severity, vscode.DiagnosticSeverity.Warning, 'the unlabelled row (line 5) is a warning');
    assert.match(diags.find((d) => d.range.start.line === 2)!.message, /TRIAN/);
    assert.ok(diags.every((d) => d.source === 'AutoML'));
  });

  it('clears the diagnostics of rows that are fixed, when the CSV is saved', async () => {
    await activated();
    const uri = wsFile(BROKEN_CSV);
    const doc = await vscode.workspace.openTextDocument(uri);
    const editor = await vscode.window.showTextDocument(doc);
    const original = doc.getText();
    try {
      // Fix row 3's partition and drop rows 2 and 4.
      const fixed = original
        .split('\n')
        .filter((_, i) => i !== 1 && i !== 3)
        .map((l) => l.replace('TRIAN,', 'TRAIN,'))
        .join('\n');
      await editor.edit((e) => e.replace(new vscode.Range(0, 0, doc.lineCount, 0), fixed));
      await doc.save();
      const diags = await waitFor(
        'row errors cleared',
        () => {
          const d = vscode.languages.getDiagnostics(uri);
          const rowErrors = d.filter((x) => x.severity === vscode.DiagnosticSeverity.Error && /TRIAN|not found|empty/.test(x.message));
          return rowErrors.length === 0 ? d : undefined;
        },
        30_000,
      );
      // The unlabelled row is still reported, now on line 3.
      assert.ok(
        diags.some((d) => d.range.start.line === 2 && d.severity === vscode.DiagnosticSeverity.Warning),
        JSON.stringify(diags.map((d) => [d.range.start.line, d.message])),
      );
    } finally {
      await editor.edit((e) => e.replace(new vscode.Range(0, 0, doc.lineCount, 0), original));
      await doc.save();
    }
  });

  it('warns in the Problems panel on a stray row with two labels that makes a single-label CSV multi-label', async () => {
    await activated();
    // 40 rows of the sample, one of them (line 7) with a second label: a pasted cell, say.
    const rows = readFileSync(wsFile('examples/fashion-sample/dataset.csv').fsPath, 'utf8').split('\n').filter(Boolean).slice(0, 40);
    rows[6] = `${rows[6]},bag`;
    const file = join(workspaceRoot(), 'examples/fashion-sample/stray-multi-label.csv');
    writeFileSync(file, rows.join('\n') + '\n');
    try {
      const uri = vscode.Uri.file(file);
      const doc = await vscode.workspace.openTextDocument(uri);
      await vscode.window.showTextDocument(doc);
      await doc.save();
      const stray = await waitFor(
        'the stray multi-label warning',
        () => vscode.languages.getDiagnostics(uri).find((d) => /treated as multi-label because of it/.test(d.message)),
        30_000,
      );
      assert.equal(stray.severity, vscode.DiagnosticSeverity.Warning);
      assert.equal(stray.range.start.line, 6);
      assert.match(stray.message, /this row has 2 labels/);
    } finally {
      await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
      rmSync(file, { force: true });
    }
  });
});
