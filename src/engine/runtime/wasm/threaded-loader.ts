// Loads tfjs-backend-wasm's threaded-SIMD binary in Node.
//
// tfjs-backend-wasm 4.22 never uses threads in Node (a hard-coded IS_NODE check,
// tfjs issue #3830). Its Emscripten glue does support Node worker_threads, but
// the stock loader hands it Blob URLs, which Node's Worker cannot start. Here we
// instantiate the threaded module ourselves with real files:
//   - the pthread worker script (shipped as a string inside a JS module) is
//     written to a cache directory;
//   - the main script (which every worker evaluates) is written there too, with
//     two small patches: the logical core count is taken from the module config
//     (the backend's C++ halves it, assuming SMT, so 2 vCPUs would give 1 thread)
//     and the pre-spawned worker pool is sized to what XNNPACK will use (the
//     stock pool is 8 Node threads).
// The patches target the exact text of tfjs-backend-wasm 4.22.0; any mismatch
// throws, and the caller falls back to the single-threaded stock loader.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import threadedSimdFactory from '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export const PINNED_WASM_VERSION = '4.22.0';
export const THREADED_BINARY = 'tfjs-backend-wasm-threaded-simd.wasm';
const MAIN_SCRIPT = 'tfjs-backend-wasm-threaded-simd.js';

/**
 * The two patches. Patterns tolerate whitespace because a bundler may reformat
 * the factory (the copy esbuild bundles is pretty-printed); anything else
 * (renamed identifiers, a different Emscripten version) fails the check.
 */
const PATCHES: Array<{ what: string; from: RegExp; to: string }> = [
  {
    what: 'logical core count',
    from: /if\s*\(\s*ENVIRONMENT_IS_NODE\s*\)\s*return\s+require\(\s*"os"\s*\)\.cpus\(\)\.length\s*;/g,
    to: 'if(ENVIRONMENT_IS_NODE)return Module["tfjsLogicalCores"]||require("os").cpus().length;',
  },
  {
    what: 'pthread pool size',
    from: /var\s+pthreadPoolSize\s*=\s*8\s*;/g,
    to: 'var pthreadPoolSize=Module["tfjsPoolSize"]||8;',
  },
];

/** Markers the loader relies on, checked before anything runs. */
const REQUIRED_MAIN = ['allocateUnusedWorker', 'mainScriptUrlOrBlob', 'Module["wasmMemory"]', 'init_with_threads_count', 'WasmBackendModuleThreadedSimd'];
const REQUIRED_WORKER = ['importScripts(e.data.urlOrBlob)', 'WasmBackendModuleThreadedSimd(Module)', 'require("worker_threads")'];

/** The Emscripten module (the parts we use). */
export type ThreadedModule = BackendWasm['wasm'] & {
  PThread: { runningWorkers: Array<{ unref(): void }>; unusedWorkers: Array<{ unref(): void }>; terminateAllThreads(): void };
};

function countOf(haystack: string, pattern: RegExp): number {
  return (haystack.match(pattern) ?? []).length;
}

function workerContents(): string {
  // A CommonJS module exporting the worker source as a template-literal string.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js') as {
    wasmWorkerContents?: unknown;
  };
  if (typeof mod.wasmWorkerContents !== 'string') throw new Error('pthread worker source not found');
  // The template literal turned the "\n" escapes of the source into newlines
  // inside string literals; restore them (the stock loader does the same).
  return mod.wasmWorkerContents.replace(/\n/g, '\\n');
}

/** The unpatched main script: the package's file when we can find it, else the bundled factory's source. */
function mainScriptSource(searchDirs: string[]): { text: string; origin: string } {
  for (const dir of searchDirs) {
    const p = join(dir, MAIN_SCRIPT);
    if (existsSync(p)) return { text: readFileSync(p, 'utf8'), origin: p };
  }
  // Same wrapper as the package's file, around the factory that esbuild bundled.
  const text =
    'var WasmBackendModuleThreadedSimd = (() => {\n' +
    '  var _scriptDir = typeof __filename !== "undefined" ? __filename : undefined;\n' +
    `  return (${(threadedSimdFactory as unknown as () => unknown).toString()});\n` +
    '})();\n' +
    'if (typeof exports === "object" && typeof module === "object") module.exports = WasmBackendModuleThreadedSimd;\n';
  return { text, origin: 'bundled factory' };
}

