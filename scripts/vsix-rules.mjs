// What a platform VSIX must and must not hold: pure functions over a VSIX's file listing, used by
// scripts/check-vsix.mjs and its unit test (test/unit/check-vsix.test.mjs). No file system here.

/** The VS Code targets with native code that sharp ships binaries for: VS Code's name → npm os/cpu/libc and sharp's platform name. */
export const TARGETS = {
  'linux-x64': { os: 'linux', cpu: 'x64', libc: 'glibc', sharp: 'linux-x64' },
  'linux-arm64': { os: 'linux', cpu: 'arm64', libc: 'glibc', sharp: 'linux-arm64' },
  'darwin-x64': { os: 'darwin', cpu: 'x64', sharp: 'darwin-x64' },
  'darwin-arm64': { os: 'darwin', cpu: 'arm64', sharp: 'darwin-arm64' },
  'win32-x64': { os: 'win32', cpu: 'x64', sharp: 'win32-x64' },
  'alpine-x64': { os: 'linux', cpu: 'x64', libc: 'musl', sharp: 'linuxmusl-x64' },
};

/** The targets `npm run package` builds by default: those whose sharp binaries sharp's package.json names. */
export function defaultTargets(sharpOptionalDependencies) {
  return Object.keys(TARGETS).filter((t) => `@img/sharp-${TARGETS[t].sharp}` in sharpOptionalDependencies);
}

/**
 * The native packages a target's VSIX must hold, as sharp's optionalDependencies name them: `@img/sharp-<plat>` (the
 * addon) and `@img/sharp-libvips-<plat>` where sharp has one (Windows' addon package carries libvips itself).
 */
export function nativePackages(target, sharpOptionalDependencies) {
  const plat = TARGETS[target]?.sharp;
  if (!plat) throw new Error(`Unknown target "${target}"; known: ${Object.keys(TARGETS).join(', ')}.`);
  return [`@img/sharp-${plat}`, `@img/sharp-libvips-${plat}`].filter((p) => p in sharpOptionalDependencies);
}

/** Files every VSIX holds (paths inside the archive). */
export const REQUIRED_FILES = [
  'extension/package.json',
  'extension/readme.md',
  'extension/changelog.md',
  'extension/LICENSE.txt',
  'extension/media/icon.png',
  'extension/media/automl.svg',
  'extension/dist/extension.js',
  'extension/dist/worker.js',
  'extension/dist/cli.js',
  'extension/dist/webview.js',
  'extension/dist/webview.css',
  'extension/node_modules/sharp/package.json',
  'extension/node_modules/sharp/dist/index.cjs',
];

/** Paths that are development material, never product: sources, tests, build output of tests, data, tooling. */
const FORBIDDEN = [
  [/^extension\/(src|test|scripts|out|examples|bench-data|test-artifacts|\.automl|\.vscode|\.vscode-test|\.ci|\.cache)\//, 'development folder'],
  [/^extension\/webview\//, 'webview sources'],
  [/^extension\/media\/screenshots\//, 'README screenshots (the marketplace loads them from the repository)'],
  [/(^|\/)[^/]+(?<!\.d)\.(ts|mts|cts)$/, 'TypeScript source'],
  [/\.map$/, 'source map'],
  [/\.vsix$/, 'a VSIX inside the VSIX'],
  [/^extension\/(tsconfig[^/]*\.json|\.mocharc\.json|eslint\.config\.mjs|BENCHMARKS\.md|ARCHITECTURE\.md|package-lock\.json|\.npmrc)$/, 'development file'],
];

/** The package a node_modules path belongs to (`@scope/name` or `name`), or undefined outside node_modules. */
export function packageOf(path) {
  const m = /^extension\/(?:.*\/)?node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path);
  return m ? m[1] : undefined;
}

/**
 * Problems of one target's VSIX, from its listing ({ path, size } per file). `allowedPackages`: the production
 * dependency closure (package names); `sharpOptional`: sharp's optionalDependencies. Empty when the VSIX is right.
 */
export function vsixProblems(target, entries, { allowedPackages, sharpOptional }) {
  const problems = [];
  const paths = new Set(entries.map((e) => e.path));
  for (const f of REQUIRED_FILES) if (!paths.has(f)) problems.push(`missing ${f}`);

  const natives = nativePackages(target, sharpOptional);
  const plat = TARGETS[target].sharp;
  const addonDir = `extension/node_modules/@img/sharp-${plat}/`;
  if (!entries.some((e) => e.path.startsWith(addonDir) && e.path.endsWith('.node') && e.size > 0)) {
    problems.push(`missing sharp's native addon for ${target}: no .node file in ${addonDir}`);
  }
  for (const pkg of natives) {
    if (!paths.has(`extension/node_modules/${pkg}/package.json`)) problems.push(`missing native package ${pkg} (${target})`);
  }
  const libvips = natives.find((p) => p.includes('sharp-libvips-'));
  const libPattern = /\.(so(\.\d+)*|dylib|dll)$/;
  const libOf = (pkg) => entries.some((e) => e.path.startsWith(`extension/node_modules/${pkg}/`) && libPattern.test(e.path) && e.size > 0);
  if (libvips && !libOf(libvips)) problems.push(`missing libvips library in ${libvips} (${target})`);
  if (!libvips && !libOf(`@img/sharp-${plat}`)) problems.push(`missing libvips library in @img/sharp-${plat} (${target})`);

  const foreign = new Set();
  const stray = new Set();
  for (const { path } of entries) {
    for (const [re, why] of FORBIDDEN) if (re.test(path)) problems.push(`${why}: ${path}`);
    const pkg = packageOf(path);
    if (!pkg) continue;
    if (/^@img\/sharp-/.test(pkg) && !natives.includes(pkg)) foreign.add(pkg);
    else if (!allowedPackages.has(pkg) && !natives.includes(pkg)) stray.add(pkg);
  }
  for (const pkg of foreign) problems.push(`another platform's native package ${pkg} in the ${target} VSIX`);
  for (const pkg of stray) problems.push(`package ${pkg} is not a production dependency`);
  return problems;
}

/** Production packages of a package-lock.json (v2/v3): every `node_modules/…` entry not marked dev or peer-only. */
export function productionPackages(lock) {
  const out = new Set();
  for (const [key, info] of Object.entries(lock.packages ?? {})) {
    // devOptional: reachable from the production graph through optional dependencies (sharp's wasm build → tslib).
    if (!key || info.dev || info.peer) continue;
    const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)$/.exec(key);
    if (m) out.add(m[1]);
  }
  return out;
}
