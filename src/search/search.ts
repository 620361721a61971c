// The search engine, independent of tfjs: a portfolio of known-good configurations first, then
// TPE proposals, with epochs allocated by successive halving (ASHA) under a wall-clock deadline.
// Trials are run through `SearchHooks.runTrial`, so the same engine drives real training in the
// worker and a synthetic objective in unit tests. Resumable: the state is rebuilt from the
// trial records of an earlier run.
import type { TrialConfig, TrialRecord } from '../shared/protocol';
import { deriveSeed, rng } from '../shared/random';
import { Asha, type AshaDecision } from './asha';
import { epochsIn } from './plan';
import { type Param, completeConfig, configKey, describeConfig, sampleConfig } from './space';
import { ThroughputModel } from './throughput';
import { type Observation, proposeTpe } from './tpe';

export interface TrialOutcome {
  status: 'done' | 'failed' | 'cancelled' | 'interrupted';
  /** Validation accuracy at the end of the segment (null when it failed before any epoch). */
  valAccuracy: number | null;
  epochsDone: number;
  imagesPerSec: number;
  /** The learning-rate schedule ran to its end (not cut short). */
  annealed?: boolean;
  error?: string;
}

export interface SegmentRequest {
  /** Epochs the trial had before this segment (0 for a new trial). */
  fromEpochs: number;
  /** Epochs it should have at the end of it. */
  toEpochs: number;
  /** Continue from the trial's last checkpoint instead of a fresh model. */
  continueFrom: boolean;
  /** Whether the trial can be promoted again (so its last state must be kept). */
  mayContinue: boolean;
  deadline: number;
  /** Anneal the learning rate by time to the deadline (a trial that must fit whatever time is left). */
  annealByTime?: boolean;
}

export interface SearchHooks {
  now(): number;
  isCancelled(): boolean;
  runTrial(trial: TrialRecord, segment: SegmentRequest): Promise<TrialOutcome>;
  /** Persists a trial record (called whenever it changes). */
  saveTrial(trial: TrialRecord): void;
  log(message: string): void;
}

export interface SearchOptions {
  space: Param[];
  /** Partial configs tried first, in order (completed with defaults from the space). */
  portfolio: TrialConfig[];
  seed: number;
  /** Search-phase deadline (ms, same clock as hooks.now). */
  deadline: number;
  minResource: number;
  maxResource: number;
  eta: number;
  /** Training images per epoch (to turn epochs into seconds). */
  trainImages: number;
  /** Throughput guess (images/s) for a config when nothing was measured yet. */
  estimateImagesPerSec: (config: TrialConfig) => number;
  /** Forward FLOPs per image of a config: scales measured throughput to configs not yet run. */
  flopsOf?: (config: TrialConfig) => number;
  /** Rerun trials the earlier run left running or interrupted (a resume); false for a second phase of one run. */
  rerunInterrupted?: boolean;
  /** Trials of an earlier run of this experiment (resume). */
  previous?: TrialRecord[];
  /** Stop after this many new trials without improving the best (0 = never). */
  convergencePatience?: number;
  maxTrials?: number;
  /** Segments run at once (default 1): the executor's slots (Slurm jobs); ASHA decides whenever one is free. */
  parallel?: number;
  /**
   * The final fit that follows the search (`seconds` on `trainImages` images). A configuration it
   * could train for fewer than `minEpochs` epochs, and for less than a third of the epochs of the
   * fastest configuration tried, is not tried: it would not be the one retrained (measured on
   * Fashion-MNIST: a network given half the epochs of a faster one in the same 15 minutes was 0.4
   * points behind it). The first trial always runs.
   */
  finalFit?: { seconds: number; trainImages: number; minEpochs: number };
}

/** TPE proposals drawn, at most, for one new trial when earlier ones are too slow for the final fit. */
const MAX_PROPOSALS = 20;

export interface SearchResult {
  trials: TrialRecord[];
  best: TrialRecord | null;
  stoppedBy: 'deadline' | 'cancelled' | 'converged' | 'max-trials';
}

/** A trial record before anything ran: rung 0, no scores, no model. */
export function newTrialRecord(t: Pick<TrialRecord, 'id' | 'index' | 'config' | 'origin' | 'epochs' | 'startedAt'> & Partial<TrialRecord>): TrialRecord {
  return {
    status: 'running',
    rung: 0,
    epochsDone: 0,
    trainOn: 'TRAIN',
    rungScores: [],
    bestValAccuracy: null,
    bestValLoss: null,
    bestEpoch: null,
    params: 0,
    memoryEstimate: 0,
    hasModel: false,
    ...t,
  };
}

