// `npm run test:electron`: the extension-host suite (test/suite) through @vscode/test-electron's runTests,
// as in any VS Code extension project.
//   VSCODE_EXECUTABLE=/path/to/code   a desktop VS Code (>= 1.100) to run in;
//   VSCODE_EXECUTABLE=scripts/vscode/vscode-shim.mjs   the same run in code-server + headless chromium
//                                     (no desktop VS Code needed; what CI and these machines use);
//   unset                             test-electron downloads VS Code 1.100.3 (needs update.code.visualstudio.com).
import { resolve, join } from 'node:path';
import { runTests, TestRunFailedError } from '@vscode/test-electron';
import { REPO_ROOT } from './code-server';
import { makeWorkspace, removeWorkspace } from './workspace';

async function main(): Promise<number> {
  const exe = process.env.VSCODE_EXECUTABLE ? resolve(process.env.VSCODE_EXECUTABLE) : undefined;
  const workspace = makeWorkspace();
  try {
    return await runTests({
      vscodeExecutablePath: exe,
      version: exe ? undefined : '1.100.3',
      extensionDevelopmentPath: REPO_ROOT,
      extensionTestsPath: join(REPO_ROOT, 'out', 'test', 'suite', 'index.js'),
      launchArgs: [workspace, '--disable-extensions'],
    });
  } catch (e) {
    if (e instanceof TestRunFailedError) return e.code ?? 1;
    console.error(`test:electron: ${e instanceof Error ? e.message : String(e)}`);
    if (!exe) console.error('test:electron: no VS Code to run in. Offline? Set VSCODE_EXECUTABLE=scripts/vscode/vscode-shim.mjs to run in code-server.');
    return 1;
  } finally {
    removeWorkspace(workspace);
  }
}

void main().then((code) => process.exit(code));
