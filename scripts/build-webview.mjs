// Builds only the webview bundle (dist/webview.js + dist/webview.css, from webview/main.ts and
// the CSS it imports) with the same options as scripts/build.mjs. Used by `npm run
// test:webview` so the webview harness does not wait for the extension, worker and CLI bundles.
import * as esbuild from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const production = process.argv.includes('--production');

await esbuild.build({
  entryPoints: { webview: 'webview/main.ts' },
  outdir: 'dist',
  bundle: true,
  sourcemap: true,
  minify: production,
  logLevel: 'info',
  absWorkingDir: root,
  platform: 'browser',
  target: 'es2022',
  format: 'iife',
});
