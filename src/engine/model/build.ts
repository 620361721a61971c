// Builds a tfjs layers model from a trial config (see search/space.ts for the parameters).
// Every model takes raw pixels (0–255, NHWC) and normalises them itself with a Rescaling layer,
// so an exported model needs no separate preprocessing code; the head gives probabilities
// (softmax for single-label, sigmoid for multi-label).
import * as tfl from '@tensorflow/tfjs-layers';
import type { SymbolicTensor } from '@tensorflow/tfjs-layers';
import type { TrialConfig } from '../../shared/protocol';
import type { LoadedBackbone } from './backbone';

export { layerFlops, modelFlops } from './flops';

export interface ModelShape {
  inputShape: [number, number, number];
  numClasses: number;
  multiLabel: boolean;
  /** Per-dataset pixel mean and standard deviation on the 0–255 scale (all channels together). */
  mean: number;
  std: number;
}

const num = (c: TrialConfig, k: string, d: number) => (typeof c[k] === 'number' ? (c[k] as number) : d);

/**
 * The model of a trial config. The `transfer` family builds a new head on `backbone` (loaded fresh
 * for each model: its layers become this model's), frozen at first (see setBackboneTrainable).
 */
export function buildModel(config: TrialConfig, shape: ModelShape, seed = 0, backbone?: LoadedBackbone): tfl.LayersModel {
  if (config.family === 'transfer') {
    if (!backbone) throw new Error('A transfer-learning trial needs a pretrained backbone (setting automl.backbone, --backbone)');
    let x = backbone.features;
    if (x.shape.length === 4) x = tfl.layers.globalAveragePooling2d({ name: 'head_pool' }).apply(x) as SymbolicTensor;
    else if (x.shape.length !== 2) x = tfl.layers.flatten({ name: 'head_flatten' }).apply(x) as SymbolicTensor;
    // Pretrained features can be large (unnormalised ReLU outputs): normalised, the new head trains
    // stably at a high rate.
    x = tfl.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5, name: 'head_norm' }).apply(x) as SymbolicTensor;
    const dropout = num(config, 'transfer/dropout', 0.2);
    if (dropout > 0) x = tfl.layers.dropout({ rate: dropout, seed, name: 'head_dropout' }).apply(x) as SymbolicTensor;
    const model = tfl.model({ inputs: backbone.input, outputs: classifierHead(x, shape, seed), name: 'transfer' });
    for (const l of backbone.weightLayers) l.trainable = false;
    return model;
  }
  const ids = { n: 0 };
  const init = () => tfl.initializers.heNormal({ seed: seed + ids.n++ });
  const input = tfl.input({ shape: shape.inputShape, name: 'image' });
  let x = tfl.layers.rescaling({ scale: 1 / shape.std, offset: -shape.mean / shape.std, name: 'normalise' }).apply(input) as SymbolicTensor;

  const conv = (t: SymbolicTensor, filters: number, kernel: number, strides = 1, useBias = false) =>
    tfl.layers.conv2d({ filters, kernelSize: kernel, strides, padding: 'same', useBias, kernelInitializer: init() }).apply(t) as SymbolicTensor;
  const bn = (t: SymbolicTensor) => tfl.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5 }).apply(t) as SymbolicTensor;
  const relu = (t: SymbolicTensor) => tfl.layers.activation({ activation: 'relu' }).apply(t) as SymbolicTensor;

  let dropout = 0;
  switch (config.family) {
    case 'convnet': {
      const blocks = num(config, 'convnet/blocks', 2);
      const filters = num(config, 'convnet/filters', 32);
      const convs = num(config, 'convnet/convs_per_block', 1);
      const useBn = config['convnet/batchnorm'] === true;
      for (let b = 0; b < blocks; b++) {
        for (let c = 0; c < convs; c++) {
          x = conv(x, filters * 2 ** b, 3, 1, !useBn);
          if (useBn) x = bn(x);
          x = relu(x);
        }
        // Pool while the feature map is large enough for it.
        if ((x.shape[1] ?? 0) >= 4) x = tfl.layers.maxPooling2d({ poolSize: 2 }).apply(x) as SymbolicTensor;
      }
      x =
        config['convnet/head'] === 'gap'
          ? (tfl.layers.globalAveragePooling2d({}).apply(x) as SymbolicTensor)
          : (tfl.layers.flatten().apply(x) as SymbolicTensor);
      dropout = num(config, 'convnet/dropout', 0);
      const dense = num(config, 'convnet/dense', 0);
      if (dense > 0) {
        if (dropout > 0) x = tfl.layers.dropout({ rate: dropout, seed }).apply(x) as SymbolicTensor;
        x = tfl.layers.dense({ units: dense, activation: 'relu', kernelInitializer: init() }).apply(x) as SymbolicTensor;
      }
      break;
    }
    case 'resnet': {
      // CIFAR-style ResNet (He et al. 2016): depth = 6n + 2, three stages of widths w, 2w, 4w.
      const depth = num(config, 'resnet/depth', 8);
      const width = num(config, 'resnet/width', 16);
      const n = Math.max(1, Math.round((depth - 2) / 6));
      x = relu(bn(conv(x, width, 3)));
      for (let stage = 0; stage < 3; stage++) {
        const w = width * 2 ** stage;
        for (let i = 0; i < n; i++) {
          const stride = stage > 0 && i === 0 ? 2 : 1;
          let y = relu(bn(conv(x, w, 3, stride)));
          y = bn(conv(y, w, 3));
          const shortcut = stride !== 1 || (x.shape[3] ?? 0) !== w ? bn(conv(x, w, 1, stride)) : x;
          x = relu(tfl.layers.add().apply([y, shortcut]) as SymbolicTensor);
        }
      }
      x = tfl.layers.globalAveragePooling2d({}).apply(x) as SymbolicTensor;
      dropout = num(config, 'resnet/dropout', 0);
      break;
    }
    case 'mobilenet': {
      // MobileNet-v1-style: a stem conv, then stages of depthwise-separable blocks.
      const width = num(config, 'mobilenet/width', 32);
      const perStage = num(config, 'mobilenet/blocks_per_stage', 1);
      x = relu(bn(conv(x, width, 3)));
      for (let stage = 0; stage < 3; stage++) {
        const w = width * 2 ** stage;
        for (let i = 0; i < perStage; i++) {
          const stride = stage > 0 && i === 0 ? 2 : 1;
          x = tfl.layers
            .depthwiseConv2d({ kernelSize: 3, strides: stride, padding: 'same', useBias: false, depthwiseInitializer: init() })
            .apply(x) as SymbolicTensor;
          x = relu(bn(x));
          x = relu(bn(conv(x, w, 1)));
        }
      }
      x = tfl.layers.globalAveragePooling2d({}).apply(x) as SymbolicTensor;
      dropout = num(config, 'mobilenet/dropout', 0);
      break;
    }
    default:
      throw new Error(`Unknown model family '${String(config.family)}'`);
  }
  if (dropout > 0 && config.family !== 'convnet') x = tfl.layers.dropout({ rate: dropout, seed }).apply(x) as SymbolicTensor;
  if (config.family === 'convnet' && num(config, 'convnet/dense', 0) === 0 && dropout > 0) {
    x = tfl.layers.dropout({ rate: dropout, seed }).apply(x) as SymbolicTensor;
  }
  return tfl.model({ inputs: input, outputs: classifierHead(x, shape, seed), name: String(config.family) });
}

