// Just enough of the `vscode` API for the panels' host classes to run under mocha: webview
// panels that record what they are sent and let a test post messages as the page would.
import { EventEmitter as NodeEmitter } from 'node:events';
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
  async showTextDocument(uri: Uri, options: unknown): Promise<void> {
    fake.shownDocuments.push({ uri, options });
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
  getConfiguration: () => ({ get: <T>(key: string, dflt: T): T => (key in fake.config ? (fake.config[key] as T) : dflt) }),
  workspaceFolders: undefined,
};

export const _events = NodeEmitter;
