// Converters for the layers that are not image-specific: dense (a fixed permutation, such as the
// mirror image of test-time augmentation, becomes a Gather), flatten (in Keras's NHWC order),
// activations, rescaling, merges (add, average, concatenate, …), permute, reshape, and the layers
// that do nothing at inference (dropout, noise).
import type { KerasLayer } from './keras';
import { type LayerContext, type Value, activation, need, onnxAxis, toKeras, toNchw } from './values';

type Converter = (ctx: LayerContext, layer: KerasLayer, inputs: Value[]) => Value[];

/** For a 0/1 kernel [I, O] with one 1 in each column: the input index each output copies; else null. */
export function permutationOf(shape: number[], k: Float32Array): number[] | null {
  const [I, O] = shape;
  const index: number[] = [];
  for (let o = 0; o < O; o++) {
    let found = -1;
    for (let i = 0; i < I; i++) {
      const v = k[i * O + o];
      if (v === 1 && found < 0) found = i;
      else if (v !== 0) return null;
    }
    if (found < 0) return null;
    index.push(found);
  }
  return index;
}

const dense: Converter = (ctx, layer, [input]) => {
  const g = ctx.g;
  const k = need(ctx, layer, 'kernel');
  const bias = layer.config.use_bias !== false ? need(ctx, layer, 'bias').data : null;
  const x = toKeras(ctx, input, layer.name);
  const perm = bias === null || bias.every((b) => b === 0) ? permutationOf(k.shape, k.data) : null;
  let y: string;
  if (perm) {
    // Exact, and no multiplications: output j is input perm[j] along the last axis.
    y = g.op('Gather', [x.name, g.int64s(`${layer.name}/indices`, perm)], { axis: { i: x.rank - 1 } }, layer.name);
  } else if (x.rank === 2) {
    const w = g.floats(`${layer.name}/kernel`, k.shape, k.data, `${layer.name}/kernel`);
    const ins = [x.name, w];
    if (bias) ins.push(g.floats(`${layer.name}/bias`, [bias.length], bias, `${layer.name}/bias`));
    y = g.op('Gemm', ins, {}, layer.name);
  } else {
    const w = g.floats(`${layer.name}/kernel`, k.shape, k.data, `${layer.name}/kernel`);
    y = g.op('MatMul', [x.name, w], {}, bias ? `${layer.name}_matmul` : layer.name);
    if (bias) y = g.op('Add', [y, g.floats(`${layer.name}/bias`, [bias.length], bias, `${layer.name}/bias`)], {}, layer.name);
  }
  return [activation(ctx, { name: y, rank: x.rank, nchw: false }, layer.config.activation, layer)];
};

const flatten: Converter = (ctx, layer, [input]) => {
  if (input.rank === 2) return [input];
  // Keras flattens [N, H, W, C] in that order: back to NHWC first.
  const x = toKeras(ctx, input, layer.name);
  return [{ name: ctx.g.op('Flatten', [x.name], { axis: { i: 1 } }, layer.name), rank: 2, nchw: false }];
};

const identity: Converter = (_ctx, _layer, [input]) => [input];

const activationLayer: Converter = (ctx, layer, [input]) => [activation(ctx, input, layer.config.activation, layer)];

const relu: Converter = (ctx, layer, [input]) => {
  const c = layer.config;
  const max = c.max_value ?? c.maxValue;
  if (Number(c.negative_slope ?? 0) !== 0 || Number(c.threshold ?? 0) !== 0) {
    throw new Error(`${ctx.where}: layer ${layer.name} (ReLU) has a negative slope or threshold, which the ONNX export does not convert`);
  }
  if (max === null || max === undefined) return [activation(ctx, input, 'relu', layer)];
  const g = ctx.g;
  return [{ ...input, name: g.op('Clip', [input.name, g.scalar(0), g.scalar(Number(max))], {}, layer.name) }];
};

const leakyRelu: Converter = (ctx, layer, [input]) => [
  { ...input, name: ctx.g.op('LeakyRelu', [input.name], { alpha: { f: Number(layer.config.alpha ?? 0.3) } }, layer.name) },
];

const softmax: Converter = (ctx, layer, [input]) => {
  const axis = Array.isArray(layer.config.axis) ? Number(layer.config.axis[0]) : Number(layer.config.axis ?? -1);
  return [{ ...input, name: ctx.g.op('Softmax', [input.name], { axis: { i: onnxAxis(input, axis) } }, layer.name) }];
};

