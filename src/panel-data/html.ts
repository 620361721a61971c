// The HTML of every panel: one bundle, a strict Content-Security-Policy and a fresh nonce per
// load. Pure (no `vscode` import) so the webview test harness loads exactly the same page.
import { randomBytes } from 'node:crypto';
import type { PanelKind } from '../shared/protocol';

export function makeNonce(): string {
  return randomBytes(18)
    .toString('base64')
    .replace(/[^A-Za-z0-9]/g, '');
}

export interface PanelHtmlOptions {
  kind: PanelKind;
  title: string;
  /** `webview.cspSource`: the origin of the URIs made by `asWebviewUri`. */
  cspSource: string;
  scriptUri: string;
  styleUri: string;
  nonce: string;
}

/**
 * No remote content, no inline script or style without the nonce, images only from the
 * extension's own roots (thumbnails, media) or `data:` (previews of picked images).
 * The toolkit's components style themselves through constructable stylesheets, which the
 * `style-src` directive does not need to allow; the one `<style>` element FAST creates (a
 * `:focus-visible` probe) takes its nonce from `<meta property="csp-nonce">`.
 */
export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `img-src ${cspSource} data: blob:`,
    `script-src 'nonce-${nonce}'`,
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `font-src ${cspSource}`,
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export function panelHtml(o: PanelHtmlOptions): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(contentSecurityPolicy(o.cspSource, o.nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<meta property="csp-nonce" content="${o.nonce}">
<link rel="stylesheet" href="${escapeHtml(o.styleUri)}" nonce="${o.nonce}">
<title>${escapeHtml(o.title)}</title>
</head>
<body data-panel="${o.kind}">
<main id="app" aria-label="${escapeHtml(o.title)}"></main>
<script nonce="${o.nonce}" src="${escapeHtml(o.scriptUri)}"></script>
</body>
</html>`;
}
