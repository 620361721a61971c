#!/usr/bin/env node
// Installs code-server (a real VS Code 1.100.3 with a Node extension host) into a cache folder
// outside the project's node_modules, once. The extension-host tests (`npm run test:vscode`,
// `npm run test:electron` through scripts/vscode/code-electron-shim.mjs) and the UI tests
// (`npm run test:ui`) run the extension in it.
//
//   node scripts/vscode/install-code-server.mjs            install if not installed; print the path
//   node scripts/vscode/install-code-server.mjs --check    only check the Debian packages
//   node scripts/vscode/install-code-server.mjs --force    reinstall
//
// Cache folder: $AUTOML_TEST_CACHE, else $XDG_CACHE_HOME/automl-vscode-test, else ~/.cache/automl-vscode-test.
// A marker file (.automl-installed.json) is written last; an install without it is redone.
//
// Why the environment below (verified on Debian 12, Node 20, npm 11, offline but for the npm registry):
// - npm 11 blocks dependency install scripts by default; code-server needs them (its postinstall installs the
//   VS Code server's own node_modules; node-pty and others build native addons; @vscode/ripgrep downloads rg).
//   The folder is isolated and holds nothing but code-server, so all scripts are allowed there.
// - npm_config_nodedir=/usr: node-gyp builds against Debian's Node headers instead of downloading them.
// - npm_config_yes=true: node-pty's install runs `npx node-gyp`, which would prompt (or refuse with yes=false).
// - @vscode/ripgrep's postinstall downloads rg from GitHub unless it finds a cached archive in
//   $TMPDIR/vscode-ripgrep-cache-<version>/: we seed it with Debian's /usr/bin/rg (the same 13.0.0 release).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync, rmSync, renameSync, copyFileSync, chmodSync, readdirSync, mkdtempSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const CODE_SERVER_VERSION = '4.100.3';
export const VSCODE_VERSION = '1.100.3';
const MARKER = '.automl-installed.json';
const RIPGREP_VSCODE_VERSION = '1.15.11';
const RIPGREP_ASSET = 'ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz';
// The packages of code-server 4.100.3's tree whose install scripts must run (from its npm-shrinkwrap.json files,
// "hasInstallScript"; the Windows-only ones never install here). code-server's postinstall runs `npm install` in
// lib/vscode (these build native addons and fetch rg) and in lib/vscode/extensions (no scripted dependencies).
const OUTER_SCRIPTS = ['code-server', 'argon2'];
const VSCODE_SCRIPTS = ['@parcel/watcher', '@vscode/deviceid', '@vscode/ripgrep', '@vscode/spdlog', 'kerberos', 'native-watchdog', 'node-pty'];
const policy = (names) => Object.fromEntries(names.map((n) => [n, true]));

export const DEBIAN_PACKAGES = ['build-essential', 'python3', 'pkg-config', 'libkrb5-dev', 'libsecret-1-dev', 'ripgrep', 'chromium'];

export function cacheRoot() {
  if (process.env.AUTOML_TEST_CACHE) return process.env.AUTOML_TEST_CACHE;
  const xdg = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(xdg, 'automl-vscode-test');
}

export function installDir() {
  return join(cacheRoot(), `code-server-${CODE_SERVER_VERSION}`);
}

/** Path of the code-server launcher script, or undefined when not (completely) installed. */
export function codeServerBin(dir = installDir()) {
  const bin = join(dir, 'node_modules', '.bin', 'code-server');
  return existsSync(join(dir, MARKER)) && existsSync(bin) ? bin : undefined;
}

function log(msg) {
  process.stderr.write(`[install-code-server] ${msg}\n`);
}

/** Debian packages from DEBIAN_PACKAGES that are not installed (empty when dpkg is absent: not Debian). */
export function missingDebianPackages() {
  const probe = spawnSync('dpkg-query', ['-W', '-f=${Package} ${Status}\\n', ...DEBIAN_PACKAGES], { encoding: 'utf8' });
  if (probe.error) return [];
  const ok = new Set(
    probe.stdout
      .split('\n')
      .filter((l) => l.endsWith(' install ok installed'))
      .map((l) => l.split(' ')[0].split(':')[0]),
  );
  return DEBIAN_PACKAGES.filter((p) => !ok.has(p));
}

export function aptCommand(pkgs) {
  const sudo = process.getuid?.() === 0 ? '' : 'sudo ';
  return `${sudo}apt-get update && ${sudo}apt-get install -y --no-install-recommends ${pkgs.join(' ')}`;
}

function checkPrerequisites() {
  const missing = missingDebianPackages();
  if (missing.length) {
    log(`missing Debian packages: ${missing.join(' ')}`);
    log(`install them with:\n\n  ${aptCommand(missing)}\n`);
    return false;
  }
  const major = Number(process.versions.node.split('.')[0]);
  if (major !== 20) {
    log(`warning: code-server ${CODE_SERVER_VERSION} expects Node 20 (this is ${process.versions.node}); native addons may fail to build`);
  }
  return true;
}

/** Seeds @vscode/ripgrep's download cache with Debian's rg so its postinstall needs no network. */
function seedRipgrepCache(tmp) {
  const rg = ['/usr/bin/rg', '/usr/local/bin/rg'].find((p) => existsSync(p));
  if (!rg) throw new Error('ripgrep (rg) not found; install the Debian package "ripgrep"');
  const cacheDir = join(tmp, `vscode-ripgrep-cache-${RIPGREP_VSCODE_VERSION}`);
  mkdirSync(cacheDir, { recursive: true });
  const archive = join(cacheDir, RIPGREP_ASSET);
  if (existsSync(archive)) return;
  const stage = mkdtempSync(join(tmp, 'rg-'));
  copyFileSync(rg, join(stage, 'rg'));
  chmodSync(join(stage, 'rg'), 0o755);
  const tar = spawnSync('tar', ['-czf', archive, '-C', stage, 'rg'], { stdio: 'inherit' });
  rmSync(stage, { recursive: true, force: true });
  if (tar.status !== 0) throw new Error('could not create the ripgrep cache archive');
}

