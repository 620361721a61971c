// `npm run test:vscode`: runs the extension-host mocha suite (test/suite) inside a real VS Code — code-server
// 4.100.3 in a headless chromium — the way @vscode/test-electron runs it in desktop VS Code. The extension
// under development and the tests go in the workbench's `payload` URL parameter; the workbench reports the
// extension host's console through codeAutomationLog and the result through codeAutomationExit, whose code
// is this process's exit code.
//
// Arguments (all optional; the names are VS Code's, so scripts/vscode/vscode-shim.mjs can pass
// @vscode/test-electron's command line through):
//   --extensionDevelopmentPath=DIR   default: the repository
//   --extensionTestsPath=FILE|DIR    default: out/test/suite/index.js
//   FOLDER                           workspace to open; default: a fresh copy of the test workspace
// Other VS Code flags (--disable-extensions, --user-data-dir=…) are accepted and ignored: the server always
// runs with fresh user-data and extensions folders.
// Two passes, each in a fresh code-server: the suite in a trusted window, then its `@untrusted` tests in a
// window whose folder is not trusted (restricted mode).
// Environment: AUTOML_TEST_TIMEOUT_S (per pass, default 480), AUTOML_TEST_GREP (mocha grep, read by the suite),
// AUTOML_TEST_UNTRUSTED_PASS=0 (skip the second pass), AUTOML_TEST_VERBOSE=1 (show code-server's own output).
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { launchBrowser, openWorkbench } from './browser';
import { ARTIFACTS, REPO_ROOT, startCodeServer, type CodeServer } from './code-server';
import { makeWorkspace, removeWorkspace } from './workspace';

/**
 * Workbench messages that say nothing about the tests (connection set-up, the unreachable marketplace);
 * shown with AUTOML_TEST_VERBOSE=1. Everything else — the extension host's console included — is printed.
 */
const WORKBENCH_NOISE = [
  /^Resolving connection token/,
  /^Resolved connection token/,
  /^Creating a socket/,
  /^\[Service Worker\]/,
  /^Updating additional builtin extensions cache/,
  /^ChatSessionStore:/,
  /ENOTFOUND open-vsx\.org/,
];

export function isWorkbenchNoise(text: string): boolean {
  return !process.env.AUTOML_TEST_VERBOSE && WORKBENCH_NOISE.some((re) => re.test(text));
}

interface Args {
  extensionDevelopmentPath: string;
  extensionTestsPath: string;
  folder?: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    extensionDevelopmentPath: REPO_ROOT,
    extensionTestsPath: join(REPO_ROOT, 'out', 'test', 'suite', 'index.js'),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
    if (!m) {
      args.folder = resolve(a);
      continue;
    }
    const [, name, inline] = m;
    if (name === 'extensionDevelopmentPath' || name === 'extensionTestsPath') {
      const value = inline ?? argv[++i];
      args[name] = resolve(value);
    }
  }
  if (existsSync(args.extensionTestsPath) && statSync(args.extensionTestsPath).isDirectory()) {
    args.extensionTestsPath = join(args.extensionTestsPath, 'index.js');
  }
  return args;
}

/**
 * One run of the suite in a fresh code-server. `untrusted`: workspace trust on and the folder never trusted
 * (restricted mode), and the suite runs only its `@untrusted` tests (AUTOML_TEST_UNTRUSTED=1 tells it so).
 */
async function runPass(args: Args, untrusted: boolean): Promise<number> {
  const ownWorkspace = !args.folder;
  const workspace = args.folder && !untrusted ? args.folder : makeWorkspace({ untrustedSettings: untrusted });
  const timeoutS = Number(process.env.AUTOML_TEST_TIMEOUT_S || 480);
  const pass = untrusted ? 'untrusted workspace' : 'trusted workspace';
  let server: CodeServer | undefined;
  let browser: Awaited<ReturnType<typeof launchBrowser>> | undefined;
  let code = 1;
  try {
    server = await startCodeServer({
      workspace,
      untrusted,
      env: untrusted ? { AUTOML_TEST_UNTRUSTED: '1' } : {},
      verbose: !!process.env.AUTOML_TEST_VERBOSE,
    });
    const payload: [string, string][] = [
      ['extensionDevelopmentPath', server.remoteUri(args.extensionDevelopmentPath)],
      ['extensionTestsPath', server.remoteUri(args.extensionTestsPath)],
    ];
    browser = await launchBrowser();
    console.log(`test:vscode: ${pass}: VS Code 1.100.3 (code-server) on ${server.origin}, folder ${workspace}`);
    const wb = await openWorkbench(browser, server.url(payload), {
      onLog: (level, text) => {
        if (!isWorkbenchNoise(text)) (level === 'error' || level === 'warn' ? process.stderr : process.stdout).write(`${text}\n`);
      },
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), timeoutS * 1000)));
    const result = await Promise.race([wb.exitCode, timedOut]);
    clearTimeout(timer);
    if (result === 'timeout') {
      mkdirSync(ARTIFACTS, { recursive: true });
      const shot = join(ARTIFACTS, `suite-timeout${untrusted ? '-untrusted' : ''}.png`);
      await wb.page.screenshot({ path: shot }).catch(() => undefined);
      console.error(`test:vscode: no result after ${timeoutS} s; screenshot ${shot}\n--- code-server output (tail) ---\n${server.output().slice(-4000)}`);
      code = 1;
    } else {
      code = result;
    }
  } catch (e) {
    console.error(`test:vscode: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    if (server) console.error(`--- code-server output (tail) ---\n${server.output().slice(-4000)}`);
    code = 1;
  } finally {
    await browser?.close().catch(() => undefined);
    await server?.stop();
    if (ownWorkspace || untrusted) removeWorkspace(workspace);
  }
  return code;
}

export async function runSuite(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  for (const [what, p] of [
    ['extension', join(args.extensionDevelopmentPath, 'package.json')],
    ['tests', args.extensionTestsPath],
  ]) {
    if (!existsSync(p)) {
      console.error(`test:vscode: ${what} not found: ${p} (run "npm run build" and "npx tsc -p test/vscode" first)`);
      return 2;
    }
  }
  const started = Date.now();
  const codes = [await runPass(args, false)];
  // The second pass needs a fresh window (trust is decided when the folder opens); skipped when a grep
  // selects other tests, or with AUTOML_TEST_UNTRUSTED_PASS=0.
  const grep = process.env.AUTOML_TEST_GREP;
  if (process.env.AUTOML_TEST_UNTRUSTED_PASS !== '0' && (!grep || /untrusted/i.test(grep))) codes.push(await runPass(args, true));
  const code = codes.find((c) => c !== 0) ?? 0;
  console.log(`test:vscode: exit code ${code} (${codes.length} pass${codes.length > 1 ? 'es' : ''}) after ${Math.round((Date.now() - started) / 1000)} s`);
  return code;
}

if (require.main === module) {
  void runSuite(process.argv.slice(2)).then((code) => process.exit(code));
}
