import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { explainInstallFailure, installRuntime, runtimePackageFor } from '../../../src/engine/runtime/install';
import { describeAdapter } from '../../../src/engine/runtime/webgpu/backend';
import { buildModel } from '../../../src/engine/model/build';
import { AUTO_ORDER, initBackend } from '../../../src/engine/runtime/runtime';
import {
  describeMissingGpuLibraries,
  expectedBackend,
  missingGpuPrerequisites,
  otherCudaLibraries,
  resolveRuntimePackage,
} from '../../../src/engine/runtime/probe';

/** A stand-in for tfjs-node in a runtime folder: it requires `@tensorflow/tfjs` (as the real one
 *  does) and registers a 'tensorflow' backend, here made of the cpu backend's kernels. */
function fakeTfjsNode(runtimeDir: string, version = '4.22.0'): void {
  const dir = join(runtimeDir, 'node_modules', '@tensorflow', 'tfjs-node');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: '@tensorflow/tfjs-node', version, main: 'index.js' }));
  writeFileSync(
    join(dir, 'index.js'),
    `const tf = require('@tensorflow/tfjs');
     for (const k of tf.getKernelsForBackend('cpu')) tf.registerKernel({ ...k, backendName: 'tensorflow' });
     tf.registerBackend('tensorflow', tf.findBackendFactory('cpu'), 3);
     module.exports = tf;`,
  );
  writeFileSync(join(runtimeDir, 'package.json'), '{"private":true}');
}

