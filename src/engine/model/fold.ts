// Folding a frozen network for inference: each chain
//
//   [ZeroPadding2D] → Conv2D | DepthwiseConv2D → [BatchNormalization] → [ReLU | ReLU6]
//
// becomes one fused convolution (tf.fused.conv2d / depthwiseConv2d) with the BatchNorm's moving
// statistics folded into its filter and bias, the padding passed as explicit padding and the
// activation applied as the convolution stores its output. tfjs-layers runs such a chain as up to
// five kernels, each a full pass over the activations (a MobileNetV2 batch of 16 makes 52
// BatchNorm, 35 ReLU and 35 clipping passes over ~400 MB each); folded, the element-wise work
// happens in the convolution's registers.
//
// Only for inference with frozen weights (feature extraction): the folded filters are copies, and
// training the folded model would not train the original. Chains whose inner tensors are used
// elsewhere (another consumer, a model output) are not folded; a layer called more than once
// leaves the whole model as it is.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

type Layer = tfl.layers.Layer;
type SymbolicTensor = tfl.SymbolicTensor;
type Activation = 'linear' | 'relu' | 'relu6';

interface FoldedSpec {
  depthwise: boolean;
  filter: tf.Tensor4D;
  bias: tf.Tensor1D | null;
  strides: [number, number];
  dilations: [number, number];
  pad: 'valid' | 'same' | [[number, number], [number, number], [number, number], [number, number]];
  activation: Activation;
  outputShape: tfl.Shape;
}

/** One folded chain: a fused convolution with its own (folded) filter and bias. */
class FoldedConv extends tfl.layers.Layer {
  static readonly className = 'AutomlFoldedConv';

  constructor(
    private readonly spec: FoldedSpec,
    name: string,
  ) {
    super({ name, trainable: false });
  }

  override computeOutputShape(): tfl.Shape {
    return this.spec.outputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
    const s = this.spec;
    const args = { x, filter: s.filter, strides: s.strides, dilations: s.dilations, bias: s.bias ?? undefined, activation: s.activation };
    if (!s.depthwise) return tf.fused.conv2d({ ...args, pad: s.pad });
    // paddingOf gives depthwise layers no explicit padding.
    return tf.fused.depthwiseConv2d({ ...args, pad: s.pad as 'same' | 'valid' });
  }

  protected override disposeWeights(): number {
    tf.dispose([this.spec.filter, ...(this.spec.bias ? [this.spec.bias] : [])]);
    return super.disposeWeights();
  }
}

const pair = (v: unknown): [number, number] => (Array.isArray(v) ? [Number(v[0]), Number(v[1] ?? v[0])] : [Number(v ?? 1), Number(v ?? 1)]);

function config(l: Layer): Record<string, unknown> {
  return l.getConfig() as Record<string, unknown>;
}

function channelsLast(l: Layer): boolean {
  const f = config(l).dataFormat;
  return f === undefined || f === 'channelsLast';
}

/** The activation a layer applies, when it is one the fused convolution can apply; else null. */
function activationOf(l: Layer): Activation | null {
  const cls = l.getClassName();
  const c = config(l);
  if (cls === 'ReLU') return c.maxValue == null ? 'relu' : c.maxValue === 6 ? 'relu6' : null;
  if (cls === 'Activation') return c.activation === 'relu' || c.activation === 'relu6' || c.activation === 'linear' ? c.activation : null;
  return null;
}

const isConv = (l: Layer): boolean => (l.getClassName() === 'Conv2D' || l.getClassName() === 'DepthwiseConv2D') && channelsLast(l);

/**
 * The model with its foldable chains folded (see the file's comment), or `model` itself when
 * nothing folds. The returned model's `dispose` also disposes `model` (whose layers it shares).
 */
