// How fast a configuration will train (images/s), from what earlier trials measured: each
// measurement becomes a FLOP rate (images/s × forward FLOPs per image), and a configuration's
// speed is a FLOP rate divided by its own FLOPs. Families differ in how well they use the
// machine (depthwise convolutions are memory-bound: a MobileNet reaches a third of a plain
// convnet's FLOP rate on wasm), so a family's own rates are used once it has one; the median of
// all rates before that. Overestimating a speed costs a whole trial cut at the deadline, so the
// estimate leans on measurements rather than on guesses. A configuration's FLOPs are counted once
// (counting builds the network: tens of milliseconds, and the search asks for every candidate it
// weighs, again at every decision).
import type { TrialConfig } from '../shared/protocol';
import { configKey } from './space';

export class ThroughputModel {
  private readonly rates = new Map<string, number[]>();
  private readonly measured = new Map<string, number>();
  private readonly flops = new Map<string, number>();

  constructor(
    private readonly fallback: (config: TrialConfig) => number,
    private readonly flopsOf?: (config: TrialConfig) => number,
  ) {}

  /** A trial of `config` trained at `imagesPerSec`; `flops` is its forward FLOPs per image when known. */
  record(config: TrialConfig, imagesPerSec: number, flops?: number): void {
    if (!(imagesPerSec > 0)) return;
    const family = String(config.family);
    this.measured.set(family, imagesPerSec);
    if (flops && flops > 0) this.rates.set(family, [...(this.rates.get(family) ?? []), imagesPerSec * flops]);
  }

  imagesPerSec(config: TrialConfig): number {
    const family = String(config.family);
    if (this.flopsOf && this.rates.size > 0) {
      const pool = this.rates.get(family) ?? [...this.rates.values()].flat();
      return median(pool) / Math.max(1, this.flopsOfConfig(this.flopsOf, config));
    }
    return this.measured.get(family) ?? this.fallback(config);
  }

  /** `flopsOf(config)`, counted once per configuration (its float parameters, rounded in the key, change no FLOPs). */
  private flopsOfConfig(flopsOf: (config: TrialConfig) => number, config: TrialConfig): number {
    const key = configKey(config);
    let f = this.flops.get(key);
    if (f === undefined) this.flops.set(key, (f = flopsOf(config)));
    return f;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