function findFiles(dir, test, out = [], depth = 0) {
  if (depth > 12 || !existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) findFiles(p, test, out, depth + 1);
    else if (test(p)) out.push(p);
  }
  return out;
}

/** Checks that the parts that need install scripts really got installed; throws with what is missing. */
export function verifyInstall(dir) {
  const bin = join(dir, 'node_modules', '.bin', 'code-server');
  const vscodeDir = join(dir, 'node_modules', 'code-server', 'lib', 'vscode');
  const problems = [];
  if (!existsSync(bin)) problems.push(`no launcher ${bin}`);
  const rg = join(vscodeDir, 'node_modules', '@vscode', 'ripgrep', 'bin', 'rg');
  if (!existsSync(rg)) problems.push(`no ripgrep binary ${rg}`);
  const pty = findFiles(join(vscodeDir, 'node_modules', 'node-pty'), (p) => p.endsWith('.node'));
  if (!pty.length) problems.push('node-pty has no compiled .node binary');
  if (!existsSync(join(vscodeDir, 'out', 'server-main.js'))) problems.push('VS Code server files missing (lib/vscode/out/server-main.js)');
  if (!problems.length) {
    const v = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 60_000 });
    if (v.status !== 0 || !v.stdout.includes(CODE_SERVER_VERSION)) {
      problems.push(`"code-server --version" failed: ${(v.stderr || v.stdout || String(v.error)).trim().slice(0, 500)}`);
    }
  }
  if (problems.length) throw new Error(`code-server install incomplete:\n  - ${problems.join('\n  - ')}`);
  return { bin, rg, pty: pty[0] };
}

export function install({ force = false } = {}) {
  const dir = installDir();
  const existing = codeServerBin(dir);
  if (existing && !force) {
    return existing;
  }
  if (!checkPrerequisites()) throw new Error('missing Debian packages (see above)');
  mkdirSync(cacheRoot(), { recursive: true });
  const partial = `${dir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  const tmp = join(partial, '.tmp');
  mkdirSync(tmp, { recursive: true });
  seedRipgrepCache(tmp);
  // npm 11 runs a dependency's install scripts only when an allowScripts policy lists it, and rejects
  // --allow-scripts (flag or env var) in project-scoped installs. code-server's postinstall runs nested project
  // installs in lib/vscode and lib/vscode/extensions; any allow-scripts *config* would be exported to them as an
  // env var (and rejected there). So: install without scripts, write allowScripts into the package.json files
  // of the outer folder and of lib/vscode, then `npm rebuild` runs the scripts.
  writeFileSync(
    join(partial, 'package.json'),
    JSON.stringify({ name: 'automl-code-server-cache', private: true, allowScripts: policy(OUTER_SCRIPTS) }, null, 2),
  );
  const env = {
    ...process.env,
    TMPDIR: tmp,
    // code-server's postinstall refuses to run as root without it.
    npm_config_unsafe_perm: 'true',
    npm_config_yes: 'true',
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
  };
  if (existsSync('/usr/include/node/node.h')) env.npm_config_nodedir = '/usr';
  const started = Date.now();
  log(`installing code-server@${CODE_SERVER_VERSION} into ${dir} (about a minute and 300 MB)…`);
  const npm = (args) => {
    const r = spawnSync('npm', [...args, '--loglevel=warn'], { cwd: partial, env, stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0) {
      throw new Error(`npm ${args.join(' ')} failed (exit ${r.status ?? r.signal}); the half-installed folder is ${partial}`);
    }
  };
  npm(['install', '--ignore-scripts', '--no-package-lock', `code-server@${CODE_SERVER_VERSION}`]);
  const vscodePkg = join(partial, 'node_modules', 'code-server', 'lib', 'vscode', 'package.json');
  const pkg = JSON.parse(readFileSync(vscodePkg, 'utf8'));
  pkg.allowScripts = policy(VSCODE_SCRIPTS);
  writeFileSync(vscodePkg, JSON.stringify(pkg, null, 2));
  npm(['rebuild', '--foreground-scripts']);
  rmSync(tmp, { recursive: true, force: true });
  if (codeServerBin(dir) && !force) {
    // Another process finished the same install meanwhile: keep that one.
    rmSync(partial, { recursive: true, force: true });
    return codeServerBin(dir);
  }
  rmSync(dir, { recursive: true, force: true });
  renameSync(partial, dir);
  // Verified where it will run from; without the marker a failed check means a reinstall next time.
  const found = verifyInstall(dir);
  writeFileSync(
    join(dir, MARKER),
    JSON.stringify({ codeServer: CODE_SERVER_VERSION, vscode: VSCODE_VERSION, node: process.versions.node, installedAt: new Date().toISOString() }, null, 2),
  );
  log(`installed in ${Math.round((Date.now() - started) / 1000)} s (node-pty: ${found.pty.slice(dir.length + 1)})`);
  return join(dir, 'node_modules', '.bin', 'code-server');
}

const isMain = process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  try {
    if (process.argv.includes('--check')) {
      process.exit(checkPrerequisites() ? 0 : 1);
    }
    const bin = install({ force: process.argv.includes('--force') });
    if (process.argv.includes('--verify')) verifyInstall(installDir());
    process.stdout.write(`${bin}\n`);
  } catch (e) {
    log(e instanceof Error ? e.message : String(e));
    process.exit(1);
  }
}
