// Training-mode fast paths for tfjs-layers layers, used by TrainStep.
//
// A training-mode BatchNormalization in tfjs-layers is moments() + batchNorm(),
// differentiated op by op (~25 passes over the activation). When the active
// backend has the project's fused BatchNorm kernels, the layer's `call` is
// redirected (on that layer instance only) to one fused op with a closed-form
// gradient; the moving averages are updated exactly as tfjs-layers does it.
// Inference, other backends and unusual configurations use the original code.
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { BN_TRAIN_GRAD_KERNEL, BN_TRAIN_KERNEL } from '../runtime/wasm/batchnorm';
import { DROPOUT_MASK_KERNEL } from '../runtime/wasm/dropout';
import { dropoutMask } from '../runtime/dropout-mask';
import { MOMENT_KERNEL, splitKernelsAvailable } from '../runtime/optimizer-update';

interface LayerVariableLike {
  read(): tf.Tensor;
  write(v: tf.Tensor): unknown;
}

/** The (private in the typings) fields of tfjs-layers' BatchNormalization we rely on. */
interface BatchNormLike {
  getClassName(): string;
  call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[];
  axis: number;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  gamma?: LayerVariableLike;
  beta?: LayerVariableLike;
  movingMean: LayerVariableLike;
  movingVariance: LayerVariableLike;
  trainable: boolean;
  inboundNodes: unknown[];
  outboundNodes: Array<{ outboundLayer: unknown }>;
  __automlFused?: boolean;
  /** The layer's only consumer is a ReLU activation: training applies it in the BatchNorm's pass. */
  __automlReluNext?: boolean;
}

/** The fields of tfjs-layers' Activation layer the ReLU fusion relies on. */
interface ActivationLike {
  getClassName(): string;
  call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[];
  activation: { getClassName(): string };
  __automlAfterBn?: boolean;
}

/**
 * Outputs of a BatchNorm whose ReLU was fused into it (training only): the Activation layer that
 * follows passes them on as they are (ReLU is idempotent, so this is exact whatever the graph).
 */
const reluApplied = new WeakSet<tf.Tensor>();

function isReluActivation(l: unknown): boolean {
  const a = l as Partial<ActivationLike>;
  return typeof a.getClassName === 'function' && a.getClassName() === 'Activation' && a.activation?.getClassName() === 'relu';
}

/**
 * Whether a BatchNorm may apply the ReLU that follows it: it is called once, its one consumer is a
 * ReLU Activation layer, and its output is no model output.
 */
function reluFollows(layer: BatchNormLike, outputLayers: ReadonlySet<unknown>): boolean {
  const outs = layer.outboundNodes ?? [];
  return (layer.inboundNodes ?? []).length === 1 && outs.length === 1 && isReluActivation(outs[0]!.outboundLayer) && !outputLayers.has(layer);
}

/** A ReLU Activation after a fused BatchNorm + ReLU: identity on that BatchNorm's training outputs. */
function patchReluAfterBn(layer: ActivationLike): void {
  if (layer.__automlAfterBn) return;
  const original = layer.call.bind(layer);
  layer.call = (inputs, kwargs) => {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    // A clone (Identity) shares the data on wasm: no pass over it, and its gradient is dy.
    return x !== undefined && reluApplied.has(x) ? tf.clone(x) : original(inputs, kwargs);
  };
  layer.__automlAfterBn = true;
}

/** The fields of tfjs-layers' Conv2D the first-layer patch relies on. */
interface Conv2DLike {
  getClassName(): string;
  call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[];
  rank: number;
  dataFormat: string;
  padding: string;
  strides: number[];
  dilationRate: number | number[];
  kernel: LayerVariableLike;
  bias: LayerVariableLike | null;
  activation: { apply(t: tf.Tensor): tf.Tensor };
  inboundNodes: LayerNodeLike[];
  __automlFirstConv?: boolean;
}

interface LayerNodeLike {
  inboundLayers: Array<{ getClassName(): string; trainableWeights: unknown[]; inboundNodes: LayerNodeLike[] }>;
}

interface ContainerLike {
  layers?: unknown[];
  outputLayers?: unknown[];
  getClassName(): string;
}

export function fusedBatchNormAvailable(): boolean {
  const b = tf.getBackend();
  return tf.getKernel(BN_TRAIN_KERNEL, b) !== undefined && tf.getKernel(BN_TRAIN_GRAD_KERNEL, b) !== undefined;
}

/** Whether the active backend's fused BatchNorm kernels take the `relu` attribute (wasm's; webgpu's do not). */
export function fusedReluAvailable(): boolean {
  return tf.getBackend() === 'wasm';
}

/**
 * y = BN(x) with batch statistics, as one differentiable op (y = max(0, BN(x)) with `relu`); also
 * returns the batch mean and (biased) variance, which the caller must dispose.
 */
