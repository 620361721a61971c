// `npm run package`: one VSIX per VS Code target with native code (sharp's image decoder), each holding only that
// platform's sharp packages, then scripts/check-vsix.mjs over all of them.
//
// For each target a staging copy (.cache/package/<target>/) gets what the extension ships (package.json, README,
// CHANGELOG, LICENSE, .vscodeignore, dist/, media/) and `npm ci --omit=dev --os --cpu [--libc]` of the lockfile, which
// fetches exactly the locked sharp packages for that platform from the npm registry; `vsce package --target` then
// packs it into automl-vscode-<target>-<version>.vsix at the repository root.
//
//   node scripts/package.mjs [--target linux-x64,win32-x64] [--no-build] [--no-check]
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TARGETS, defaultTargets } from './vsix-rules.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const option = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
const sharpOptional = lock.packages['node_modules/sharp']?.optionalDependencies ?? {};
const targets = option('--target')?.split(',') ?? defaultTargets(sharpOptional);
for (const t of targets) if (!TARGETS[t]) throw new Error(`Unknown target "${t}"; known: ${Object.keys(TARGETS).join(', ')}.`);

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const run = (cmd, argv, cwd) => execFileSync(cmd, argv, { cwd, stdio: 'inherit', shell: process.platform === 'win32' });

if (!flag('--no-build')) run(npm, ['run', 'build'], root);
for (const f of ['dist/extension.js', 'dist/worker.js', 'dist/cli.js', 'dist/webview.js', 'CHANGELOG.md', 'LICENSE', 'media/icon.png']) {
  if (!existsSync(join(root, f))) throw new Error(`${f} is missing: run \`npm run build\` (and check the repository) first.`);
}

const SHIPPED = ['package.json', 'package-lock.json', '.npmrc', '.vscodeignore', 'README.md', 'CHANGELOG.md', 'LICENSE', 'dist', 'media'];
const vsce = join(root, 'node_modules/@vscode/vsce/vsce');
const written = [];
for (const target of targets) {
  const { os, cpu, libc } = TARGETS[target];
  const stage = join(root, '.cache/package', target);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  for (const f of SHIPPED) if (existsSync(join(root, f))) cpSync(join(root, f), join(stage, f), { recursive: true });
  console.log(`\n== ${target}: npm ci --omit=dev --os=${os} --cpu=${cpu}${libc ? ` --libc=${libc}` : ''}`);
  const platform = [`--os=${os}`, `--cpu=${cpu}`, ...(libc ? [`--libc=${libc}`] : [])];
  // --ignore-scripts: sharp's install check would test the binaries against this machine, not the target.
  run(npm, ['ci', '--omit=dev', '--omit=peer', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error', ...platform], stage);
  const out = join(root, `${pkg.name}-${target}-${pkg.version}.vsix`);
  rmSync(out, { force: true });
  run(process.execPath, [vsce, 'package', '--target', target, '--out', out], stage);
  written.push(out);
}

if (!flag('--no-check')) run(process.execPath, [join(root, 'scripts/check-vsix.mjs'), ...written], root);
