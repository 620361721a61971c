// The Experiments view: experiments with their status, best accuracy and time, and their
// trials under them. Context actions are keyed on `viewItem` (see package.json menus).
import * as vscode from 'vscode';
import type { ExperimentRecord, TrialRecord } from '../shared/protocol';
import { experimentRowText, formatDuration, trialRowText } from '../panel-data/host-text';
import { ExperimentStore, listExperiments } from '../store/store';
import type { ExperimentManager } from '../worker/manager';

export class ExperimentNode {
  constructor(
    readonly dir: string,
    readonly record: ExperimentRecord,
  ) {}
}

export class TrialNode {
  constructor(
    readonly experimentDir: string,
    readonly trial: TrialRecord,
  ) {}
}

type Node = ExperimentNode | TrialNode;

const STATUS_ICON: Record<string, [string, string?]> = {
  running: ['sync~spin', 'charts.blue'],
  queued: ['clock'],
  done: ['pass', 'testing.iconPassed'],
  failed: ['error', 'testing.iconFailed'],
  cancelled: ['circle-slash', 'disabledForeground'],
  interrupted: ['debug-pause', 'editorWarning.foreground'],
  pruned: ['fold-down', 'disabledForeground'],
};

function icon(status: string): vscode.ThemeIcon {
  const [id, color] = STATUS_ICON[status] ?? ['circle-outline'];
  return new vscode.ThemeIcon(id, color ? new vscode.ThemeColor(color) : undefined);
}

const pct = (x: number | null | undefined) => (x === null || x === undefined ? '–' : `${(x * 100).toFixed(1)}%`);

export class ExperimentTreeProvider implements vscode.TreeDataProvider<Node> {
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private pending: NodeJS.Timeout | undefined;

  constructor(
    private readonly root: () => string | undefined,
    private readonly manager: ExperimentManager,
  ) {}

  /** Refreshes soon, coalescing bursts of events into one repaint. */
  refresh(): void {
    if (this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      this.changed.fire(undefined);
    }, 250);
  }

  getTreeItem(node: Node): vscode.TreeItem {
    if (node instanceof ExperimentNode) {
      const r = node.record;
      const live = this.manager.isRunning(node.dir);
      const status = live ? 'running' : r.status === 'running' ? 'interrupted' : r.status;
      const text = experimentRowText(r, status);
      const item = new vscode.TreeItem(text.label, vscode.TreeItemCollapsibleState.Collapsed);
      item.id = node.dir;
      item.iconPath = icon(status);
      item.description = text.description;
      item.contextValue = `experiment-${status}`;
      item.tooltip = experimentTooltip(node.dir, r, status);
      item.command = { command: 'automl.openDashboard', title: 'Open Dashboard', arguments: [node] };
      return item;
    }
    const t = node.trial;
    const text = trialRowText(t);
    const item = new vscode.TreeItem(text.label, vscode.TreeItemCollapsibleState.None);
    item.id = `${node.experimentDir}#${t.id}`;
    item.iconPath = icon(t.status);
    item.description = text.description;
    item.contextValue = 'trial';
    const md = new vscode.MarkdownString(undefined, true);
    md.appendText(`${text.tooltip}${t.error ? `: ${t.error}` : ''}`);
    md.appendMarkdown('\n\n');
    md.appendCodeblock(JSON.stringify(t.config, null, 2), 'json');
    item.tooltip = md;
    item.command = { command: 'automl.openDashboard', title: 'Open Dashboard', arguments: [node] };
    return item;
  }

  getChildren(node?: Node): Node[] {
    if (!node) {
      const root = this.root();
      return root ? listExperiments(root).map((e) => new ExperimentNode(e.dir, e.record)) : [];
    }
    if (node instanceof ExperimentNode) {
      return new ExperimentStore(node.dir).readTrials().map((t) => new TrialNode(node.dir, t));
    }
    return [];
  }

  dispose(): void {
    this.changed.dispose();
  }
}

function experimentTooltip(dir: string, r: ExperimentRecord, status: string): vscode.MarkdownString {
  const md = new vscode.MarkdownString(undefined, true);
  md.appendMarkdown(`**${r.spec.name}** — ${status}${r.test ? ` — ${r.test.partition} accuracy ${pct(r.test.accuracy)}` : ''}\n\n`);
  md.appendMarkdown(`- Dataset: \`${r.spec.dataset}\`\n`);
  md.appendMarkdown(`- Budget: ${r.spec.budgetMinutes} min, used ${formatDuration(r.secondsUsed)}\n`);
  if (r.backend) md.appendMarkdown(`- Backend: ${r.backend.name}${r.backend.threads ? ` (${r.backend.threads} threads)` : ''}\n`);
  if (r.classes) md.appendMarkdown(`- Classes: ${r.classes.length}${r.inputShape ? `, input ${r.inputShape.join('×')}` : ''}\n`);
  if (r.test) {
    md.appendMarkdown(
      `- ${r.test.partition}: accuracy ${pct(r.test.accuracy)}, macro AUC ${r.test.macroAuc?.toFixed(3) ?? 'n/a'}, macro AP ${r.test.macroAveragePrecision?.toFixed(3) ?? 'n/a'}\n`,
    );
  }
  if (r.error) md.appendMarkdown(`\n${r.error}\n`);
  md.appendMarkdown(`\n\`${dir}\``);
  return md;
}
