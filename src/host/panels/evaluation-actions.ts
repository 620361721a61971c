// The evaluation detail view's actions on the dataset: relabel an image (its CSV row edited in
// place, or its file moved to the other class folder) and exclude it (its CSV row removed). CSV
// edits go through a WorkspaceEdit and are saved: the CSV opens beside the panel at the row, and
// Ctrl+Z in that editor undoes the change. A file move is a WorkspaceEdit too (undoable from the
// Explorer).
import { basename } from 'node:path';
import * as vscode from 'vscode';
import { applyCsvEdit, CsvEditError, type CsvTextEdit, excludeCsvRow, relabelCsvRow } from '../../data/csv-edit';
import type { Dataset, DatasetItem } from '../../data/types';
import { classFolderMove } from '../../panel-data/item-actions';
import type { ItemEditResult } from '../../shared/protocol';
import { openFileAt, RequestError } from './base';

/** Opens the CSV at the item's row (or the image file of a folder dataset). */
export async function revealItem(dataset: Dataset, item: DatasetItem): Promise<void> {
  if (dataset.format === 'csv') return openFileAt(item.origin.file, item.origin.line);
  if (item.ref.kind === 'file') return openFileAt(item.ref.path);
  throw new RequestError(`${item.display} lies inside ${basename(item.origin.file)}; there is no CSV row to show.`);
}

export async function relabelItem(dataset: Dataset, item: DatasetItem, label: string): Promise<ItemEditResult> {
  if (typeof label !== 'string' || !dataset.classes.includes(label)) throw new RequestError(`"${label}" is not one of the classes.`);
  const old = item.labels.join(', ');
  if (item.labels.length === 1 && item.labels[0] === label) throw new RequestError(`${item.display} is labelled ${label} already.`);
  if (dataset.format !== 'csv') return moveToClassFolder(dataset, item, label);
  const e = await editCsv(item, (text) => relabelCsvRow(text, item.origin.line ?? 0, item.display, label, basename(item.origin.file)));
  item.labels = [label];
  item.origin.line = e.line;
  return { message: `Line ${e.line} of ${basename(item.origin.file)}: ${old} → ${label}. ${savedNote(e, 'undoes it')}`, line: e.line };
}

export async function excludeItem(dataset: Dataset, item: DatasetItem): Promise<ItemEditResult> {
  if (dataset.format !== 'csv')
    throw new RequestError(
      `Excluding images of ${dataset.format === 'folder' ? 'a class-folder' : `an ${dataset.format.toUpperCase()}`} dataset from the panel is not supported: move ${item.display} out of the dataset yourself.`,
    );
  const e = await editCsv(item, (text) => excludeCsvRow(text, item.origin.line ?? 0, item.display, basename(item.origin.file)));
  return {
    message: `Removed line ${e.line} of ${basename(item.origin.file)} (${e.before.trim()}). Saved; Ctrl+Z in the CSV's editor brings it back.`,
    line: e.line,
  };
}

/** Applies the edit `make` computes from the CSV's current text (the editor's, if it is open), saves, and shows the row. */
async function editCsv(item: DatasetItem, make: (text: string) => CsvTextEdit): Promise<CsvTextEdit & { saved: boolean }> {
  const uri = vscode.Uri.file(item.origin.file);
  const doc = await vscode.workspace.openTextDocument(uri);
  // Unsaved changes of the user's are not saved behind their back: then neither is this edit.
  const saved = !doc.isDirty;
  const text = doc.getText();
  let e: CsvTextEdit;
  try {
    e = make(text);
  } catch (err) {
    if (err instanceof CsvEditError) throw new RequestError(err.message);
    throw err;
  }
  const edit = new vscode.WorkspaceEdit();
  edit.replace(uri, new vscode.Range(doc.positionAt(e.start), doc.positionAt(e.end)), e.insert);
  if (!(await vscode.workspace.applyEdit(edit))) throw new RequestError(`VS Code did not apply the edit to ${basename(item.origin.file)}.`);
  if (doc.getText() !== applyCsvEdit(text, e)) throw new RequestError(`${basename(item.origin.file)} changed while it was being edited; check line ${e.line}.`);
  if (saved) await doc.save();
  const pos = new vscode.Position(Math.max(0, e.line - 1), 0);
  await vscode.window.showTextDocument(doc, {
    viewColumn: vscode.ViewColumn.Beside,
    preserveFocus: true,
    preview: true,
    selection: new vscode.Range(pos, pos),
  });
  return { ...e, saved };
}

const savedNote = (e: { saved: boolean }, undo: string) =>
  e.saved ? `Saved; Ctrl+Z in the CSV's editor ${undo}.` : `Not saved: the CSV has other unsaved changes; save it to use them (Ctrl+Z ${undo}).`;

async function moveToClassFolder(dataset: Dataset, item: DatasetItem, label: string): Promise<ItemEditResult> {
  let move: ReturnType<typeof classFolderMove>;
  try {
    move = classFolderMove(dataset, item, label);
  } catch (err) {
    throw new RequestError((err as Error).message);
  }
  const edit = new vscode.WorkspaceEdit();
  edit.renameFile(vscode.Uri.file(move.from), vscode.Uri.file(move.to), { overwrite: false });
  if (!(await vscode.workspace.applyEdit(edit))) throw new RequestError(`VS Code could not move ${item.display} to ${move.display}.`);
  const old = item.display;
  item.ref = { kind: 'file', path: move.to };
  item.display = move.display;
  item.labels = [label];
  return { message: `Moved ${old} to ${move.display}. Undo from the Explorer (Ctrl+Z there) to move it back.` };
}
