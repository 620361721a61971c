// What a newcomer reads agrees with what the product does: the CLI's help names every backend the manifest's
// automl.backend setting offers, the README's settings table lists every automl.* setting, and each `npx automl <command>`
// in the README is a command of the CLI.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..', '..', '..');
const CLI = path.join(__dirname, '..', '..', '..', 'src', 'cli.js');
const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  contributes: { configuration: { properties: Record<string, { enum?: string[] }> } };
};
const settings = manifest.contributes.configuration.properties;
const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');

describe('cli help and README', function () {
  this.timeout(60_000);
  const help = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });

  it("lists every backend of the automl.backend setting, webgpu included, in train's --backend", () => {
    assert.equal(help.status, 0, help.stderr);
    const line = help.stdout.split('\n').find((l) => l.trim().startsWith('--backend')) ?? '';
    const backends = settings['automl.backend'].enum ?? [];
    assert.ok(backends.includes('webgpu'));
    for (const b of backends) assert.match(line, new RegExp(`(^|[ |])${b}( |\\||$)`), `--backend help lacks ${b}: ${line}`);
    assert.match(help.stdout, /install-runtime \[--gpu\|--cpu\|--webgpu\|--onnx\]/);
  });

  it('the README lists every automl.* setting of the manifest', () => {
    const missing = Object.keys(settings).filter((k) => !readme.includes(`\`${k.replace(/^automl\./, '')}\``));
    assert.deepEqual(missing, [], `README's settings table lacks ${missing.join(', ')}`);
  });

  it("each `npx automl <command>` of the README is a command of the CLI's help", () => {
    const used = new Set([...readme.matchAll(/npx automl ([a-z][a-z-]*)/g)].map((m) => m[1]));
    assert.ok(used.has('train') && used.has('list') && used.has('predict'), [...used].join(', '));
    const commands = new Set([...help.stdout.matchAll(/^ {2}([a-z-]+)\b/gm)].map((m) => m[1]));
    for (const c of used) assert.ok(commands.has(c), `README runs "npx automl ${c}", which the CLI's help does not list (${[...commands].join(', ')})`);
  });
});
