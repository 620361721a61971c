// The Datasets view: datasets found in the workspace folders.
import * as vscode from 'vscode';
import { type DiscoveredDataset, discoverDatasets } from '../shared/discover';

export class DatasetNode {
  constructor(readonly dataset: DiscoveredDataset) {}
}

const ICON: Record<string, string> = { csv: 'table', folder: 'file-media', zip: 'file-zip', idx: 'database' };

export class DatasetTreeProvider implements vscode.TreeDataProvider<DatasetNode> {
  private readonly changed = new vscode.EventEmitter<DatasetNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private cache: DiscoveredDataset[] | undefined;

  refresh(): void {
    this.cache = undefined;
    this.changed.fire(undefined);
  }

  list(): DiscoveredDataset[] {
    if (!this.cache) {
      this.cache = (vscode.workspace.workspaceFolders ?? []).flatMap((f) => discoverDatasets(f.uri.fsPath));
    }
    return this.cache;
  }

  getTreeItem(node: DatasetNode): vscode.TreeItem {
    const d = node.dataset;
    const item = new vscode.TreeItem(d.label, vscode.TreeItemCollapsibleState.None);
    item.id = d.path;
    item.description = d.detail;
    item.tooltip = d.path;
    item.iconPath = new vscode.ThemeIcon(ICON[d.kind] ?? 'file');
    item.contextValue = `dataset-${d.kind}`;
    item.resourceUri = vscode.Uri.file(d.path);
    item.command = { command: 'automl.showDataset', title: 'Show Dataset', arguments: [node] };
    return item;
  }

  getChildren(node?: DatasetNode): DatasetNode[] {
    return node ? [] : this.list().map((d) => new DatasetNode(d));
  }
}
