// What can be known about the native runtimes without loading tfjs: whether tfjs-node(-gpu) is
// installed in the runtime folder and whether this machine has what tfjs-node-gpu needs (an
// NVIDIA driver, CUDA 11 and cuDNN 8 libraries). Used by the worker before loading a backend,
// and by the extension host to say which backend a run will use. No tfjs import here.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { WEBGPU_PACKAGE } from './webgpu/package';

/** The tfjs version the product is built with; runtime packages must match it exactly. */
export const TFJS_VERSION = '4.22.0';

export const RUNTIME_PACKAGES = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
} as const;

export function defaultRuntimeDir(): string {
  return process.env.AUTOML_RUNTIME_DIR || join(homedir(), '.cache', 'automl-vscode', 'runtime');
}

/** The NVIDIA kernel driver's version line, or null when there is no NVIDIA driver. */
export function nvidiaDriver(): string | null {
  try {
    return readFileSync('/proc/driver/nvidia/version', 'utf8').split('\n')[0].trim();
  } catch {
    // Not Linux, or no driver loaded. On Windows, nvidia-smi answers when a driver is installed.
  }
  if (process.platform === 'win32') {
    try {
      return execFileSync('nvidia-smi', ['--query-gpu=driver_version', '--format=csv,noheader'], { encoding: 'utf8', timeout: 5000 }).trim();
    } catch {
      return null;
    }
  }
  return null;
}

let ldconfigCache: string | undefined;

function ldconfig(): string {
  if (ldconfigCache === undefined) {
    ldconfigCache = '';
    for (const cmd of ['ldconfig', '/sbin/ldconfig']) {
      try {
        ldconfigCache = execFileSync(cmd, ['-p'], { encoding: 'utf8', timeout: 5000 });
        break;
      } catch {
        // try the next
      }
    }
  }
  return ldconfigCache;
}

/** Finds a shared library the way the dynamic loader would (LD_LIBRARY_PATH, ldconfig cache, usual CUDA folders). */
export function findSharedLibrary(name: string): string | null {
  for (const d of libraryDirs()) if (existsSync(join(d, name))) return join(d, name);
  if (process.platform === 'linux') {
    const line = ldconfig()
      .split('\n')
      .find((l) => l.trim().startsWith(name + ' '));
    if (line) return line.split('=>').pop()!.trim();
  }
  return null;
}

/** Folders searched for shared libraries before the ldconfig cache. */
function libraryDirs(): string[] {
  return [
    ...(process.env.LD_LIBRARY_PATH ?? '').split(delimiter),
    ...(process.platform === 'win32' ? (process.env.PATH ?? '').split(delimiter) : []),
    '/usr/local/cuda/lib64',
    '/usr/local/cuda-11.2/lib64',
    '/usr/lib/x86_64-linux-gnu',
    '/usr/lib64',
  ].filter(Boolean);
}

/** The CUDA runtime and cuDNN libraries tfjs-node-gpu 4.22 (libtensorflow 2.9.1) loads. */
const GPU_LIBS =
  process.platform === 'win32'
    ? [
        { file: 'cudart64_110.dll', what: 'the CUDA 11 runtime' },
        { file: 'cudnn64_8.dll', what: 'cuDNN 8' },
      ]
    : [
        { file: 'libcudart.so.11.0', what: 'the CUDA 11 runtime' },
        { file: 'libcudnn.so.8', what: 'cuDNN 8' },
      ];

/**
 * Other major versions of the CUDA runtime and cuDNN that the loader can see (e.g. `libcudart.so.13`,
 * `libcudnn.so.9`): named in the message, since a machine with a current CUDA is the usual case.
 */
export function otherCudaLibraries(dirs: string[] = libraryDirs(), ldconfigText = process.platform === 'linux' ? ldconfig() : ''): string[] {
  const pattern = process.platform === 'win32' ? /^(cudart64_\d+|cudnn64_\d+)\.dll$/i : /^(libcudart\.so\.\d+|libcudnn\.so\.\d+)$/;
  const found = new Set<string>();
  for (const d of dirs) {
    try {
      for (const n of readdirSync(d)) if (pattern.test(n)) found.add(n);
    } catch {
      // missing or unreadable folder
    }
  }
  for (const line of ldconfigText.split('\n')) {
    const name = line.trim().split(' ')[0];
    if (pattern.test(name)) found.add(name);
  }
  const wanted = new Set(GPU_LIBS.map((l) => l.file));
  return [...found].filter((n) => !wanted.has(n)).sort();
}

