// Installs the native runtime on demand: `@tensorflow/tfjs-node-gpu` on machines with an NVIDIA
// driver and CUDA 11, Dawn (npm `webgpu`, for the WebGPU backend) on NVIDIA machines with a newer
// CUDA only, else `@tensorflow/tfjs-node`, into a runtime folder of its own (the extension's global
// storage, or `~/.cache/automl-vscode/runtime` for the CLI), never into the product's own
// dependencies. Its install script downloads libtensorflow from storage.googleapis.com, which
// some machines cannot reach: every failure is explained, and nothing the product already
// has is touched. No tfjs import here.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RUNTIME_PACKAGES, TFJS_VERSION, missingGpuPrerequisites, nvidiaDriver } from './probe';
import { WEBGPU_PACKAGE, WEBGPU_VERSION } from './webgpu/package';
import { ONNXRUNTIME_PACKAGE, ONNXRUNTIME_VERSION } from './onnx-package';

export interface InstallOptions {
  runtimeDir: string;
  /**
   * 'auto': tfjs-node-gpu with an NVIDIA driver and CUDA 11, Dawn (WebGPU) with an NVIDIA driver
   * and a newer CUDA only, else tfjs-node; 'webgpu': Dawn (the npm `webgpu` package); 'onnx': ONNX
   * Runtime (onnxruntime-node, CPU binaries bundled), which runs exported ONNX models for prediction.
   */
  variant: 'auto' | 'gpu' | 'cpu' | 'webgpu' | 'onnx';
  /** npm executable (default `npm` on the PATH). */
  npm?: string;
  /** Extra npm arguments, e.g. `--registry=…` (tests). */
  npmArgs?: string[];
  onOutput?: (line: string) => void;
  signal?: AbortSignal;
  /** Loads the installed backend in a separate process; resolves with its report or rejects with why. */
  verify?: (backend: 'tensorflow-gpu' | 'tensorflow' | 'webgpu' | 'onnxruntime') => Promise<string>;
  timeoutMs?: number;
  /** The machine's GPU state (default: probed); tests pass one. */
  gpu?: GpuState;
}

export interface InstallResult {
  ok: boolean;
  package: string;
  /** One paragraph a user can act on. */
  message: string;
  /** The last lines npm printed. */
  log: string[];
}

/** What this machine offers tfjs-node-gpu: the NVIDIA driver line and what it still lacks. */
export interface GpuState {
  driver: string | null;
  missing: string[];
}

export function gpuState(): GpuState {
  const driver = nvidiaDriver();
  return { driver, missing: driver ? missingGpuPrerequisites() : [] };
}

/**
 * The package to install. 'auto' takes the GPU package only where it would load (an NVIDIA driver
 * and the CUDA 11 / cuDNN 8 libraries). A GPU machine with only a newer CUDA gets Dawn for the
 * WebGPU backend (Vulkan, no CUDA), with a note saying why; a machine without an NVIDIA driver gets
 * tfjs-node. An explicit 'gpu' is honoured, with a warning when it will not load.
 */
export function runtimePackageFor(
  variant: InstallOptions['variant'],
  gpu: GpuState = gpuState(),
): { backend: 'tensorflow-gpu' | 'tensorflow' | 'webgpu' | 'onnxruntime'; pkg: string; version: string; note?: string } {
  if (variant === 'webgpu') return { backend: 'webgpu', pkg: WEBGPU_PACKAGE, version: WEBGPU_VERSION };
  if (variant === 'onnx') return { backend: 'onnxruntime', pkg: ONNXRUNTIME_PACKAGE, version: ONNXRUNTIME_VERSION };
  if (variant === 'auto' && gpu.driver && gpu.missing.length) {
    return {
      backend: 'webgpu',
      pkg: WEBGPU_PACKAGE,
      version: WEBGPU_VERSION,
      note: `An NVIDIA GPU is present, but ${gpu.missing.join('; ')} Installing Dawn for the WebGPU backend instead, which reaches the GPU through Vulkan without CUDA (--gpu installs tfjs-node-gpu anyway, --cpu tfjs-node).`,
    };
  }
  const r = nativeRuntimeFor(variant, gpu);
  return { ...r, version: TFJS_VERSION };
}

function nativeRuntimeFor(variant: InstallOptions['variant'], gpu: GpuState): { backend: 'tensorflow-gpu' | 'tensorflow'; pkg: string; note?: string } {
  if (variant === 'gpu') {
    const note = gpu.driver
      ? gpu.missing.length
        ? `tfjs-node-gpu will install but will not load until this is fixed: ${gpu.missing.join('; ')}`
        : undefined
      : 'no NVIDIA driver found: tfjs-node-gpu will install but will not load on this machine';
    return { backend: 'tensorflow-gpu', pkg: RUNTIME_PACKAGES['tensorflow-gpu'], note };
  }
  if (variant === 'auto' && gpu.driver) return { backend: 'tensorflow-gpu', pkg: RUNTIME_PACKAGES['tensorflow-gpu'] };
  return { backend: 'tensorflow', pkg: RUNTIME_PACKAGES.tensorflow };
}