describe('runtime manager', function () {
  this.timeout(60_000);
  let root: string;
  beforeEach(() => (root = mkdtempSync(join(tmpdir(), 'automl-runtime-'))));
  afterEach(async () => {
    rmSync(root, { recursive: true, force: true });
    if (tf.findBackend('tensorflow')) tf.removeBackend('tensorflow');
    await tf.setBackend('cpu');
  });

  it('says why tfjs-node is not used when it is not installed, and why the GPU is not used here', async () => {
    await assert.rejects(initBackend({ preference: 'tensorflow', runtimeDir: root }), /tensorflow not used: @tensorflow\/tfjs-node is not installed/);
    // This machine has no NVIDIA driver: the GPU backend names that.
    assert.match(missingGpuPrerequisites().join(' '), /no NVIDIA driver/);
    await assert.rejects(initBackend({ preference: 'tensorflow-gpu', runtimeDir: root }), /no NVIDIA driver/);
    assert.equal(expectedBackend(root).name, 'wasm');
  });

  it('names the CUDA and cuDNN versions a GPU machine has when they are not the ones tfjs-node-gpu loads', () => {
    // What an H100 machine with CUDA 13 and cuDNN 9 showed: a folder with libcudart.so.13, an ldconfig cache with cuDNN 9.
    const cuda = join(root, 'cuda-13', 'lib64');
    mkdirSync(cuda, { recursive: true });
    for (const f of ['libcudart.so.13', 'libcudart.so', 'libcublas.so.13']) writeFileSync(join(cuda, f), '');
    const cache = [
      '\tlibcudnn_ops.so.9 (libc6,x86-64) => /lib/x86_64-linux-gnu/libcudnn_ops.so.9',
      '\tlibcudnn.so.9 (libc6,x86-64) => /lib/x86_64-linux-gnu/libcudnn.so.9',
      '\tlibcudnn.so.8 (libc6,x86-64) => /opt/cudnn8/libcudnn.so.8',
    ].join('\n');
    // The wanted libcudnn.so.8 is not an "other" version; the sub-libraries and unversioned names are not listed.
    assert.deepEqual(otherCudaLibraries([cuda, join(root, 'absent')], cache), ['libcudart.so.13', 'libcudnn.so.9']);
    const missing = [
      { file: 'libcudart.so.11.0', what: 'the CUDA 11 runtime' },
      { file: 'libcudnn.so.8', what: 'cuDNN 8' },
    ];
    const msg = describeMissingGpuLibraries(missing, ['libcudart.so.13', 'libcudnn.so.9']);
    assert.match(
      msg,
      /^the CUDA 11 runtime \(libcudart\.so\.11\.0\) and cuDNN 8 \(libcudnn\.so\.8\) not found: tfjs-node-gpu 4\.22 is built against CUDA 11\.2 and cuDNN 8\.1\./,
    );
    assert.match(msg, /This machine has libcudart\.so\.13, libcudnn\.so\.9, which it cannot load: install the CUDA 11\.2 and cuDNN 8\.1 libraries beside them/);
    assert.match(
      describeMissingGpuLibraries(missing.slice(1), []),
      /^cuDNN 8 \(libcudnn\.so\.8\) not found: .* Install the CUDA 11\.2 and cuDNN 8\.1 libraries\.$/,
    );
  });

  it('says why WebGPU is not used: Dawn not installed, no adapter, or only a software one', async () => {
    await assert.rejects(
      initBackend({ preference: 'webgpu', runtimeDir: root }),
      /webgpu not used: the `webgpu` package \(Dawn\) is not installed \(run `automl install-runtime --webgpu`\)/,
    );
    // A stand-in for the npm `webgpu` package (an ES module like the real one) whose GPU finds what `adapter` says.
    // (One runtime folder each: an ES module is loaded once per path.)
    const fakeDawn = (name: string, adapter: string) => {
      const runtimeDir = join(root, name);
      const dir = join(runtimeDir, 'node_modules', 'webgpu');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'webgpu', version: '0.6.2', type: 'module', main: 'index.js' }));
      writeFileSync(join(dir, 'index.js'), `export const globals = {}; export function create() { return { requestAdapter: async () => ${adapter} }; }`);
      writeFileSync(join(runtimeDir, 'package.json'), '{"private":true}');
      return runtimeDir;
    };
    await assert.rejects(initBackend({ preference: 'webgpu', runtimeDir: fakeDawn('none', 'null') }), /Dawn found no GPU adapter/);
    const software = fakeDawn(
      'software',
      `({ info: { vendor: 'google', device: 'swiftshader device', description: 'SwiftShader', isFallbackAdapter: true } })`,
    );
    await assert.rejects(
      initBackend({ preference: 'webgpu', runtimeDir: software }),
      /only a software adapter \(google, swiftshader device, SwiftShader\), slower than wasm/,
    );
    // auto tries WebGPU after tfjs-node-gpu and before tfjs-node and wasm; the host expects it where Dawn is installed.
    assert.deepEqual(AUTO_ORDER, ['tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu']);
    assert.equal(expectedBackend(software).name, 'webgpu');
    assert.equal(expectedBackend(root).name, 'wasm');
  });

  it('describes WebGPU adapters and tells hardware from software ones', () => {
    assert.deepEqual(
      describeAdapter({ info: { vendor: 'nvidia', architecture: '', device: 'nvidia-h100-80gb-hbm3', description: 'NVIDIA: 580.159.04 580.159.4.0' } }),
      { text: 'nvidia, nvidia-h100-80gb-hbm3, NVIDIA: 580.159.04 580.159.4.0', software: false },
    );
    assert.equal(describeAdapter({ info: { vendor: 'mesa', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' } }).software, true);
    assert.equal(describeAdapter({ isFallbackAdapter: true }).software, true);
    assert.equal(describeAdapter({}).text, 'unnamed adapter');
  });

  it('loads a runtime package from the runtime folder against the bundled tfjs (one engine)', async () => {
    fakeTfjsNode(root);
    assert.ok(resolveRuntimePackage('@tensorflow/tfjs-node', root));
    assert.equal(expectedBackend(root).name, 'tensorflow');
    const info = await initBackend({ preference: 'tensorflow', runtimeDir: root });
    assert.equal(info.name, 'tensorflow');
    assert.match(info.reasons.join(' '), /using tensorflow: @tensorflow\/tfjs-node@4\.22\.0/);
    // The package registered its backend in *this* tfjs: models built here run on it.
    assert.equal(tf.getBackend(), 'tensorflow');
    const model = buildModel(
      { family: 'convnet', 'convnet/blocks': 1, 'convnet/filters': 4 },
      { inputShape: [8, 8, 1], numClasses: 3, multiLabel: false, mean: 0, std: 1 },
      1,
    );
    const y = model.predict(tf.zeros([2, 8, 8, 1])) as tf.Tensor;
    assert.deepEqual(y.shape, [2, 3]);
    model.dispose();
  });

  it('refuses a runtime of another tfjs version, naming both versions', async () => {
    fakeTfjsNode(root, '4.21.0');
    await assert.rejects(initBackend({ preference: 'tensorflow', runtimeDir: root }), /4\.21\.0 is installed but this build needs 4\.22\.0/);
  });

  it('fails cleanly without network: an actionable message, nothing half-installed', async () => {
    const r = await installRuntime({
      runtimeDir: root,
      variant: 'cpu',
      npmArgs: ['--registry=http://127.0.0.1:9/', '--fetch-retries=0', '--fetch-timeout=5000'],
      timeoutMs: 50_000,
    });
    assert.equal(r.ok, false);
    assert.equal(r.package, '@tensorflow/tfjs-node');
    assert.match(r.message, /could not reach its registry|failed to install/);
    assert.ok(!existsSync(join(root, 'node_modules', '@tensorflow', 'tfjs-node')), 'a half-installed package was left');
    assert.ok(r.log.length > 0);
  });

  it('installs Dawn (WebGPU), not tfjs-node-gpu, on a GPU machine whose CUDA tfjs-node-gpu cannot load, and says why', async () => {
    const driver = 'NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04';
    const lacking = { driver, missing: ['the CUDA 11 runtime (libcudart.so.11.0) not found: tfjs-node-gpu 4.22 is built against CUDA 11.2 and cuDNN 8.1.'] };
    const auto = runtimePackageFor('auto', lacking);
    assert.equal(auto.pkg, 'webgpu');
    assert.equal(auto.version, '0.6.2');
    assert.match(auto.note!, /An NVIDIA GPU is present, but the CUDA 11 runtime .* Installing Dawn for the WebGPU backend instead/);
    assert.deepEqual(runtimePackageFor('auto', { driver, missing: [] }), { backend: 'tensorflow-gpu', pkg: '@tensorflow/tfjs-node-gpu', version: '4.22.0' });
    assert.deepEqual(runtimePackageFor('auto', { driver: null, missing: [] }), { backend: 'tensorflow', pkg: '@tensorflow/tfjs-node', version: '4.22.0' });
    // An explicit --gpu is honoured, with a warning that it will not load.
    const gpu = runtimePackageFor('gpu', lacking);
    assert.equal(gpu.pkg, '@tensorflow/tfjs-node-gpu');
    assert.match(gpu.note!, /will install but will not load until this is fixed: the CUDA 11 runtime/);
    assert.match(runtimePackageFor('gpu', { driver: null, missing: [] }).note!, /no NVIDIA driver found/);
    // The note is printed first and stays in the final message.
    const lines: string[] = [];
    const r = await installRuntime({ runtimeDir: root, variant: 'auto', gpu: lacking, npm: join(root, 'no-such-npm'), onOutput: (l) => lines.push(l) });
    assert.equal(r.package, 'webgpu');
    assert.match(lines[0], /An NVIDIA GPU is present/);
    assert.match(r.message, /^npm was not found\. The native runtime .*\(An NVIDIA GPU is present/);
  });

  it('installs Dawn (the webgpu package, its own version) for the WebGPU backend', async () => {
    assert.deepEqual(runtimePackageFor('webgpu', { driver: null, missing: [] }), { backend: 'webgpu', pkg: 'webgpu', version: '0.6.2' });
    const r = await installRuntime({ runtimeDir: root, variant: 'webgpu', npm: join(root, 'no-such-npm') });
    assert.equal(r.package, 'webgpu');
    assert.match(r.message, /run `npm install webgpu@0\.6\.2` yourself/);
  });

  it('explains a missing npm and a blocked libtensorflow download', async () => {
    const r = await installRuntime({ runtimeDir: root, variant: 'cpu', npm: join(root, 'no-such-npm') });
    assert.equal(r.ok, false);
    assert.match(r.message, /npm was not found/);
    const log = [
      'node-pre-gyp info it worked if it ends with ok',
      '* Downloading libtensorflow https://storage.googleapis.com/tensorflow/libtensorflow/libtensorflow-cpu-linux-x86_64-2.9.1.tar.gz',
      'Error: getaddrinfo ENOTFOUND storage.googleapis.com',
    ];
    assert.match(explainInstallFailure('@tensorflow/tfjs-node', log, 1), /could not download libtensorflow from storage\.googleapis\.com/);
  });
});
