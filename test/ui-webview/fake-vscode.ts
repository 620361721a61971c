// Just enough of the `vscode` API for the panels' host classes to run under mocha: webview
// panels that record what they are sent and let a test post messages as the page would.
import { EventEmitter as NodeEmitter } from 'node:events';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';

type Listener<T> = (e: T) => void;

export class EventEmitter<T> {
  private readonly listeners = new Set<Listener<T>>();
  readonly event = (l: Listener<T>) => {
    this.listeners.add(l);
    return { dispose: () => this.listeners.delete(l) };
  };
  fire(e: T): void {
    for (const l of [...this.listeners]) l(e);
  }
  dispose(): void {
    this.listeners.clear();
  }
}

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly authority: string,
    readonly path: string,
  ) {}
  static file(p: string): Uri {
    return new Uri('file', '', p);
  }
  static parse(s: string): Uri {
    const u = new URL(s);
    return new Uri(u.protocol.replace(/:$/, ''), u.host, decodeURIComponent(u.pathname));
  }
  static joinPath(base: Uri, ...parts: string[]): Uri {
    return new Uri(base.scheme, base.authority, [base.path, ...parts].join('/').replace(/\/+/g, '/'));
  }
  get fsPath(): string {
    return this.path;
  }
  toString(): string {
    return this.scheme === 'file' ? pathToFileURL(this.path).href : `${this.scheme}://${this.authority}${encodeURI(this.path)}`;
  }
}

export enum ViewColumn {
  Active = -1,
  Beside = -2,
  One = 1,
}

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
}

export class Range {
  constructor(
    readonly start: Position,
    readonly end: Position,
  ) {}
}

/** A text document read from disk: edits change it in memory (with an undo stack), save writes it. */
export class FakeTextDocument {
  readonly undo: string[] = [];
  saves = 0;
  constructor(
    readonly uri: Uri,
    public text: string,
  ) {}
  getText(): string {
    return this.text;
  }
  get isDirty(): boolean {
    return this.text !== readFileSync(this.uri.fsPath, 'utf8');
  }
  offsetAt(p: Position): number {
    let line = 0;
    let i = 0;
    while (line < p.line && i < this.text.length) {
      const c = this.text[i++];
      if (c === '\n' || (c === '\r' && this.text[i] !== '\n')) line++;
    }
    return i + p.character;
  }
  positionAt(offset: number): Position {
    let line = 0;
    let start = 0;
    for (let i = 0; i < offset; i++) {
      const c = this.text[i];
      if (c === '\n' || (c === '\r' && this.text[i + 1] !== '\n')) {
        line++;
        start = i + 1;
      }
    }
    return new Position(line, offset - start);
  }
  async save(): Promise<boolean> {
    writeFileSync(this.uri.fsPath, this.text);
    this.saves++;
    return true;
  }
}

/** The edits of a WorkspaceEdit, applied by workspace.applyEdit. */
export class WorkspaceEdit {
  readonly edits: ({ kind: 'replace'; uri: Uri; range: Range; text: string } | { kind: 'rename'; from: Uri; to: Uri; overwrite: boolean })[] = [];
  replace(uri: Uri, range: Range, text: string): void {
    this.edits.push({ kind: 'replace', uri, range, text });
  }
  renameFile(from: Uri, to: Uri, options: { overwrite?: boolean } = {}): void {
    this.edits.push({ kind: 'rename', from, to, overwrite: !!options.overwrite });
  }
}

export class FakeWebview {
  html = '';
  options: { enableScripts?: boolean; localResourceRoots?: Uri[] } = {};
  readonly cspSource = 'https://fake.vscode-cdn.net';
  readonly sent: unknown[] = [];
  readonly received = new EventEmitter<unknown>();
  readonly onDidReceiveMessage = this.received.event;
  asWebviewUri(u: Uri): Uri {
    return Uri.parse(`https://fake.vscode-cdn.net${u.path}`);
  }
  async postMessage(m: unknown): Promise<boolean> {
    this.sent.push(JSON.parse(JSON.stringify(m)));
    return true;
  }
  /** What the page would post. */
  fromPage(m: unknown): void {
    this.received.fire(m);
  }
}