/**
 * Logits, then the probabilities as a separate layer: training uses the logits (a stable
 * cross-entropy, see step.ts), prediction and export the probabilities.
 */
function classifierHead(x: SymbolicTensor, shape: ModelShape, seed: number): SymbolicTensor {
  const logits = tfl.layers
    .dense({ units: shape.numClasses, kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 999 }), name: 'logits' })
    .apply(x) as SymbolicTensor;
  return tfl.layers.activation({ activation: shape.multiLabel ? 'sigmoid' : 'softmax', name: 'scores' }).apply(logits) as SymbolicTensor;
}

/** The same network without its final softmax/sigmoid: what the training step differentiates. Shares weights. */
export function logitsModel(model: tfl.LayersModel): tfl.LayersModel {
  const layer = model.getLayer('logits');
  return tfl.model({ inputs: model.inputs, outputs: layer.output as SymbolicTensor, name: `${model.name}_logits` });
}

/**
 * Estimates the memory a training step of the model needs, in bytes: weights, the trainable ones'
 * gradients and optimizer slots (Adam keeps two), plus activations for a batch. An activation
 * that a gradient flows through is kept for the backward pass with its gradient and the largest
 * kernels' working space (×3.5); one of the frozen layers below every trainable one (a pretrained
 * backbone's lower part) is only computed forward (×1). An estimate to skip or shrink what cannot
 * fit, not an exact figure.
 */
export function estimateTrainingMemory(model: tfl.LayersModel, batchSize: number, optimizer: string): number {
  const params = model.countParams();
  const trainable = model.trainableWeights.reduce((n, w) => n + w.shape.reduce<number>((a, b) => a * (b ?? 1), 1), 0);
  const slots = optimizer === 'sgd' ? 1 : 2;
  const needsGrad = new Set<tfl.layers.Layer>();
  let activations = 0;
  for (const layer of model.layers) {
    const inbound = (layer as unknown as { inboundNodes: { inboundLayers: tfl.layers.Layer[] }[] }).inboundNodes.flatMap((n) => n.inboundLayers);
    if ((layer.trainable && layer.trainableWeights.length > 0) || inbound.some((l) => needsGrad.has(l))) needsGrad.add(layer);
    const shapes = Array.isArray(layer.outputShape[0]) ? (layer.outputShape as number[][]) : [layer.outputShape as number[]];
    const size = shapes.reduce((sum, s) => sum + s.slice(1).reduce((a, b) => a * (b ?? 1), 1), 0);
    activations += size * (needsGrad.has(layer) ? 3.5 : 1);
  }
  return 4 * (params + trainable * (1 + slots) + activations * batchSize);
}
