// The runtime manager: picks the best tfjs backend this machine can load, in the order
// tensorflow-gpu (tfjs-node-gpu) → webgpu (Dawn, when installed and it finds a hardware GPU)
// → tensorflow (tfjs-node) → wasm (with the project's gradient kernels and threads) → cpu, and
// says which one it uses and why each better one was not.
//
// tfjs-node(-gpu) is never a dependency of the product: its install downloads libtensorflow
// from outside the npm registry and fails on machines without that access. It is installed on
// demand into a runtime folder (the extension's global storage, or `~/.cache/automl-vscode/runtime`
// for the CLI; see install.ts) and loaded from there. Its JavaScript `require`s
// `@tensorflow/tfjs`; that request is answered with the tfjs bundled here so that there is one
// tfjs engine in the process and the models built by the product run on the native backend.
import * as tfc from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
// A used export keeps the cpu backend (and its registration) in the bundle: the package marks
// itself side-effect free, so a bare import would be dropped.
import { version_cpu } from '@tensorflow/tfjs-backend-cpu';
import Module from 'node:module';
import type { BackendInfo, BackendName, BackendPreference } from '../../shared/protocol';
import { RUNTIME_PACKAGES, TFJS_VERSION, defaultRuntimeDir, missingGpuPrerequisites, packageVersion, resolveRuntimePackage } from './probe';
import { initWasmBackend, wasmFusedMultiplyAdd } from './wasm/backend';
import { initWebgpuBackend } from './webgpu/backend';

export interface RuntimeOptions {
  preference: BackendPreference;
  /** Folder where install.ts puts tfjs-node(-gpu) (`<dir>/node_modules/...`); default `defaultRuntimeDir()`. */
  runtimeDir?: string;
  /** wasm threads: a number, or 'auto' for the core count. */
  threads?: number | 'auto';
}

/** Result of trying one backend. */
export interface Attempt {
  name: BackendName;
  ok: boolean;
  reason: string;
}

// ---------------------------------------------------------------------------------------------
// Loading tfjs-node(-gpu) against the bundled tfjs
// ---------------------------------------------------------------------------------------------

/** The modules tfjs-node requires that must resolve to the bundled tfjs instance. */
function tfjsAliases(): Record<string, unknown> {
  const union = { ...tfc, ...tfl, version: { 'tfjs-core': tfc.version_core, 'tfjs-layers': tfl.version_layers, tfjs: tfc.version_core } };
  return {
    '@tensorflow/tfjs': union,
    '@tensorflow/tfjs-core': tfc,
    '@tensorflow/tfjs-layers': tfl,
    // Side-effect-only modules that the bundled tfjs-core has already run.
    '@tensorflow/tfjs-core/dist/register_all_gradients': {},
    '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops': {},
  };
}

let aliasInstalled = false;

/** Makes `require('@tensorflow/tfjs…')` from any module answer with the bundled tfjs. */
export function installTfjsAliases(): void {
  if (aliasInstalled) return;
  aliasInstalled = true;
  const aliases = tfjsAliases();
  const proto = Module.prototype as unknown as { require: (id: string) => unknown };
  const original = proto.require;
  proto.require = function (this: unknown, id: string) {
    if (Object.prototype.hasOwnProperty.call(aliases, id)) return aliases[id];
    // eslint-disable-next-line prefer-rest-params
    return original.apply(this, arguments as unknown as [string]);
  };
}

