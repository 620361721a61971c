import * as assert from 'node:assert/strict';
import { parseCsv, sniffDelimiter } from '../../../src/data/csv-parser';
import { decodeText, findInvalidUtf8 } from '../../../src/data/text';

describe('data/csv-parser', () => {
  it('splits plain rows and records each field position', () => {
    const { records, issues } = parseCsv('a,b,c\nd,e\n');
    assert.deepEqual(issues, []);
    assert.deepEqual(
      records.map((r) => r.fields),
      [
        ['a', 'b', 'c'],
        ['d', 'e'],
      ],
    );
    assert.deepEqual(
      records.map((r) => r.line),
      [1, 2],
    );
    assert.deepEqual(records[0].fieldColumns, [1, 3, 5]);
  });

  it('handles quotes: commas, doubled quotes and line breaks inside quoted fields', () => {
    const text = 'TRAIN,"a, b.jpg","say ""hi"""\r\nTEST,"multi\nline.jpg",cat\nTRAIN,x.jpg,dog\n';
    const { records, issues } = parseCsv(text);
    assert.deepEqual(issues, []);
    assert.deepEqual(records[0].fields, ['TRAIN', 'a, b.jpg', 'say "hi"']);
    assert.deepEqual(records[1].fields, ['TEST', 'multi\nline.jpg', 'cat']);
    // The record after a two-line record starts on line 4, and its third field's line/column are exact.
    assert.equal(records[1].line, 2);
    assert.equal(records[1].fieldLines![2], 3);
    assert.equal(records[0].fieldLines, undefined, 'single-line records carry no per-field lines');
    assert.equal(records[1].fieldColumns[2], 11);
    assert.equal(records[2].line, 4);
  });

  it('counts CRLF, LF and lone CR as one line break each', () => {
    const { records } = parseCsv('a\r\nb\rc\nd');
    assert.deepEqual(
      records.map((r) => [r.fields[0], r.line]),
      [
        ['a', 1],
        ['b', 2],
        ['c', 3],
        ['d', 4],
      ],
    );
  });

  it('keeps a trailing empty field, and blank lines as single empty fields', () => {
    const { records } = parseCsv('a,b,\n\nc');
    assert.deepEqual(
      records.map((r) => r.fields),
      [['a', 'b', ''], [''], ['c']],
    );
    assert.deepEqual(parseCsv('a,').records[0].fields, ['a', '']);
  });

  it('reports an unterminated quote at the line and column where it opened', () => {
    const { records, issues } = parseCsv('a,b\nc,"d\ne,f\n');
    assert.equal(issues.length, 1);
    assert.equal(issues[0].line, 2);
    assert.equal(issues[0].column, 3);
    assert.match(issues[0].message, /never closed/);
    assert.equal(records[1].fields[1], 'd\ne,f\n');
  });

  it('keeps stray quotes as text and says where they are', () => {
    const { records, issues } = parseCsv('ab"c,d\n"x"y,z\n');
    assert.deepEqual(records[0].fields, ['ab"c', 'd']);
    assert.deepEqual(records[1].fields, ['xy', 'z']);
    assert.deepEqual(
      issues.map((i) => [i.line, i.column]),
      [
        [1, 3],
        [2, 4],
      ],
    );
  });

  it('sniffs tab and semicolon delimiters only when the first line has no comma', () => {
    assert.equal(sniffDelimiter('a\tb\n'), '\t');
    assert.equal(sniffDelimiter('\n\na;b\n'), ';');
    assert.equal(sniffDelimiter('a;b,c\n'), ',');
    assert.equal(sniffDelimiter('"a;b",c\n'), ',');
    assert.equal(sniffDelimiter('"a,b";c\n'), ';');
  });
});

describe('data/text', () => {
  it('strips a UTF-8 BOM and decodes UTF-16 with a BOM', () => {
    assert.deepEqual(decodeText(Buffer.from('\uFEFFé,b', 'utf8')).text, 'é,b');
    assert.equal(decodeText(Buffer.from('\uFEFFé,b', 'utf8')).encoding, 'utf-8-bom');
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('x,é', 'utf16le')]);
    assert.equal(decodeText(le).text, 'x,é');
    assert.equal(decodeText(le).encoding, 'utf-16le');
  });

  it('finds invalid UTF-8 by line and byte, and falls back to Windows-1252', () => {
    const bytes = Buffer.concat([Buffer.from('ok,é\r\nbad,caf', 'utf8'), Buffer.from([0xe9]), Buffer.from('\nalso,', 'utf8'), Buffer.from([0xff])]);
    const d = decodeText(bytes);
    assert.equal(d.encoding, 'windows-1252');
    assert.deepEqual(d.invalid, [
      { line: 2, byteColumn: 8, byte: 0xe9 },
      { line: 3, byteColumn: 6, byte: 0xff },
    ]);
    assert.match(d.text, /bad,café/);
  });

  it('rejects overlong and surrogate encodings', () => {
    assert.equal(findInvalidUtf8(Buffer.from([0xc0, 0xaf]), 5).issues.length, 1);
    assert.equal(findInvalidUtf8(Buffer.from([0xed, 0xa0, 0x80]), 5).issues.length, 1);
    assert.equal(findInvalidUtf8(Buffer.from('日本語 ok 😀', 'utf8'), 5).issues.length, 0);
  });
});

describe('data/paths', () => {
  it('joinRelative agrees with path.resolve', async () => {
    const path = await import('node:path');
    const { joinRelative } = await import('../../../src/data/paths');
    for (const rel of ['a.png', 'img/a.png', './a.png', '../x/a.png', 'a/../b.png', 'a//b.png', 'dir/', 'a/./b.png', '.hidden/a.png', 'x..y.png', 'a\\b.png']) {
      assert.equal(joinRelative('/data/set', rel), path.resolve('/data/set', rel), rel);
    }
  });
});
