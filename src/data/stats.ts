// computeStats: counts per label and partition (the grouped view), image sizes and
// channels, duplicates; plain JSON for the dataset webview and the CLI report.
import { perClassCounts } from './validate';
import type { Dataset, DatasetStats, Distribution, DuplicateGroup, Finding, ImageScan, ValidationResult } from './types';

export function distribution(values: number[], bins = 10): Distribution {
  if (values.length === 0) return { min: 0, median: 0, max: 0, mean: 0, histogram: { edges: [0, 0], counts: [0] } };
  const v = Float64Array.from(values).sort();
  const n = v.length;
  const min = v[0];
  const max = v[n - 1];
  const median = n % 2 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  let sum = 0;
  for (const x of v) sum += x;
  if (min === max) return { min, median, max, mean: min, histogram: { edges: [min, max], counts: [n] } };
  const k = Math.min(bins, Math.max(1, Math.ceil(max - min)));
  const step = (max - min) / k;
  const edges = Array.from({ length: k + 1 }, (_, i) => (i === k ? max : Math.round((min + i * step) * 100) / 100));
  const counts = new Array<number>(k).fill(0);
  for (const x of v) counts[Math.min(k - 1, Math.floor((x - min) / step))]++;
  return { min, median, max, mean: Math.round((sum / n) * 100) / 100, histogram: { edges, counts } };
}

/**
 * @param scanOrResult the decode pass, or validateDataset's result (its scan and findings are used)
 * @param findings the findings to count (default: the result's, else the dataset's structural ones)
 */
export function computeStats(dataset: Dataset, scanOrResult?: ImageScan | ValidationResult, findings?: Finding[]): DatasetStats {
  let scan: ImageScan | undefined;
  if (Array.isArray(scanOrResult)) {
    const result = scanOrResult as ValidationResult;
    scan = result.scan;
    findings = findings ?? result.findings;
  } else if (scanOrResult) {
    scan = scanOrResult as ImageScan;
  }
  findings = findings ?? dataset.findings;
  const perClass = perClassCounts(dataset);
  const counts = dataset.classes.map((label) => {
    const r = perClass.get(label)!;
    return { label, train: r.TRAIN, validation: r.VALIDATION, test: r.TEST, total: r.TRAIN + r.VALIDATION + r.TEST };
  });
  const totals = { train: 0, validation: 0, test: 0, total: dataset.items.length };
  for (const it of dataset.items) {
    if (it.partition === 'TRAIN') totals.train++;
    else if (it.partition === 'VALIDATION') totals.validation++;
    else totals.test++;
  }
  let unusable = 0;
  for (const it of dataset.items) if (it.stamp === undefined || scan?.images[it.id]?.error) unusable++;

  const stats: DatasetStats = {
    format: dataset.format,
    source: dataset.source,
    multiLabel: dataset.multiLabel,
    classes: dataset.classes,
    counts,
    totals,
    splitByUs: dataset.items.filter((it) => !it.assigned).length,
    unusable,
    findings: {
      error: findings.filter((f) => f.severity === 'error').length,
      warning: findings.filter((f) => f.severity === 'warning').length,
      info: findings.filter((f) => f.severity === 'info').length,
    },
  };

  if (scan) {
    const widths: number[] = [];
    const heights: number[] = [];
    const channels = { gray: 0, grayAlpha: 0, rgb: 0, rgba: 0 };
    const formats: Record<string, number> = {};
    let failed = 0;
    const byHash = new Map<string, number[]>();
    for (const it of dataset.items) {
      const info = scan.images[it.id];
      if (!info) continue;
      if (info.error) {
        failed++;
        continue;
      }
      widths.push(info.width);
      heights.push(info.height);
      if (info.channels === 1) channels.gray++;
      else if (info.channels === 2) channels.grayAlpha++;
      else if (info.channels === 3) channels.rgb++;
      else channels.rgba++;
      formats[info.format] = (formats[info.format] ?? 0) + 1;
      if (info.hash) {
        const g = byHash.get(info.hash);
        if (g) g.push(it.id);
        else byHash.set(info.hash, [it.id]);
      }
    }
    stats.images = { decoded: widths.length, failed, width: distribution(widths), height: distribution(heights), channels, formats };
    const groups: DuplicateGroup[] = [];
    for (const ids of byHash.values()) {
      if (ids.length < 2) continue;
      const items = ids.map((i) => dataset.items[i]);
      const labelKey = (l: string[]) => [...l].sort().join('\u0000');
      groups.push({
        items: ids,
        leakage: new Set(items.map((it) => it.partition)).size > 1,
        conflicting: new Set(items.map((it) => labelKey(it.labels))).size > 1,
      });
    }
    stats.duplicates = {
      groups: groups.length,
      images: groups.reduce((s, g) => s + g.items.length, 0),
      leakageGroups: groups.filter((g) => g.leakage).length,
      conflictingGroups: groups.filter((g) => g.conflicting).length,
      examples: groups.slice(0, 20),
    };
  }
  return stats;
}
