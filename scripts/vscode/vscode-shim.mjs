#!/usr/bin/env node
// Stands in for a VS Code executable where there is no desktop VS Code (CI, these machines): point
// @vscode/test-electron's `vscodeExecutablePath` (or `VSCODE_EXECUTABLE` for `npm run test:electron`) at this
// file and it runs the same extension tests in code-server + headless chromium instead. It takes the command line
// test-electron builds (`[folder] --extensionTestsPath=… --extensionDevelopmentPath=… --no-sandbox …`), keeps the
// folder and the two paths, ignores the rest, and exits with the suite's exit code.
// Needs `npx tsc -p test/vscode` (out/test/vscode/run-suite.js) first.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const runner = join(root, 'out', 'test', 'vscode', 'run-suite.js');
if (!existsSync(runner)) {
  console.error(`vscode-shim: ${runner} is missing; run "npx tsc -p test/vscode" first`);
  process.exit(2);
}
const { runSuite } = createRequire(import.meta.url)(runner);
process.exit(await runSuite(process.argv.slice(2)));
