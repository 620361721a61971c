// The prediction server: HTTP in the extension host (127.0.0.1, bearer token), inference in the
// prediction process. One server at a time, serving the chosen experiment's final model. While it
// runs, a status-bar item shows it; a click offers to copy its predict URL, token or a curl example,
// or to stop it.
import { basename } from 'node:path';
import * as vscode from 'vscode';
import { predictEndpoint, serverText } from '../panel-data/host-text';
import { startPredictionServer } from '../predict/server';
import type { Ctx } from './ctx';
import type { ExperimentNode } from './experiment-tree';
import { experimentDir, pickExperiment } from './pick';

/** The model served and how to call it (also what `automl.startServer` returns, for tests and scripts). */
export interface ServedModel {
  /** The server's own address (127.0.0.1). */
  url: string;
  /** The address the user's machine reaches it by (asExternalUri: a forwarded port when the extension host is remote). */
  externalUrl: string;
  token: string;
  name: string;
  endpoint: string;
}

let served: ServedModel | undefined;
let item: vscode.StatusBarItem | undefined;

function curlExample(s: ServedModel): string {
  return `curl -s -H "Authorization: Bearer ${s.token}" -d '{"payload":{"image":{"imageBytes":"'"$(base64 -w0 image.png)"'"}}}' ${s.endpoint}`;
}

export function startServer(ctx: Ctx): (node?: ExperimentNode | string) => Promise<ServedModel | undefined> {
  const stop = stopServer(ctx);
  return async (node?: ExperimentNode | string) => {
    if (!ctx.requireTrust('serve models')) return undefined;
    const dir = experimentDir(node) ?? (await pickExperiment(ctx.manager, 'evaluated'));
    if (!dir) return undefined;
    await stop();
    const name = basename(dir).replace(/[^A-Za-z0-9_.-]+/g, '-');
    const server = await startPredictionServer({ models: [{ name, path: dir }], predictor: ctx.predictor, log: (l) => ctx.output.appendLine(`[server] ${l}`) });
    ctx.server = server;
    // The address the user's machine can reach: the same URL locally; a forwarded port or code-server's /proxy/<port>/
    // when the extension host is remote (VS Code Remote, Codespaces, code-server). The server accepts that Host too.
    const external = await vscode.env.asExternalUri(vscode.Uri.parse(server.url));
    const externalUrl = external.toString(true).replace(/\/$/, '');
    if (externalUrl !== server.url) server.allowHost(external.authority);
    const where = externalUrl === server.url ? '127.0.0.1 only' : `forwarded from ${server.url}`;
    const s: ServedModel = { url: server.url, externalUrl, token: server.token, name, endpoint: predictEndpoint(externalUrl, name) };
    served = s;
    await vscode.commands.executeCommand('setContext', 'automl.serverRunning', true);
    const text = serverText(externalUrl, name, where);
    ctx.output.appendLine(`[server] serving ${name}: POST ${s.endpoint} (bearer token: Copy Token in the notification or the status bar item)`);
    if (!item) {
      item = vscode.window.createStatusBarItem('automl.server', vscode.StatusBarAlignment.Left, 9);
      item.name = 'AutoML prediction server';
      ctx.extension.subscriptions.push(item);
    }
    item.text = text.statusText;
    item.tooltip = text.statusTooltip;
    item.command = 'automl.serverActions';
    item.show();
    void vscode.window.showInformationMessage(text.notification, 'Copy URL', 'Copy Token', 'Copy curl Example').then((pick) => copy(pick));
    return s;
  };
}

function copy(pick: string | undefined): void {
  if (!served || !pick) return;
  const what: Record<string, string> = { 'Copy URL': served.endpoint, 'Copy Token': served.token, 'Copy curl Example': curlExample(served) };
  if (what[pick] !== undefined) void vscode.env.clipboard.writeText(what[pick]);
}

/** The status-bar item's click: copy the URL, token or curl example, or stop the server. */
export function serverActions(ctx: Ctx): () => Promise<void> {
  return async () => {
    if (!served) return;
    const pick = await vscode.window.showQuickPick(
      [
        { label: 'Copy URL', description: served.endpoint },
        { label: 'Copy Token', description: 'the bearer token' },
        { label: 'Copy curl Example', description: 'POST an image.png' },
        { label: 'Stop Prediction Server', description: served.url },
      ],
      { title: `AutoML: serving ${served.name}`, placeHolder: served.endpoint },
    );
    if (pick?.label === 'Stop Prediction Server') await stopServer(ctx)();
    else copy(pick?.label);
  };
}

export function stopServer(ctx: Ctx): () => Promise<void> {
  return async () => {
    const server = ctx.server;
    if (!server) return;
    await server.close();
    ctx.output.appendLine(`[server] stopped ${server.url}`);
    ctx.server = undefined;
    served = undefined;
    item?.hide();
    await vscode.commands.executeCommand('setContext', 'automl.serverRunning', false);
  };
}
