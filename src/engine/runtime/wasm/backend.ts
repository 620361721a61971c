// Sets up and selects the 'wasm' backend in Node with the project's kernels and,
// when more than one thread is asked for, tfjs-backend-wasm's threaded-SIMD
// binary (see threaded-loader.ts for why that needs our own loader).
import * as tf from '@tensorflow/tfjs-core';
import { convKernelsFor } from './simd';
import { BackendWasm, getThreadsCount, setThreadsCount, setWasmPaths, version_wasm } from '@tensorflow/tfjs-backend-wasm';
import { existsSync } from 'node:fs';
import { allottedCores } from '../../../shared/cores';
import { dirname, join } from 'node:path';
import { registerWasmTrainingKernels } from './kernels';
import { rememberWasmMemory } from './kernel-utils';
import { instantiateThreaded, PINNED_WASM_VERSION, prepareThreadedScripts, THREADED_BINARY, unrefWorkers } from './threaded-loader';

export interface WasmBackendInfo {
  threads: number;
  simd: boolean;
  kernels: 'project';
  notes: string[];
}

export interface WasmBackendOptions {
  /** XNNPACK threads; 'auto' (default) = the number of logical cores. */
  threads?: number | 'auto';
}

const SIMD_BINARY = 'tfjs-backend-wasm-simd.wasm';
const WASM_PRIORITY = 2; // what tfjs-backend-wasm registers itself with

/** Directory of the package itself, when it is installed (unbundled runs, tests). */
function packageDir(): string | null {
  try {
    return dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  } catch {
    return null;
  }
}

/**
 * Where the .wasm binaries are: next to the running bundle (the build copies
 * them into dist/), else in the installed package. Throws if neither has them.
 */
export function wasmAssetDir(): string {
  const candidates = [__dirname];
  const pkg = packageDir();
  if (pkg !== null) candidates.push(join(pkg, 'dist'), join(pkg, 'wasm-out'));
  for (const dir of candidates) {
    if (existsSync(join(dir, SIMD_BINARY))) return dir;
  }
  throw new Error(`tfjs wasm binaries not found (looked in ${candidates.join(', ')})`);
}

/** Directories that may hold the unpatched threaded main script. */
function scriptDirs(assetDir: string): string[] {
  const dirs = [assetDir];
  const pkg = packageDir();
  if (pkg !== null) dirs.push(join(pkg, 'wasm-out'));
  return dirs;
}

let initialised: Promise<WasmBackendInfo> | null = null;

/**
 * Whether the project's SIMD convolutions and products run with a fused multiply-add
 * (relaxed SIMD): they then replace XNNPACK's forward convolutions and products. Starts the
 * helper threads if they are not running yet. False before the backend is initialised.
 */
export function wasmFusedMultiplyAdd(): boolean {
  const backend = tf.findBackend('wasm') as BackendWasm | undefined;
  return backend !== undefined && convKernelsFor(backend)?.fma === true;
}

/**
 * Registers the project's wasm kernels, initialises the wasm backend (once per
 * process: wasm threads cannot change afterwards) and makes it the active
 * backend. Never throws for threading problems: it falls back to one thread
 * and says why in `notes`.
 */
export function initWasmBackend(opts: WasmBackendOptions = {}): Promise<WasmBackendInfo> {
  if (initialised === null) {
    initialised = doInit(opts).catch((e: unknown) => {
      initialised = null;
      throw e;
    });
    return initialised;
  }
  return initialised.then(async (info) => {
    await tf.setBackend('wasm');
    const wanted = opts.threads === undefined || opts.threads === 'auto' ? allottedCores() : Math.max(1, Math.floor(opts.threads));
    if (wanted === info.threads) return info;
    return { ...info, notes: [...info.notes, `wasm already initialised with ${info.threads} thread(s); ${wanted} requested`] };
  });
}

async function doInit(opts: WasmBackendOptions): Promise<WasmBackendInfo> {
  const notes: string[] = [];
  registerWasmTrainingKernels();
  const requested = opts.threads === undefined || opts.threads === 'auto' ? allottedCores() : Math.max(1, Math.floor(opts.threads));
  const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) as boolean;
  const engine = tf.engine();

  if (engine.registry.wasm !== undefined) {
    // Someone (another module, a test) already started the stock backend.
    await tf.setBackend('wasm');
    const threads = getThreadsCount();
    notes.push(`wasm backend was already initialised (${threads} thread(s)); kept it`);
    return { threads, simd, kernels: 'project', notes };
  }

  const assetDir = wasmAssetDir();
  if (requested > 1) {
    const reason = await tryThreaded(requested, assetDir, simd, notes);
    if (reason === null) {
      return { threads: getThreadsCount(), simd: true, kernels: 'project', notes };
    }
    notes.push(`multithreading disabled, using 1 thread: ${reason}`);
  }
  // Stock single-threaded loader (SIMD binary when supported).
  setThreadsCount(1);
  try {
    setWasmPaths(assetDir.endsWith('/') ? assetDir : `${assetDir}/`);
  } catch (e) {
    notes.push(`could not set wasm paths: ${(e as Error).message}`);
  }
  if (!(await tf.setBackend('wasm'))) throw new Error('could not initialise the wasm backend');
  return { threads: getThreadsCount(), simd, kernels: 'project', notes };
}

/** Starts the threaded backend; returns null on success or the reason it was not used. */
async function tryThreaded(threads: number, assetDir: string, simd: boolean, notes: string[]): Promise<string | null> {
  if (version_wasm !== PINNED_WASM_VERSION) {
    return `the threading patch is pinned to tfjs-backend-wasm ${PINNED_WASM_VERSION}, found ${version_wasm}`;
  }
  if (!simd) return 'this runtime lacks WebAssembly SIMD (the threaded binary needs it)';
  if (typeof SharedArrayBuffer === 'undefined') return 'SharedArrayBuffer is unavailable';
  const binary = join(assetDir, THREADED_BINARY);
  if (!existsSync(binary)) return `${THREADED_BINARY} not found in ${assetDir}`;
  let instance;
  try {
    const scripts = prepareThreadedScripts(scriptDirs(assetDir));
    instance = await instantiateThreaded(scripts, binary, threads);
  } catch (e) {
    return (e as Error).message;
  }
  const engine = tf.engine();
  const stockFactory = engine.registryFactory.wasm;
  const { module, memory } = instance;
  rememberWasmMemory(module, memory);
  try {
    setThreadsCount(threads);
    if (stockFactory !== undefined) tf.removeBackend('wasm');
    tf.registerBackend('wasm', () => new BackendWasm(module), WASM_PRIORITY);
    if (!(await tf.setBackend('wasm'))) throw new Error('setBackend(wasm) failed');
  } catch (e) {
    // Put the stock registration back so that the single-thread path works.
    if (engine.registryFactory.wasm !== undefined) tf.removeBackend('wasm');
    if (stockFactory !== undefined) tf.registerBackend('wasm', stockFactory.factory, stockFactory.priority);
    try {
      module.PThread.terminateAllThreads();
    } catch {
      /* already gone */
    }
    return `threaded backend failed to start: ${(e as Error).message}`;
  }
  unrefWorkers(module);
  const got = getThreadsCount();
  if (got !== threads) notes.push(`asked XNNPACK for ${threads} threads, it uses ${got}`);
  return null;
}
