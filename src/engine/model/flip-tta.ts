// Test-time augmentation by horizontal flip, as one tfjs layers model: the wrapped model scores
// the image and its mirror image, and the two score vectors are averaged. The mirror is made of
// standard layers only (permute the width axis last, multiply by the reversal matrix, permute
// back), so the result saves, loads, predicts, serves and exports like any other model, and the
// flip is exact (each output pixel is one input pixel times 1 plus zeros).
import * as tfl from '@tensorflow/tfjs-layers';
import type { SymbolicTensor } from '@tensorflow/tfjs-layers';
import * as tf from '@tensorflow/tfjs-core';
import { loadModel } from './io';

/** Layers that mirror an [H, W, C] image left to right. */
export function applyHorizontalFlip(input: SymbolicTensor, width: number): SymbolicTensor {
  const reversal = tf.tidy(() => tf.reverse(tf.eye(width), 1));
  try {
    const widthLast = tfl.layers.permute({ dims: [1, 3, 2], name: 'flip_width_last' }).apply(input) as SymbolicTensor;
    const mirrored = tfl.layers
      .dense({ units: width, useBias: false, trainable: false, weights: [reversal], name: 'flip_reverse' })
      .apply(widthLast) as SymbolicTensor;
    return tfl.layers.permute({ dims: [1, 3, 2], name: 'flip_width_back' }).apply(mirrored) as SymbolicTensor;
  } finally {
    reversal.dispose();
  }
}

/** The saved model in `dir`, wrapped: the mean of its scores for the image and for its mirror image. */
export async function buildFlipTtaModel(dir: string): Promise<tfl.LayersModel> {
  const inner = await loadModel(dir, { prefix: 'tta_' });
  const shape = inner.inputs[0].shape.slice(1) as number[];
  if (shape.length !== 3) throw new Error(`Flip test-time augmentation needs an image input [H, W, C], not ${JSON.stringify(shape)}`);
  const input = tfl.input({ shape, name: 'image' });
  const plain = inner.apply(input) as SymbolicTensor;
  const mirrored = inner.apply(applyHorizontalFlip(input, shape[1])) as SymbolicTensor;
  const scores = tfl.layers.average({ name: 'scores' }).apply([plain, mirrored]) as SymbolicTensor;
  return tfl.model({ inputs: input, outputs: scores, name: 'flip_tta' });
}
