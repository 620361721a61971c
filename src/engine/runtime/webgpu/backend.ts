// The WebGPU backend in Node: Dawn from the npm `webgpu` package (prebuilt for Linux, macOS and
// Windows; Vulkan, Metal or D3D12 underneath, no CUDA) with `@tensorflow/tfjs-backend-webgpu`.
// A GPU backend for machines where tfjs-node-gpu cannot load (CUDA 12 or 13 only, the usual
// case today). Like tfjs-node it is not a dependency: `automl install-runtime --webgpu` puts
// `webgpu` into the runtime folder, and this module loads it from there.
//
// tfjs-backend-webgpu registers itself only when `navigator.gpu` exists when it is loaded, so
// Dawn's GPU object is installed first and the backend module is required after.
import * as tfc from '@tensorflow/tfjs-core';
import { pathToFileURL } from 'node:url';
import { resolveRuntimePackage } from '../probe';
import { composedConv2dBackpropFilterKernel } from './conv-backprop';
import { webgpuBatchNormKernels } from './batchnorm';
import { webgpuOptimizerKernels, type WebgpuModule } from './optimizer';
import { WEBGPU_PACKAGE } from './package';

export interface WebgpuInfo {
  /** The adapter, as Dawn describes it (vendor, device, driver). */
  adapter: string;
  notes: string[];
}

interface GpuAdapterLike {
  info?: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean };
  isFallbackAdapter?: boolean;
}

interface DawnModule {
  create(flags: string[]): { requestAdapter(o?: unknown): Promise<GpuAdapterLike | null> };
  globals: Record<string, unknown>;
}

/** The adapter's description; software adapters (SwiftShader, llvmpipe, lavapipe) are named as such. */
export function describeAdapter(a: GpuAdapterLike): { text: string; software: boolean } {
  const i = a.info ?? {};
  const text = [i.vendor, i.device || i.architecture, i.description].filter((s) => s && String(s).trim()).join(', ') || 'unnamed adapter';
  const software = Boolean(i.isFallbackAdapter ?? a.isFallbackAdapter) || /swiftshader|llvmpipe|lavapipe|software/i.test(text);
  return { text, software };
}

// Kept from being rewritten to require() by the TypeScript compiler: `webgpu` is an ES module.
const importModule = new Function('url', 'return import(url)') as (url: string) => Promise<unknown>;

let loaded: WebgpuInfo | undefined;

/**
 * Loads Dawn, checks that it finds a hardware GPU adapter, registers tfjs's WebGPU backend with
 * the project's kernels and makes it the active backend. Throws with the reason otherwise.
 */
export async function initWebgpuBackend(opts: { runtimeDir: string }): Promise<WebgpuInfo> {
  if (loaded && tfc.findBackend('webgpu')) {
    await tfc.setBackend('webgpu');
    return loaded;
  }
  const entry = resolveRuntimePackage(WEBGPU_PACKAGE, opts.runtimeDir);
  if (!entry) throw new Error(`the \`${WEBGPU_PACKAGE}\` package (Dawn) is not installed (run \`automl install-runtime --webgpu\`)`);
  let dawn: DawnModule;
  try {
    dawn = (await importModule(pathToFileURL(entry).href)) as DawnModule;
  } catch (e) {
    throw new Error(`the \`${WEBGPU_PACKAGE}\` package failed to load: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
  }
  for (const [k, v] of Object.entries(dawn.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  const gpu = dawn.create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('Dawn found no GPU adapter (no Vulkan, Metal or D3D12 driver for a GPU)');
  const { text, software } = describeAdapter(adapter);
  if (software) throw new Error(`Dawn found only a software adapter (${text}), slower than wasm`);
  // tfjs-backend-webgpu looks for navigator.gpu (Node 20 has no navigator; Node 21+ has one without gpu).
  const nav = (globalThis as { navigator?: object }).navigator;
  if (nav === undefined) Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  else Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const webgpuModule = require('@tensorflow/tfjs-backend-webgpu') as WebgpuModule;
  if (!tfc.findBackendFactory('webgpu')) throw new Error('tfjs-backend-webgpu did not register (navigator.gpu not seen)');
  registerWebgpuTrainingKernels(webgpuModule);
  if (!(await tfc.setBackend('webgpu'))) throw new Error('tfjs could not start its WebGPU backend on this adapter');
  // Small tensors stay on the GPU: forwarding them to the cpu backend costs a read-back each in training.
  tfc.env().set('WEBGPU_CPU_FORWARD', false);
  loaded = { adapter: text, notes: [`tfjs-backend-webgpu ${tfc.version_core}`, 'project filter-gradient, BatchNorm and optimizer kernels'] };
  return loaded;
}

/**
 * Registers the project's WebGPU kernels: the composed Conv2DBackpropFilter in place of tfjs's (one
 * thread per weight), and the optimizer and BatchNorm kernels.
 */
export function registerWebgpuTrainingKernels(mod: WebgpuModule): void {
  for (const k of [composedConv2dBackpropFilterKernel('webgpu'), ...webgpuOptimizerKernels(mod), ...webgpuBatchNormKernels(mod)]) {
    if (tfc.getKernel(k.kernelName, k.backendName)) tfc.unregisterKernel(k.kernelName, k.backendName);
    tfc.registerKernel(k);
  }
}