/** One message for the GPU libraries that are missing, naming the versions found instead. Pure. */
export function describeMissingGpuLibraries(missing: { file: string; what: string }[], others: string[]): string {
  const names = missing.map((l) => `${l.what} (${l.file})`).join(' and ');
  const found = others.length
    ? ` This machine has ${others.join(', ')}, which it cannot load: install the CUDA 11.2 and cuDNN 8.1 libraries beside them` +
      (process.platform === 'win32' ? ' (their folder on PATH).' : ' (their folder in LD_LIBRARY_PATH).')
    : ' Install the CUDA 11.2 and cuDNN 8.1 libraries.';
  return `${names} not found: tfjs-node-gpu 4.22 is built against CUDA 11.2 and cuDNN 8.1.${found}`;
}

/** What tfjs-node-gpu 4.22 (libtensorflow 2.9.1) needs and is missing here; empty when all is there. */
export function missingGpuPrerequisites(): string[] {
  if (!nvidiaDriver()) return ['no NVIDIA driver found (/proc/driver/nvidia/version is absent)'];
  const missing = GPU_LIBS.filter((l) => !findSharedLibrary(l.file));
  return missing.length ? [describeMissingGpuLibraries(missing, otherCudaLibraries())] : [];
}

/** Resolves a runtime package from the runtime folder, else from the normal module path. */
export function resolveRuntimePackage(pkg: string, runtimeDir?: string): string | null {
  const bases = [runtimeDir ? join(runtimeDir, 'package.json') : undefined, __filename].filter(Boolean) as string[];
  for (const base of bases) {
    try {
      return createRequire(base).resolve(pkg);
    } catch {
      // not there; try the next place
    }
  }
  return null;
}

/** The version in the package.json of the package an entry file belongs to. */
export function packageVersion(entry: string): string | undefined {
  const idx = entry.lastIndexOf('node_modules');
  if (idx < 0) return undefined;
  const rest = entry.slice(idx + 'node_modules'.length + 1).split(/[\\/]/);
  const pkgDir = rest[0].startsWith('@') ? join(entry.slice(0, idx), 'node_modules', rest[0], rest[1]) : join(entry.slice(0, idx), 'node_modules', rest[0]);
  try {
    return JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version as string;
  } catch {
    return undefined;
  }
}

/** Lists runtime packages present in a runtime folder. */
export function installedRuntimes(runtimeDir: string): string[] {
  const dir = join(runtimeDir, 'node_modules', '@tensorflow');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => n.startsWith('tfjs-node'))
    .map((n) => `@tensorflow/${n}`);
}

/**
 * The backend an `auto` run will most likely use, judged without loading anything: for the
 * host to tell the user before training starts. The worker's own choice is authoritative.
 */
export function expectedBackend(runtimeDir: string): { name: string; why: string } {
  const gpuMissing = missingGpuPrerequisites();
  if (resolveRuntimePackage(RUNTIME_PACKAGES['tensorflow-gpu'], runtimeDir)) {
    if (!gpuMissing.length) return { name: 'tensorflow-gpu', why: 'tfjs-node-gpu is installed and CUDA 11 / cuDNN 8 are present' };
  }
  if (resolveRuntimePackage(WEBGPU_PACKAGE, runtimeDir)) {
    return { name: 'webgpu', why: 'Dawn is installed (wasm if it finds no hardware GPU adapter when training starts)' };
  }
  if (resolveRuntimePackage(RUNTIME_PACKAGES.tensorflow, runtimeDir)) return { name: 'tensorflow', why: 'tfjs-node is installed' };
  const gpuNote = nvidiaDriver()
    ? gpuMissing.length
      ? 'GPU present without the CUDA 11.2 / cuDNN 8.1 that tfjs-node-gpu needs: "AutoML: Install GPU Runtime" installs WebGPU for it'
      : 'GPU present: install the GPU runtime for native speed'
    : 'no NVIDIA GPU';
  return { name: 'wasm', why: `WebAssembly with the project's kernels; ${gpuNote}` };
}