export class FakePanel {
  readonly webview = new FakeWebview();
  visible = true;
  disposed = false;
  revealed = 0;
  iconPath: unknown;
  private readonly disposeEmitter = new EventEmitter<void>();
  private readonly viewStateEmitter = new EventEmitter<unknown>();
  readonly onDidDispose = this.disposeEmitter.event;
  readonly onDidChangeViewState = this.viewStateEmitter.event;
  constructor(
    readonly viewType: string,
    public title: string,
    readonly createOptions: Record<string, unknown> = {},
  ) {}
  reveal(): void {
    this.revealed++;
  }
  setVisible(v: boolean): void {
    this.visible = v;
    this.viewStateEmitter.fire({ webviewPanel: this });
  }
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.disposeEmitter.fire();
  }
}

/** What the fake recorded: panels made, commands run, messages shown; answers to dialogs. */
export const fake = {
  panels: [] as FakePanel[],
  commands: [] as { command: string; args: unknown[] }[],
  shownDocuments: [] as { uri: Uri; options: unknown }[],
  /** Documents opened with workspace.openTextDocument, by path. */
  documents: new Map<string, FakeTextDocument>(),
  appliedEdits: [] as WorkspaceEdit[],
  warnings: [] as string[],
  warningAnswer: undefined as string | undefined,
  openDialogAnswer: undefined as Uri[] | undefined,
  /** vscode.workspace.isTrusted. */
  trusted: true,
  serializers: new Map<string, { deserializeWebviewPanel(panel: unknown, state: unknown): Promise<void> }>(),
  config: {} as Record<string, unknown>,
  reset(): void {
    this.panels.length = 0;
    this.commands.length = 0;
    this.shownDocuments.length = 0;
    this.documents.clear();
    this.appliedEdits.length = 0;
    this.warnings.length = 0;
    this.warningAnswer = undefined;
    this.openDialogAnswer = undefined;
    this.trusted = true;
    this.serializers.clear();
  },
};

export const window = {
  createWebviewPanel(viewType: string, title: string, _column: unknown, options: Record<string, unknown>): FakePanel {
    const p = new FakePanel(viewType, title, options);
    fake.panels.push(p);
    return p;
  },
  async showWarningMessage(message: string): Promise<string | undefined> {
    fake.warnings.push(message);
    return fake.warningAnswer;
  },
  async showTextDocument(doc: Uri | FakeTextDocument, options: unknown): Promise<void> {
    fake.shownDocuments.push({ uri: doc instanceof FakeTextDocument ? doc.uri : doc, options });
  },
  async showOpenDialog(): Promise<Uri[] | undefined> {
    return fake.openDialogAnswer;
  },
  registerWebviewPanelSerializer(viewType: string, s: { deserializeWebviewPanel(panel: unknown, state: unknown): Promise<void> }) {
    fake.serializers.set(viewType, s);
    return { dispose: () => fake.serializers.delete(viewType) };
  },
};

export const commands = {
  async executeCommand(command: string, ...args: unknown[]): Promise<void> {
    fake.commands.push({ command, args });
  },
};

export const workspace = {
  get isTrusted(): boolean {
    return fake.trusted;
  },
  getWorkspaceFolder: () => undefined,
  async openTextDocument(uri: Uri): Promise<FakeTextDocument> {
    let doc = fake.documents.get(uri.fsPath);
    if (!doc) fake.documents.set(uri.fsPath, (doc = new FakeTextDocument(uri, readFileSync(uri.fsPath, 'utf8'))));
    return doc;
  },
  async applyEdit(edit: WorkspaceEdit): Promise<boolean> {
    fake.appliedEdits.push(edit);
    for (const e of edit.edits) {
      if (e.kind === 'rename') {
        if (existsSync(e.to.fsPath) && !e.overwrite) return false;
        mkdirSync(dirname(e.to.fsPath), { recursive: true });
        renameSync(e.from.fsPath, e.to.fsPath);
        continue;
      }
      const doc = await workspace.openTextDocument(e.uri);
      doc.undo.push(doc.text);
      doc.text = doc.text.slice(0, doc.offsetAt(e.range.start)) + e.text + doc.text.slice(doc.offsetAt(e.range.end));
    }
    return true;
  },
  getConfiguration: () => ({ get: <T>(key: string, dflt: T): T => (key in fake.config ? (fake.config[key] as T) : dflt) }),
  workspaceFolders: undefined,
};

export const _events = NodeEmitter;