export function fusedBatchNormTrain(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  epsilon: number,
  relu = false,
): { y: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor } {
  let mean: tf.Tensor | null = null;
  let variance: tf.Tensor | null = null;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xi, g, b] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const [y, m, v, invstd] = tf.engine().runKernel(BN_TRAIN_KERNEL, { x: xi, gamma: g, beta: b }, { epsilon, relu }) as tf.Tensor[];
    save([xi, g, m, invstd, b]);
    mean = tf.keep(m);
    variance = tf.keep(v);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sg, sm, si, sb] = saved;
        // With the ReLU fused, the gradient kernel recomputes its mask from x and needs beta.
        const inputs: tf.NamedTensorMap = { dy, x: sx, mean: sm, invstd: si, gamma: sg };
        if (relu) inputs.beta = sb;
        return tf.engine().runKernel(BN_TRAIN_GRAD_KERNEL, inputs, { relu }) as tf.Tensor[];
      },
    };
  });
  const y = op(x, gamma, beta);
  return { y, mean: mean!, variance: variance! };
}

function movingAverage(variable: LayerVariableLike, value: tf.Tensor, momentum: number): void {
  tf.tidy(() => {
    const orig = variable.read();
    // One kernel where the backend has the split optimizer kernels (webgpu: no scalar uploads):
    // momentum·orig + (1 − momentum)·value.
    if (splitKernelsAvailable()) {
      variable.write(tf.engine().runKernel(MOMENT_KERNEL, { s: orig, g: value }, { decay: momentum, scale: 1 - momentum, square: false }) as tf.Tensor);
      return;
    }
    // Same arithmetic as tfjs-layers' BatchNormalization.doMovingAverage.
    variable.write(tf.sub(orig, tf.mul(tf.sub(orig, value), 1 - momentum)));
  });
}

function patchBatchNorm(layer: BatchNormLike): void {
  if (layer.__automlFused) return;
  const original = layer.call.bind(layer);
  layer.call = (inputs, kwargs) => {
    const training = Boolean(kwargs?.training);
    // A frozen BatchNormalization (a pretrained backbone's) normalises with its moving statistics, as
    // in Keras: the batch statistics of small fine-tuning batches would undo what it learnt.
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const lastAxis = layer.axis === -1 || layer.axis === x.rank - 1;
    // Without `scale` or `center` (Keras InceptionV3 has no gamma), a fixed 1 or 0 stands in: tfjs's
    // own paths read the missing weight in training, or save it for the gradient, and throw.
    const gamma = () => (layer.scale ? layer.gamma!.read() : tf.onesLike(layer.movingMean.read()));
    const beta = () => (layer.center ? layer.beta!.read() : tf.zerosLike(layer.movingMean.read()));
    if (training && !layer.trainable) {
      if (!lastAxis) return original(inputs, { ...kwargs, training: false });
      return tf.tidy(() => tf.batchNorm(x, layer.movingMean.read(), layer.movingVariance.read(), beta(), gamma(), layer.epsilon));
    }
    const plain = layer.center && layer.scale;
    if (!training || !lastAxis || x.dtype !== 'float32' || (plain && !fusedBatchNormAvailable())) return original(inputs, kwargs);
    const fused = fusedBatchNormAvailable();
    const relu = fused && layer.__automlReluNext === true && fusedReluAvailable();
    const out = tf.tidy(() => {
      const { y, mean, variance } = fused ? fusedBatchNormTrain(x, gamma(), beta(), layer.epsilon, relu) : momentsBatchNorm(x, gamma(), beta(), layer.epsilon);
      movingAverage(layer.movingMean, mean, layer.momentum);
      movingAverage(layer.movingVariance, variance, layer.momentum);
      mean.dispose();
      variance.dispose();
      return y;
    });
    if (relu) reluApplied.add(out);
    return out;
  };
  layer.__automlFused = true;
}

/** Training-mode BatchNorm over the last axis by tf.moments, for backends without the fused kernels. */
function momentsBatchNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): { y: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor } {
  const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
  const { mean, variance } = tf.moments(x, axes);
  const y = tf.batchNorm(x, mean, variance, beta, gamma, epsilon);
  return { y, mean: tf.keep(mean), variance: tf.keep(variance) };
}

/**
 * A Conv2D fed by the model input. tfjs-core's fused conv2d (used for linear
 * activations) computes the input gradient eagerly in its custom gradient —
 * for the first layer a whole wasted convolution per step. The unfused
 * conv2d + add + activation (the same arithmetic; what tfjs itself uses in
 * training for non-linear activations) leaves it to the tape, which skips it.
 */
