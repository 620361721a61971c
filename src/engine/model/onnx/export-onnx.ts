// The experiment's final model as `model.onnx`: the converted graph with what a user needs to feed it
// in its metadata_props (input layout, size, channels, scaling, resize, labels, output), and the hash
// of the TF.js model it came from, so that a copy kept in the experiment is known to be current.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { convertLayersModel } from './convert';
import { decodeModel } from './proto';

export interface OnnxModelInfo {
  name: string;
  experimentId: string;
  classes: string[];
  input: { height: number; width: number; channels: 1 | 3; fit: 'pad' | 'crop' };
  multiLabel: boolean;
  version: string;
}

/** The file the prediction server looks for in an experiment, beside `final/model/`. */
export const EXPERIMENT_ONNX = join('final', 'model.onnx');

/** SHA-256 of a TF.js model folder's files (model.json and weights), in name order. */
export function modelSourceHash(modelDir: string): string {
  const h = createHash('sha256');
  for (const f of readdirSync(modelDir).sort()) {
    if (f !== 'model.json' && !f.endsWith('.bin')) continue;
    h.update(f);
    h.update(readFileSync(join(modelDir, f)));
  }
  return h.digest('hex');
}

/** What a user needs to prepare an image for the model, as metadata_props (strings; lists as JSON). */
export function onnxMetadata(info: OnnxModelInfo, sourceHash: string): Record<string, string> {
  const { height, width, channels, fit } = info.input;
  return {
    labels: JSON.stringify(info.classes),
    input_name: 'image',
    input_layout: 'NHWC',
    input_dtype: 'float32',
    input_shape: JSON.stringify([height, width, channels]),
    input_channels: channels === 1 ? 'grayscale (Rec. 601 luma)' : 'RGB',
    input_range: '0-255',
    input_scaling: 'none: raw pixel values 0-255 (the model normalises them itself)',
    input_fit: fit,
    input_resize:
      fit === 'crop'
        ? 'keep the aspect ratio, scale to cover, centre-crop (bilinear, antialiased)'
        : 'keep the aspect ratio, scale to fit inside, pad with black (bilinear, antialiased)',
    input_alpha: 'composited on white',
    output_name: 'scores',
    output: info.multiLabel ? 'sigmoid score per label (multi-label)' : 'softmax probabilities over labels',
    multi_label: String(info.multiLabel),
    experiment: info.experimentId,
    source_sha256: sourceHash,
  };
}

/** Converts the TF.js model in `modelDir` to ONNX bytes with the metadata. */
export function onnxModelBytes(modelDir: string, info: OnnxModelInfo): Uint8Array {
  const { height, width, channels } = info.input;
  const doc =
    `${info.name}: image classifier exported by AutoML for VS Code. Input "image": float32 [N, ${height}, ${width}, ${channels}] (NHWC), ` +
    `raw pixel values 0-255. Output "scores": ${info.multiLabel ? 'sigmoid scores' : 'softmax probabilities'} over the labels in metadata "labels".`;
  return convertLayersModel(modelDir, { metadata: onnxMetadata(info, modelSourceHash(modelDir)), doc, producerVersion: info.version }).bytes;
}

/** The metadata_props of an `.onnx` file. */
export function readOnnxMetadata(bytes: Uint8Array): Record<string, string> {
  return Object.fromEntries((decodeModel(bytes).metadataProps ?? []).map((p) => [p.key, p.value]));
}
