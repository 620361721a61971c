// Converters for the image layers (NHWC in Keras, NCHW in ONNX): convolutions (plain, depthwise,
// separable) with their weights transposed, BatchNormalization, pooling, zero padding.
import type { Attr } from './graph';
import type { KerasLayer } from './keras';
import { type LayerContext, type Value, activation, need, toNchw } from './values';

type Converter = (ctx: LayerContext, layer: KerasLayer, inputs: Value[]) => Value[];

const pair = (v: unknown, d: number): [number, number] => {
  if (Array.isArray(v)) return [Number(v[0] ?? d), Number(v[1] ?? v[0] ?? d)];
  return v === undefined || v === null ? [d, d] : [Number(v), Number(v)];
};

function checkChannelsLast(ctx: LayerContext, layer: KerasLayer): void {
  const f = layer.config.data_format;
  if (f !== undefined && f !== null && f !== 'channels_last' && f !== 'channelsLast') {
    throw new Error(`${ctx.where}: layer ${layer.name} (${layer.className}) uses data_format ${String(f)}; only channels_last models can be exported to ONNX`);
  }
}

/** ONNX padding attributes for Keras padding 'same' (TF pads the extra pixel at the end: SAME_UPPER) or 'valid'. */
function padAttr(ctx: LayerContext, layer: KerasLayer): { auto_pad: { s: string } } {
  const p = layer.config.padding ?? 'valid';
  if (p === 'same') return { auto_pad: { s: 'SAME_UPPER' } };
  if (p === 'valid') return { auto_pad: { s: 'VALID' } };
  throw new Error(`${ctx.where}: layer ${layer.name} (${layer.className}) has padding ${JSON.stringify(p)}; only same and valid can be exported to ONNX`);
}

/** A Keras conv kernel [KH, KW, I, O] as ONNX's [O, I, KH, KW]. */
export function convKernel(shape: number[], k: Float32Array): { dims: number[]; data: Float32Array } {
  const [KH, KW, I, O] = shape;
  const out = new Float32Array(k.length);
  for (let h = 0; h < KH; h++)
    for (let w = 0; w < KW; w++)
      for (let i = 0; i < I; i++) for (let o = 0; o < O; o++) out[((o * I + i) * KH + h) * KW + w] = k[((h * KW + w) * I + i) * O + o];
  return { dims: [O, I, KH, KW], data: out };
}

/** A Keras depthwise kernel [KH, KW, C, M] as ONNX's grouped [C·M, 1, KH, KW] (output channel c·M + m, as TF orders them). */
export function depthwiseKernel(shape: number[], k: Float32Array): { dims: number[]; data: Float32Array } {
  const [KH, KW, C, M] = shape;
  const out = new Float32Array(k.length);
  for (let h = 0; h < KH; h++)
    for (let w = 0; w < KW; w++)
      for (let c = 0; c < C; c++) for (let m = 0; m < M; m++) out[((c * M + m) * KH + h) * KW + w] = k[((h * KW + w) * C + c) * M + m];
  return { dims: [C * M, 1, KH, KW], data: out };
}

function convNode(
  ctx: LayerContext,
  layer: KerasLayer,
  x: Value,
  kernel: { dims: number[]; data: Float32Array },
  o: { key: string; group: number; bias?: Float32Array; pad: Record<string, { s: string }>; strides: [number, number] },
): Value {
  const g = ctx.g;
  const w = g.floats(`${layer.name}/${o.key}`, kernel.dims, kernel.data, `${layer.name}/${o.key}`);
  const inputs = [x.name, w];
  if (o.bias) inputs.push(g.floats(`${layer.name}/bias`, [o.bias.length], o.bias, `${layer.name}/bias`));
  const dil = pair(layer.config.dilation_rate, 1);
  const name = g.op(
    'Conv',
    inputs,
    { ...o.pad, kernel_shape: { ints: kernel.dims.slice(2) }, strides: { ints: o.strides }, dilations: { ints: dil }, group: { i: o.group } },
    layer.name,
  );
  return { name, rank: 4, nchw: true };
}

const conv2d: Converter = (ctx, layer, [input]) => {
  checkChannelsLast(ctx, layer);
  const k = need(ctx, layer, 'kernel');
  const bias = layer.config.use_bias !== false ? need(ctx, layer, 'bias').data : undefined;
  const x = toNchw(ctx, input, layer);
  const y = convNode(ctx, layer, x, convKernel(k.shape, k.data), {
    key: 'kernel',
    group: 1,
    bias,
    pad: padAttr(ctx, layer),
    strides: pair(layer.config.strides, 1),
  });
  return [activation(ctx, y, layer.config.activation, layer)];
};

const depthwiseConv2d: Converter = (ctx, layer, [input]) => {
  checkChannelsLast(ctx, layer);
  const k = need(ctx, layer, 'depthwise_kernel');
  const bias = layer.config.use_bias !== false ? need(ctx, layer, 'bias').data : undefined;
  const x = toNchw(ctx, input, layer);
  const kernel = depthwiseKernel(k.shape, k.data);
  const y = convNode(ctx, layer, x, kernel, {
    key: 'depthwise_kernel',
    group: k.shape[2],
    bias,
    pad: padAttr(ctx, layer),
    strides: pair(layer.config.strides, 1),
  });
  return [activation(ctx, y, layer.config.activation, layer)];
};