async function tryNode(name: 'tensorflow-gpu' | 'tensorflow', runtimeDir?: string): Promise<Attempt> {
  const pkg = RUNTIME_PACKAGES[name];
  if (name === 'tensorflow-gpu') {
    const missing = missingGpuPrerequisites();
    if (missing.length) return { name, ok: false, reason: missing.join('; ') };
  }
  const entry = resolveRuntimePackage(pkg, runtimeDir);
  if (!entry) {
    return { name, ok: false, reason: `${pkg} is not installed (run "AutoML: Install GPU Runtime" or \`automl install-runtime\`)` };
  }
  const version = packageVersion(entry);
  if (tfc.version_core !== TFJS_VERSION) {
    return { name, ok: false, reason: `this build's tfjs is ${tfc.version_core}, the runtime manager expects ${TFJS_VERSION}` };
  }
  if (version && version !== TFJS_VERSION) {
    return { name, ok: false, reason: `${pkg}@${version} is installed but this build needs ${TFJS_VERSION} (reinstall the runtime)` };
  }
  installTfjsAliases();
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(entry);
  } catch (e) {
    return { name, ok: false, reason: `${pkg} failed to load: ${firstLine(e)}` };
  }
  if (!tfc.findBackend('tensorflow')) return { name, ok: false, reason: `${pkg} loaded but registered no 'tensorflow' backend` };
  if (!(await tfc.setBackend('tensorflow'))) return { name, ok: false, reason: `${pkg}: the tensorflow backend failed to initialise` };
  return { name, ok: true, reason: `${pkg}@${version ?? '?'} from ${entry}` };
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0].slice(0, 300);
}

// ---------------------------------------------------------------------------------------------
// Selection
// ---------------------------------------------------------------------------------------------

/** What `auto` tries, best first. */
export const AUTO_ORDER: readonly BackendName[] = ['tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu'];

/**
 * Initialises the backend to train on and explains the choice. With a forced preference only
 * that backend is tried, and failing it is an error that says why.
 */
export async function initBackend(opts: RuntimeOptions): Promise<BackendInfo> {
  const candidates: readonly BackendName[] = opts.preference === 'auto' ? AUTO_ORDER : [opts.preference];
  const reasons: string[] = [];
  for (const name of candidates) {
    const attempt = await tryBackend(name, opts);
    if (attempt.ok) {
      const info: BackendInfo = {
        name,
        reasons: [...reasons, `using ${name}: ${attempt.reason}`],
        versions: { 'tfjs-core': tfc.version_core, 'tfjs-layers': tfl.version_layers, 'tfjs-backend-cpu': version_cpu },
      };
      if (name === 'wasm') info.threads = wasmThreads;
      return info;
    }
    reasons.push(`${name} not used: ${attempt.reason}`);
  }
  throw new Error(`No usable backend (${opts.preference}): ${reasons.join('; ')}`);
}

let wasmThreads = 1;

async function tryBackend(name: BackendName, opts: RuntimeOptions): Promise<Attempt> {
  switch (name) {
    case 'tensorflow-gpu':
    case 'tensorflow':
      return tryNode(name, opts.runtimeDir ?? defaultRuntimeDir());
    case 'wasm':
      try {
        const info = await initWasmBackend({ threads: opts.threads ?? 'auto' });
        wasmThreads = info.threads;
        const notes = info.notes.length ? ` (${info.notes.join('; ')})` : '';
        const kernels = wasmFusedMultiplyAdd()
          ? 'project kernels (convolutions and matrix products with a fused multiply-add)'
          : 'project kernels (no fused multiply-add: XNNPACK for the forward convolutions and products)';
        return { name, ok: true, reason: `${info.threads} thread${info.threads === 1 ? '' : 's'}, SIMD ${info.simd ? 'on' : 'off'}, ${kernels}${notes}` };
      } catch (e) {
        return { name, ok: false, reason: firstLine(e) };
      }
    case 'cpu':
      await tfc.setBackend('cpu');
      return { name, ok: true, reason: 'pure JavaScript (slow: about 1 image/s for a small CNN)' };
    case 'webgpu':
      try {
        const info = await initWebgpuBackend({ runtimeDir: opts.runtimeDir ?? defaultRuntimeDir() });
        return { name, ok: true, reason: `${info.adapter} through Dawn (${info.notes.join(', ')})` };
      } catch (e) {
        return { name, ok: false, reason: firstLine(e) };
      }
  }
}
