// The webview's side of the host ⇄ webview protocol (src/shared/protocol.ts): the VS Code API
// handle, requests matched to responses by id, pushed messages, and the persisted view state.
import type { HostToWebview, PanelViewState, WebviewMethod, WebviewRequests, WebviewToHost } from '../src/shared/protocol';

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare global {
  function acquireVsCodeApi(): VsCodeApi;
}

let api: VsCodeApi | undefined;
function vscode(): VsCodeApi {
  if (!api) api = acquireVsCodeApi();
  return api;
}

function post(message: WebviewToHost): void {
  vscode().postMessage(message);
}

let nextId = 1;
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
type Listener = (m: Exclude<HostToWebview, { type: 'response' }>) => void;
const listeners = new Set<Listener>();

window.addEventListener('message', (event: MessageEvent) => {
  const m = event.data as HostToWebview;
  if (!m || typeof m !== 'object' || typeof (m as { type?: unknown }).type !== 'string') return;
  if (m.type === 'response') {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.ok) p.resolve(m.result);
    else p.reject(new Error(m.error));
    return;
  }
  for (const l of listeners) l(m);
});

/** Asks the host for something; resolves with its answer (rejects with its error message). */
export function request<M extends WebviewMethod>(method: M, params: WebviewRequests[M]['params']): Promise<WebviewRequests[M]['result']> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    post({ type: 'request', id, method, params } as WebviewToHost);
  });
}

export function onHostMessage(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Tells the host the webview is listening; it answers with `init`. */
export function ready(): void {
  post({ type: 'ready' });
}

/** The view state kept by VS Code across reloads and hide/show. */
export function getViewState(): Partial<PanelViewState> {
  const s = vscode().getState();
  return s && typeof s === 'object' ? (s as Partial<PanelViewState>) : {};
}

let stateTimer: number | undefined;
/** Merges a patch into the view state (persisted at once, announced to the host lazily). */
export function patchViewState(patch: Partial<PanelViewState>): PanelViewState {
  const next = { ...getViewState(), ...patch } as PanelViewState;
  vscode().setState(next);
  if (stateTimer !== undefined) clearTimeout(stateTimer);
  stateTimer = window.setTimeout(() => post({ type: 'state', state: next }), 300);
  return next;
}
