// The VSIX check's rules (scripts/vsix-rules.mjs) on fake VSIX listings: a right one passes, one without its
// platform's native files, with another platform's, with sources, tests or development packages fails.
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'mocha';
import { REQUIRED_FILES, TARGETS, defaultTargets, nativePackages, packageOf, productionPackages, vsixProblems } from '../../scripts/vsix-rules.mjs';

const lock = JSON.parse(readFileSync(join(process.cwd(), 'package-lock.json'), 'utf8'));
const sharpOptional = lock.packages['node_modules/sharp'].optionalDependencies;
const context = { allowedPackages: productionPackages(lock), sharpOptional };

/** A listing like a correct VSIX of `target`: the required files, sharp's dependencies and the target's natives. */
function listing(target) {
  const plat = TARGETS[target].sharp;
  const files = [...REQUIRED_FILES, 'extension/node_modules/yauzl/index.js', 'extension/node_modules/@img/colour/index.cjs'];
  files.push(`extension/node_modules/@img/sharp-${plat}/package.json`, `extension/node_modules/@img/sharp-${plat}/lib/sharp-${plat}-0.35.5.node`);
  if (target.startsWith('win32')) files.push(`extension/node_modules/@img/sharp-${plat}/lib/libvips-42.dll`);
  else {
    const lib = target.startsWith('darwin') ? 'libvips-cpp.8.18.7.dylib' : 'libvips-cpp.so.8.18.7';
    files.push(`extension/node_modules/@img/sharp-libvips-${plat}/package.json`, `extension/node_modules/@img/sharp-libvips-${plat}/lib/${lib}`);
  }
  return files.map((path) => ({ path, size: 1000 }));
}

describe('VSIX check (scripts/vsix-rules.mjs)', () => {
  it('builds the six desktop targets sharp 0.35 ships, alpine included', () => {
    assert.deepEqual(defaultTargets(sharpOptional).sort(), ['alpine-x64', 'darwin-arm64', 'darwin-x64', 'linux-arm64', 'linux-x64', 'win32-x64']);
    assert.deepEqual(nativePackages('darwin-arm64', sharpOptional), ['@img/sharp-darwin-arm64', '@img/sharp-libvips-darwin-arm64']);
    assert.deepEqual(nativePackages('win32-x64', sharpOptional), ['@img/sharp-win32-x64']);
    assert.throws(() => nativePackages('sunos-sparc', sharpOptional), /Unknown target "sunos-sparc"/);
  });

  it('passes a right VSIX of every target', () => {
    for (const t of defaultTargets(sharpOptional)) assert.deepEqual(vsixProblems(t, listing(t), context), [], t);
  });

  it('fails a VSIX without its native addon or libvips', () => {
    const noAddon = listing('darwin-arm64').filter((e) => !e.path.endsWith('.node'));
    assert.ok(vsixProblems('darwin-arm64', noAddon, context).some((p) => /missing sharp's native addon for darwin-arm64/.test(p)));
    const noVips = listing('linux-arm64').filter((e) => !e.path.includes('sharp-libvips-'));
    const problems = vsixProblems('linux-arm64', noVips, context);
    assert.ok(problems.includes('missing native package @img/sharp-libvips-linux-arm64 (linux-arm64)'), problems.join('\n'));
    assert.ok(problems.includes('missing libvips library in @img/sharp-libvips-linux-arm64 (linux-arm64)'), problems.join('\n'));
    const emptyDll = listing('win32-x64').map((e) => (e.path.endsWith('.dll') ? { ...e, size: 0 } : e));
    assert.deepEqual(vsixProblems('win32-x64', emptyDll, context), ['missing libvips library in @img/sharp-win32-x64 (win32-x64)']);
  });

  it("fails a VSIX that holds another platform's binaries (the linux-x64 VSIX built on Linux for every platform)", () => {
    const mixed = [...listing('darwin-x64'), ...listing('linux-x64')];
    const problems = vsixProblems('darwin-x64', mixed, context);
    assert.ok(problems.includes("another platform's native package @img/sharp-linux-x64 in the darwin-x64 VSIX"), problems.join('\n'));
    assert.ok(problems.includes("another platform's native package @img/sharp-libvips-linux-x64 in the darwin-x64 VSIX"), problems.join('\n'));
  });

  it('fails a VSIX that holds sources, tests, test output or dev data', () => {
    const extra = [
      'extension/src/extension.ts',
      'extension/webview/main.ts',
      'extension/test/unit/plan.test.ts',
      'extension/out/src/cli.js',
      'extension/test-artifacts/screenshots/a.png',
      'extension/bench-data/fashion/train.csv',
      'extension/dist/extension.js.map',
    ];
    const problems = vsixProblems('linux-x64', [...listing('linux-x64'), ...extra.map((path) => ({ path, size: 10 }))], context);
    for (const f of extra)
      assert.ok(
        problems.some((p) => p.endsWith(`: ${f}`)),
        `${f} not reported in:\n${problems.join('\n')}`,
      );
    // A declaration file of a dependency is not a source.
    assert.deepEqual(vsixProblems('linux-x64', [...listing('linux-x64'), { path: 'extension/node_modules/sharp/lib/index.d.ts', size: 5 }], context), []);
  });

  it('fails a VSIX that holds development packages (nsfwjs, tfjs, playwright) and one missing its bundles', () => {
    const dev = ['nsfwjs', '@tensorflow/tfjs-core', 'playwright-core'].map((p) => ({ path: `extension/node_modules/${p}/package.json`, size: 10 }));
    const problems = vsixProblems('linux-x64', [...listing('linux-x64'), ...dev], context);
    for (const p of ['nsfwjs', '@tensorflow/tfjs-core', 'playwright-core']) assert.ok(problems.includes(`package ${p} is not a production dependency`), p);
    const noWorker = listing('linux-x64').filter((e) => e.path !== 'extension/dist/worker.js');
    assert.deepEqual(vsixProblems('linux-x64', noWorker, context), ['missing extension/dist/worker.js']);
  });

  it('knows the production packages from the lockfile and the package of a path', () => {
    const prod = productionPackages(lock);
    for (const p of ['sharp', 'yauzl', '@img/colour', '@img/sharp-linux-x64']) assert.ok(prod.has(p), p);
    for (const p of ['nsfwjs', 'mocha', '@tensorflow/tfjs-core', '@vscode/vsce']) assert.ok(!prod.has(p), p);
    assert.equal(packageOf('extension/node_modules/@img/sharp-win32-x64/lib/x.dll'), '@img/sharp-win32-x64');
    assert.equal(packageOf('extension/node_modules/yauzl/node_modules/pend/index.js'), 'pend');
    assert.equal(packageOf('extension/dist/cli.js'), undefined);
  });
});