const elu: Converter = (ctx, layer, [input]) => [
  { ...input, name: ctx.g.op('Elu', [input.name], { alpha: { f: Number(layer.config.alpha ?? 1) } }, layer.name) },
];

const rescaling: Converter = (ctx, layer, [input]) => {
  const g = ctx.g;
  const { scale, offset } = layer.config;
  if (typeof scale !== 'number' || typeof (offset ?? 0) !== 'number') {
    throw new Error(`${ctx.where}: layer ${layer.name} (Rescaling) has a per-channel scale or offset, which the ONNX export does not convert`);
  }
  // x·scale + offset, in that order, as tfjs-layers computes it.
  let y = g.op('Mul', [input.name, g.scalar(scale)], {}, offset ? `${layer.name}_scaled` : layer.name);
  if (offset) y = g.op('Add', [y, g.scalar(Number(offset))], {}, layer.name);
  return [{ ...input, name: y }];
};

/** Inputs of a merge in one layout: NCHW when any of them is. */
function aligned(ctx: LayerContext, layer: KerasLayer, inputs: Value[]): Value[] {
  if (inputs.length < 2) throw new Error(`${ctx.where}: layer ${layer.name} (${layer.className}) merges fewer than two tensors`);
  if (inputs.some((v) => v.rank !== inputs[0].rank))
    throw new Error(`${ctx.where}: layer ${layer.name} (${layer.className}) merges tensors of different ranks`);
  return inputs.some((v) => v.nchw) ? inputs.map((v) => toNchw(ctx, v, layer)) : inputs;
}

const merge =
  (op: 'Add' | 'Sub' | 'Mul' | 'Max' | 'Min', average = false): Converter =>
  (ctx, layer, inputs) => {
    const g = ctx.g;
    const xs = aligned(ctx, layer, inputs);
    // Pairwise, left to right, as tfjs-layers merges.
    let y = xs[0].name;
    for (let i = 1; i < xs.length; i++) y = g.op(op, [y, xs[i].name], {}, average || i < xs.length - 1 ? `${layer.name}_${i}` : layer.name);
    if (average) y = g.op('Mul', [y, g.scalar(1 / xs.length)], {}, layer.name);
    return [{ ...xs[0], name: y }];
  };

const concatenate: Converter = (ctx, layer, inputs) => {
  const xs = aligned(ctx, layer, inputs);
  const axis = onnxAxis(xs[0], Number(layer.config.axis ?? -1));
  return [
    {
      ...xs[0],
      name: ctx.g.op(
        'Concat',
        xs.map((v) => v.name),
        { axis: { i: axis } },
        layer.name,
      ),
    },
  ];
};

const permute: Converter = (ctx, layer, [input]) => {
  const dims = layer.config.dims as number[];
  const x = toKeras(ctx, input, layer.name);
  return [{ name: ctx.g.op('Transpose', [x.name], { perm: { ints: [0, ...dims] } }, layer.name), rank: x.rank, nchw: false }];
};

const reshape: Converter = (ctx, layer, [input]) => {
  const target = (layer.config.target_shape ?? layer.config.targetShape) as number[];
  const x = toKeras(ctx, input, layer.name);
  // 0 keeps the batch dimension.
  const shape = ctx.g.int64s(`${layer.name}_shape`, [0, ...target.map((d) => (d === null ? -1 : d))]);
  return [{ name: ctx.g.op('Reshape', [x.name, shape], {}, layer.name), rank: 1 + target.length, nchw: false }];
};

export const OTHER_LAYERS: Record<string, Converter> = {
  Dense: dense,
  Flatten: flatten,
  Activation: activationLayer,
  ReLU: relu,
  LeakyReLU: leakyRelu,
  Softmax: softmax,
  ELU: elu,
  Rescaling: rescaling,
  Dropout: identity,
  SpatialDropout1D: identity,
  SpatialDropout2D: identity,
  GaussianNoise: identity,
  GaussianDropout: identity,
  AlphaDropout: identity,
  ActivityRegularization: identity,
  Add: merge('Add'),
  Subtract: merge('Sub'),
  Multiply: merge('Mul'),
  Maximum: merge('Max'),
  Minimum: merge('Min'),
  Average: merge('Add', true),
  Concatenate: concatenate,
  Permute: permute,
  Reshape: reshape,
};
