// Debian's chromium driven by playwright-core: opens the code-server workbench like a user's browser would.
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export function chromiumPath(): string {
  const candidates = [process.env.AUTOML_TEST_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
  const found = candidates.find((p): p is string => !!p && existsSync(p));
  if (!found) {
    throw new Error('No chromium found: install the Debian package "chromium" or set AUTOML_TEST_CHROMIUM to a Chrome/Chromium binary.');
  }
  return found;
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: process.env.AUTOML_TEST_HEADED ? false : true,
    args: CHROMIUM_ARGS,
  });
}

export interface Workbench {
  context: BrowserContext;
  page: Page;
  /** Resolves with the exit code the workbench reports when an extension test run ends. */
  exitCode: Promise<number>;
}

/**
 * Opens `url` in a fresh browser context. Before the page loads it exposes the two hooks the workbench
 * calls when it runs extension tests (the same ones @vscode/test-web uses): codeAutomationLog (the extension
 * host's console) and codeAutomationExit (the run's exit code).
 */
export async function openWorkbench(
  browser: Browser,
  url: string,
  opts: { onLog?: (type: string, text: string) => void; viewport?: { width: number; height: number } } = {},
): Promise<Workbench> {
  const context = await browser.newContext({ viewport: opts.viewport ?? { width: 1400, height: 900 } });
  let resolveExit!: (code: number) => void;
  const exitCode = new Promise<number>((res) => (resolveExit = res));
  await context.exposeFunction('codeAutomationLog', (type: unknown, args: unknown) => {
    const parts = Array.isArray(args) ? args : [args];
    opts.onLog?.(String(type), parts.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
  });
  await context.exposeFunction('codeAutomationExit', (code: unknown) => resolveExit(Number(code) || 0));
  const page = await context.newPage();
  await page.goto(url);
  return { context, page, exitCode };
}
