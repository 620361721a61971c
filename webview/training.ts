// Panel 2: training. Live loss/accuracy curves per trial (train solid, validation dashed),
// the leaderboard, budget, backend, throughput, and a Stop button. History comes with `init`
// (read from the store); live worker events follow in `events` and are merged idempotently
// (an event already in the history replaces its copy). Rendering is coalesced to one frame.
import type {
  EpochRecord,
  ExperimentRecord,
  HostToWebview,
  LeaderboardRow,
  LogLevel,
  TrainingPanelData,
  TrialRecord,
  WorkerEvent,
} from '../src/shared/protocol';
import { leaderboard } from '../src/search/leaderboard';
import { patchViewState, request } from './bridge';
import { header, section, statusPill } from './common';
import { button, type ButtonHandle, dataGrid, type GridHandle, meter, type MeterHandle } from './components';
import { coalesce, h, replaceChildren } from './dom';
import { duration } from './format';
import { LearningCurves } from './training-curves';
import { accuracyNote, ALL_PARTS, latestIps, leaderboardColumns, type Part, PARTS_OF, summaryCards } from './training-parts';
import { activity, type DataProgress, type Progress, renderLog, statusBanner } from './training-status';

const MAX_LOG = 400;

export class TrainingView {
  private data: TrainingPanelData | undefined;
  private experiment!: ExperimentRecord;
  private readonly trials = new Map<string, TrialRecord>();
  private readonly history = new Map<string, Map<number, EpochRecord>>();
  private snapshotRows: LeaderboardRow[] = [];
  private running = false;
  private secondsUsed = 0;
  private asOfLocal = Date.now();
  private counts: Record<string, number> | undefined;
  private log: { level: LogLevel; message: string }[] = [];
  private progress: Progress | null = null;
  private dataProgress: DataProgress | null = null;
  private stopping = false;

  // UI parts updated in place
  private headerEl!: HTMLElement;
  private bannerEl!: HTMLElement;
  private cardsEl!: HTMLElement;
  private activityEl!: HTMLElement;
  private logEl!: HTMLElement;
  private logSummary!: HTMLElement;
  private curves: LearningCurves | undefined;
  private board!: GridHandle<LeaderboardRow>;
  private stopBtn!: ButtonHandle;
  private budgetMeter!: MeterHandle;
  private batchMeter!: MeterHandle;
  private clock: number | undefined;
  private readonly dirty = new Set<Part>();
  private readonly scheduleRender = coalesce(() => this.renderDirty());

  constructor(private readonly root: HTMLElement) {}

  onMessage(m: Exclude<HostToWebview, { type: 'response' }>): void {
    if (m.type === 'init' && m.panel === 'training') this.init(m.data);
    else if (m.type === 'events' && this.data) {
      for (const e of m.events) this.apply(e);
      this.scheduleRender();
    }
  }

  // ------------------------------------------------------------------------------------------
  // Model

  private init(data: TrainingPanelData): void {
    this.data = data;
    this.experiment = data.experiment;
    this.trials.clear();
    this.history.clear();
    for (const [id, recs] of Object.entries(data.history)) {
      const m = new Map<number, EpochRecord>();
      for (const r of recs) m.set(r.epoch, r);
      this.history.set(id, m);
    }
    for (const t of data.trials) this.upsertTrial(t);
    this.snapshotRows = data.leaderboard;
    this.running = data.running;
    this.secondsUsed = data.secondsUsed;
    this.asOfLocal = Date.now() - Math.max(0, Date.now() - Date.parse(data.asOf) || 0);
    this.counts = data.counts;
    this.log = data.log.slice(-MAX_LOG).map((l) => ({ level: l.level, message: l.message }));
    this.progress = null;
    this.dataProgress = null;
    this.stopping = false;
    patchViewState({ kind: 'training', target: data.experimentDir });
    this.build();
    this.render();
  }