function writeOnce(path: string, text: string): void {
  if (existsSync(path) && readFileSync(path, 'utf8') === text) return;
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path); // atomic: concurrent processes never see half a file
}

export interface ThreadedScripts {
  mainScript: string;
  workerScript: string;
  origin: string;
}

/** Writes the patched main script and the worker script to a cache directory. */
export function prepareThreadedScripts(searchDirs: string[], cacheRoot = tmpdir()): ThreadedScripts {
  const { text, origin } = mainScriptSource(searchDirs);
  for (const marker of REQUIRED_MAIN) {
    if (!text.includes(marker)) throw new Error(`threaded wasm script (${origin}) lacks "${marker}"`);
  }
  let patched = text;
  for (const p of PATCHES) {
    const n = countOf(patched, p.from);
    if (n !== 1) throw new Error(`cannot patch the ${p.what} in ${origin}: expected 1 match, found ${n}`);
    patched = patched.replace(p.from, p.to);
  }
  const worker = workerContents();
  for (const marker of REQUIRED_WORKER) {
    if (!worker.includes(marker)) throw new Error(`pthread worker script lacks "${marker}"`);
  }
  const hash = createHash('sha256').update(patched).update(worker).digest('hex').slice(0, 16);
  const dir = join(cacheRoot, `automl-vscode-tfjs-wasm-${PINNED_WASM_VERSION}-${hash}`);
  mkdirSync(dir, { recursive: true });
  const mainScript = join(dir, MAIN_SCRIPT);
  const workerScript = join(dir, 'tfjs-backend-wasm-threaded-simd.worker.js');
  writeOnce(mainScript, patched);
  writeOnce(workerScript, worker);
  return { mainScript, workerScript, origin };
}

export interface ThreadedInstance {
  module: ThreadedModule;
  memory: WebAssembly.Memory;
}

/** Instantiates the threaded-SIMD module with `threads` XNNPACK threads in mind. */
export async function instantiateThreaded(scripts: ThreadedScripts, wasmBinaryPath: string, threads: number, timeoutMs = 30000): Promise<ThreadedInstance> {
  const factory = createRequire(scripts.mainScript)(scripts.mainScript) as (cfg: object) => Promise<ThreadedModule>;
  if (typeof factory !== 'function') throw new Error('patched threaded script did not export a factory');
  // Shared memory created here so that we always hold the live buffer (HEAP
  // views of a growing shared memory can lag behind on the main thread).
  // Initial and maximum sizes are those the binary was built with.
  const memory = new WebAssembly.Memory({ initial: 16777216 / 65536, maximum: 4294967296 / 65536, shared: true });
  let abortMessage = '';
  const config = {
    tfjsLogicalCores: 2 * threads, // the C++ divides by two
    tfjsPoolSize: Math.max(1, threads - 1), // pthreadpool uses the caller + (threads-1) workers
    mainScriptUrlOrBlob: scripts.mainScript,
    wasmMemory: memory,
    locateFile: (path: string, prefix: string): string => {
      if (path.endsWith('.worker.js')) return scripts.workerScript;
      if (path.endsWith('.wasm')) return wasmBinaryPath;
      return prefix + path;
    },
    onAbort: (msg: unknown) => {
      abortMessage = String(msg);
    },
    print: () => undefined,
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`threaded wasm start timed out after ${timeoutMs} ms ${abortMessage}`)), timeoutMs);
  });
  try {
    const module = await Promise.race([factory(config), timeout]);
    const m = module as unknown as { cwrap: (n: string, r: string | null, a: string[]) => unknown; tfjs: unknown };
    // The bridge the stock loader builds (backend_wasm.js, `init`).
    m.tfjs = {
      init: m.cwrap('init', null, []),
      initWithThreadsCount: m.cwrap('init_with_threads_count', null, ['number']),
      getThreadsCount: m.cwrap('get_threads_count', 'number', []),
      registerTensor: m.cwrap('register_tensor', null, ['number', 'number', 'number']),
      disposeData: m.cwrap('dispose_data', null, ['number']),
      dispose: m.cwrap('dispose', null, []),
    };
    return { module, memory };
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/** Lets the process exit although XNNPACK's pthreads live forever. */
export function unrefWorkers(module: ThreadedModule): void {
  for (const w of module.PThread.runningWorkers) w.unref();
  for (const w of module.PThread.unusedWorkers) w.unref();
}
