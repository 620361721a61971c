// Bottleneck features through ONNX Runtime, when it is installed (the optional runtime that also
// serves predictions: `automl install-runtime --onnx`, found as model/onnx-runtime.ts finds it).
// The extractor (featureExtractor: the backbone's taps globally averaged, side by side; raw pixels
// 0–255 in) is converted to ONNX by the project's exporter (model/onnx/) straight from memory and
// kept beside the features it produces, `<cacheDir>/features/<hash of the extractor's key>.onnx`;
// ONNX Runtime's CPU kernels then run it, several times faster than TF.js on wasm. Without
// ONNX Runtime, with AUTOML_FEATURES_ENGINE=tfjs, or on a GPU backend, TF.js runs the folded model
// as before; an extractor that cannot be converted falls back to TF.js, saying why.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type * as Ort from 'onnxruntime-node';
import { foldForInference } from '../model/fold';
import { type OnnxGraphOptions, convertKerasModel } from '../model/onnx/convert';
import { type ManifestEntry, decodeWeights } from '../model/onnx/keras';
import { loadOnnxRuntime } from '../model/onnx-runtime';
import { defaultRuntimeDir } from '../runtime/probe';
import { type FeatureEngine, tfjsFeatureEngine } from './features';

/** Part of the cached ONNX file's key: raise it when the exporter converts an extractor differently. */
export const FEATURES_ONNX_VERSION = 1;

/** The ONNX copy of an extractor, beside its features (keyed like them: see embedSet). */
export function extractorOnnxFile(cacheDir: string, extractorKey: string): string {
  const name = createHash('sha256').update(`${extractorKey}/onnx/${FEATURES_ONNX_VERSION}`).digest('hex').slice(0, 32);
  return join(cacheDir, 'features', `${name}.onnx`);
}

/** A layers model held in memory (not folded: the exporter converts Keras layers) as ONNX bytes, through tfjs's serialisation. */
export async function layersModelToOnnx(model: tfl.LayersModel, where: string, o: OnnxGraphOptions = {}): Promise<Uint8Array> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler((a) => {
      artifacts = a;
      return Promise.resolve({ modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } });
    }),
  );
  if (!artifacts?.modelTopology || !artifacts.weightSpecs) throw new Error(`${where}: tfjs saved no topology or weights`);
  const bytes = Buffer.from(artifacts.weightData ? tf.io.CompositeArrayBuffer.join(artifacts.weightData) : new ArrayBuffer(0));
  const weights = decodeWeights(bytes, artifacts.weightSpecs as ManifestEntry[], where);
  return convertKerasModel(artifacts.modelTopology, weights, where, o).bytes;
}

/** An extractor model (featureExtractor's, not folded) as ONNX bytes; input "image" NHWC, output "features". */
export function extractorToOnnx(model: tfl.LayersModel, where: string): Promise<Uint8Array> {
  return layersModelToOnnx(model, where, {
    outputName: 'features',
    outputShape: [model.outputs[0].shape[1] as number],
    outputDoc: 'pooled features per image',
    doc: 'Bottleneck features of AutoML for VS Code: NHWC float32 images, raw pixels 0-255, to the globally averaged taps of a backbone side by side.',
  });
}

/** ONNX Runtime's session options for the CPU: every graph optimisation, `threads` intra-op threads when given. */
export function cpuSessionOptions(threads?: number): Ort.InferenceSession.SessionOptions {
  return { executionProviders: ['cpu'], graphOptimizationLevel: 'all', ...(threads ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}) };
}

export interface FeatureEngineOptions {
  /** The key of the extractor's features (embedSet's extractorKey): names the cached ONNX file. */
  extractorKey: string;
  cacheDir: string;
  /** The TF.js backend: on a GPU backend TF.js keeps the features unless AUTOML_FEATURES_ENGINE=onnxruntime. */
  backend?: string;
  /** ONNX Runtime's threads (default: its own choice, the physical cores). */
  threads?: number;
  /** Where errors point (the backbone's folder). */
  where?: string;
  env?: NodeJS.ProcessEnv;
  /** Why ONNX Runtime, though installed, was not used (a conversion or session error). */
  onMessage?: (line: string) => void;
  /** Loads onnxruntime-node (tests replace it); default: loadOnnxRuntime from the runtime folder. */
  loadRuntime?: () => { mod: typeof Ort | null; why: string };
}

