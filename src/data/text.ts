// Turns the bytes of a text file (a CSV, a labels file) into a string, and says where it
// is not UTF-8: AutoML requires UTF-8, and "invalid byte 0xE9 at line 12, byte 31" lets
// the user find the culprit, which "file is not UTF-8" does not.
import { isUtf8 } from 'node:buffer';

export interface EncodingIssue {
  line: number;
  /** 1-based byte offset within the line. */
  byteColumn: number;
  byte: number;
}

export interface DecodedText {
  text: string;
  encoding: 'utf-8' | 'utf-8-bom' | 'utf-16le' | 'utf-16be' | 'windows-1252';
  /** Where the bytes are not valid UTF-8 (first few); empty when they are. */
  invalid: EncodingIssue[];
  /** Number of lines with invalid bytes. */
  invalidLines: number;
}

export function decodeText(bytes: Uint8Array, maxIssues = 5): DecodedText {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) {
    const rest = buf.subarray(3);
    if (isUtf8(rest)) return { text: rest.toString('utf8'), encoding: 'utf-8-bom', invalid: [], invalidLines: 0 };
    return latin1Fallback(rest, maxIssues, 3);
  }
  // Excel's "Unicode text" and some Windows tools write UTF-16 with a BOM.
  if (buf.length >= 2 && buf[0] === 0xff && buf[1] === 0xfe) {
    return { text: new TextDecoder('utf-16le').decode(buf.subarray(2)), encoding: 'utf-16le', invalid: [], invalidLines: 0 };
  }
  if (buf.length >= 2 && buf[0] === 0xfe && buf[1] === 0xff) {
    return { text: new TextDecoder('utf-16be').decode(buf.subarray(2)), encoding: 'utf-16be', invalid: [], invalidLines: 0 };
  }
  if (isUtf8(buf)) return { text: buf.toString('utf8'), encoding: 'utf-8', invalid: [], invalidLines: 0 };
  return latin1Fallback(buf, maxIssues, 0);
}

function latin1Fallback(buf: Buffer, maxIssues: number, lineByteOffset0: number): DecodedText {
  const { issues, lines } = findInvalidUtf8(buf, maxIssues, lineByteOffset0);
  let text: string;
  try {
    // Most non-UTF-8 CSVs come from Excel on Windows: Windows-1252 (a superset of Latin-1).
    text = new TextDecoder('windows-1252').decode(buf);
  } catch {
    text = buf.toString('latin1');
  }
  return { text, encoding: 'windows-1252', invalid: issues, invalidLines: lines };
}

/**
 * Scans for invalid UTF-8 sequences, counting lines like the CSV parser does (LF, CRLF
 * and a lone CR each end a line). `firstLineOffset` shifts byte columns of line 1 (BOM).
 */
export function findInvalidUtf8(buf: Uint8Array, maxIssues: number, firstLineOffset = 0): { issues: EncodingIssue[]; lines: number } {
  const issues: EncodingIssue[] = [];
  let line = 1;
  let lineStart = -firstLineOffset;
  let lastBadLine = 0;
  let lines = 0;
  let i = 0;
  const n = buf.length;
  while (i < n) {
    const b = buf[i];
    if (b < 0x80) {
      if (b === 0x0a) {
        line++;
        lineStart = i + 1;
      } else if (b === 0x0d) {
        if (buf[i + 1] !== 0x0a) {
          line++;
          lineStart = i + 1;
        }
      }
      i++;
      continue;
    }
    const len = utf8SequenceLength(buf, i);
    if (len > 0) {
      i += len;
      continue;
    }
    if (lastBadLine !== line) {
      lines++;
      lastBadLine = line;
      if (issues.length < maxIssues) issues.push({ line, byteColumn: i - lineStart + 1, byte: b });
    }
    i++;
  }
  return { issues, lines };
}

/** Length of the valid UTF-8 sequence starting at i, or 0 if it is invalid. */
function utf8SequenceLength(buf: Uint8Array, i: number): number {
  const b = buf[i];
  const cont = (k: number) => i + k < buf.length && (buf[i + k] & 0xc0) === 0x80;
  if (b >= 0xc2 && b <= 0xdf) return cont(1) ? 2 : 0;
  if (b >= 0xe0 && b <= 0xef) {
    if (!cont(1) || !cont(2)) return 0;
    const b1 = buf[i + 1];
    if (b === 0xe0 && b1 < 0xa0) return 0; // overlong
    if (b === 0xed && b1 >= 0xa0) return 0; // surrogates
    return 3;
  }
  if (b >= 0xf0 && b <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const b1 = buf[i + 1];
    if (b === 0xf0 && b1 < 0x90) return 0;
    if (b === 0xf4 && b1 >= 0x90) return 0;
    return 4;
  }
  return 0;
}
