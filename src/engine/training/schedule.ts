// Learning-rate schedules, as functions of training progress (0 at the first step, 1 after
// the last). Pure functions so the same schedule drives any backend and is unit-tested.

export type ScheduleName = 'onecycle' | 'cosine' | 'constant';

export interface ScheduleOptions {
  name: ScheduleName;
  /** Peak learning rate. */
  lr: number;
  /** Fraction of the steps spent warming up (cosine) or rising (one-cycle). */
  warmup: number;
}

/**
 * one-cycle (Smith 2018, as in fast.ai): cosine rise from lr/25 to lr over the warm-up, then a
 *   cosine fall to lr/25e4.
 * cosine with warm-up: linear rise from 0 to lr, then a cosine fall to 0.
 */
export function learningRateAt(progress: number, o: ScheduleOptions): number {
  const p = Math.min(1, Math.max(0, progress));
  const cos = (from: number, to: number, t: number) => to + ((from - to) * (1 + Math.cos(Math.PI * t))) / 2;
  switch (o.name) {
    case 'constant':
      return o.lr;
    case 'onecycle': {
      const w = Math.max(1e-6, o.warmup);
      const start = o.lr / 25;
      const end = start / 1e4;
      return p < w ? cos(start, o.lr, p / w) : cos(o.lr, end, (p - w) / (1 - w));
    }
    case 'cosine': {
      const w = o.warmup;
      if (w > 0 && p < w) return (o.lr * p) / w;
      return cos(o.lr, 0, w >= 1 ? 1 : (p - w) / (1 - w));
    }
  }
}
