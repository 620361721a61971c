// The out-of-distribution score of a saved model's output, higher for images less like the training
// data. A model whose last layer is a softmax activation (this product's networks and transfer
// heads) gives its pre-softmax logits, and the score is the energy −logsumexp(logits) (Liu et al.,
// 2020); an ensemble or a mirror-image average outputs mixed probabilities only, and the score is
// −log(highest probability) (the maximum-softmax-probability baseline, Hendrycks & Gimpel, 2017).
// Multi-label models (sigmoid outputs) have no score. Calibration (src/eval/ood.ts) and prediction
// (./predict.ts) use the same functions, so a threshold and a score are always of the same kind.
import type * as tfl from '@tensorflow/tfjs-layers';
import * as tflayers from '@tensorflow/tfjs-layers';
import type { OodScoreKind } from '../../shared/protocol';

type Layer = tfl.layers.Layer;

/** What prediction measures of one image for the out-of-distribution checks (src/eval/ood.ts). */
export interface ImageSignals {
  /** The source image's size (after EXIF orientation) and stored channels (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA). */
  width: number;
  height: number;
  channels: number;
  /** Set for a grayscale model given an image stored as colour: whether its pixels are colour in fact. */
  colourful?: boolean;
  /** The OOD score, with the model's kind of score (absent for multi-label models). */
  score?: number;
  /** Mean brightness (0–255) of the outer eighth on each side of the image as the model sees it (`borderBrightness`). */
  border?: number;
}

function lastActivation(model: tfl.LayersModel): string | undefined {
  const last = model.layers[model.layers.length - 1] as Layer | undefined;
  if (!last || last.getClassName() !== 'Activation') return undefined;
  return String((last.getConfig() as { activation?: unknown }).activation);
}

/** The model's pre-softmax logits as a symbolic tensor (its last layer's input), when it ends in a softmax. */
export function logitsTensor(model: tfl.LayersModel): tfl.SymbolicTensor | undefined {
  if (model.outputs.length !== 1 || lastActivation(model) !== 'softmax') return undefined;
  const input = model.layers[model.layers.length - 1].input;
  return Array.isArray(input) ? undefined : input;
}

/** Which score a model gives: energy with logits, the highest probability for other single-label models. */
export function oodScoreKind(model: tfl.LayersModel, multiLabel: boolean): OodScoreKind | undefined {
  if (multiLabel || lastActivation(model) === 'sigmoid') return undefined;
  return logitsTensor(model) ? 'energy' : 'maxProbability';
}

/**
 * The model with the outputs the score needs: for `energy`, one more output (the logits) after the
 * probabilities; otherwise the model itself. Shares the weights.
 */
export function withScoreOutputs(model: tfl.LayersModel, kind: OodScoreKind | undefined): tfl.LayersModel {
  const logits = kind === 'energy' ? logitsTensor(model) : undefined;
  if (!logits) return model;
  return tflayers.model({ inputs: model.inputs, outputs: [model.outputs[0], logits], name: `${model.name}_with_logits` });
}

/** The model's logits alone (for `energy`), or its probabilities. */
export function scoreInputModel(model: tfl.LayersModel, kind: OodScoreKind): tfl.LayersModel {
  const logits = kind === 'energy' ? logitsTensor(model) : undefined;
  return logits ? tflayers.model({ inputs: model.inputs, outputs: logits, name: `${model.name}_logits_only` }) : model;
}

/**
 * Scores of `n` rows of `k` values: energy −logsumexp(z) of logits (computed stably, in doubles),
 * or −log(max p) of probabilities. Higher means less like the training data.
 */
export function oodScores(values: ArrayLike<number>, n: number, k: number, kind: OodScoreKind): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let c = 0; c < k; c++) max = Math.max(max, values[i * k + c]);
    if (kind === 'maxProbability') {
      out[i] = -Math.log(Math.max(max, 1e-12));
      continue;
    }
    let sum = 0;
    for (let c = 0; c < k; c++) sum += Math.exp(values[i * k + c] - max);
    out[i] = -(max + Math.log(sum));
  }
  return out;
}

/**
 * Mean brightness (0–255, over all channels) of the pixels in the outer eighth of each side of an
 * H × W × C image: its background, mostly. Fashion-MNIST's is black; a drawing on white paper's is not.
 */
export function borderBrightness(pixels: ArrayLike<number>, height: number, width: number, channels: number, offset = 0): number {
  const by = Math.max(1, Math.floor(height / 8));
  const bx = Math.max(1, Math.floor(width / 8));
  let sum = 0;
  let n = 0;
  for (let y = 0; y < height; y++) {
    const edgeRow = y < by || y >= height - by;
    for (let x = 0; x < width; x++) {
      if (!edgeRow && x >= bx && x < width - bx) continue;
      const o = offset + (y * width + x) * channels;
      for (let c = 0; c < channels; c++) sum += pixels[o + c];
      n += channels;
    }
  }
  return n ? sum / n : 0;
}

/**
 * Whether an RGB image (bytes, 3 per pixel) is colour in fact: more than 1 % of its pixels have
 * R, G and B more than 10 levels apart (JPEG chroma noise on a gray photo stays inside that; the
 * same rule as the dataset probe's).
 */
export function looksColourful(rgb: Uint8Array): boolean {
  const n = Math.floor(rgb.length / 3);
  let off = 0;
  for (let i = 0; i < n; i++) {
    const r = rgb[3 * i];
    const g = rgb[3 * i + 1];
    const b = rgb[3 * i + 2];
    if (Math.max(Math.abs(r - g), Math.abs(g - b), Math.abs(r - b)) > 10 && ++off > 0.01 * n) return true;
  }
  return false;
}