  private apply(e: WorkerEvent): void {
    const wasRunning = this.running;
    for (const part of PARTS_OF[e.type] ?? ALL_PARTS) this.dirty.add(part);
    // Anything but the end, a log line or an error means a worker is on it (a queued experiment starting).
    if (e.type !== 'experimentEnded' && e.type !== 'log' && e.type !== 'error' && !this.running) {
      this.running = true;
      this.experiment = { ...this.experiment, status: 'running' };
    }
    if (this.running !== wasRunning) for (const part of ALL_PARTS) this.dirty.add(part);
    switch (e.type) {
      case 'backend':
        this.experiment = { ...this.experiment, backend: e.backend };
        break;
      case 'experimentStarted':
        this.running = true;
        this.counts = e.counts;
        this.experiment = { ...this.experiment, status: 'running', classes: e.classes, error: undefined, endedAt: undefined };
        break;
      case 'dataProgress':
        this.running = true;
        this.dataProgress = { phase: e.phase, done: e.done, total: e.total };
        break;
      case 'trialStarted':
        this.running = true;
        this.dataProgress = null;
        this.upsertTrial(e.trial);
        break;
      case 'epochEnded': {
        const r = e.record;
        let m = this.history.get(r.trialId);
        if (!m) this.history.set(r.trialId, (m = new Map()));
        m.set(r.epoch, r);
        const t = this.trials.get(r.trialId);
        if (t) {
          t.epochsDone = Math.max(t.epochsDone, r.epoch);
          t.imagesPerSec = r.imagesPerSec;
          if (r.valAccuracy !== null && (t.bestValAccuracy === null || r.valAccuracy > t.bestValAccuracy) && t.trainOn === 'TRAIN')
            t.bestValAccuracy = r.valAccuracy;
          t.seconds = r.elapsed;
        }
        break;
      }
      case 'batchProgress':
        this.progress = { trialId: e.trialId, epoch: e.epoch, batch: e.batch, batches: e.batches, imagesPerSec: e.imagesPerSec };
        break;
      case 'trialEnded':
        this.upsertTrial(e.trial);
        if (this.progress?.trialId === e.trial.id) this.progress = null;
        break;
      case 'experimentEnded':
        this.experiment = e.experiment;
        this.snapshotRows = e.leaderboard;
        this.running = false;
        this.secondsUsed = e.experiment.secondsUsed;
        this.asOfLocal = Date.now();
        this.progress = null;
        this.dataProgress = null;
        this.stopping = false;
        break;
      case 'log':
        this.pushLog(e.level, e.message);
        break;
      case 'error':
        this.experiment = { ...this.experiment, error: e.message };
        this.pushLog('error', e.message);
        break;
      default:
        break;
    }
  }

  /** A trial record from an event; epochs already seen in the history are never lost. */
  private upsertTrial(t: TrialRecord): void {
    const seen = [...(this.history.get(t.id)?.keys() ?? [])];
    const fromHistory = seen.length ? Math.max(...seen) : 0;
    this.trials.set(t.id, { ...t, epochsDone: Math.max(t.epochsDone, fromHistory) });
  }

  private pushLog(level: LogLevel, message: string): void {
    if (level === 'debug') return;
    this.log.push({ level, message });
    if (this.log.length > MAX_LOG) this.log.splice(0, this.log.length - MAX_LOG);
  }

  private usedSeconds(): number {
    const extra = this.running ? (Date.now() - this.asOfLocal) / 1000 : 0;
    return this.secondsUsed + extra;
  }

  private sortedTrials(): TrialRecord[] {
    return [...this.trials.values()].sort((a, b) => a.index - b.index);
  }

  /** The leaderboard, computed as the worker does (src/search/leaderboard.ts). */
  private rows(): LeaderboardRow[] {
    return this.trials.size ? leaderboard(this.sortedTrials()) : this.snapshotRows;
  }

  // ------------------------------------------------------------------------------------------
  // View

  private build(): void {
    this.curves?.dispose();
    this.headerEl = h('div');
    this.bannerEl = h('div.banner-slot', { 'aria-live': 'polite' });
    this.cardsEl = h('div');
    this.budgetMeter = meter('Time budget used');
    this.batchMeter = meter('Epoch progress');
    this.activityEl = h('div.activity', { 'aria-live': 'polite' });
    this.stopBtn = button('Stop', {
      appearance: 'secondary',
      title: 'Stop the experiment within one batch; the best model so far is kept and evaluated',
      onClick: () => this.stop(),
    });
    this.curves = new LearningCurves({ trials: () => this.sortedTrials(), history: this.history, running: () => this.running }, () => this.render());
    this.board = dataGrid<LeaderboardRow>(
      'Leaderboard',
      leaderboardColumns((id) => this.trials.get(id)?.error),
      { empty: 'No trial has started yet.', rowClass: (r) => (r.trialId === this.experiment.bestTrialId ? 'best-row' : undefined) },
    );
    this.logSummary = h('summary');
    this.logEl = h('ol.log', { 'aria-label': 'Experiment log' });
    replaceChildren(
      this.root,
      this.headerEl,
      this.bannerEl,
      this.cardsEl,
      this.activityEl,
      section('Learning curves', this.curves.el),
      section('Leaderboard', this.board.el),
      h('details.log-details', null, this.logSummary, this.logEl),
    );
    if (this.clock !== undefined) clearInterval(this.clock);
    this.clock = window.setInterval(() => {
      if (this.running) this.renderCards();
    }, 1000);
  }

