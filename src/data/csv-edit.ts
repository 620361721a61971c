// Edits of one row of a dataset CSV, as text replacements the editor can apply (and undo): give
// an image another label, or take its row out. Only the row's own characters change: the partition,
// the path, the other fields, their quoting and every other line stay byte for byte.
// The row is found by its 1-based line and checked by its image path; when the file changed since
// it was read (rows added or removed above it), the one row with that path is used instead.
import { parseCsv, sniffDelimiter } from './csv-parser';

/** Replace `text[start, end)` with `insert` (offsets in UTF-16 code units, as editors count). */
export interface CsvTextEdit {
  start: number;
  end: number;
  insert: string;
  /** 1-based line of the row. */
  line: number;
  /** The row's text before and after the edit (empty after: the row was removed). */
  before: string;
  after: string;
}

export class CsvEditError extends Error {}

interface FieldSpan {
  start: number;
  end: number;
  value: string;
  quoted: boolean;
}

interface RowSpan {
  line: number;
  start: number;
  /** End of the row's last field (before its line break). */
  end: number;
  /** After its line break (= end at the end of the file). */
  next: number;
  fields: FieldSpan[];
}

/** Offset of the start of 1-based `line` (CR, LF and CRLF each end a line), or -1 past the end. */
export function lineOffset(text: string, line: number): number {
  let l = 1;
  let i = 0;
  while (l < line) {
    if (i >= text.length) return -1;
    const c = text.charCodeAt(i);
    if (c === 10) l++;
    else if (c === 13) {
      if (text.charCodeAt(i + 1) === 10) i++;
      l++;
    }
    i++;
  }
  return i;
}

/** The fields of the record starting at `start` (quoted fields may span lines). */
function scanRow(text: string, start: number, line: number, delim: string): RowSpan {
  const fields: FieldSpan[] = [];
  let i = start;
  const n = text.length;
  for (;;) {
    const fs = i;
    const quoted = text[i] === '"';
    let value = '';
    if (quoted) {
      i++;
      for (;;) {
        if (i >= n) break;
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            value += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += text[i++];
      }
    }
    while (i < n && text[i] !== delim && text[i] !== '\n' && text[i] !== '\r') value += text[i++];
    fields.push({ start: fs, end: i, value, quoted });
    if (i < n && text[i] === delim) {
      i++;
      continue;
    }
    break;
  }
  const end = i;
  if (text[i] === '\r' && text[i + 1] === '\n') i += 2;
  else if (i < n) i++;
  return { line, start, end, next: i, fields };
}

/** Index of the path field: the first or (after a partition) the second field. */
function pathIndex(row: RowSpan, display: string): number {
  for (let k = 0; k < Math.min(2, row.fields.length); k++) if (row.fields[k].value.trim() === display) return k;
  return -1;
}

/** The row of `display` at `line`, else the one row anywhere in the file that lists `display`. */
export function findCsvRow(text: string, line: number, display: string, file = 'the CSV'): { row: RowSpan; pathIdx: number } {
  const delim = sniffDelimiter(text);
  const at = lineOffset(text, line);
  if (at >= 0 && at < text.length) {
    const row = scanRow(text, at, line, delim);
    const pathIdx = pathIndex(row, display);
    if (pathIdx >= 0) return { row, pathIdx };
  }
  const lines = parseCsv(text, delim)
    .records.filter((r) => r.fields.slice(0, 2).some((f) => f.trim() === display))
    .map((r) => r.line);
  if (lines.length !== 1)
    throw new CsvEditError(
      lines.length === 0
        ? `${file} no longer lists ${display} (it was on line ${line}). Reopen the evaluation after editing the CSV.`
        : `${file} lists ${display} on ${lines.length} lines (${lines.join(', ')}) and no longer on line ${line}; edit the right one by hand.`,
    );
  const row = scanRow(text, lineOffset(text, lines[0]), lines[0], delim);
  return { row, pathIdx: pathIndex(row, display) };
}

/** A field's text for `value`: quoted when it was quoted or must be (delimiter, quote, line break, edge spaces). */
function fieldText(value: string, wasQuoted: boolean, delim: string): string {
  const must = value.includes(delim) || /["\r\n]/.test(value) || value !== value.trim();
  return wasQuoted || must ? `"${value.replace(/"/g, '""')}"` : value;
}

/** Gives the image on `line` (path `display`) the label `label`, in place of its one label. */
export function relabelCsvRow(text: string, line: number, display: string, label: string, file?: string): CsvTextEdit {
  if (label.trim() === '' || label !== label.trim()) throw new CsvEditError(`"${label}" is not a label.`);
  const { row, pathIdx } = findCsvRow(text, line, display, file);
  const labelFields = row.fields.slice(pathIdx + 1).filter((f) => f.value.trim() !== '');
  if (labelFields.length !== 1)
    throw new CsvEditError(
      labelFields.length === 0
        ? `Line ${row.line} has no label to change.`
        : `Line ${row.line} has ${labelFields.length} labels (${labelFields.map((f) => f.value.trim()).join(', ')}); relabelling one of several labels is not supported, edit the line by hand.`,
    );
  const f = labelFields[0];
  const delim = sniffDelimiter(text);
  let insert: string;
  if (f.quoted) insert = fieldText(label, true, delim);
  else {
    // Keep the spaces around an unquoted label.
    const raw = text.slice(f.start, f.end);
    const lead = /^\s*/.exec(raw)![0];
    const trail = /\s*$/.exec(raw)![0];
    insert = lead + fieldText(label, false, delim) + trail;
  }
  const before = text.slice(row.start, row.end);
  const after = text.slice(row.start, f.start) + insert + text.slice(f.end, row.end);
  return { start: f.start, end: f.end, insert, line: row.line, before, after };
}

/** Removes the row of the image on `line` (path `display`), with its line break. */
export function excludeCsvRow(text: string, line: number, display: string, file?: string): CsvTextEdit {
  const { row } = findCsvRow(text, line, display, file);
  const before = text.slice(row.start, row.end);
  if (row.next > row.end || row.start === 0) return { start: row.start, end: row.next, insert: '', line: row.line, before, after: '' };
  // The last row without a line break after it: take the line break before it instead.
  let start = row.start - 1;
  if (text[start] === '\n' && text[start - 1] === '\r') start--;
  return { start, end: row.end, insert: '', line: row.line, before, after: '' };
}

/** The text with the edit applied. */
export function applyCsvEdit(text: string, e: CsvTextEdit): string {
  return text.slice(0, e.start) + e.insert + text.slice(e.end);
}
