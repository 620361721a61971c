// The wasm backend set-up: asset lookup, the pinned threading patch, threads.
import * as assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { wasmAssetDir } from '../../../src/engine/runtime/wasm/backend';
import { prepareThreadedScripts } from '../../../src/engine/runtime/wasm/threaded-loader';
import { ensureWasm } from './wasm-test-utils';

describe('wasm backend set-up', function () {
  this.timeout(60000);

  it('finds the wasm binaries', () => {
    const dir = wasmAssetDir();
    for (const f of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) {
      assert.ok(existsSync(join(dir, f)), `${f} in ${dir}`);
    }
  });

  it('writes the patched threaded scripts and refuses a script it does not recognise', () => {
    const cache = mkdtempSync(join(tmpdir(), 'automl-wasm-test-'));
    try {
      const pkg = join(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'), '..', 'wasm-out');
      const s = prepareThreadedScripts([pkg], cache);
      assert.ok(existsSync(s.mainScript) && existsSync(s.workerScript));
      const main = readFileSync(s.mainScript, 'utf8');
      assert.ok(main.includes('Module["tfjsLogicalCores"]') && main.includes('Module["tfjsPoolSize"]'));
      assert.ok(readFileSync(s.workerScript, 'utf8').includes('importScripts'));
      // A different build of the script (the patched line changed): must throw, not guess.
      const fake = mkdtempSync(join(tmpdir(), 'automl-wasm-fake-'));
      try {
        const original = readFileSync(join(pkg, 'tfjs-backend-wasm-threaded-simd.js'), 'utf8');
        writeFileSync(join(fake, 'tfjs-backend-wasm-threaded-simd.js'), original.replace('require("os").cpus().length', 'navigator.hardwareConcurrency'));
        copyFileSync(join(pkg, 'tfjs-backend-wasm-threaded-simd.wasm'), join(fake, 'tfjs-backend-wasm-threaded-simd.wasm'));
        assert.throws(() => prepareThreadedScripts([fake], cache), /cannot patch the logical core count/);
      } finally {
        rmSync(fake, { recursive: true, force: true });
      }
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });

  it('initialises wasm with the project kernels and the requested threads (or says why not)', async () => {
    const info = await ensureWasm();
    assert.equal(info.kernels, 'project');
    assert.ok(info.threads >= 1);
    // ensureWasm asks for 'auto' = the logical core count.
    const cores = availableParallelism();
    assert.ok(info.threads === cores || info.notes.length > 0, `threads ${info.threads}, notes: ${info.notes.join('; ')}`);
    const prev = tf.getBackend();
    await tf.setBackend('wasm');
    try {
      const y = tf.tidy(() => tf.sum(tf.matMul(tf.ones([64, 64]), tf.ones([64, 64]))));
      assert.equal((await y.data())[0], 64 * 64 * 64);
      y.dispose();
    } finally {
      await tf.setBackend(prev);
    }
  });
});