  private stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    this.render();
    request('stop', {}).then(
      (r) => {
        if (!r.stopped) this.stopping = false;
        this.render();
      },
      () => {
        this.stopping = false;
        this.render();
      },
    );
  }

  /** Renders the whole panel. */
  private render(): void {
    for (const part of ALL_PARTS) this.dirty.add(part);
    this.renderDirty();
  }

  /** Renders the parts that events changed since the last frame. */
  private renderDirty(): void {
    if (!this.data) return;
    const d = this.dirty;
    if (d.has('status')) {
      this.renderHeader();
      this.renderBanner();
    }
    if (d.has('cards')) this.renderCards();
    if (d.has('activity')) this.renderActivity();
    if (d.has('legend')) this.curves?.renderLegend();
    if (d.has('charts')) this.curves?.renderCharts();
    if (d.has('board')) this.board.setRows(this.rows());
    if (d.has('log')) this.renderLog();
    d.clear();
  }

  private renderHeader(): void {
    const e = this.experiment;
    const actions: HTMLElement[] = [];
    if (this.running) {
      this.stopBtn.setLabel(this.stopping ? 'Stopping…' : 'Stop');
      this.stopBtn.setDisabled(this.stopping);
      actions.push(this.stopBtn.el);
    }
    if (e.test)
      actions.push(
        button('Open Evaluation', { appearance: this.running ? 'secondary' : 'primary', onClick: () => void request('openPanel', { kind: 'evaluation' }) }).el,
      );
    if (e.finalModel && !this.running)
      actions.push(button('Predict…', { appearance: 'secondary', onClick: () => void request('openPanel', { kind: 'predict' }) }).el);
    actions.push(button('Reveal Folder', { appearance: 'secondary', onClick: () => void request('reveal', {}) }).el);
    const status = this.running ? 'running' : e.status === 'running' ? 'interrupted' : e.status;
    replaceChildren(
      this.headerEl,
      header(
        e.spec.name || e.spec.id,
        h(
          'span',
          null,
          h('span.mono', { title: e.spec.dataset }, e.spec.dataset),
          h('span.muted', null, ` · seed ${e.spec.seed} · started ${e.startedAt ? new Date(e.startedAt).toLocaleString() : 'not yet'}`),
        ),
        [statusPill(status)],
        actions,
      ),
    );
  }

  private renderBanner(): void {
    replaceChildren(this.bannerEl, statusBanner(this.experiment, this.running));
  }

  private renderCards(): void {
    const e = this.experiment;
    const budget = e.spec.budgetMinutes * 60;
    const used = Math.min(this.usedSeconds(), Math.max(budget, this.secondsUsed));
    this.budgetMeter.set(budget ? used / budget : 0, `${duration(used)} of ${duration(budget)}`);
    const left = Math.max(0, budget - used);
    const trials = this.sortedTrials();
    const search = trials.filter((t) => t.trainOn === 'TRAIN');
    const finalFit = trials.find((t) => t.trainOn !== 'TRAIN');
    const best = trials
      .filter((t) => t.trainOn === 'TRAIN' && t.bestValAccuracy !== null)
      .sort((a, b) => (b.bestValAccuracy ?? 0) - (a.bestValAccuracy ?? 0))[0];
    const ips = this.progress?.imagesPerSec ?? latestIps(trials, this.history);
    const backend = e.backend;
    replaceChildren(
      this.cardsEl,
      summaryCards({
        used,
        budget,
        left,
        running: this.running,
        search,
        finalFit,
        best,
        ips,
        progress: this.progress,
        backend,
        counts: this.counts,
        meter: this.budgetMeter.el,
      }),
      accuracyNote(e, best, finalFit),
    );
    if (backend?.reasons.length) {
      this.cardsEl.appendChild(
        h(
          'details.backend-reasons',
          null,
          h('summary', null, `Why ${backend.name}?`),
          h(
            'ul',
            null,
            backend.reasons.map((r) => h('li', null, r)),
          ),
        ),
      );
    }
  }

  private renderActivity(): void {
    if (!this.running) {
      replaceChildren(this.activityEl);
      return;
    }
    const children = activity({
      progress: this.progress,
      dataProgress: this.dataProgress,
      trials: this.trials,
      sortedTrials: () => this.sortedTrials(),
      meter: this.batchMeter,
    });
    replaceChildren(this.activityEl, ...children);
  }

  private renderLog(): void {
    renderLog(this.logSummary, this.logEl, this.log);
  }
}