function patchFirstConv(layer: Conv2DLike): void {
  if (layer.__automlFirstConv) return;
  const original = layer.call.bind(layer);
  layer.call = (inputs, kwargs) => {
    if (!kwargs?.training || layer.rank !== 2 || layer.dataFormat !== 'channelsLast' || layer.padding === 'causal') {
      return original(inputs, kwargs);
    }
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      let y: tf.Tensor = tf.conv2d(
        x,
        layer.kernel.read() as tf.Tensor4D,
        layer.strides as [number, number],
        layer.padding as 'same' | 'valid',
        'NHWC',
        layer.dilationRate as [number, number],
      );
      if (layer.bias !== null && layer.bias !== undefined) y = tf.add(y, layer.bias.read());
      return layer.activation.apply(y);
    });
  };
  layer.__automlFirstConv = true;
}

/** The fields of tfjs-layers' Dropout the patch relies on. */
interface DropoutLike {
  getClassName(): string;
  call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[];
  rate: number;
  noiseShape?: number[] | null;
  seed?: number;
  __automlDropout?: boolean;
}

/**
 * A Dropout in training with a seed (trainSegment moves it every step) and no noise shape: the mask
 * of dropout-mask.ts, applied by one multiply whose gradient is dy times the same mask. Otherwise (no
 * seed, a noise shape, inference) the original layer.
 */
function patchDropout(layer: DropoutLike): void {
  if (layer.__automlDropout) return;
  const original = layer.call.bind(layer);
  layer.call = (inputs, kwargs) => {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor;
    if (
      !kwargs?.training ||
      !(layer.rate > 0 && layer.rate < 1) ||
      layer.seed === undefined ||
      layer.seed === null ||
      layer.noiseShape != null ||
      x.dtype !== 'float32'
    ) {
      return original(inputs, kwargs);
    }
    const backend = tf.getBackend();
    const wasmKernel = tf.getKernel(DROPOUT_MASK_KERNEL, backend) !== undefined;
    // wasm with its stock kernels (the benchmark's baseline) keeps tfjs's own dropout.
    if (backend === 'wasm' && !wasmKernel) return original(inputs, kwargs);
    const attrs = { shape: x.shape, rate: layer.rate, seed: layer.seed };
    return tf.tidy(() => {
      // The wasm backend writes the mask into its heap in SIMD; elsewhere it is computed in JS.
      const mask = wasmKernel
        ? (tf.engine().runKernel(DROPOUT_MASK_KERNEL, {}, attrs as unknown as tf.NamedAttrMap) as tf.Tensor)
        : tf.tensor(dropoutMask(x.size, layer.rate, layer.seed!), x.shape, 'float32');
      return tf.mul(x, mask);
    });
  };
  layer.__automlDropout = true;
}

/**
 * Whether nothing trainable lies between the model input and this layer (e.g.
 * Input → Rescaling → Conv2D), i.e. its input gradient is never needed.
 */
function fedByModelInput(layer: { inboundNodes: LayerNodeLike[] }, depth = 0): boolean {
  const nodes = layer.inboundNodes ?? [];
  if (nodes.length === 0 || depth > 16) return false;
  return nodes.every((n) =>
    n.inboundLayers.every((l) => l.getClassName() === 'InputLayer' || (l.trainableWeights.length === 0 && fedByModelInput(l, depth + 1))),
  );
}

function visit(layers: unknown[], fn: (l: unknown, className: string, outputLayers: ReadonlySet<unknown>) => void, outputLayers: ReadonlySet<unknown>): void {
  for (const l of layers) {
    const c = l as ContainerLike;
    const name = c.getClassName();
    if (Array.isArray(c.layers) && name !== 'BatchNormalization')
      visit(c.layers, fn, new Set([...outputLayers, ...(c.outputLayers ?? [])])); // nested Sequential / Model
    else fn(l, name, outputLayers);
  }
}

/**
 * Training-mode fast paths on the model's layers: fused BatchNorm (when the
 * backend has the kernels), a first Conv2D that does not compute the input
 * gradient, and dropout masks from a hash. Returns how many layers were redirected.
 */
export function enableFusedLayers(model: LayersModel): number {
  let n = 0;
  visit(
    model.layers,
    (l, name, outputLayers) => {
      if (name === 'BatchNormalization') {
        const bn = l as BatchNormLike;
        patchBatchNorm(bn);
        n++;
        bn.__automlReluNext = reluFollows(bn, outputLayers);
        if (bn.__automlReluNext) {
          patchReluAfterBn(bn.outboundNodes[0]!.outboundLayer as ActivationLike);
          n++;
        }
      } else if (name === 'Conv2D' && fedByModelInput(l as Conv2DLike)) {
        patchFirstConv(l as Conv2DLike);
        n++;
      } else if (name === 'Dropout') {
        patchDropout(l as DropoutLike);
        n++;
      }
    },
    new Set((model as unknown as ContainerLike).outputLayers ?? []),
  );
  return n;
}