/** The best trial trained on TRAIN with a saved model: the highest validation accuracy reached. */
export function bestTrial(trials: TrialRecord[]): TrialRecord | null {
  let best: TrialRecord | null = null;
  for (const t of trials) {
    if (!t.hasModel || t.bestValAccuracy === null || t.trainOn !== 'TRAIN') continue;
    if (!best || t.bestValAccuracy > best.bestValAccuracy!) best = t;
  }
  return best;
}

/** A running search: the options, hooks, scheduler, trials so far and what was measured. */
interface Search {
  o: SearchOptions;
  hooks: SearchHooks;
  asha: Asha;
  trials: TrialRecord[];
  /** Configurations tried (or skipped for good). */
  seen: Set<string>;
  speed: ThroughputModel;
  /** Segments run at once. */
  parallel: number;
}

export async function runSearch(o: SearchOptions, hooks: SearchHooks): Promise<SearchResult> {
  const s: Search = {
    o,
    hooks,
    asha: new Asha({ minResource: o.minResource, maxResource: o.maxResource, eta: o.eta }),
    trials: [],
    seen: new Set<string>(),
    speed: new ThroughputModel(o.estimateImagesPerSec, o.flopsOf),
    parallel: Math.max(1, Math.floor(o.parallel ?? 1)),
  };
  const { asha, trials } = s;
  const rerun = restorePrevious(s);
  let bestScore = Math.max(-1, ...trials.map((t) => t.bestValAccuracy ?? -1));
  let sinceImprovement = 0;
  const end: { stoppedBy: SearchResult['stoppedBy'] } = { stoppedBy: 'deadline' };

  // Up to `parallel` segments run at once (an executor that runs trials as cluster jobs); each
  // decision is taken when a slot is free, so with one slot this is the sequential search.
  const { parallel } = s;
  const running = new Set<Promise<void>>();
  const afterSegment = () => {
    const latestBest = Math.max(-1, ...trials.map((t) => t.bestValAccuracy ?? -1));
    if (latestBest > bestScore + 1e-9) {
      bestScore = latestBest;
      sinceImprovement = 0;
    } else if (o.convergencePatience && ++sinceImprovement >= o.convergencePatience && end.stoppedBy === 'deadline') {
      hooks.log(`Search converged: no better trial in the last ${sinceImprovement} runs`);
      end.stoppedBy = 'converged';
    }
  };
  const launch = (segment: Promise<unknown>, counted: boolean) => {
    const slot: Promise<void> = segment.then(() => {
      running.delete(slot);
      if (counted) afterSegment();
    });
    // A segment that throws ends the search through the race that sees it; this keeps a second one from being unhandled.
    slot.catch(() => undefined);
    running.add(slot);
  };
  /** Waits for a running segment to end; false when none runs. */
  const waitForOne = async () => {
    if (running.size === 0) return false;
    await Promise.race(running);
    return true;
  };

  for (const t of rerun) {
    if (hooks.isCancelled()) break;
    if (running.size >= parallel) await waitForOne();
    hooks.log(`Resuming: rerunning interrupted trial ${t.id} at rung ${t.rung}`);
    const from = t.rung === 0 ? 0 : asha.resources[t.rung - 1];
    launch(runSegment(s, t, { fromEpochs: from, toEpochs: asha.resources[t.rung], continueFrom: t.rung > 0 }), false);
  }

  for (;;) {
    if (end.stoppedBy === 'converged') break;
    if (hooks.isCancelled()) {
      end.stoppedBy = 'cancelled';
      break;
    }
    const remaining = (o.deadline - hooks.now()) / 1000;
    if (remaining <= 0) break;
    if (running.size >= parallel) {
      await waitForOne();
      continue;
    }
    const decision = asha.next();
    if (decision.kind === 'promote') {
      const segment = promote(s, decision, remaining);
      if (segment) launch(segment, true);
      continue;
    }
    if (o.maxTrials && trials.length >= o.maxTrials) {
      // Running segments may still make a trial promotable.
      if (await waitForOne()) continue;
      end.stoppedBy = 'max-trials';
      break;
    }
    const segment = startNewTrial(s, decision.resource, remaining, running.size === 0);
    if (segment) launch(segment, true);
    else if (!(await waitForOne())) break;
  }
  // Segments still running end by themselves (the search's deadline, or the cancel they see).
  while (running.size) await waitForOne();
  return { trials, best: bestTrial(trials), stoppedBy: end.stoppedBy };
}

