// formatReport: the text `automl validate` prints: what the dataset is, a label ×
// partition table, image statistics, and the findings grouped by severity with file:line.
import * as path from 'node:path';
import { sortFindings } from './findings';
import type { Dataset, DatasetStats, Finding, Severity } from './types';

export interface ReportOptions {
  /** Paths are shown relative to this folder when inside it (default: the current directory). */
  cwd?: string;
  /** At most this many findings per severity (default 50; the counts stay complete). */
  maxPerSeverity?: number;
  /** Class rows shown (default 50; the rest are summed up). */
  maxClasses?: number;
}

const FORMAT_NAMES = { csv: 'AutoML CSV', folder: 'folder of class folders', zip: 'zip', idx: 'MNIST IDX files' };

function n(x: number): string {
  return x.toLocaleString('en-US');
}

export function findingLocation(f: Finding, cwd = process.cwd()): string {
  const rel = path.relative(cwd, f.file);
  const shown = rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : f.file;
  return `${shown}${f.line !== undefined ? `:${f.line}${f.column !== undefined ? `:${f.column}` : ''}` : ''}`;
}

export function formatReport(dataset: Dataset, stats: DatasetStats | undefined, findings: Finding[], options: ReportOptions = {}): string {
  const cwd = options.cwd ?? process.cwd();
  const lines: string[] = [];
  const kinds = dataset.multiLabel ? 'multi-label' : 'single-label';
  lines.push(`Dataset: ${dataset.source}`);
  lines.push(`Format:  ${FORMAT_NAMES[dataset.format]}, ${kinds}, ${n(dataset.classes.length)} classes, ${n(dataset.items.length)} images`);
  if (stats && stats.splitByUs > 0) lines.push(`Split:   ${n(stats.splitByUs)} images were assigned a partition by us (seed ${dataset.seed ?? 1}).`);
  lines.push('');

  if (stats && stats.counts.length > 0) {
    const maxClasses = options.maxClasses ?? 50;
    const rows = stats.counts.slice(0, maxClasses).map((c) => [c.label, n(c.train), n(c.validation), n(c.test), n(c.total)]);
    if (stats.counts.length > maxClasses) {
      const rest = stats.counts.slice(maxClasses);
      const sum = (k: 'train' | 'validation' | 'test' | 'total') => n(rest.reduce((s, c) => s + c[k], 0));
      rows.push([`(${rest.length} more classes)`, sum('train'), sum('validation'), sum('test'), sum('total')]);
    }
    const head = ['Label', 'TRAIN', 'VALIDATION', 'TEST', 'Total'];
    const foot = ['Total images', n(stats.totals.train), n(stats.totals.validation), n(stats.totals.test), n(stats.totals.total)];
    const all = [head, ...rows, foot];
    const widths = head.map((_, k) => Math.max(...all.map((r) => r[k].length)));
    const fmt = (r: string[]) => r.map((c, k) => (k === 0 ? c.padEnd(widths[k]) : c.padStart(widths[k]))).join('  ');
    const rule = widths.map((w) => '-'.repeat(w)).join('  ');
    lines.push(fmt(head), rule, ...rows.map(fmt), rule, fmt(foot));
    if (dataset.multiLabel) lines.push('(multi-label: an image counts once for each of its labels; totals count images)');
    lines.push('');
  }

  if (stats?.images) {
    const im = stats.images;
    const sz = (d: { min: number; median: number; max: number }) => `${n(d.min)}/${n(d.median)}/${n(d.max)}`;
    lines.push(`Images:  ${n(im.decoded)} decoded${im.failed ? `, ${n(im.failed)} failed` : ''}`);
    lines.push(`Size:    width min/median/max ${sz(im.width)} px, height ${sz(im.height)} px`);
    const ch = im.channels;
    const chParts = [
      ['gray', ch.gray],
      ['gray+alpha', ch.grayAlpha],
      ['RGB', ch.rgb],
      ['RGBA', ch.rgba],
    ].filter(([, c]) => (c as number) > 0);
    lines.push(`Channels: ${chParts.map(([k, c]) => `${k} ${n(c as number)}`).join(', ') || 'none'}`);
    lines.push(
      `Formats: ${
        Object.entries(im.formats)
          .sort((a, b) => b[1] - a[1])
          .map(([k, c]) => `${k} ${n(c)}`)
          .join(', ') || 'none'
      }`,
    );
    if (stats.duplicates) {
      const d = stats.duplicates;
      lines.push(
        `Duplicates: ${d.groups === 0 ? 'none' : `${n(d.groups)} groups of identical images (${n(d.images)} images)${d.leakageGroups ? `, ${n(d.leakageGroups)} across partitions` : ''}${d.conflictingGroups ? `, ${n(d.conflictingGroups)} with different labels` : ''}`}`,
      );
    }
    lines.push('');
  }

  const sorted = sortFindings(findings);
  const max = options.maxPerSeverity ?? 50;
  const titles: Record<Severity, string> = { error: 'Errors', warning: 'Warnings', info: 'Notes' };
  for (const sev of ['error', 'warning', 'info'] as Severity[]) {
    const group = sorted.filter((f) => f.severity === sev);
    if (group.length === 0) continue;
    lines.push(`${titles[sev]} (${n(group.length)})`);
    for (const f of group.slice(0, max)) lines.push(`  ${findingLocation(f, cwd)}  [${f.code}]  ${f.message}`);
    if (group.length > max) lines.push(`  … ${n(group.length - max)} more`);
    lines.push('');
  }

  const errors = findings.filter((f) => f.severity === 'error').length;
  const warnings = findings.filter((f) => f.severity === 'warning').length;
  lines.push(
    errors > 0
      ? `Result: ${n(errors)} error${errors === 1 ? '' : 's'}${warnings ? `, ${n(warnings)} warning${warnings === 1 ? '' : 's'}` : ''}: fix the errors before training.`
      : `Result: ready to train${warnings ? ` (${n(warnings)} warning${warnings === 1 ? '' : 's'} worth a look)` : ''}.`,
  );
  return lines.join('\n') + '\n';
}
