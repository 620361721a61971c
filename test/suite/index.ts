// Entry point of the extension-host test suite, as @vscode/test-electron (and test/vscode/run-suite.ts,
// through code-server) expect it: `run()` runs mocha over test/suite/**/*.test.js inside the extension
// host and rejects when a test fails.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { format } from 'node:util';
import Mocha from 'mocha';

function testFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...testFiles(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

export function run(): Promise<void> {
  // The web workbench forwards the extension host's console without printf formatting: format here.
  Mocha.reporters.Base.consoleLog = (...args: unknown[]) => console.log(format(...args));
  const mocha = new Mocha({
    ui: 'bdd',
    reporter: 'spec',
    // The extension host's console is forwarded line by line: no colours unless asked for.
    color: !!process.env.AUTOML_TEST_COLOR,
    timeout: 60_000,
    // The harness's untrusted-workspace pass runs the @untrusted tests only; the trusted pass all others.
    grep: process.env.AUTOML_TEST_UNTRUSTED ? '@untrusted' : process.env.AUTOML_TEST_GREP || '@untrusted',
    invert: !process.env.AUTOML_TEST_UNTRUSTED && !process.env.AUTOML_TEST_GREP,
  });
  for (const f of testFiles(__dirname)) mocha.addFile(f);
  return new Promise((resolve, reject) => {
    try {
      mocha.run((failures) => (failures > 0 ? reject(new Error(`${failures} extension-host test(s) failed`)) : resolve()));
    } catch (e) {
      reject(e);
    }
  });
}
