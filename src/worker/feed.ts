// What the extension's panels need from the experiment manager: live worker events for an
// experiment folder, and the actions a panel can ask for. Kept as an interface so panels can be
// driven by recorded events in tests.
import type { WorkerEvent } from '../shared/protocol';

export interface Disposable {
  dispose(): void;
}

export interface ExperimentFeed {
  /** Live events of the experiment in `dir` (nothing after it ended). */
  onEvent(dir: string, listener: (e: WorkerEvent) => void): Disposable;
  isRunning(dir: string): boolean;
  /** Asks the worker to stop within one batch, keeping the best model. Returns why it did not, if it refused. */
  stop(dir: string): string | undefined | void;
}