/** Rebuilds the state of an earlier run: finished rungs are reported; returns the interrupted trials to rerun. */
function restorePrevious(s: Search): TrialRecord[] {
  const { o, asha } = s;
  const rerun: TrialRecord[] = [];
  for (const t of o.previous ?? []) {
    if (t.trainOn !== 'TRAIN') continue;
    s.trials.push(t);
    s.seen.add(configKey(t.config));
    if (t.imagesPerSec) s.speed.record(t.config, t.imagesPerSec, t.flops);
    t.rungScores.forEach((score, k) => asha.report(t.id, k, score));
    for (let k = 0; k < t.rungScores.length - 1; k++) asha.markPromoted(t.id, k);
    if ((t.status === 'running' || t.status === 'interrupted') && o.rerunInterrupted !== false) rerun.push(t);
    else if (t.status === 'running' || t.status === 'interrupted') asha.retire(t.id);
    if (t.status === 'failed' || t.status === 'cancelled') asha.retire(t.id);
  }
  return rerun;
}

/** Seconds `config` takes to train `epochs` epochs, at its measured (or estimated) speed. */
function secondsFor(s: Search, config: TrialConfig, epochs: number): number {
  return (epochs * s.o.trainImages) / Math.max(1e-6, s.speed.imagesPerSec(config));
}

/** Epochs the final fit could train `config` for (Infinity without a final fit). */
function finalEpochs(s: Search, config: TrialConfig): number {
  const { finalFit } = s.o;
  return finalFit ? epochsIn(finalFit.seconds, s.speed.imagesPerSec(config), finalFit.trainImages) : Infinity;
}

/** Runs one segment of a trial and records its outcome (scores to ASHA, speed to the throughput model). */
async function runSegment(s: Search, trial: TrialRecord, seg: Omit<SegmentRequest, 'deadline' | 'mayContinue'>): Promise<TrialOutcome> {
  const { hooks, asha } = s;
  trial.status = 'running';
  trial.epochs = seg.toEpochs;
  hooks.saveTrial(trial);
  const mayContinue = !seg.annealByTime && trial.rung < asha.resources.length - 1;
  const outcome = await hooks.runTrial(trial, { ...seg, deadline: s.o.deadline, mayContinue });
  trial.epochsDone = outcome.epochsDone;
  if (outcome.imagesPerSec > 0) {
    trial.imagesPerSec = outcome.imagesPerSec;
    s.speed.record(trial.config, outcome.imagesPerSec, trial.flops);
  }
  if (outcome.status === 'done' && outcome.valAccuracy !== null) {
    trial.status = 'done';
    trial.rungScores[trial.rung] = outcome.valAccuracy;
    asha.report(trial.id, trial.rung, outcome.valAccuracy);
  } else {
    trial.status = outcome.status;
    if (outcome.error) trial.error = outcome.error;
    asha.retire(trial.id);
  }
  hooks.saveTrial(trial);
  return outcome;
}

/** Promotes a trial to its next rung if that fits in the time left: its running segment, or null when it does not fit. */
function promote(s: Search, decision: Extract<AshaDecision, { kind: 'promote' }>, remaining: number): Promise<TrialOutcome> | null {
  const trial = s.trials.find((t) => t.id === decision.trialId)!;
  s.asha.markPromoted(trial.id, decision.rung - 1);
  if (secondsFor(s, trial.config, decision.resource - decision.fromResource) > remaining) {
    s.hooks.log(`Not promoting ${trial.id}: its next rung would not fit in the ${Math.round(remaining)} s left`);
    return null;
  }
  trial.rung = decision.rung;
  trial.origin = trial.origin.includes('promoted') ? trial.origin : `${trial.origin}, promoted`;
  return runSegment(s, trial, { fromEpochs: decision.fromResource, toEpochs: decision.resource, continueFrom: true });
}

/**
 * Chooses a new trial of `resource` epochs and starts it: its running segment, or null when none would fit
 * (the search phase is over once no other segment runs; `last`: none does, so that is logged).
 */
