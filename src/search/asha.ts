// Asynchronous successive halving (ASHA, Li et al. 2020) run one trial at a time: many trials
// get a small resource (epochs); the best 1/η of each rung is promoted to η× the resource.
// Decisions are pure functions of the reports, so a resumed search makes the same ones.

export interface AshaOptions {
  /** Resource (epochs) of rung 0. */
  minResource: number;
  /** Largest resource a trial may reach. */
  maxResource: number;
  /** Reduction factor. */
  eta: number;
}

export interface RungEntry {
  trialId: string;
  score: number;
  promoted: boolean;
}

export type AshaDecision =
  { kind: 'new'; rung: 0; resource: number } | { kind: 'promote'; trialId: string; rung: number; resource: number; fromResource: number };

export class Asha {
  readonly rungs: RungEntry[][];
  readonly resources: number[];

  constructor(readonly opts: AshaOptions) {
    this.resources = [];
    // Resources are rounded to 1/100 epoch so that records read back the same after a resume.
    for (let r = opts.minResource; r <= opts.maxResource + 1e-9; r = Math.round(r * opts.eta * 100) / 100) this.resources.push(r);
    if (this.resources.length === 0) this.resources.push(opts.maxResource);
    this.rungs = this.resources.map(() => []);
  }

  /** Records the score of a trial that completed `rung`. */
  report(trialId: string, rung: number, score: number): void {
    const list = this.rungs[rung];
    const existing = list.find((e) => e.trialId === trialId);
    if (existing) existing.score = score;
    else list.push({ trialId, score, promoted: false });
  }

  /** Marks a trial as removed from further promotion (failed while promoted, for instance). */
  retire(trialId: string): void {
    for (const rung of this.rungs) for (const e of rung) if (e.trialId === trialId) e.promoted = true;
  }

  /** The next thing to run: the highest promotable trial, else a new trial at rung 0. */
  next(): AshaDecision {
    for (let k = this.rungs.length - 2; k >= 0; k--) {
      const list = this.rungs[k];
      const quota = Math.floor(list.length / this.opts.eta);
      if (quota === 0) continue;
      const top = [...list].sort((a, b) => b.score - a.score).slice(0, quota);
      const candidate = top.find((e) => !e.promoted);
      if (candidate) {
        return { kind: 'promote', trialId: candidate.trialId, rung: k + 1, resource: this.resources[k + 1], fromResource: this.resources[k] };
      }
    }
    return { kind: 'new', rung: 0, resource: this.resources[0] };
  }

  markPromoted(trialId: string, fromRung: number): void {
    const e = this.rungs[fromRung].find((x) => x.trialId === trialId);
    if (e) e.promoted = true;
  }

  /** The best trial on the highest rung that has any result. */
  best(): RungEntry | undefined {
    for (let k = this.rungs.length - 1; k >= 0; k--) {
      if (this.rungs[k].length) return [...this.rungs[k]].sort((a, b) => b.score - a.score)[0];
    }
    return undefined;
  }
}
