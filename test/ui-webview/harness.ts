// A page that behaves like a VS Code webview, in headless Chromium: the same HTML and CSP as the
// host builds (src/panel-data/html.ts), the built dist/webview.js, a fake acquireVsCodeApi that
// records posted messages and keeps setState, theme variables on <html> and the theme class on
// <body>, and a way to post host messages into the page.
import * as assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { makeNonce, panelHtml } from '../../src/panel-data/html';
import type { HostToWebview, PanelKind } from '../../src/shared/protocol';
import { DEFAULT_WEBVIEW_CSS, THEMES, type ThemeName } from './themes';

export const REPO = resolve(__dirname, '../../..');
export const FIXTURES = join(REPO, 'test/fixtures/webview');
export const SHOTS = join(REPO, 'test-artifacts/screenshots');

const TYPES: Record<string, string> = {
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.png': 'image/png',
  '.map': 'application/json',
  '.json': 'application/json',
};

/**
 * A harness for the enclosing `describe`: started before its tests and stopped after them; after each test
 * the pages it opened are closed, and a test that passed must have had no CSP violation and no script error.
 */
export function useHarness(): Harness {
  const harness = new Harness();
  before(() => harness.start());
  after(() => harness.stop());
  afterEach(async function () {
    await harness.closePages(this.currentTest?.state === 'passed');
  });
  return harness;
}

export class Harness {
  private server!: Server;
  private opened: PanelPage[] = [];
  browser!: Browser;
  origin = '';

  /** Closes the pages opened since the last call; with `check`, fails on a CSP violation or a script error in them. */
  async closePages(check: boolean): Promise<void> {
    for (const p of this.opened.splice(0)) {
      const csp = p.page.isClosed() ? [] : await p.cspViolations();
      const errors = p.errors;
      await p.close();
      if (check) {
        assert.deepEqual(csp, [], `no Content-Security-Policy violation (${p.kind}, ${p.theme})`);
        assert.deepEqual(errors, [], `no script error (${p.kind}, ${p.theme})`);
      }
    }
  }

