// ONNX Runtime for prediction, optional: `onnxruntime-node` loaded from the runtime folder (installed
// by `automl install-runtime --onnx`, like tfjs-node) or the normal module path, never required. An
// experiment whose final model was exported to ONNX (final/model.onnx, still matching final/model/)
// is then served by ONNX Runtime: the same scores (the export is checked against TF.js to 1e-4), on
// any CPU without a native TensorFlow. AUTOML_PREDICT_ENGINE=tfjs keeps TF.js.
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type * as Ort from 'onnxruntime-node';
import { ONNXRUNTIME_PACKAGE } from '../runtime/onnx-package';
import { defaultRuntimeDir, resolveRuntimePackage } from '../runtime/probe';
import { modelSourceHash, readOnnxMetadata } from './onnx/export-onnx';

let cached: { mod: typeof Ort | null; why: string } | undefined;

/** onnxruntime-node when it is installed and loads, else null with the reason. */
export function loadOnnxRuntime(runtimeDir = defaultRuntimeDir()): { mod: typeof Ort | null; why: string } {
  if (cached) return cached;
  const entry = resolveRuntimePackage(ONNXRUNTIME_PACKAGE, runtimeDir);
  if (!entry) {
    cached = { mod: null, why: `${ONNXRUNTIME_PACKAGE} is not installed (\`automl install-runtime --onnx\`)` };
    return cached;
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    cached = { mod: require(entry) as typeof Ort, why: `${ONNXRUNTIME_PACKAGE} from ${entry}` };
  } catch (e) {
    cached = { mod: null, why: `${ONNXRUNTIME_PACKAGE} failed to load: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}` };
  }
  return cached;
}

/** An ONNX model file to predict with for `dir`: a `.onnx` path, `dir/model.onnx`, or an experiment's `final/model.onnx` beside `final/model/`. */
export function onnxFileFor(dir: string): { file: string; requiresMatch: boolean } | null {
  if (dir.endsWith('.onnx') && existsSync(dir)) return { file: dir, requiresMatch: false };
  const hasTfjs = existsSync(join(dir, 'model.json'));
  if (existsSync(join(dir, 'model.onnx'))) return { file: join(dir, 'model.onnx'), requiresMatch: hasTfjs };
  const beside = join(dirname(dir), 'model.onnx');
  if (hasTfjs && basename(dir) === 'model' && basename(dirname(dir)) === 'final' && existsSync(beside)) return { file: beside, requiresMatch: true };
  return null;
}

export interface OnnxModel {
  bytes: Uint8Array;
  metadata: Record<string, string>;
  /** Whether the TF.js model it was exported from is there to fall back on. */
  hasTfjs: boolean;
}

/**
 * The ONNX model to serve `dir` with, or null (then TF.js): none exported, ONNX Runtime missing, the
 * TF.js model changed since the export, or AUTOML_PREDICT_ENGINE=tfjs. Throws for an ONNX-only
 * folder or file when ONNX Runtime is missing (nothing else can run it).
 */
export function onnxModelFor(dir: string, env: NodeJS.ProcessEnv = process.env): OnnxModel | null {
  const found = onnxFileFor(dir);
  if (!found) return null;
  if (found.requiresMatch && env.AUTOML_PREDICT_ENGINE === 'tfjs') return null;
  const { mod, why } = loadOnnxRuntime(env.AUTOML_RUNTIME_DIR || defaultRuntimeDir());
  if (!mod) {
    if (found.requiresMatch) return null;
    throw new Error(`${found.file} is an ONNX model, which needs ONNX Runtime: ${why}`);
  }
  const bytes = new Uint8Array(readFileSync(found.file));
  const metadata = readOnnxMetadata(bytes);
  if (found.requiresMatch && metadata.source_sha256 !== modelSourceHash(dir)) return null;
  return { bytes, metadata, hasTfjs: found.requiresMatch };
}

export interface OnnxSession {
  run(x: Float32Array, shape: number[]): Promise<Float32Array>;
  release(): Promise<void>;
}

export async function openOnnxSession(bytes: Uint8Array): Promise<OnnxSession> {
  const { mod, why } = loadOnnxRuntime();
  if (!mod) throw new Error(`ONNX Runtime is not available: ${why}`);
  const session = await mod.InferenceSession.create(bytes, { executionProviders: ['cpu'] });
  return {
    run: async (x, shape) => {
      const out = await session.run({ [session.inputNames[0]]: new mod.Tensor('float32', x, shape) });
      return out[session.outputNames[0]].data as Float32Array;
    },
    release: () => session.release(),
  };
}
