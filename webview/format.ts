// Number formatting for the panels. Null, undefined and non-finite numbers read "n/a": the UI
// never shows NaN.

const NA = 'n/a';

const finite = (x: number | null | undefined): x is number => typeof x === 'number' && Number.isFinite(x);

export function pct(x: number | null | undefined, digits = 1): string {
  return finite(x) ? `${(x * 100).toFixed(digits)}%` : NA;
}

export function num(x: number | null | undefined, digits = 3): string {
  return finite(x) ? x.toFixed(digits) : NA;
}

export function int(x: number | null | undefined): string {
  return finite(x) ? Math.round(x).toLocaleString('en-US') : NA;
}

/** 1234567 → "1.23 M", 12345 → "12.3 k". */
export function compact(x: number | null | undefined): string {
  if (!finite(x)) return NA;
  const a = Math.abs(x);
  if (a >= 1e9) return `${(x / 1e9).toPrecision(3)} G`;
  if (a >= 1e6) return `${(x / 1e6).toPrecision(3)} M`;
  if (a >= 1e4) return `${(x / 1e3).toPrecision(3)} k`;
  return Math.round(x).toLocaleString('en-US');
}

/** Seconds → "42 s", "3 min 05 s", "1 h 02 min". */
export function duration(seconds: number | null | undefined): string {
  if (!finite(seconds)) return NA;
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
}

export function basename(p: string): string {
  return p.split(/[\\/]/).filter(Boolean).pop() ?? p;
}
