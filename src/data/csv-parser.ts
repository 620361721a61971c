// An RFC 4180 CSV parser that keeps track of where every record and field starts, so that
// findings point at the exact line and column in the editor, also after quoted fields that
// span lines. Lenient like spreadsheets: a stray quote inside an unquoted field is kept as
// text (with an issue), an unterminated quote runs to the end of the file (with an issue).

export interface CsvRecord {
  fields: string[];
  /** 1-based line where the record starts. */
  line: number;
  /** 1-based column (UTF-16 code units, as editors count) of each field's start, on its line. */
  fieldColumns: number[];
  /** 1-based line of each field's start; only present when the record spans lines (quoted line breaks). */
  fieldLines?: number[];
}

export interface CsvIssue {
  line: number;
  column: number;
  message: string;
}

export interface ParsedCsv {
  records: CsvRecord[];
  issues: CsvIssue[];
}

const QUOTE = 34;
const LF = 10;
const CR = 13;

export function parseCsv(text: string, delimiter = ','): ParsedCsv {
  const delim = delimiter.charCodeAt(0);
  const records: CsvRecord[] = [];
  const issues: CsvIssue[] = [];
  const n = text.length;
  let i = 0;
  let line = 1;
  let lineStart = 0;

  while (i < n) {
    const rec: CsvRecord = { fields: [], line, fieldColumns: [] };
    for (;;) {
      const fLine = line;
      const fCol = i - lineStart + 1;
      let value: string;
      if (text.charCodeAt(i) === QUOTE) {
        i++;
        let start = i;
        let acc = '';
        let closed = false;
        while (i < n) {
          const ch = text.charCodeAt(i);
          if (ch === QUOTE) {
            if (text.charCodeAt(i + 1) === QUOTE) {
              acc += text.slice(start, i + 1);
              i += 2;
              start = i;
              continue;
            }
            acc += text.slice(start, i);
            i++;
            closed = true;
            break;
          }
          if (ch === LF) {
            line++;
            lineStart = i + 1;
          } else if (ch === CR && text.charCodeAt(i + 1) !== LF) {
            line++;
            lineStart = i + 1;
          }
          i++;
        }
        if (!closed) {
          acc += text.slice(start, i);
          issues.push({
            line: fLine,
            column: fCol,
            message:
              'a quoted field is never closed: the quote opened here runs to the end of the file. Add the closing " (write "" for a quote inside a quoted field).',
          });
        }
        value = acc;
        if (i < n) {
          const ch = text.charCodeAt(i);
          if (ch !== delim && ch !== LF && ch !== CR) {
            const s = i;
            while (i < n) {
              const c = text.charCodeAt(i);
              if (c === delim || c === LF || c === CR) break;
              i++;
            }
            issues.push({
              line,
              column: s - lineStart + 1,
              message: `text after a closing quote ("${text.slice(s, i)}") was appended to the field. Quote the whole field, or write "" for a quote inside it.`,
            });
            value += text.slice(s, i);
          }
        }
      } else {
        const s = i;
        let quoteAt = -1;
        while (i < n) {
          const c = text.charCodeAt(i);
          if (c === delim || c === LF || c === CR) break;
          if (c === QUOTE && quoteAt < 0) quoteAt = i;
          i++;
        }
        value = text.slice(s, i);
        if (quoteAt >= 0) {
          issues.push({
            line,
            column: quoteAt - lineStart + 1,
            message:
              'a quote inside an unquoted field was read as text. If the field contains commas or quotes, quote the whole field and double the inner quotes ("").',
          });
        }
      }
      rec.fields.push(value);
      rec.fieldColumns.push(fCol);
      if (fLine !== rec.line || rec.fieldLines) {
        if (!rec.fieldLines) rec.fieldLines = rec.fields.slice(0, -1).map(() => rec.line);
        rec.fieldLines.push(fLine);
      }
      if (i >= n) break;
      const ch = text.charCodeAt(i);
      if (ch === delim) {
        i++;
        // A delimiter right before the end of the file still ends a (last, empty) field.
        if (i >= n) {
          rec.fields.push('');
          rec.fieldColumns.push(i - lineStart + 1);
          rec.fieldLines?.push(line);
          break;
        }
        continue;
      }
      // End of line: CRLF, LF or a lone CR.
      i += ch === CR && text.charCodeAt(i + 1) === LF ? 2 : 1;
      line++;
      lineStart = i;
      break;
    }
    records.push(rec);
  }
  return { records, issues };
}

/**
 * Guesses the delimiter from the first non-blank line: a comma unless that line has none
 * outside quotes and has tabs or semicolons (TSV files, spreadsheets in locales that use
 * the comma as decimal separator).
 */
export function sniffDelimiter(text: string): ',' | '\t' | ';' {
  let inQuotes = false;
  let commas = 0;
  let tabs = 0;
  let semis = 0;
  let seen = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') inQuotes = !inQuotes;
    else if (!inQuotes && (c === '\n' || c === '\r')) {
      if (seen) break;
      continue;
    } else if (!inQuotes) {
      if (c === ',') commas++;
      else if (c === '\t') tabs++;
      else if (c === ';') semis++;
      if (c.trim() !== '') seen = true;
    }
  }
  if (commas > 0) return ',';
  if (tabs > 0) return '\t';
  if (semis > 0) return ';';
  return ',';
}
