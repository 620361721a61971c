// A pretrained backbone for transfer learning: a TF.js layers model (a catalogue name, a folder with
// model.json, or the URL of one, downloaded once into a cache), cut at its features (the classifier removed) and
// given a new head by build.ts. Any layers model works, the final models of earlier experiments
// included (their features are the input of their `logits` layer).
//
// The backbone's layers become layers of the trial's own model (no nested model), so every part
// of the engine (fused kernels, FLOP counts, memory estimates, saving, TTA, ensembles) treats the
// result like any other network. Raw pixels (0–255) are mapped to the range the backbone was
// trained on by a Rescaling layer inserted right after its input.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { SymbolicTensor } from '@tensorflow/tfjs-layers';
import { loadModel } from './io';
import { layerFlops } from './flops';
import { type CatalogueOptions, catalogueEntry, catalogueNames, resolveEntry } from './catalogue';
import { type OnProgress, checkLayersModel, downloadModel, verifyModelDir } from './download';

export type BackboneRange = 'auto' | '0-255' | '0-1' | '-1-1';

/** Names of the backbone's layers start with this (its own names cannot clash with the head's). */
export const BACKBONE_PREFIX = 'backbone_';

const RESCALE_NAME = `${BACKBONE_PREFIX}input_range`;

/**
 * The folder of a backbone: `source` is a catalogue name (catalogue.ts: downloaded, or written out
 * of nsfwjs, once into `cacheDir`), a folder with model.json, a model.json file, or an http(s) URL
 * of a model.json (downloaded with its weight files into `cacheDir` once, with `checksums.json`;
 * later calls check the copy and use it without the network, and download a damaged one again,
 * saying so through `o.onMessage`). Downloads report their bytes through `onProgress`. Errors name
 * the source and say what to fix.
 */