const separableConv2d: Converter = (ctx, layer, [input]) => {
  checkChannelsLast(ctx, layer);
  const dk = need(ctx, layer, 'depthwise_kernel');
  const pk = need(ctx, layer, 'pointwise_kernel');
  const bias = layer.config.use_bias !== false ? need(ctx, layer, 'bias').data : undefined;
  const x = toNchw(ctx, input, layer);
  const strides = pair(layer.config.strides, 1);
  const d = convNode(ctx, layer, x, depthwiseKernel(dk.shape, dk.data), { key: 'depthwise_kernel', group: dk.shape[2], pad: padAttr(ctx, layer), strides });
  const noDilation = { ...layer, config: { ...layer.config, dilation_rate: 1 } };
  const y = convNode(ctx, noDilation, d, convKernel(pk.shape, pk.data), {
    key: 'pointwise_kernel',
    group: 1,
    bias,
    pad: { auto_pad: { s: 'VALID' } },
    strides: [1, 1],
  });
  return [activation(ctx, y, layer.config.activation, layer)];
};

const batchNormalization: Converter = (ctx, layer, [input]) => {
  const axis = Array.isArray(layer.config.axis) ? (layer.config.axis as number[]) : [Number(layer.config.axis ?? -1)];
  const last = axis.length === 1 && (axis[0] === -1 || axis[0] === input.rank - 1);
  if (!last || (input.rank !== 4 && input.rank !== 2)) {
    throw new Error(
      `${ctx.where}: layer ${layer.name} (BatchNormalization) normalises axis ${JSON.stringify(layer.config.axis)} of a rank-${input.rank} tensor; only the channel axis of an image or a vector can be exported`,
    );
  }
  const g = ctx.g;
  const mean = need(ctx, layer, 'moving_mean').data;
  const variance = need(ctx, layer, 'moving_variance').data;
  const n = mean.length;
  const gamma = layer.config.scale !== false ? need(ctx, layer, 'gamma').data : new Float32Array(n).fill(1);
  const beta = layer.config.center !== false ? need(ctx, layer, 'beta').data : new Float32Array(n);
  const x = input.rank === 4 ? toNchw(ctx, input, layer) : input;
  const ins = [
    x.name,
    ...(
      [
        ['gamma', gamma],
        ['beta', beta],
        ['moving_mean', mean],
        ['moving_variance', variance],
      ] as const
    ).map(([k, v]) => g.floats(`${layer.name}/${k}`, [n], v, `${layer.name}/${k}`)),
  ];
  const eps = Number(layer.config.epsilon ?? 1e-3);
  return [{ ...x, name: g.op('BatchNormalization', ins, { epsilon: { f: eps } }, layer.name) }];
};

const pooling =
  (op: 'MaxPool' | 'AveragePool'): Converter =>
  (ctx, layer, [input]) => {
    checkChannelsLast(ctx, layer);
    const size = pair(layer.config.pool_size, 2);
    const strides = layer.config.strides === null || layer.config.strides === undefined ? size : pair(layer.config.strides, 1);
    const x = toNchw(ctx, input, layer);
    // TF's average pooling divides by the pixels inside the image, as count_include_pad = 0 does.
    const extra: Record<string, Attr> = op === 'AveragePool' ? { count_include_pad: { i: 0 } } : {};
    const name = ctx.g.op(op, [x.name], { ...padAttr(ctx, layer), kernel_shape: { ints: size }, strides: { ints: strides }, ...extra }, layer.name);
    return [{ name, rank: 4, nchw: true }];
  };

const globalPooling =
  (op: 'GlobalAveragePool' | 'GlobalMaxPool'): Converter =>
  (ctx, layer, [input]) => {
    checkChannelsLast(ctx, layer);
    const x = toNchw(ctx, input, layer);
    const pooled = ctx.g.op(op, [x.name], {}, layer.config.keepdims === true ? layer.name : `${layer.name}_4d`);
    if (layer.config.keepdims === true) return [{ name: pooled, rank: 4, nchw: true }];
    return [{ name: ctx.g.op('Flatten', [pooled], { axis: { i: 1 } }, layer.name), rank: 2, nchw: false }];
  };

const zeroPadding2d: Converter = (ctx, layer, [input]) => {
  checkChannelsLast(ctx, layer);
  const p = layer.config.padding ?? 1;
  const [[t, b], [l, r]] = Array.isArray(p)
    ? Array.isArray(p[0])
      ? (p as [[number, number], [number, number]])
      : [pair(p[0], 0), pair(p[1], 0)]
    : [pair(p, 0), pair(p, 0)];
  const x = toNchw(ctx, input, layer);
  const pads = ctx.g.int64s(`${layer.name}_pads`, [0, 0, t, l, 0, 0, b, r]);
  return [{ name: ctx.g.op('Pad', [x.name, pads], { mode: { s: 'constant' } }, layer.name), rank: 4, nchw: true }];
};

export const IMAGE_LAYERS: Record<string, Converter> = {
  Conv2D: conv2d,
  DepthwiseConv2D: depthwiseConv2d,
  SeparableConv2D: separableConv2d,
  BatchNormalization: batchNormalization,
  MaxPooling2D: pooling('MaxPool'),
  AveragePooling2D: pooling('AveragePool'),
  GlobalAveragePooling2D: globalPooling('GlobalAveragePool'),
  GlobalMaxPooling2D: globalPooling('GlobalMaxPool'),
  ZeroPadding2D: zeroPadding2d,
};
