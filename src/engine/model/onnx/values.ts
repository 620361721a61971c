// What the layer converters share: a value flowing through the graph (its rank and whether an image
// tensor is held as NCHW, ONNX's convolution layout, or in the Keras layout, NHWC), the context that
// gives a layer's weights, layout changes and activations.
import type { GraphBuilder } from './graph';
import type { KerasLayer, Weight } from './keras';

export interface Value {
  name: string;
  rank: number;
  /** A rank-4 Keras tensor [N, H, W, C] held transposed as [N, C, H, W]. */
  nchw: boolean;
}

export interface LayerContext {
  g: GraphBuilder;
  /** The layer's weight (`kernel`, `bias`, `gamma`, …) or undefined when it has none by that name. */
  weight(layer: KerasLayer, name: string): Weight | undefined;
  /** Where errors point: model.json. */
  where: string;
}

export function need(ctx: LayerContext, layer: KerasLayer, name: string): Weight {
  const w = ctx.weight(layer, name);
  if (!w) throw new Error(`${ctx.where}: layer ${layer.name} (${layer.className}) has no weight ${name} in the weight files`);
  return w;
}

/** The value as NCHW (an image tensor for a convolution or pooling). */
export function toNchw(ctx: LayerContext, v: Value, layer: KerasLayer): Value {
  if (v.rank !== 4) throw new Error(`${ctx.where}: layer ${layer.name} (${layer.className}) needs an image tensor [N, H, W, C], not rank ${v.rank}`);
  if (v.nchw) return v;
  return { name: ctx.g.op('Transpose', [v.name], { perm: { ints: [0, 3, 1, 2] } }, `${layer.name}_nchw`), rank: 4, nchw: true };
}

/** The value in the Keras layout (for layers that index axes as Keras does: flatten, dense, permute, reshape). */
export function toKeras(ctx: LayerContext, v: Value, hint: string): Value {
  if (!v.nchw) return v;
  return { name: ctx.g.op('Transpose', [v.name], { perm: { ints: [0, 2, 3, 1] } }, `${hint}_nhwc`), rank: v.rank, nchw: false };
}

/** The ONNX axis of Keras axis `axis` (negative counts from the end) of the value. */
export function onnxAxis(v: Value, axis: number): number {
  const a = axis < 0 ? axis + v.rank : axis;
  if (!v.nchw) return a;
  return [0, 2, 3, 1][a];
}

/** Keras activations by name, applied to `v`. */
export function activation(ctx: LayerContext, v: Value, name: unknown, layer: KerasLayer): Value {
  const g = ctx.g;
  const hint = layer.name;
  const same = (n: string): Value => ({ ...v, name: n });
  switch (name ?? 'linear') {
    case 'linear':
      return v;
    case 'relu':
      return same(g.op('Relu', [v.name], {}, hint));
    case 'relu6':
      return same(g.op('Clip', [v.name, g.scalar(0), g.scalar(6)], {}, hint));
    case 'sigmoid':
      return same(g.op('Sigmoid', [v.name], {}, hint));
    case 'tanh':
      return same(g.op('Tanh', [v.name], {}, hint));
    case 'softmax':
      return same(g.op('Softmax', [v.name], { axis: { i: onnxAxis(v, -1) } }, hint));
    case 'elu':
      return same(g.op('Elu', [v.name], { alpha: { f: 1 } }, hint));
    case 'selu':
      return same(g.op('Selu', [v.name], {}, hint));
    case 'softplus':
      return same(g.op('Softplus', [v.name], {}, hint));
    case 'softsign':
      return same(g.op('Softsign', [v.name], {}, hint));
    case 'hard_sigmoid':
    case 'hardSigmoid':
      return same(g.op('HardSigmoid', [v.name], { alpha: { f: 0.2 }, beta: { f: 0.5 } }, hint));
    case 'swish':
      return same(g.op('Mul', [v.name, g.op('Sigmoid', [v.name], {}, `${hint}_sigmoid`)], {}, hint));
    case 'mish':
      return same(g.op('Mul', [v.name, g.op('Tanh', [g.op('Softplus', [v.name], {}, `${hint}_softplus`)], {}, `${hint}_tanh`)], {}, hint));
    default:
      throw new Error(`${ctx.where}: layer ${layer.name} uses the activation ${JSON.stringify(name)}, which the ONNX export does not convert`);
  }
}