/** Turns npm's output into an explanation a user can act on. */
export function explainInstallFailure(pkg: string, log: string[], code: number | null, spawnError?: string, version = TFJS_VERSION): string {
  const text = log.join('\n');
  if (spawnError && /ENOENT/.test(spawnError)) {
    return `npm was not found. The native runtime is installed with npm: install Node.js (which brings npm), or run \`npm install ${pkg}@${version}\` yourself in the runtime folder.`;
  }
  if (
    /storage\.googleapis\.com|libtensorflow|tfjs_binding|node-pre-gyp/i.test(text) &&
    /(ENOTFOUND|ECONNREFUSED|ETIMEDOUT|EAI_AGAIN|getaddrinfo|socket hang up|403|404)/i.test(text)
  ) {
    return `${pkg} was downloaded, but its install script could not download libtensorflow from storage.googleapis.com (no access to that host from this machine). Allow that host (or a proxy), or install on a machine with internet access and copy the runtime folder. The wasm backend keeps working meanwhile.`;
  }
  if (/(ENOTFOUND|ECONNREFUSED|ETIMEDOUT|EAI_AGAIN|ECONNRESET|getaddrinfo|network)/i.test(text)) {
    return `npm could not reach its registry to download ${pkg}: no network, or a proxy/registry setting is needed (npm config). The wasm backend keeps working meanwhile.`;
  }
  if (/EACCES|EPERM/.test(text)) return `npm could not write the runtime folder (permission denied). Check the folder's permissions.`;
  if (/ENOSPC/.test(text)) return `The disk is full: ${pkg} with libtensorflow needs about 1 GB.`;
  const last = log
    .filter((l) => /ERR!|error/i.test(l))
    .slice(-3)
    .join(' ')
    .trim();
  return `npm failed to install ${pkg} (exit code ${code})${last ? `: ${last}` : ''}.`;
}

export async function installRuntime(o: InstallOptions): Promise<InstallResult> {
  const { backend, pkg, version, note } = runtimePackageFor(o.variant, o.gpu);
  if (note) o.onOutput?.(note);
  const withNote = (message: string) => (note ? `${message} (${note})` : message);
  mkdirSync(o.runtimeDir, { recursive: true });
  const manifest = join(o.runtimeDir, 'package.json');
  if (!existsSync(manifest)) {
    writeFileSync(
      manifest,
      JSON.stringify({ name: 'automl-vscode-runtime', private: true, description: 'Native tfjs runtime installed by AutoML for VS Code' }, null, 2),
    );
  }
  const args = [
    'install',
    `${pkg}@${version}`,
    '--no-audit',
    '--no-fund',
    '--no-save',
    '--no-package-lock',
    '--foreground-scripts',
    // npm ≥ 11 skips dependency install scripts unless allowed; tfjs-node's downloads libtensorflow.
    // onnxruntime-node needs none (its CPU binaries are in the package; the script fetches CUDA libraries).
    backend === 'onnxruntime' ? '--ignore-scripts' : `--allow-scripts=${pkg}`,
    ...(o.npmArgs ?? []),
  ];
  const log: string[] = [];
  const push = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      log.push(line);
      if (log.length > 200) log.shift();
      o.onOutput?.(line);
    }
  };
  const { code, spawnError } = await new Promise<{ code: number | null; spawnError?: string }>((resolve) => {
    const child = spawn(o.npm ?? (process.platform === 'win32' ? 'npm.cmd' : 'npm'), args, {
      cwd: o.runtimeDir,
      // onnxruntime-node's install script would fetch CUDA libraries from nuget.org; its CPU binaries are in the package.
      env: { ...process.env, npm_config_yes: 'true', npm_config_update_notifier: 'false', ONNXRUNTIME_NODE_INSTALL: 'skip' },
      signal: o.signal,
      shell: process.platform === 'win32',
    });
    const timer = setTimeout(() => child.kill('SIGTERM'), o.timeoutMs ?? 15 * 60_000);
    child.stdout.on('data', push);
    child.stderr.on('data', push);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: null, spawnError: e.message });
    });
    child.on('close', (c) => {
      clearTimeout(timer);
      resolve({ code: c });
    });
  });
  if (code !== 0) return { ok: false, package: pkg, message: withNote(explainInstallFailure(pkg, log, code, spawnError, version)), log: log.slice(-30) };
  if (o.verify) {
    try {
      const report = await o.verify(backend);
      return { ok: true, package: pkg, message: withNote(`${pkg}@${version} installed in ${o.runtimeDir} and verified: ${report}`), log: log.slice(-30) };
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      return { ok: false, package: pkg, message: withNote(`${pkg} installed but does not load: ${why}`), log: log.slice(-30) };
    }
  }
  return { ok: true, package: pkg, message: withNote(`${pkg}@${version} installed in ${o.runtimeDir}`), log: log.slice(-30) };
}
