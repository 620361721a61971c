// Reading a saved TF.js layers model without tfjs: its Keras topology (functional or Sequential,
// nested models included, as ensembles and test-time augmentation save them) and its float32
// weights by name (`<layer>/<weight>`, as tfjs-layers saves them). Errors name model.json.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { weightsFile } from '../io';

/** A reference to one output of one call of a layer: [layer, node, tensor] in the Keras JSON. */
export interface Ref {
  layer: string;
  node: number;
  tensor: number;
}

export interface KerasLayer {
  className: string;
  name: string;
  config: Record<string, unknown>;
  /** Per call of the layer (node), the tensors it was called on. */
  inbound: Ref[][];
  /** For a nested model: its own topology. */
  model?: KerasModel;
}

export interface KerasModel {
  name: string;
  layers: KerasLayer[];
  inputs: Ref[];
  outputs: Ref[];
}

export interface Weight {
  shape: number[];
  data: Float32Array;
}

interface JsonLayer {
  class_name: string;
  name?: string;
  config: Record<string, unknown> & { name?: string; layers?: unknown };
  inbound_nodes?: unknown[];
}

const MODEL_CLASSES = new Set(['Model', 'Functional', 'Sequential']);

function refOf(v: unknown, where: string): Ref {
  if (Array.isArray(v) && typeof v[0] === 'string' && typeof v[1] === 'number' && typeof v[2] === 'number') {
    return { layer: v[0], node: v[1], tensor: v[2] };
  }
  throw new Error(`${where}: an inbound node in a format this exporter does not read (${JSON.stringify(v).slice(0, 120)}); re-save the model with TF.js`);
}

/** A model's topology (`modelTopology` of model.json; a Keras file's `model_config` wrapper is looked through). */
export function parseTopology(topology: unknown, where: string): KerasModel {
  const t = topology as { model_config?: unknown; class_name?: string; config?: unknown };
  if (t && typeof t === 'object' && t.model_config) return parseTopology(t.model_config, where);
  if (!t || typeof t !== 'object' || !MODEL_CLASSES.has(String(t.class_name))) {
    throw new Error(`${where}: not a TF.js layers model (class_name ${JSON.stringify(t?.class_name)}); only layers models can be exported to ONNX`);
  }
  return parseModel(t.class_name!, t.config, where);
}

function parseModel(className: string, config: unknown, where: string): KerasModel {
  if (className === 'Sequential') return parseSequential(config, where);
  const c = config as { name?: string; layers?: JsonLayer[]; input_layers?: unknown[]; output_layers?: unknown[] };
  if (!c || !Array.isArray(c.layers) || !Array.isArray(c.input_layers) || !Array.isArray(c.output_layers)) {
    throw new Error(`${where}: a ${className} without layers, input_layers or output_layers`);
  }
  const layers = c.layers.map((l) => parseLayer(l, where));
  return {
    name: c.name ?? 'model',
    layers,
    inputs: c.input_layers.map((r) => refOf(r, where)),
    outputs: c.output_layers.map((r) => refOf(r, where)),
  };
}

function parseLayer(l: JsonLayer, where: string): KerasLayer {
  const name = l.name ?? l.config.name;
  if (typeof name !== 'string') throw new Error(`${where}: a ${l.class_name} layer without a name`);
  const inbound = (l.inbound_nodes ?? []).map((node) => {
    if (!Array.isArray(node)) return [refOf(node, `${where} (layer ${name})`)];
    return node.map((r) => refOf(r, `${where} (layer ${name})`));
  });
  const layer: KerasLayer = { className: l.class_name, name, config: l.config, inbound };
  if (MODEL_CLASSES.has(l.class_name)) layer.model = parseModel(l.class_name, l.config, `${where} (model ${name})`);
  return layer;
}

/** A Sequential model as a functional one: an input layer, then each layer called on the one before. */
function parseSequential(config: unknown, where: string): KerasModel {
  const c = config as { name?: string; layers?: JsonLayer[] } | JsonLayer[];
  const list = Array.isArray(c) ? c : c?.layers;
  const name = (Array.isArray(c) ? undefined : c?.name) ?? 'sequential';
  if (!Array.isArray(list) || list.length === 0) throw new Error(`${where}: an empty Sequential model`);
  const layers: KerasLayer[] = [];
  let prev: Ref;
  let rest = list;
  if (list[0].class_name === 'InputLayer') {
    const first = parseLayer({ ...list[0], inbound_nodes: [] }, where);
    layers.push(first);
    prev = { layer: first.name, node: 0, tensor: 0 };
    rest = list.slice(1);
  } else {
    const shape = list[0].config.batch_input_shape ?? list[0].config.batchInputShape;
    const input: KerasLayer = { className: 'InputLayer', name: `${name}_input`, config: { batch_input_shape: shape }, inbound: [] };
    layers.push(input);
    prev = { layer: input.name, node: 0, tensor: 0 };
  }
  const inputs = [prev];
  for (const l of rest) {
    const layer = parseLayer({ ...l, inbound_nodes: [] }, where);
    layer.inbound = [[prev]];
    layers.push(layer);
    prev = { layer: layer.name, node: 0, tensor: 0 };
  }
  return { name, layers, inputs, outputs: [prev] };
}

export interface ManifestEntry {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: unknown;
}

/** The weights of the model in `dir` by name, read from the weight files its manifest lists. */
export function readWeights(dir: string, manifest: Array<{ paths: string[]; weights: ManifestEntry[] }>): Map<string, Weight> {
  const out = new Map<string, Weight>();
  for (const group of manifest) {
    const bytes = Buffer.concat(group.paths.map((p) => readFileSync(weightsFile(dir, p))));
    for (const [name, w] of decodeWeights(bytes, group.weights, join(dir, 'model.json'))) out.set(name, w);
  }
  return out;
}

/** Float32 weights laid out one after the other in `bytes`, as `entries` lists them (errors name `where`). */
export function decodeWeights(bytes: Buffer, entries: ManifestEntry[], where: string): Map<string, Weight> {
  const out = new Map<string, Weight>();
  let offset = 0;
  for (const w of entries) {
    if (w.quantization) throw new Error(`${where}: weight ${w.name} is quantized; export a float32 model to ONNX`);
    if (w.dtype !== 'float32') throw new Error(`${where}: weight ${w.name} is ${w.dtype}; only float32 weights can be exported to ONNX`);
    const size = w.shape.reduce((a, b) => a * b, 1);
    if (offset + size * 4 > bytes.length) throw new Error(`${where}: the weight files end before weight ${w.name}`);
    const data = new Float32Array(size);
    for (let i = 0; i < size; i++) data[i] = bytes.readFloatLE(offset + i * 4);
    offset += size * 4;
    out.set(w.name, { shape: w.shape, data });
  }
  return out;
}