function startNewTrial(s: Search, resource: number, remaining: number, last: boolean): Promise<TrialOutcome> | null {
  const { hooks, trials } = s;
  const index = trials.length;
  const choice = chooseNewConfig(s, resource, remaining);
  if (!choice.chosen) {
    if (last) {
      hooks.log(
        `Search phase over: no new trial would fit in the ${Math.round(remaining)} s left${choice.skipped ? ' and train long enough in the final fit' : ''}`,
      );
    }
    return null;
  }
  const { config, origin } = choice.chosen;
  const tooLong = !(secondsFor(s, config, resource) <= remaining);
  s.seen.add(configKey(config));
  const trial = newTrialRecord({
    id: `t${String(index + 1).padStart(3, '0')}`,
    index,
    config,
    origin,
    epochs: resource,
    startedAt: new Date(hooks.now()).toISOString(),
  });
  trials.push(trial);
  if (tooLong) hooks.log(`Budget is short: ${trial.id} trains for the ${Math.round(remaining)} s left`);
  return runSegment(s, trial, { fromEpochs: 0, toEpochs: resource, continueFrom: false, annealByTime: tooLong });
}

/**
 * Candidates: the portfolio entries not tried yet, in order, then a TPE proposal. The first
 * that fits in the time left (and that the final fit could train long enough) is chosen; the very
 * first trial always runs (annealed to the deadline). `skipped`: candidates too slow for the final fit.
 */
function chooseNewConfig(s: Search, resource: number, remaining: number): { chosen?: { config: TrialConfig; origin: string }; skipped: number } {
  const { o, hooks, trials, seen } = s;
  const index = trials.length;
  const random = rng(deriveSeed(o.seed, `propose-${index}`));
  const candidates: { config: TrialConfig; origin: string }[] = o.portfolio
    .map((p) => completeConfig(o.space, p, rng(deriveSeed(o.seed, `portfolio-${index}`))))
    .filter((c) => !seen.has(configKey(c)))
    .map((config) => ({ config, origin: 'portfolio' }));
  const observations: Observation[] = trials.filter((t) => t.rungScores.length > 0).map((t) => ({ config: t.config, score: t.rungScores[0] }));
  const fits = (c: TrialConfig) => secondsFor(s, c, resource) <= remaining;
  const floor = o.finalFit && trials.length ? Math.min(o.finalFit.minEpochs, Math.max(...trials.map((t) => finalEpochs(s, t.config))) / 3) : 0;
  const slow = (c: TrialConfig) => finalEpochs(s, c) < floor;
  // TPE proposes until a configuration the final fit could train long enough comes up. With several
  // slots it also has to fit the time left: a slot that starts nothing stays idle until the others
  // end (the final fit cannot use it), and the next draw for the same trial index is the same
  // proposal, so one proposal too long for the time left would end the search early. When TPE's
  // proposals (drawn near the best, often large, networks) do not fit, configurations drawn from the
  // whole space do (smaller networks among them). With one slot nothing changes: the search ends
  // when its proposal does not fit, and what follows (the final fit) gets the time left.
  const wanted = (c: TrialConfig) => !slow(c) && (s.parallel === 1 || fits(c));
  const drawn = new Set(seen);
  for (let k = 0; k < MAX_PROPOSALS; k++) {
    const proposal = proposeTpe(o.space, observations, random, drawn);
    drawn.add(configKey(proposal.config));
    candidates.push(proposal);
    if (wanted(proposal.config)) break;
  }
  for (let k = 0; s.parallel > 1 && k < MAX_PROPOSALS && !candidates.some((c) => wanted(c.config)); k++) {
    const config = sampleConfig(o.space, random);
    if (drawn.has(configKey(config))) continue;
    drawn.add(configKey(config));
    candidates.push({ config, origin: 'random' });
  }
  const skipped = candidates.filter((c) => slow(c.config));
  const chosen = candidates.find((c) => fits(c.config) && !slow(c.config)) ?? (trials.length === 0 ? candidates[0] : undefined);
  for (const c of skipped.filter((c) => c.origin === 'portfolio')) {
    // A portfolio entry is skipped once and for all; proposals are drawn again next time.
    seen.add(configKey(c.config));
    hooks.log(
      `Not trying ${describeConfig(c.config)} (portfolio): the final fit could train it for ${finalEpochs(s, c.config).toFixed(1)} epochs, fewer than ${floor.toFixed(1)}`,
    );
  }
  if (skipped.length > 0 && skipped.some((c) => c.origin !== 'portfolio')) {
    const n = skipped.filter((c) => c.origin !== 'portfolio').length;
    hooks.log(`Skipped ${n} proposal${n > 1 ? 's' : ''} the final fit could not train for ${floor.toFixed(1)} epochs`);
  }
  return { chosen, skipped: skipped.length };
}