export function foldForInference(model: tfl.LayersModel): tfl.LayersModel {
  const layers = model.layers;
  if (layers.some((l) => l.getClassName() !== 'InputLayer' && l.inboundNodes.length !== 1)) return model;
  // Consumers of each layer's output, within this model; model outputs count as a consumer.
  const consumers = new Map<Layer, Layer[]>();
  for (const l of layers) {
    for (const node of l.inboundNodes) for (const src of node.inboundLayers) consumers.set(src, [...(consumers.get(src) ?? []), l]);
  }
  const outputs = new Set(model.outputs.map((t) => t.sourceLayer));
  const soleNext = (l: Layer): Layer | null => {
    const c = consumers.get(l) ?? [];
    return c.length === 1 && !outputs.has(l) ? c[0]! : null;
  };
  const mapped = new Map<SymbolicTensor, SymbolicTensor>();
  for (const t of model.inputs) mapped.set(t, t);
  const absorbed = new Set<Layer>();
  let folds = 0;
  for (const l of layers) {
    if (l.getClassName() === 'InputLayer' || absorbed.has(l)) continue;
    const node = l.inboundNodes[0]!;
    const inputs = node.inputTensors.map((t) => {
      const m = mapped.get(t);
      if (m === undefined) throw new Error(`foldForInference: ${l.name}'s input is not computed yet`);
      return m;
    });
    const chain = chainFrom(l, soleNext);
    if (chain === null) {
      const out = l.apply(inputs.length === 1 ? inputs[0]! : inputs) as SymbolicTensor | SymbolicTensor[];
      const outs = Array.isArray(out) ? out : [out];
      node.outputTensors.forEach((t, i) => mapped.set(t, outs[i]!));
      continue;
    }
    const last = chain.act ?? chain.bn ?? chain.conv;
    const spec = foldedSpec(chain, last.inboundNodes[0]!.outputTensors[0]!.shape);
    const out = new FoldedConv(spec, `${chain.conv.name}_folded`).apply(inputs[0]!) as SymbolicTensor;
    mapped.set(last.inboundNodes[0]!.outputTensors[0]!, out);
    for (const x of [chain.pad, chain.conv, chain.bn, chain.act]) if (x) absorbed.add(x);
    folds++;
  }
  if (folds === 0) return model;
  const folded = tfl.model({ inputs: model.inputs, outputs: model.outputs.map((t) => mapped.get(t)!), name: `${model.name}_folded` });
  const disposeFolded = folded.dispose.bind(folded);
  folded.dispose = () => {
    const r = disposeFolded();
    model.dispose();
    return r;
  };
  return folded;
}

interface Chain {
  pad: Layer | null;
  conv: Layer;
  bn: Layer | null;
  act: Layer | null;
  /** The padding that replaces `pad`. */
  explicit: FoldedSpec['pad'] | null;
}

/** The foldable chain that starts at `l` (when it folds anything), else null. */
function chainFrom(l: Layer, soleNext: (l: Layer) => Layer | null): Chain | null {
  let pad: Layer | null = null;
  let conv: Layer | null = null;
  let explicit: FoldedSpec['pad'] | null = null;
  if (l.getClassName() === 'ZeroPadding2D' && channelsLast(l)) {
    const next = soleNext(l);
    explicit = next !== null && isConv(next) && config(next).padding === 'valid' ? paddingOf(l, next) : null;
    if (explicit !== null) {
      pad = l;
      conv = next;
    }
  } else if (isConv(l)) {
    conv = l;
  }
  if (conv === null) return null;
  const convAct = config(conv).activation;
  let bn: Layer | null = null;
  let tail = conv;
  const afterConv = soleNext(conv);
  if (convAct === 'linear' && afterConv !== null && afterConv.getClassName() === 'BatchNormalization') {
    const axis = config(afterConv).axis;
    if (axis === -1 || axis === 3 || (Array.isArray(axis) && axis.length === 1 && (axis[0] === -1 || axis[0] === 3))) {
      bn = afterConv;
      tail = bn;
    }
  }
  let act: Layer | null = null;
  const afterTail = soleNext(tail);
  if ((tail !== conv || convAct === 'linear') && afterTail !== null && activationOf(afterTail) !== null) act = afterTail;
  if (pad === null && bn === null && act === null) return null;
  if (tail === conv && act === null && convAct !== 'linear' && convAct !== 'relu' && convAct !== 'relu6') return null;
  return { pad, conv, bn, act, explicit };
}