export async function resolveBackbone(
  source: string,
  cacheDir: string,
  fetchImpl: typeof fetch = fetch,
  onProgress?: OnProgress,
  o: Omit<CatalogueOptions, 'fetchImpl' | 'onProgress'> = {},
): Promise<string> {
  const entry = catalogueEntry(source, o.catalogue);
  if (entry) return resolveEntry(entry, cacheDir, { ...o, fetchImpl, onProgress });
  if (/^https?:\/\//i.test(source)) return resolveUrl(source, cacheDir, fetchImpl, onProgress, o.onMessage);
  const path = normalize(source);
  if (!existsSync(path)) {
    if (source === 'auto' || source === 'none') throw new Error(`Backbone ${source}: chosen by the experiment, not a model`);
    const named = !/[\\/]/.test(source) && !source.endsWith('.json');
    throw new Error(
      named
        ? `Backbone ${source}: not in the catalogue (${catalogueNames(o.catalogue)}) and no such file or folder`
        : `Backbone ${source}: no such file or folder`,
    );
  }
  const dir = statSync(path).isDirectory() ? path : dirname(path);
  if (!existsSync(join(dir, 'model.json')))
    throw new Error(`Backbone ${source}: no model.json in ${dir} (a TF.js layers model is a folder with model.json and its weight files)`);
  checkLayersModel(JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON, source);
  return dir;
}

async function resolveUrl(url: string, cacheDir: string, fetchImpl: typeof fetch, onProgress?: OnProgress, onMessage?: (m: string) => void): Promise<string> {
  const dir = join(cacheDir, createHash('sha256').update(url).digest('hex').slice(0, 16));
  if (existsSync(join(dir, 'model.json'))) {
    const problem = verifyModelDir(dir);
    if (!problem) return dir;
    onMessage?.(`Backbone ${url}: the cached copy in ${dir} is damaged (${problem}); downloading it again`);
    rmSync(dir, { recursive: true, force: true });
  }
  return downloadModel(url, dir, { fetchImpl, onProgress, label: url });
}

/** What the experiment needs to know about a backbone before building models with it. */
export interface BackboneInfo {
  dir: string;
  /** [H, W, C] of its input; H and W are null when it takes any size. */
  inputShape: [number | null, number | null, number];
  /** The range its input is mapped to, and why. */
  range: Exclude<BackboneRange, 'auto'>;
  rangeWhy: string;
  /** Forward FLOPs per image up to the features, and the features' shape (without the batch). */
  flops: number;
  featureShape: number[];
  /** Layers with weights (what `transfer/unfreeze` is a fraction of). */
  weightLayers: number;
  /** Layers (unprefixed names) whose pooled outputs are candidate features: see featureTaps. */
  taps: string[];
}

export interface LoadedBackbone {
  info: BackboneInfo;
  /** The backbone's input (raw pixels 0–255) and its feature tensor, to build a head on. */
  input: SymbolicTensor;
  features: SymbolicTensor;
  /** Its layers with weights, input to output. */
  weightLayers: tfl.layers.Layer[];
  /** Candidate feature maps, lower stages first, `features` last (see featureTaps). */
  taps: SymbolicTensor[];
  /** Frees its weights (when no model was built on it: a built model owns them). */
  dispose(): void;
}

/** The square input size a backbone's model.json fixes, or null when it takes any size (or is not square). */
export function backboneInputSize(dir: string): number | null {
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON;
  let found: number | null = null;
  const visit = (v: unknown): void => {
    if (found !== null || !v || typeof v !== 'object') return;
    if (Array.isArray(v)) return v.forEach(visit);
    const o = v as Record<string, unknown>;
    for (const key of ['batch_input_shape', 'batchInputShape', 'batch_shape']) {
      const s = o[key];
      if (Array.isArray(s) && s.length === 4 && typeof s[1] === 'number' && s[1] === s[2]) found = s[1];
    }
    for (const k of Object.keys(o)) visit(o[k]);
  };
  visit(json.modelTopology);
  return found;
}

/** Input ranges a model's metadata may state (`userDefinedMetadata.input.range`). */
const STATED_RANGES: Exclude<BackboneRange, 'auto'>[] = ['0-255', '0-1', '-1-1'];

/** The range to map pixels to, and why: the user's choice, else what the model states, else −1…1. */
export function chooseRange(range: BackboneRange, stated: unknown): { range: Exclude<BackboneRange, 'auto'>; why: string } {
  if (range !== 'auto') return { range, why: 'set by the user' };
  const own = STATED_RANGES.find((r) => r === stated);
  if (own) return { range: own, why: own === '0-255' ? 'the model says it takes raw pixels (0–255)' : `the model's metadata states ${own}` };
  return { range: '-1-1', why: 'the usual range of pretrained TF.js image models (set automl.backboneInputRange if it is 0–1 or 0–255)' };
}

/**
 * Loads the backbone in `dir` with prefixed layer names, a Rescaling layer from 0–255 to its
 * range, and its features found: `opts.cut` (a layer name) when given, else the input of a `logits`
 * layer (models from this product), else the input of the last global pooling or flatten layer,
 * else the last 4-D output. A fixed-window pooling that averages the whole feature map (Keras's
 * AveragePooling2D(7) before Flatten) is cut off too, so that the head's global pooling takes any
 * size: `opts.size` then resizes a fixed-size backbone as well.
 */
export async function loadBackbone(dir: string, range: BackboneRange = 'auto', opts: { size?: number; cut?: string } = {}): Promise<LoadedBackbone> {
  const raw = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON & { userDefinedMetadata?: { input?: { range?: string } } };
  const { range: chosen, why: rangeWhy } = chooseRange(range, raw.userDefinedMetadata?.input?.range);
  const load = (cut: string | null, size: number | undefined) =>
    loadModel(dir, {
      prefix: BACKBONE_PREFIX,
      strict: cut === null,
      transform: (j) => {
        // Names are prefixed before the transform runs.
        const trunk = cut ? truncateAt(j, `${BACKBONE_PREFIX}${cut}`) : j;
        const sized = size ? fixInputSize(trunk, size, cut !== null) : trunk;
        return chosen === '0-255' ? sized : insertRescaling(sized, chosen);
      },
    });
  let model = await load(null, opts.size);
  let features = findFeatures(model, opts.cut ? `${BACKBONE_PREFIX}${opts.cut}` : null, dir);
  const nativeSize = model.inputs[0].shape[1];
  if (opts.size && nativeSize !== null && nativeSize !== opts.size) {
    // A fixed-size backbone at another size: rebuilt from its JSON, cut at the features (the layers
    // after them, sized for the native input, would not build).
    const cut = (features.sourceLayer as tfl.layers.Layer).name.slice(BACKBONE_PREFIX.length);
    model.dispose();
    model = await load(cut, opts.size);
    features = model.getLayer(`${BACKBONE_PREFIX}${cut}`).output as SymbolicTensor;
  }
  const layers = model.layers;
  const input = model.inputs[0];
  const shape = input.shape;
  if (shape.length !== 4) throw new Error(`Backbone ${dir}: takes ${JSON.stringify(shape.slice(1))}, not an image [H, W, C]`);
  if (shape[1] === null || shape[2] === null) {
    throw new Error(`Backbone ${dir}: takes images of any size; give the input size (setting automl.imageSize, --image-size)`);
  }
  const channels = shape[3];
  if (channels !== 1 && channels !== 3) throw new Error(`Backbone ${dir}: takes ${channels} channels; only grayscale (1) or RGB (3) backbones are supported`);
  // The layers up to the features, input to output.
  const feeding = upstreamLayers(features);
  const weightLayers = layers.filter((l) => feeding.has(l) && l.countParams() > 0);
  // The classifier after the features is not used: free it now.
  for (const l of layers) if (!feeding.has(l)) l.dispose();
  let flops = 0;
  for (const l of layers) if (feeding.has(l)) flops += layerFlops(l);
  const taps = featureTaps(
    features,
    layers.filter((l) => feeding.has(l)),
  );
  return {
    info: {
      dir,
      inputShape: [shape[1], shape[2], channels],
      range: chosen,
      rangeWhy,
      flops,
      featureShape: features.shape.slice(1) as number[],
      weightLayers: weightLayers.length,
      taps: taps.map((t) => (t.sourceLayer as tfl.layers.Layer).name.slice(BACKBONE_PREFIX.length)),
    },
    input,
    features,
    taps,
    weightLayers,
    dispose: () => {
      for (const l of layers) if (feeding.has(l)) l.dispose();
    },
  };
}

/** The feature tensor of a loaded backbone (see loadBackbone); `cut` is a prefixed layer name. */
function findFeatures(model: tfl.LayersModel, cut: string | null, dir: string): SymbolicTensor {
  const layers = model.layers;
  if (layers.some((l) => 'layers' in l)) {
    model.dispose();
    throw new Error(
      `Backbone ${dir}: it holds whole models (an ensemble, or a model with test-time augmentation); use one trained network, e.g. a trial's model folder (trials/<id>/model)`,
    );
  }
  if (cut) {
    const out = layers.find((l) => l.name === cut)?.output;
    if (!out || Array.isArray(out) || (out.shape.length !== 4 && out.shape.length !== 2)) {
      model.dispose();
      throw new Error(`Backbone ${dir}: no layer ${cut.slice(BACKBONE_PREFIX.length)} with a feature map or vector to cut at`);
    }
    return out;
  }
  const named = layers.find((l) => l.name === `${BACKBONE_PREFIX}logits`);
  let features: SymbolicTensor | undefined = named ? (named.input as SymbolicTensor) : undefined;
  for (let i = layers.length - 1; i >= 0 && !features; i--) {
    const cls = layers[i].getClassName();
    if (cls === 'GlobalAveragePooling2D' || cls === 'GlobalMaxPooling2D' || cls === 'Flatten') features = layers[i].input as SymbolicTensor;
  }
  for (let i = layers.length - 1; i >= 0 && !features; i--) {
    const out = layers[i].output;
    if (!Array.isArray(out) && out.shape.length === 4) features = out;
  }
  if (!features) {
    model.dispose();
    throw new Error(`Backbone ${dir}: no feature layer found (no global pooling, flatten or 4-D output)`);
  }
  // A pooling whose window covers the whole map is a global pooling of a fixed size: cut before it.
  const source = features.sourceLayer as tfl.layers.Layer;
  const cls = source.getClassName();
  const pooledIn = source.input as SymbolicTensor;
  if (
    (cls === 'AveragePooling2D' || cls === 'MaxPooling2D') &&
    features.shape[1] === 1 &&
    features.shape[2] === 1 &&
    !Array.isArray(pooledIn) &&
    (pooledIn.shape[1] ?? 0) > 1
  ) {
    features = pooledIn;
  }
  return features;
}

type JsonLayer = { class_name: string; name?: string; config: Record<string, unknown>; inbound_nodes?: unknown[] };
type JsonRoot = { class_name?: string; config?: { layers?: JsonLayer[]; output_layers?: unknown[] } | JsonLayer[]; model_config?: JsonRoot };

/** The model JSON with the layers after `cut` removed: `cut`'s output is the model's output. */
export function truncateAt(json: tf.io.ModelJSON, cut: string): tf.io.ModelJSON {
  const copy = JSON.parse(JSON.stringify(json)) as tf.io.ModelJSON;
  const top = copy.modelTopology as JsonRoot;
  const root = top.model_config ?? top;
  const nameOf = (l: JsonLayer) => l.name ?? (l.config.name as string | undefined) ?? '';
  if (root.class_name === 'Sequential') {
    const layers = Array.isArray(root.config) ? root.config : root.config?.layers;
    const at = layers?.findIndex((l) => nameOf(l) === cut) ?? -1;
    if (!layers || at < 0) throw new Error(`Backbone: no layer ${cut} to cut at`);
    layers.splice(at + 1);
    return copy;
  }
  const config = root.config as { layers?: JsonLayer[]; output_layers?: unknown[] } | undefined;
  const layers = config?.layers;
  const byName = new Map((layers ?? []).map((l) => [nameOf(l), l]));
  if (!config || !layers || !byName.has(cut)) throw new Error(`Backbone: no layer ${cut} to cut at`);
  // Keep what feeds `cut`: walk inbound node references ([name, nodeIndex, tensorIndex, kwargs]).
  const keep = new Set<string>();
  const stack = [cut];
  const refs = (v: unknown, out: string[]): void => {
    if (!Array.isArray(v)) return;
    if (v.length >= 3 && typeof v[0] === 'string' && typeof v[1] === 'number') out.push(v[0]);
    else for (const x of v) refs(x, out);
  };
  while (stack.length) {
    const name = stack.pop()!;
    if (keep.has(name)) continue;
    keep.add(name);
    const found: string[] = [];
    refs(byName.get(name)?.inbound_nodes, found);
    stack.push(...found);
  }
  config.layers = layers.filter((l) => keep.has(nameOf(l)));
  config.output_layers = [[cut, 0, 0]];
  return copy;
}

/**
 * Candidate cut points for frozen features: for each of the last three spatial resolutions of the
 * trunk, the last of its widest 4-D outputs (MobileNetV2: block_6_expand_relu at 28×28,
 * block_13_expand_relu at 14×14, out_relu at 7×7; InceptionV3: mixed2, mixed7, mixed10). Features
 * from a lower stage are more generic, and often transfer better to photos unlike the backbone's
 * own training data; which one is best is left to cross-validation.
 */
function featureTaps(features: SymbolicTensor, trunk: tfl.layers.Layer[]): SymbolicTensor[] {
  const byResolution = new Map<string, SymbolicTensor>();
  const order: string[] = [];
  for (const layer of trunk) {
    const out = layer.output;
    if (Array.isArray(out) || out.shape.length !== 4 || ['InputLayer', 'ZeroPadding2D'].includes(layer.getClassName())) continue;
    const key = `${out.shape[1]}x${out.shape[2]}`;
    const held = byResolution.get(key);
    if (!held) order.push(key);
    // Later layers replace earlier ones of the same width (the trunk is in model order).
    if (!held || (out.shape[3] ?? 0) >= (held.shape[3] ?? 0)) byResolution.set(key, out);
  }
  // Features that are already vectors (this product's models, cut at their logits) have no resolution.
  const featuresKey = features.shape.length === 4 ? `${features.shape[1]}x${features.shape[2]}` : null;
  const smallest = features.shape.length === 4 ? (features.shape[1] ?? 0) : 0;
  const taps = order
    .map((k) => byResolution.get(k)!)
    .filter((t) => (t.shape[1] ?? 0) >= smallest && (t.shape[1] ?? 0) > 1)
    .sort((a, b) => (b.shape[1] ?? 0) - (a.shape[1] ?? 0));
  const lower = taps.filter((t) => `${t.shape[1]}x${t.shape[2]}` !== featuresKey).slice(-2);
  return [...lower, features];
}

/** Every layer whose output flows into `t`. */
function upstreamLayers(t: SymbolicTensor): Set<tfl.layers.Layer> {
  const seen = new Set<tfl.layers.Layer>();
  const stack = [t.sourceLayer as tfl.layers.Layer];
  while (stack.length) {
    const layer = stack.pop()!;
    if (seen.has(layer)) continue;
    seen.add(layer);
    for (const node of (layer as unknown as { inboundNodes: { inboundLayers: tfl.layers.Layer[] }[] }).inboundNodes) {
      for (const l of node.inboundLayers) stack.push(l);
    }
  }
  return seen;
}

/** Freezes the backbone but for the top `fraction` of its layers with weights (0: all frozen). */
export function setBackboneTrainable(model: tfl.LayersModel, fraction: number): void {
  const layers = model.layers.filter((l) => l.name.startsWith(BACKBONE_PREFIX) && l.countParams() > 0);
  const open = Math.ceil(Math.max(0, Math.min(1, fraction)) * layers.length);
  layers.forEach((l, i) => {
    l.trainable = i >= layers.length - open;
  });
}

/**
 * The model JSON with an input of any size (null height and width) made `size`×`size`; with
 * `force`, a fixed-size input too (for a fully convolutional trunk).
 */
export function fixInputSize(json: tf.io.ModelJSON, size: number, force = false): tf.io.ModelJSON {
  const copy = JSON.parse(JSON.stringify(json)) as tf.io.ModelJSON;
  const visit = (v: unknown): void => {
    if (!v || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      v.forEach(visit);
      return;
    }
    const o = v as Record<string, unknown>;
    for (const key of ['batch_input_shape', 'batchInputShape', 'batch_shape']) {
      const s = o[key];
      if (Array.isArray(s) && s.length === 4 && ((s[1] === null && s[2] === null) || force)) o[key] = [s[0], size, size, s[3]];
    }
    for (const k of Object.keys(o)) visit(o[k]);
  };
  visit(copy.modelTopology);
  return copy;
}

/** The model JSON with a Rescaling layer (0–255 to `range`) between the input and the first layers. */
export function insertRescaling(json: tf.io.ModelJSON, range: '0-1' | '-1-1'): tf.io.ModelJSON {
  const scale = range === '0-1' ? 1 / 255 : 1 / 127.5;
  const offset = range === '0-1' ? 0 : -1;
  type LayerJson = { class_name: string; config: Record<string, unknown>; name?: string; inbound_nodes?: unknown[] };
  type Root = { class_name?: string; config?: { layers?: LayerJson[]; input_layers?: unknown[] } | LayerJson[]; model_config?: Root };
  const copy = JSON.parse(JSON.stringify(json)) as tf.io.ModelJSON;
  const top = copy.modelTopology as Root;
  const root = top.model_config ?? top;
  const rescaling = (extra: Record<string, unknown>): LayerJson => ({
    class_name: 'Rescaling',
    config: { name: RESCALE_NAME, trainable: false, dtype: 'float32', scale, offset, ...extra },
    name: RESCALE_NAME,
  });
  if (root.class_name === 'Sequential') {
    const layers = Array.isArray(root.config) ? root.config : root.config?.layers;
    if (!layers?.length) throw new Error('Backbone: an empty Sequential model');
    const first = layers[0].class_name === 'InputLayer' ? 1 : 0;
    const shapeKey = (c: Record<string, unknown>) => (c.batch_input_shape ? 'batch_input_shape' : c.batchInputShape ? 'batchInputShape' : null);
    const extra: Record<string, unknown> = {};
    const key = shapeKey(layers[first].config);
    if (key && first === 0) {
      extra.batch_input_shape = layers[0].config[key];
      delete layers[0].config[key];
    }
    layers.splice(first, 0, rescaling(extra));
    return copy;
  }
  const config = root.config as { layers?: LayerJson[]; input_layers?: [string, number, number][] } | undefined;
  const layers = config?.layers;
  const inputName = config?.input_layers?.[0]?.[0];
  if (!layers || !inputName) throw new Error('Backbone: model.json is neither a Sequential nor a functional layers model');
  // Layers fed by the input are fed by the rescaling instead.
  const retarget = (v: unknown): unknown => {
    if (Array.isArray(v)) {
      if (v.length >= 3 && v[0] === inputName && typeof v[1] === 'number') return [RESCALE_NAME, ...v.slice(1)];
      return v.map(retarget);
    }
    return v;
  };
  for (const l of layers) if (l.inbound_nodes) l.inbound_nodes = retarget(l.inbound_nodes) as unknown[];
  const at = layers.findIndex((l) => (l.name ?? l.config.name) === inputName);
  layers.splice(at + 1, 0, { ...rescaling({}), inbound_nodes: [[[inputName, 0, 0, {}]]] });
  return copy;
}
