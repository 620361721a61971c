// A saved TF.js layers model (model.json + weights) as an ONNX model, without tfjs: the Keras
// topology is walked from the outputs back (nested models, such as ensemble members and the model
// inside test-time augmentation, are inlined for each call; their weights are stored once), each
// layer becomes ONNX nodes (image-layers.ts, other-layers.ts), and image tensors are held as NCHW
// between convolutions, transposed back only where Keras's order matters (flatten, dense on images).
// The graph takes what the TF.js model takes: NHWC float32 [N, H, W, C].
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GraphBuilder, tensorInfo } from './graph';
import { IMAGE_LAYERS } from './image-layers';
import { type KerasLayer, type KerasModel, type Ref, type Weight, parseTopology, readWeights } from './keras';
import { OTHER_LAYERS } from './other-layers';
import { type ModelProto, encodeModel } from './proto';
import { type LayerContext, type Value, toKeras } from './values';

const CONVERTERS = { ...IMAGE_LAYERS, ...OTHER_LAYERS };

/** The layer types the ONNX export converts. */
export const CONVERTED_LAYERS = Object.keys(CONVERTERS).sort();

export interface OnnxGraphOptions {
  /** Name of the graph's input and output. */
  inputName?: string;
  outputName?: string;
  /** metadata_props of the model. */
  metadata?: Record<string, string>;
  doc?: string;
  producerVersion?: string;
  /** The output's shape per image when the caller knows it (else the last Dense layer's units, or symbolic), and its description. */
  outputShape?: Array<number | null>;
  outputDoc?: string;
}

export interface ConvertedModel {
  proto: ModelProto;
  bytes: Uint8Array;
  /** [H, W, C] of the input (null where the model takes any size). */
  inputShape: Array<number | null>;
  /** The output's size per image (classes). */
  outputShape: Array<number | null>;
}

/** Converts the layers model saved in `dir` (model.json and its weight files). */
export function convertLayersModel(dir: string, o: OnnxGraphOptions = {}): ConvertedModel {
  const where = join(dir, 'model.json');
  const json = JSON.parse(readFileSync(where, 'utf8')) as { modelTopology?: unknown; weightsManifest?: Array<{ paths: string[]; weights: [] }> };
  return convertKerasModel(json.modelTopology, readWeights(dir, json.weightsManifest ?? []), where, o);
}

/**
 * Converts a layers model given as its Keras topology (model.json's `modelTopology`) and its
 * weights by name (`<layer>/<weight>`): a model held in memory, saved by tfjs without files.
 * Errors name `where`.
 */
export function convertKerasModel(topology: unknown, weights: Map<string, Weight>, where: string, o: OnnxGraphOptions = {}): ConvertedModel {
  const model = parseTopology(topology, where);
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new Error(
      `${where}: the model has ${model.inputs.length} inputs and ${model.outputs.length} outputs; the ONNX export takes one image in and one score vector out`,
    );
  }
  const g = new GraphBuilder();
  const inputName = o.inputName ?? 'image';
  const outputName = o.outputName ?? 'scores';
  g.unique(inputName);
  g.unique(outputName);
  const inputLayer = model.layers.find((l) => l.name === model.inputs[0].layer);
  const batchShape = (inputLayer?.config.batch_input_shape ?? inputLayer?.config.batchInputShape ?? inputLayer?.config.batch_shape) as
    Array<number | null> | undefined;
  if (!batchShape) throw new Error(`${where}: the input layer ${model.inputs[0].layer} has no batch_input_shape`);
  const ctx: LayerContext = { g, where, weight: (layer: KerasLayer, name: string): Weight | undefined => weights.get(`${layer.name}/${name}`) };
  const input: Value = { name: inputName, rank: batchShape.length, nchw: false };
  const [out] = runModel(ctx, model, [input]);
  const keras = toKeras(ctx, out, 'output');
  g.identity(keras.name, outputName);
  const outputShape = o.outputShape ?? outputShapeOf(model, where);
  const dims = (prefix: string, s: Array<number | null>) => s.map((d, i) => (typeof d === 'number' ? d : `${prefix}${i}`));
  const proto = g.model({
    name: model.name,
    input: tensorInfo(inputName, ['N', ...dims('d', batchShape.slice(1))], 'NHWC float32 images'),
    output: tensorInfo(outputName, ['N', ...dims('k', outputShape)], o.outputDoc ?? 'scores per class'),
    doc: o.doc ?? '',
    metadata: o.metadata ?? {},
    producerVersion: o.producerVersion ?? '',
  });
  return { proto, bytes: encodeModel(proto), inputShape: batchShape.slice(1), outputShape };
}

/** The output size per image, from the last Dense layer's units when it can be told (else null). */
function outputShapeOf(model: KerasModel, where: string): Array<number | null> {
  const layer = model.layers.find((l) => l.name === model.outputs[0].layer);
  if (!layer) throw new Error(`${where}: the output layer ${model.outputs[0].layer} is not among the layers`);
  if (layer.model) return outputShapeOf(layer.model, where);
  if (layer.className === 'Dense') return [Number(layer.config.units)];
  const from = layer.inbound[model.outputs[0].node]?.[0];
  if (!from) return [null];
  return outputShapeOf({ ...model, outputs: [from] }, where);
}

/** The model applied to `inputs`: every layer that feeds its outputs, once per call (node). */
function runModel(ctx: LayerContext, model: KerasModel, inputs: Value[]): Value[] {
  const layers = new Map(model.layers.map((l) => [l.name, l]));
  const done = new Map<string, Value[]>();
  model.inputs.forEach((r, i) => done.set(`${r.layer}:${r.node}`, [inputs[i]]));
  const valueOf = (ref: Ref): Value => {
    const key = `${ref.layer}:${ref.node}`;
    let outs = done.get(key);
    if (!outs) {
      const layer = layers.get(ref.layer);
      if (!layer) throw new Error(`${ctx.where}: model ${model.name} refers to a layer ${ref.layer} it does not have`);
      // A nested model's own first node (its creation) is not saved but counts in the references, as in Keras.
      const index = layer.model && ref.node > 0 ? ref.node - 1 : ref.node;
      const node = layer.inbound[index];
      if (!node) throw new Error(`${ctx.where}: layer ${ref.layer} has no call ${ref.node}`);
      outs = convertLayer(ctx, layer, node.map(valueOf));
      done.set(key, outs);
    }
    const v = outs[ref.tensor];
    if (!v) throw new Error(`${ctx.where}: layer ${ref.layer} has no output ${ref.tensor}`);
    return v;
  };
  return model.outputs.map(valueOf);
}

function convertLayer(ctx: LayerContext, layer: KerasLayer, inputs: Value[]): Value[] {
  if (layer.model) return runModel(ctx, layer.model, inputs);
  const convert = CONVERTERS[layer.className];
  if (!convert) {
    throw new Error(
      `${ctx.where}: layer ${layer.name} (${layer.className}) is of a type the ONNX export does not convert (it converts ${CONVERTED_LAYERS.join(', ')})`,
    );
  }
  return convert(ctx, layer, inputs);
}
