// A user's view of the product for the UI scenarios: code-server with the extension under development
// (the payload's extensionDevelopmentPath, as F5 in VS Code does), a fresh test workspace, and a headless
// chromium page on the workbench, with helpers that act the way a user does (clicks, F1, context menus).
// Screenshots go to test-artifacts/vscode/ (gitignored).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, FrameLocator, Locator, Page } from 'playwright-core';
import { launchBrowser, openWorkbench } from '../vscode/browser';
import { ARTIFACTS, REPO_ROOT, startCodeServer, type CodeServer } from '../vscode/code-server';
import { makeWorkspace, removeWorkspace } from '../vscode/workspace';

export class Workbench {
  private shotIndex = 0;
  /** Messages the workbench logged (its console and the extension host's), for failure reports. */
  readonly log: string[] = [];

  private constructor(
    readonly server: CodeServer,
    readonly browser: Browser,
    readonly page: Page,
    readonly workspace: string,
  ) {}

  static async open(settings: Record<string, unknown> = {}): Promise<Workbench> {
    const workspace = makeWorkspace();
    let server: CodeServer | undefined;
    let browser: Browser | undefined;
    try {
      server = await startCodeServer({ workspace, settings, verbose: !!process.env.AUTOML_TEST_VERBOSE });
      browser = await launchBrowser();
      const log: string[] = [];
      const wb = await openWorkbench(browser, server.url([['extensionDevelopmentPath', server.remoteUri(REPO_ROOT)]]), {
        onLog: (level, text) => log.push(`[${level}] ${text}`),
      });
      const w = new Workbench(server, browser, wb.page, workspace);
      w.log.push(...log);
      await w.page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
      // The explorer shows the folder once the remote file system is connected.
      await w.page.locator('.explorer-folders-view .monaco-list-row').first().waitFor({ timeout: 60_000 });
      mkdirSync(ARTIFACTS, { recursive: true });
      return w;
    } catch (e) {
      await browser?.close().catch(() => undefined);
      await server?.stop();
      removeWorkspace(workspace);
      throw e;
    }
  }

  async close(): Promise<void> {
    await this.browser.close().catch(() => undefined);
    await this.server.stop();
    removeWorkspace(this.workspace);
  }

  /** Saves a screenshot as test-artifacts/vscode/NN-name.png and returns its path. */
  async shot(name: string): Promise<string> {
    const file = join(ARTIFACTS, `${String(++this.shotIndex).padStart(2, '0')}-${name}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }

  /** F1, the command's title, Enter — as a user runs a command from the command palette. */
  async runCommand(title: string): Promise<void> {
    // Keys typed while a webview (an iframe) has the focus stay in it: give the focus back to the workbench.
    await this.page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    await this.page.keyboard.press('Escape');
    await this.page.keyboard.press('F1');
    const input = this.page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor();
    await input.fill(`>${title}`);
    const row = this.quickPickRow(title);
    await row.first().waitFor();
    await row.first().click();
  }

  /** A row of the open quick pick whose label contains `text`. */
  quickPickRow(text: string): Locator {
    return this.page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: text });
  }

  async pickQuickPick(text: string): Promise<void> {
    const row = this.quickPickRow(text).first();
    await row.waitFor();
    await row.click();
  }

  /** Types into the open input box (showInputBox) and accepts. */
  async answerInputBox(value: string): Promise<void> {
    const input = this.page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor();
    await input.fill(value);
    await input.press('Enter');
  }

  /** The activity bar entry of a view container, by its title. */
  activityBarItem(title: string): Locator {
    return this.page.locator(`.activitybar .action-item a.action-label[aria-label^="${title}"]`);
  }

  /** Shows a view container of the activity bar (clicking an already shown one would hide the side bar). */
  async showContainer(title: string): Promise<void> {
    const entry = this.page.locator('.activitybar li.action-item', { has: this.page.locator(`a.action-label[aria-label^="${title}"]`) });
    const shown = (await entry.getAttribute('class'))?.split(/\s+/).includes('checked') && (await this.page.locator('.part.sidebar').isVisible());
    if (!shown) await this.activityBarItem(title).click();
  }

  /** A view pane of the side bar, by its title. */
  viewPane(title: string): Locator {
    return this.page.locator('.part.sidebar .pane').filter({ has: this.page.locator('.pane-header .title', { hasText: new RegExp(`^${title}$`, 'i') }) });
  }

  /** Rows of a tree view pane. */
  treeRows(pane: Locator): Locator {
    return pane.locator('.monaco-list-row');
  }

  /** Shows the Explorer and expands the folders down to `relPath`; returns its row. */
  async revealInExplorer(relPath: string): Promise<Locator> {
    // Start from collapsed folders: an expanded folder of many images would push the row out of the
    // (virtualised) list.
    await this.showContainer('Explorer');
    await this.runCommand('Collapse Folders in Explorer');
    const parts = relPath.split('/');
    const explorer = this.page.locator('.explorer-folders-view');
    for (let i = 0; i < parts.length; i++) {
      const row = explorer.locator(`.monaco-list-row[aria-label="${parts[i]}"]`).first();
      await row.waitFor();
      if (i < parts.length - 1 && (await row.getAttribute('aria-expanded')) !== 'true') await row.click();
      if (i === parts.length - 1) return row;
    }
    throw new Error('unreachable');
  }

  /** Right-clicks `target` and chooses the context-menu item `label`. */
  async contextMenu(target: Locator, label: string): Promise<void> {
    await target.click({ button: 'right' });
    const item = this.page.locator('.context-view .monaco-menu .action-item .action-label', { hasText: label }).first();
    await item.waitFor();
    await item.hover();
    await item.click();
    // A click that lands while the menu is still animating in can be swallowed: the menu then
    // stays open with the item highlighted, and Enter chooses it.
    const menu = this.page.locator('.context-view .monaco-menu');
    try {
      await menu.waitFor({ state: 'hidden', timeout: 2000 });
    } catch {
      await this.page.keyboard.press('Enter');
      await menu.waitFor({ state: 'hidden', timeout: 5000 });
    }
    await this.dismissHover();
  }

  /**
   * Moves the mouse off the side bar and waits for a hover it opened to go: a tree row's tooltip (a workbench
   * hover) can lie over the editor area, where it would take the next click meant for a panel.
   */
  async dismissHover(): Promise<void> {
    const size = this.page.viewportSize() ?? { width: 1400, height: 900 };
    await this.page.mouse.move(size.width - 20, Math.round(size.height / 2));
    await this.page
      .locator('.workbench-hover, .monaco-hover')
      .first()
      .waitFor({ state: 'hidden', timeout: 3000 })
      .catch(() => undefined);
  }

  /** The content frame of the visible webview panel (a webview is two nested iframes). */
  webview(): FrameLocator {
    // This extension's: VS Code's own webviews (the image preview "Open file" shows) are ready iframes too.
    return this.page.frameLocator('iframe.webview.ready[src*="extensionId=automl-vscode"]').frameLocator('#active-frame');
  }

  /** Texts of the notification toasts on screen. */
  async notifications(): Promise<string[]> {
    return this.page.locator('.notifications-toasts .notification-list-item-message').allInnerTexts();
  }
}
