// Builds every bundle of the product with esbuild:
//   dist/extension.js  the VS Code extension (node, `vscode` external)
//   dist/worker.js     the training worker, started with child_process.fork
//   dist/cli.js        the `automl` command-line tool
//   dist/webview.js    the webview panels (browser)
// and copies the runtime assets the bundles load from disk (tfjs wasm binaries).
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync, existsSync, readdirSync, chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');
const dist = join(root, 'dist');
mkdirSync(dist, { recursive: true });

// Native or optional modules stay outside the bundles: they are resolved at run time.
const nodeExternals = ['vscode', 'sharp', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu', 'webgpu'];

const common = {
  bundle: true,
  sourcemap: true,
  minify: production,
  logLevel: 'info',
  absWorkingDir: root,
};

const nodeCommon = {
  ...common,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: nodeExternals,
  // tfjs probes for these optional modules; none is needed in Node.
  mainFields: ['main', 'module'],
};

const builds = [
  { ...nodeCommon, entryPoints: { extension: 'src/extension.ts' }, outdir: 'dist' },
  { ...nodeCommon, entryPoints: { worker: 'src/worker/main.ts' }, outdir: 'dist' },
  { ...nodeCommon, entryPoints: { cli: 'src/cli.ts' }, outdir: 'dist', banner: { js: '#!/usr/bin/env node' } },
  {
    ...common,
    entryPoints: { webview: 'webview/main.ts' },
    outdir: 'dist',
    platform: 'browser',
    target: 'es2022',
    format: 'iife',
  },
].filter((b) => Object.values(b.entryPoints).every((p) => existsSync(join(root, p))));

function copyAssets() {
  const wasmOut = join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist');
  for (const f of readdirSync(wasmOut)) {
    if (f.endsWith('.wasm')) copyFileSync(join(wasmOut, f), join(dist, f));
  }
  // The pthread worker scripts, and the threaded main script that the project's loader patches
  // to run the threaded-SIMD binary in Node (src/engine/runtime/wasm/threaded-loader.ts).
  const wasmJs = join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/wasm-out');
  for (const f of readdirSync(wasmJs)) {
    if (f.endsWith('.worker.js') || f === 'tfjs-backend-wasm-threaded-simd.js') copyFileSync(join(wasmJs, f), join(dist, f));
  }
}

if (watch) {
  copyAssets();
  for (const b of builds) {
    const ctx = await esbuild.context(b);
    await ctx.watch();
  }
  console.log('watching for changes…');
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
  copyAssets();
  if (existsSync(join(dist, 'cli.js'))) chmodSync(join(dist, 'cli.js'), 0o755);
}
