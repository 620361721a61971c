// Checks platform VSIXs: lists each (size, file count) and fails when one lacks its target's native sharp packages
// or holds sources, tests, dev data or development packages (rules: scripts/vsix-rules.mjs).
//
//   node scripts/check-vsix.mjs [file.vsix …]    (default: every automl-vscode-<target>-<version>.vsix of the default targets)
import { readFileSync, statSync, existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import yauzl from 'yauzl';
import { TARGETS, defaultTargets, productionPackages, vsixProblems } from './vsix-rules.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
const sharpOptional = lock.packages['node_modules/sharp']?.optionalDependencies ?? {};
const context = { allowedPackages: productionPackages(lock), sharpOptional };

/** The files of a zip: { path, size } each. */
function listZip(file) {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true }, (err, zip) => {
      if (err) return reject(err);
      const entries = [];
      zip.on('entry', (e) => {
        if (!e.fileName.endsWith('/')) entries.push({ path: e.fileName, size: e.uncompressedSize });
        zip.readEntry();
      });
      zip.on('end', () => resolve(entries));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

/** The target a VSIX file name carries (automl-vscode-<target>-<version>.vsix). */
function targetOf(file) {
  const name = basename(file);
  return Object.keys(TARGETS).find((t) => name === `${pkg.name}-${t}-${pkg.version}.vsix`);
}

const files = process.argv.slice(2).length
  ? process.argv.slice(2)
  : defaultTargets(sharpOptional).map((t) => join(root, `${pkg.name}-${t}-${pkg.version}.vsix`));

let failed = 0;
const rows = [];
for (const file of files) {
  const target = targetOf(file);
  if (!target) {
    console.error(`${file}: not a ${pkg.name}-<target>-${pkg.version}.vsix file name; known targets: ${Object.keys(TARGETS).join(', ')}`);
    failed++;
    continue;
  }
  if (!existsSync(file)) {
    console.error(`${basename(file)}: missing (run \`npm run package\`)`);
    failed++;
    continue;
  }
  const entries = await listZip(file);
  const problems = vsixProblems(target, entries, context);
  rows.push({ file: basename(file), mb: (statSync(file).size / 2 ** 20).toFixed(1), files: entries.length, ok: problems.length === 0 });
  if (problems.length) {
    failed++;
    console.error(`${basename(file)}: ${problems.length} problem(s)`);
    for (const p of problems.slice(0, 30)) console.error(`  - ${p}`);
    if (problems.length > 30) console.error(`  … and ${problems.length - 30} more`);
  }
}

console.log('\n| VSIX | size | files | check |\n|---|---|---|---|');
for (const r of rows) console.log(`| ${r.file} | ${r.mb} MiB | ${r.files} | ${r.ok ? 'ok' : 'FAILED'} |`);
if (failed) {
  console.error(`\n${failed} of ${files.length} VSIX(s) failed the check.`);
  process.exit(1);
}
console.log(`\nAll ${files.length} VSIXs hold their platform's native files and no development material.`);
