// Saving and loading tfjs layers models as a folder in the standard TF.js format
// (`model.json` + `weights.bin`), loadable by plain `@tensorflow/tfjs` in a browser
// (`tf.loadLayersModel('…/model.json')`). tfjs-core's `file://` handler belongs to tfjs-node,
// which is optional here, so the product carries its own small handler.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep, win32 } from 'node:path';
import { replaceDir } from '../../store/files';

const WEIGHTS_FILE = 'weights.bin';

/** Writes the model to `dir` atomically (staged in a sibling folder, then renamed into place). */
export async function saveModel(model: tfl.LayersModel, dir: string, extra?: Record<string, unknown>): Promise<void> {
  const staged = `${dir}.staging-${process.pid}`;
  mkdirSync(staged, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = tf.io.CompositeArrayBuffer.join(artifacts.weightData ?? new ArrayBuffer(0));
      const manifest: tf.io.WeightsManifestConfig = [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs ?? [] }];
      const json: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as tf.io.ModelJSON['modelTopology'],
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: manifest,
      };
      if (artifacts.trainingConfig) json.trainingConfig = artifacts.trainingConfig;
      if (extra || artifacts.userDefinedMetadata) {
        json.userDefinedMetadata = { ...(artifacts.userDefinedMetadata ?? {}), ...(extra ?? {}) } as NonNullable<tf.io.ModelJSON['userDefinedMetadata']>;
      }
      writeFileSync(join(staged, 'model.json'), JSON.stringify(json));
      writeFileSync(join(staged, WEIGHTS_FILE), Buffer.from(weightData));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
  replaceDir(staged, dir);
}

/**
 * The file of a weights-manifest path inside the model's folder. A path that is absolute or
 * leaves the folder (`../…`) is refused: a model.json from elsewhere must not read other files.
 */
export function weightsFile(dir: string, p: string): string {
  const leaves = (): Error =>
    new Error(`${join(dir, 'model.json')}: the weights path "${p}" leaves the model's folder; weight files must lie inside it (e.g. "weights.bin")`);
  if (typeof p !== 'string' || p === '' || p.includes('\0') || isAbsolute(p) || win32.isAbsolute(p)) throw leaves();
  const root = resolve(dir);
  const file = resolve(root, p);
  const rel = relative(root, file);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel) || p.split(/[\\/]/).includes('..')) throw leaves();
  return file;
}

export function hasModel(dir: string): boolean {
  return existsSync(join(dir, 'model.json'));
}

/**
 * Loads a saved model. With `prefix`, every layer (and so every weight) gets that prefix and the
 * model is named after it, so several saved models can be combined in one without name clashes
 * (models trained in different processes reuse layer names). With `strict: false`, weights of
 * layers that `transform` removed are ignored.
 */
export async function loadModel(
  dir: string,
  opts: { prefix?: string; transform?: (json: tf.io.ModelJSON) => tf.io.ModelJSON; strict?: boolean } = {},
): Promise<tfl.LayersModel> {
  const modelPath = join(dir, 'model.json');
  if (!existsSync(modelPath)) throw new Error(`No model in ${dir} (model.json is missing)`);
  let json = JSON.parse(readFileSync(modelPath, 'utf8')) as tf.io.ModelJSON;
  if (opts.prefix) json = prefixNames(json, opts.prefix);
  if (opts.transform) json = opts.transform(json);
  const artifacts = await tf.io.getModelArtifactsForJSON(json, async (manifest) => {
    const specs: tf.io.WeightsManifestEntry[] = [];
    const buffers: ArrayBuffer[] = [];
    for (const group of manifest) {
      specs.push(...group.weights);
      for (const p of group.paths) {
        const b = readFileSync(weightsFile(dir, p));
        buffers.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
      }
    }
    return [specs, tf.io.concatenateArrayBuffers(buffers)];
  });
  // Not strict: a transform may drop layers (a backbone cut at its features) whose weights stay in the file.
  return tfl.loadLayersModel(tf.io.fromMemory(artifacts), { strict: opts.strict ?? true });
}

export function readModelMetadata(dir: string): Record<string, unknown> {
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as { userDefinedMetadata?: Record<string, unknown> };
  return json.userDefinedMetadata ?? {};
}

interface TopologyLayer {
  name: string;
  config: { name?: string; layers?: TopologyLayer[] };
}

/** The model JSON with `prefix` before every layer name, its weights' names and the model's name. */
export function prefixNames(json: tf.io.ModelJSON, prefix: string): tf.io.ModelJSON {
  // The topology is the model's Keras config, at the top or (Keras-saved files) under model_config.
  type Root = { class_name?: string; config?: { name?: string; layers?: TopologyLayer[] }; model_config?: Root };
  const rootOf = (t: Root): Root => t.model_config ?? t;
  const config = rootOf(json.modelTopology as Root).config;
  if (!config?.layers) throw new Error('Only layers models can be combined');
  const names = new Set<string>();
  const collect = (layers: TopologyLayer[]) => {
    for (const l of layers) {
      names.add(l.name);
      if (l.config.layers) collect(l.config.layers);
    }
  };
  collect(config.layers);
  // Layer names appear as whole JSON strings (names, configs, inbound nodes, inputs, outputs).
  const renamed = JSON.stringify(json.modelTopology).replace(/"((?:[^"\\]|\\.)*)"/g, (m, str: string) => (names.has(str) ? JSON.stringify(prefix + str) : m));
  const modelTopology = JSON.parse(renamed) as Root;
  rootOf(modelTopology).config!.name = prefix.replace(/_+$/, '') || prefix;
  const weightsManifest = json.weightsManifest.map((g) => ({
    ...g,
    weights: g.weights.map((w) => {
      const layer = w.name.split('/')[0];
      return names.has(layer) ? { ...w, name: prefix + w.name } : w;
    }),
  }));
  return { ...json, modelTopology, weightsManifest };
}