/**
 * The padding of ZeroPadding2D `pad` as the padding of the convolution `conv` after it: 'same'
 * where that is what 'same' pads for this input (MobileNetV2's stride-2 layers), else explicit
 * (Conv2D only: tf.fused.depthwiseConv2d takes no explicit padding); null when it cannot fold.
 */
function paddingOf(pad: Layer, conv: Layer): FoldedSpec['pad'] | null {
  const p = config(pad).padding as [[number, number], [number, number]] | [number, number] | number;
  const [[t, b], [left, r]] =
    typeof p === 'number'
      ? [
          [p, p],
          [p, p],
        ]
      : typeof p[0] === 'number'
        ? [
            [p[0], p[0]],
            [p[1] as number, p[1] as number],
          ]
        : (p as [[number, number], [number, number]]);
  const xShape = pad.inboundNodes[0]!.inputTensors[0]!.shape;
  const wShape = conv.getWeights()[0]!.shape;
  const cc = config(conv);
  if (xShape.length === 4 && xShape.slice(1).every((d) => typeof d === 'number') && wShape.length === 4) {
    const info = tf.backend_util.computeConv2DInfo(
      [1, ...(xShape.slice(1) as number[])] as [number, number, number, number],
      wShape as [number, number, number, number],
      pair(cc.strides),
      pair(cc.dilationRate),
      'same',
      undefined,
      conv.getClassName() === 'DepthwiseConv2D',
    );
    const { top, bottom, left: l0, right } = info.padInfo;
    if (top === t && bottom === b && l0 === left && right === r) return 'same';
  }
  return conv.getClassName() === 'Conv2D'
    ? [
        [0, 0],
        [t, b],
        [left, r],
        [0, 0],
      ]
    : null;
}

function foldedSpec(c: Chain, outShape: tfl.Shape): FoldedSpec {
  const cc = config(c.conv);
  const depthwise = c.conv.getClassName() === 'DepthwiseConv2D';
  const weights = c.conv.getWeights();
  const useBias = cc.useBias !== false;
  let pad: FoldedSpec['pad'] = cc.padding === 'same' ? 'same' : 'valid';
  if (c.explicit !== null) pad = c.explicit;
  const activation: Activation = c.act !== null ? activationOf(c.act)! : c.bn === null ? (cc.activation as Activation) : 'linear';
  const folded = tf.tidy((): tf.Tensor[] => {
    let w = weights[0]! as tf.Tensor4D;
    let bias: tf.Tensor1D | null = useBias ? (weights[1]! as tf.Tensor1D) : null;
    if (c.bn !== null) {
      const bc = config(c.bn);
      const bw = c.bn.getWeights();
      let k = 0;
      const gamma = bc.scale !== false ? bw[k++]! : null;
      const beta = bc.center !== false ? bw[k++]! : null;
      const mean = bw[k++]!;
      const variance = bw[k++]!;
      const eps = (bc.epsilon as number | undefined) ?? 1e-3;
      // scale = γ/√(σ² + ε) per output channel (depthwise: channel·multiplier + q, the last two axes flattened)
      let scale = tf.rsqrt(tf.add(variance, eps));
      if (gamma !== null) scale = tf.mul(scale, gamma);
      const [KH, KW, A, B] = w.shape;
      w = (depthwise ? tf.reshape(tf.mul(tf.reshape(w, [KH!, KW!, A! * B!]), scale), [KH!, KW!, A!, B!]) : tf.mul(w, scale)) as tf.Tensor4D;
      const b0 = bias ?? tf.zerosLike(mean);
      let shifted = tf.mul(tf.sub(b0, mean), scale);
      if (beta !== null) shifted = tf.add(shifted, beta);
      bias = shifted as tf.Tensor1D;
    }
    // Copies: the folded layer owns its tensors whether or not they were changed.
    return bias === null ? [tf.clone(w)] : [tf.clone(w), tf.clone(bias)];
  });
  const filter = folded[0] as tf.Tensor4D;
  const bias = (folded[1] ?? null) as tf.Tensor1D | null;
  return {
    depthwise,
    filter,
    bias,
    strides: pair(cc.strides),
    dilations: pair(cc.dilationRate),
    pad,
    activation,
    outputShape: outShape,
  };
}
