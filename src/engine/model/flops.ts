// FLOP counts of layers and models: what the search predicts a configuration's speed from, and what
// a backbone reports of itself (engine/backbone.ts). No model building here, so both can use it.
import type * as tfl from '@tensorflow/tfjs-layers';
import type { SymbolicTensor } from '@tensorflow/tfjs-layers';

/**
 * Forward-pass multiply-adds ×2 (FLOPs) per image of the model's convolutions and dense layers:
 * a training step costs about three times this. Used to predict how long a config will train
 * from what other configs measured.
 */
export function modelFlops(model: tfl.LayersModel): number {
  let flops = 0;
  for (const layer of model.layers) flops += layerFlops(layer);
  return flops;
}

/** Forward FLOPs per image of one conv, depthwise conv or dense layer (0 for others). */
export function layerFlops(layer: tfl.layers.Layer): number {
  const out = layer.outputShape as number[];
  const inp = layer.inputSpec ? (layer.input as SymbolicTensor).shape : null;
  const cls = layer.getClassName();
  const cfg = layer.getConfig() as { kernelSize?: number[] | number; units?: number };
  const k = Array.isArray(cfg.kernelSize) ? cfg.kernelSize[0] * cfg.kernelSize[1] : (cfg.kernelSize ?? 1) ** 2;
  if (cls === 'Conv2D' && inp) return 2 * out[1] * out[2] * out[3] * k * (inp[3] ?? 1);
  if (cls === 'DepthwiseConv2D') return 2 * out[1] * out[2] * out[3] * k;
  if (cls === 'Dense' && inp) return 2 * (inp[inp.length - 1] ?? 1) * (cfg.units ?? 1);
  return 0;
}