const GPU_BACKENDS = new Set(['tensorflow-gpu', 'webgpu']);

/**
 * The engine for the features of `model` (featureExtractor's model with `fold: false`; the engine
 * owns it and disposes it): ONNX Runtime when it can run them (see the file's comment), else TF.js
 * on the folded model. The choice is made in `start`, so that features read from the cache
 * convert and load nothing.
 */
export function openFeatureEngine(model: tfl.LayersModel, o: FeatureEngineOptions): FeatureEngine {
  const env = o.env ?? process.env;
  const dim = model.outputs[0].shape[1] as number;
  let inner: FeatureEngine | undefined;
  let onnx = false;
  const tfjs = (): FeatureEngine => tfjsFeatureEngine(foldForInference(model));
  const engine: FeatureEngine = {
    dim,
    name: 'not run',
    start: async () => {
      if (inner) return;
      const wanted = env.AUTOML_FEATURES_ENGINE;
      const skip = wanted === 'tfjs' || (GPU_BACKENDS.has(o.backend ?? '') && wanted !== 'onnxruntime');
      const { mod } = skip ? { mod: null } : (o.loadRuntime ?? (() => loadOnnxRuntime(env.AUTOML_RUNTIME_DIR || defaultRuntimeDir())))();
      if (mod) {
        try {
          inner = await onnxEngine(mod, model, dim, o);
          onnx = true;
        } catch (e) {
          o.onMessage?.(`ONNX Runtime cannot extract these features (${(e instanceof Error ? e.message : String(e)).split('\n')[0]}); TF.js extracts them`);
        }
      }
      inner ??= tfjs();
      engine.name = inner.name;
    },
    run: async (x, shape) => {
      if (!inner) await engine.start!();
      return inner!.run(x, shape);
    },
    dispose: async () => {
      // The TF.js engine disposes the model (its folded copy disposes the original too).
      if (inner && !onnx) return inner.dispose();
      model.dispose();
      await inner?.dispose();
    },
  };
  return engine;
}

/** An ONNX Runtime session on the extractor: the cached ONNX file, or one converted and cached now (again when the cached one does not load). */
async function onnxEngine(mod: typeof Ort, model: tfl.LayersModel, dim: number, o: FeatureEngineOptions): Promise<FeatureEngine> {
  const file = extractorOnnxFile(o.cacheDir, o.extractorKey);
  const where = o.where ?? 'the features extractor';
  const options = cpuSessionOptions(o.threads);
  let session: Ort.InferenceSession | undefined;
  if (existsSync(file)) {
    session = await mod.InferenceSession.create(new Uint8Array(readFileSync(file)), options).catch(() => {
      rmSync(file, { force: true });
      return undefined;
    });
  }
  if (!session) {
    const bytes = await extractorToOnnx(model, where);
    session = await mod.InferenceSession.create(bytes, options);
    mkdirSync(join(o.cacheDir, 'features'), { recursive: true });
    const staged = `${file}.part-${process.pid}`;
    writeFileSync(staged, bytes);
    renameSync(staged, file);
  }
  const s = session;
  return {
    dim,
    name: `ONNX Runtime ${mod.env.versions?.common ?? ''} (CPU${o.threads ? `, ${o.threads} threads` : ''})`.replace('  ', ' '),
    run: async (x, shape) => {
      const out = await s.run({ [s.inputNames[0]]: new mod.Tensor('float32', x, shape) });
      const data = out[s.outputNames[0]].data as Float32Array;
      if (data.length !== shape[0] * dim) throw new Error(`${where}: ONNX Runtime gave ${data.length} features for ${shape[0]} images of ${dim}`);
      return data;
    },
    dispose: () => s.release(),
  };
}
