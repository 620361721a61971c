// `npm run screenshots`: refreshes the README's screenshots (media/screenshots/, tracked) from the
// ones the webview tests just wrote (test-artifacts/readme-screenshots/, ignored). Run
// `npm run test:webview` first.
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const from = join(root, 'test-artifacts/readme-screenshots');
const to = join(root, 'media/screenshots');
const shots = existsSync(from) ? readdirSync(from).filter((f) => f.endsWith('.png')) : [];
if (shots.length === 0) {
  console.error(`no screenshots in ${from}: run \`npm run test:webview\` first`);
  process.exit(1);
}
mkdirSync(to, { recursive: true });
for (const f of shots) copyFileSync(join(from, f), join(to, f));
console.log(`copied ${shots.length} screenshots to media/screenshots/: ${shots.join(', ')}`);