  async start(): Promise<void> {
    if (!existsSync(join(REPO, 'dist/webview.js'))) throw new Error('dist/webview.js is missing: run `node scripts/build-webview.mjs`');
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/favicon.ico') {
        res.writeHead(204);
        res.end();
        return;
      }
      const m = /^\/panel\/(\w+)$/.exec(url.pathname);
      if (m) {
        const nonce = makeNonce();
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(
          panelHtml({
            kind: m[1] as PanelKind,
            title: `AutoML ${m[1]}`,
            cspSource: this.origin,
            scriptUri: `${this.origin}/dist/webview.js`,
            styleUri: `${this.origin}/dist/webview.css`,
            nonce,
          }),
        );
        return;
      }
      const roots: Record<string, string> = { '/dist/': join(REPO, 'dist'), '/fixtures/': FIXTURES };
      for (const [prefix, dir] of Object.entries(roots)) {
        if (!url.pathname.startsWith(prefix)) continue;
        const file = normalize(join(dir, decodeURIComponent(url.pathname.slice(prefix.length))));
        if (file.startsWith(dir) && existsSync(file)) {
          res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
          res.end(readFileSync(file));
          return;
        }
      }
      res.writeHead(404);
      res.end();
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
  }

  async stop(): Promise<void> {
    await this.browser?.close();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /** Opens a panel page in a theme; `state` is what getState() returns (a restored panel). */
  async open(
    kind: PanelKind,
    theme: ThemeName,
    opts: { state?: unknown; width?: number; height?: number; responders?: Record<string, unknown> } = {},
  ): Promise<PanelPage> {
    const page = await this.browser.newPage({ viewport: { width: opts.width ?? 1100, height: opts.height ?? 760 }, deviceScaleFactor: 1 });
    page.setDefaultTimeout(10_000);
    const t = THEMES[theme];
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()} ${m.location().url ?? ''}`);
    });
    page.on('response', (r) => {
      if (r.status() >= 400) errors.push(`http ${r.status()}: ${r.url()}`);
    });
    await page.addInitScript(
      ({ vars, bodyClass, kind: themeKind, name, css, state, responders }) => {
        const w = window as unknown as Record<string, unknown>;
        w.__posted = [] as unknown[];
        w.__state = state;
        w.__setStateCalls = 0;
        w.__responders = responders ?? {};
        w.__csp = [] as string[];
        document.addEventListener('securitypolicyviolation', (e) => (w.__csp as string[]).push(`${e.violatedDirective} ${e.blockedURI}`));
        w.acquireVsCodeApi = () => ({
          postMessage(m: { type?: string; id?: number; method?: string }) {
            (w.__posted as unknown[]).push(JSON.parse(JSON.stringify(m)));
            const r = w.__responders as Record<string, unknown>;
            if (m && m.type === 'request' && m.method && m.method in r) {
              setTimeout(() => window.postMessage({ type: 'response', id: m.id, ok: true, result: r[m.method!] }, '*'), 5);
            }
          },
          getState: () => w.__state,
          setState(s: unknown) {
            w.__state = s;
            (w.__setStateCalls as number)++;
          },
        });
        const apply = () => {
          for (const [k, v] of Object.entries(vars)) document.documentElement.style.setProperty(k, v);
          document.body.classList.add(bodyClass);
          document.body.dataset.vscodeThemeKind = themeKind;
          document.body.dataset.vscodeThemeName = name;
          const sheet = new CSSStyleSheet();
          sheet.replaceSync(css);
          document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
        };
        document.addEventListener('DOMContentLoaded', apply, { once: true });
      },
      { vars: t.vars, bodyClass: t.bodyClass, kind: t.kind, name: t.name, css: DEFAULT_WEBVIEW_CSS, state: opts.state, responders: opts.responders },
    );
    await page.goto(`${this.origin}/panel/${kind}`);
    const p = new PanelPage(page, this, kind, theme, errors);
    this.opened.push(p);
    await p.waitForPosted((m) => m.type === 'ready');
    return p;
  }

  /** A fixture with image paths turned into URLs the page may load. */
  fixture<T>(name: string): T {
    const text = readFileSync(join(FIXTURES, name), 'utf8').replace(
      /"(?:fixture:)?(images\/[0-9a-f]+\.png)"/g,
      (_, p: string) => `"${this.origin}/fixtures/${p}"`,
    );
    return JSON.parse(text) as T;
  }
}

export interface Posted {
  type: string;
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  state?: Record<string, unknown>;
}

export class PanelPage {
  constructor(
    readonly page: Page,
    readonly harness: Harness,
    readonly kind: PanelKind,
    readonly theme: ThemeName,
    readonly errors: string[],
  ) {}

  async post(...messages: HostToWebview[]): Promise<void> {
    await this.page.evaluate((ms) => {
      for (const m of ms) window.postMessage(m, '*');
    }, messages as unknown[]);
  }

  async posted(): Promise<Posted[]> {
    return this.page.evaluate(() => (window as unknown as { __posted: Posted[] }).__posted);
  }

  async state(): Promise<Record<string, unknown> | undefined> {
    return this.page.evaluate(() => (window as unknown as { __state: Record<string, unknown> | undefined }).__state);
  }

  async cspViolations(): Promise<string[]> {
    return this.page.evaluate(() => (window as unknown as { __csp: string[] }).__csp);
  }

  async waitForPosted(pred: (m: Posted) => boolean, timeout = 10_000): Promise<Posted> {
    const start = Date.now();
    for (;;) {
      const found = (await this.posted()).find(pred);
      if (found) return found;
      if (Date.now() - start > timeout) throw new Error(`no posted message matched within ${timeout} ms: ${JSON.stringify(await this.posted())}`);
      await this.page.waitForTimeout(50);
    }
  }

  /** Lets layout, images and charts settle (two frames plus pending image loads). */
  async settle(): Promise<void> {
    await this.page.evaluate(
      () =>
        new Promise<void>((r) => {
          // Lazy images in hidden tabs never load: wait only for visible ones, and not forever.
          const imgs = [...document.images].filter((i) => !i.complete && i.getClientRects().length > 0);
          const loaded = Promise.all(imgs.map((i) => new Promise((ok) => (i.addEventListener('load', ok), i.addEventListener('error', ok)))));
          Promise.race([loaded, new Promise((ok) => setTimeout(ok, 3000))]).then(() => requestAnimationFrame(() => requestAnimationFrame(() => r())));
        }),
    );
    await this.page.waitForTimeout(100);
  }

  async screenshot(name: string, fullPage = true): Promise<string> {
    mkdirSync(SHOTS, { recursive: true });
    if (fullPage) {
      // Lazy images load only near the viewport: scroll through the page first.
      await this.page.evaluate(async () => {
        for (let y = 0; y < document.documentElement.scrollHeight; y += window.innerHeight) {
          window.scrollTo(0, y);
          await new Promise((r) => requestAnimationFrame(() => r(undefined)));
        }
        window.scrollTo(0, 0);
      });
    }
    await this.settle();
    const file = join(SHOTS, `${name}.png`);
    await this.page.screenshot({ path: file, fullPage });
    return file;
  }

  async close(): Promise<void> {
    await this.page.close();
  }
}
