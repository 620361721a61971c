// Collects findings with a cap per code, so that a CSV with 70,000 bad rows yields a
// readable report (and a bounded number of editor diagnostics) instead of 70,000 lines.
import type { Finding, Severity } from './types';

export const DEFAULT_MAX_FINDINGS_PER_CODE = 100;

const SEVERITY_RANK: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

export class FindingCollector {
  private readonly list: Finding[] = [];
  private readonly perCode = new Map<string, { shown: number; dropped: number; severity: Severity; file: string }>();

  constructor(private readonly maxPerCode = DEFAULT_MAX_FINDINGS_PER_CODE) {}

  add(f: Finding): void {
    let c = this.perCode.get(f.code);
    if (!c) {
      c = { shown: 0, dropped: 0, severity: f.severity, file: f.file };
      this.perCode.set(f.code, c);
    }
    if (SEVERITY_RANK[f.severity] < SEVERITY_RANK[c.severity]) c.severity = f.severity;
    if (c.shown < this.maxPerCode) {
      c.shown++;
      this.list.push(f);
    } else {
      c.dropped++;
    }
  }

  addAll(fs: Iterable<Finding>): void {
    for (const f of fs) this.add(f);
  }

  /** The findings, plus one summary per code that went over the cap. */
  result(): Finding[] {
    const out = this.list.slice();
    for (const [code, c] of this.perCode) {
      if (c.dropped > 0) {
        out.push({
          severity: c.severity,
          code,
          message: `…and ${c.dropped.toLocaleString('en-US')} more "${code}" findings like the ${c.shown} above (not listed one by one).`,
          file: c.file,
        });
      }
    }
    return out;
  }
}

export function sortFindings(findings: Finding[]): Finding[] {
  return findings
    .map((f, i) => ({ f, i }))
    .sort((a, b) => SEVERITY_RANK[a.f.severity] - SEVERITY_RANK[b.f.severity] || a.i - b.i)
    .map((x) => x.f);
}

export function hasErrors(findings: readonly Finding[]): boolean {
  return findings.some((f) => f.severity === 'error');
}

/** Thrown when a dataset cannot be opened at all (the path is missing, the format unknown). */
export class DatasetError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly code = 'dataset-error',
  ) {
    super(message);
    this.name = 'DatasetError';
  }
}
