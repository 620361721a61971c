// Tree-structured Parzen Estimator (Bergstra et al. 2011) over the namespaced, conditional
// search space. Observations are split into the best γ fraction ("good") and the rest; a
// candidate is drawn from the good density l(x) and the one with the highest l(x)/g(x) is
// proposed. Conditional parameters are modelled only from observations where they are active.
// Deterministic for a given random source.
import type { TrialConfig } from '../shared/protocol';
import { gaussian } from '../shared/random';
import { type Param, type ParamValue, configKey, isActive, sampleParam } from './space';

export interface Observation {
  config: TrialConfig;
  /** Higher is better (validation accuracy). */
  score: number;
}

export interface TpeOptions {
  /** Fraction of observations that count as good. */
  gamma: number;
  /** Candidates drawn from l(x) per proposal. */
  candidates: number;
  /** Below this many observations, propose at random. */
  minObservations: number;
}

export const DEFAULT_TPE: TpeOptions = { gamma: 0.25, candidates: 32, minObservations: 6 };

type Numeric = Extract<Param, { kind: 'float' | 'int' }>;

const toUnit = (p: Numeric, v: number) =>
  p.log ? (Math.log(v) - Math.log(p.low)) / (Math.log(p.high) - Math.log(p.low) || 1) : (v - p.low) / (p.high - p.low || 1);
const fromUnit = (p: Numeric, u: number) => {
  const c = Math.min(1, Math.max(0, u));
  const v = p.log ? Math.exp(Math.log(p.low) + c * (Math.log(p.high) - Math.log(p.low))) : p.low + c * (p.high - p.low);
  return p.kind === 'int' ? Math.min(p.high, Math.max(p.low, Math.round(v))) : v;
};

/** Parzen density of a numeric value in unit space: Gaussians at the observations plus a uniform prior. */
function numericDensity(p: Numeric, values: number[], v: number): number {
  const n = values.length;
  const bw = Math.max(0.05, Math.min(0.5, 1 / Math.pow(n + 1, 0.2) / 2));
  const u = toUnit(p, v);
  let sum = 1; // the uniform prior on [0, 1], weight one observation
  for (const x of values) {
    const z = (u - toUnit(p, x)) / bw;
    sum += Math.exp(-0.5 * z * z) / (bw * Math.sqrt(2 * Math.PI));
  }
  return sum / (n + 1);
}

function categoricalDensity(p: Extract<Param, { kind: 'choice' }>, values: ParamValue[], v: ParamValue): number {
  let count = 0;
  for (const x of values) if (x === v) count++;
  return (count + 1) / (values.length + p.values.length);
}

function activeValues(p: Param, obs: Observation[]): ParamValue[] {
  return obs.filter((o) => isActive(p, o.config) && p.name in o.config).map((o) => o.config[p.name]);
}

/** Draws one config from the good density l(x), parameter by parameter in space order. */
function sampleFromGood(space: Param[], good: Observation[], random: () => number): TrialConfig {
  const config: TrialConfig = {};
  for (const p of space) {
    if (!isActive(p, config)) continue;
    // Model a conditional parameter from the good observations that share its condition.
    const values = activeValues(p, good);
    if (values.length === 0 || random() < 1 / (values.length + 1)) {
      config[p.name] = sampleParam(p, random);
      continue;
    }
    const pick = values[Math.floor(random() * values.length)];
    if (p.kind === 'choice') {
      // Smoothed categorical: mostly the picked value, sometimes any other.
      config[p.name] = random() < 0.8 ? pick : p.values[Math.floor(random() * p.values.length)];
    } else {
      const bw = Math.max(0.05, Math.min(0.5, 1 / Math.pow(values.length + 1, 0.2) / 2));
      config[p.name] = fromUnit(p, toUnit(p, pick as number) + gaussian(random) * bw);
    }
  }
  return config;
}

function logRatio(space: Param[], config: TrialConfig, good: Observation[], bad: Observation[]): number {
  let s = 0;
  for (const p of space) {
    if (!isActive(p, config) || !(p.name in config)) continue;
    const v = config[p.name];
    const gv = activeValues(p, good);
    const bv = activeValues(p, bad);
    if (p.kind === 'choice') {
      s += Math.log(categoricalDensity(p, gv, v)) - Math.log(categoricalDensity(p, bv, v));
    } else {
      s += Math.log(numericDensity(p, gv as number[], v as number)) - Math.log(numericDensity(p, bv as number[], v as number));
    }
  }
  return s;
}

export function splitObservations(obs: Observation[], gamma: number): { good: Observation[]; bad: Observation[] } {
  const sorted = [...obs].sort((a, b) => b.score - a.score);
  const nGood = Math.max(1, Math.ceil(gamma * sorted.length));
  return { good: sorted.slice(0, nGood), bad: sorted.slice(nGood) };
}

/**
 * Proposes the next config. `seen` holds keys of configs already tried, which are not proposed
 * again. Falls back to random sampling while there are too few observations.
 */
export function proposeTpe(
  space: Param[],
  observations: Observation[],
  random: () => number,
  seen: Set<string>,
  opts: TpeOptions = DEFAULT_TPE,
): { config: TrialConfig; origin: 'tpe' | 'random' } {
  if (observations.length < opts.minObservations) {
    for (let i = 0; i < 100; i++) {
      const c = sampleFromPrior(space, random);
      if (!seen.has(configKey(c))) return { config: c, origin: 'random' };
    }
    return { config: sampleFromPrior(space, random), origin: 'random' };
  }
  const { good, bad } = splitObservations(observations, opts.gamma);
  let best: TrialConfig | undefined;
  let bestScore = -Infinity;
  for (let i = 0; i < opts.candidates; i++) {
    const c = sampleFromGood(space, good, random);
    if (seen.has(configKey(c))) continue;
    const s = logRatio(space, c, good, bad);
    if (s > bestScore) {
      bestScore = s;
      best = c;
    }
  }
  return best ? { config: best, origin: 'tpe' } : { config: sampleFromPrior(space, random), origin: 'random' };
}

function sampleFromPrior(space: Param[], random: () => number): TrialConfig {
  const config: TrialConfig = {};
  for (const p of space) if (isActive(p, config)) config[p.name] = sampleParam(p, random);
  return config;
}
