// Inference with a saved model: decodes images exactly as the training cache did (same size,
// channels, fit and alpha handling, read from the model's metadata) and returns the labels with
// their scores. Runs in a worker process (never the extension host). With ONNX Runtime installed, an
// exported ONNX model (onnx-runtime.ts) is run there instead of the TF.js model.
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeImage } from '../../data/decode';
import type { FitMode } from '../../data/types';
import type { ImagePrediction, OodScoreKind } from '../../shared/protocol';
import { loadModel, readModelMetadata } from './io';
import { type OnnxSession, onnxModelFor, openOnnxSession } from './onnx-runtime';
import { borderBrightness, type ImageSignals, looksColourful, oodScoreKind, oodScores, withScoreOutputs } from './ood-score';

export interface ModelInput {
  height: number;
  width: number;
  channels: 1 | 3;
  fit: FitMode;
}

export class Predictor {
  /** The OOD score this model gives (src/engine/model/ood-score.ts), and the model that outputs what it needs. */
  readonly scoreKind: OodScoreKind | undefined;
  private readonly scoring: tfl.LayersModel | null;

  private constructor(
    /** The TF.js model; null when ONNX Runtime runs the model. */
    readonly model: tfl.LayersModel | null,
    readonly classes: string[],
    readonly input: ModelInput,
    readonly multiLabel: boolean,
    /** The model's folder (`model.json`, and `ood.json` when calibrated, are in it). */
    readonly dir: string,
    private readonly onnx: OnnxSession | null = null,
  ) {
    // ONNX Runtime gives the probabilities only: their highest is the score (the calibration must be of that kind).
    this.scoreKind = model ? oodScoreKind(model, multiLabel) : multiLabel ? undefined : 'maxProbability';
    this.scoring = model ? withScoreOutputs(model, this.scoreKind) : null;
  }

  /** What runs the model. */
  get engine(): 'tfjs' | 'onnxruntime' {
    return this.onnx ? 'onnxruntime' : 'tfjs';
  }

  /**
   * Loads `<experiment>/final/model`, or a model folder given directly; with ONNX Runtime installed,
   * its exported ONNX model when there is a current one, or an ONNX model (folder or file) given directly.
   */
  static async load(experimentOrModelDir: string): Promise<Predictor> {
    const direct = onnxModelFor(experimentOrModelDir);
    const onnx = direct ?? onnxModelFor(join(experimentOrModelDir, 'final', 'model'));
    if (onnx) {
      const m = onnx.metadata;
      const [height, width, channels] = JSON.parse(m.input_shape ?? 'null') as [number, number, 1 | 3];
      const classes = JSON.parse(m.labels ?? 'null') as string[] | null;
      if (!height || !classes) throw new Error(`${experimentOrModelDir}: the ONNX model has no AutoML metadata (labels, input_shape)`);
      const input: ModelInput = { height, width, channels, fit: m.input_fit === 'crop' ? 'crop' : 'pad' };
      try {
        const dir = direct ? experimentOrModelDir : join(experimentOrModelDir, 'final', 'model');
        return new Predictor(null, classes, input, m.multi_label === 'true', dir, await openOnnxSession(onnx.bytes));
      } catch (e) {
        // An ONNX Runtime that cannot run the export (too old, a broken install): TF.js, when the model is there.
        if (!onnx.hasTfjs) throw e;
      }
    }
    let dir = experimentOrModelDir;
    try {
      readFileSync(join(dir, 'model.json'));
    } catch {
      dir = join(experimentOrModelDir, 'final', 'model');
    }
    let meta: Record<string, unknown>;
    try {
      meta = readModelMetadata(dir);
    } catch {
      throw new Error(`No trained model in ${experimentOrModelDir} (looked for model.json and final/model/model.json)`);
    }
    const input = meta.input as ModelInput | undefined;
    const classes = meta.classes as string[] | undefined;
    if (!input || !classes) throw new Error(`${dir}/model.json has no AutoML metadata (classes, input)`);
    const model = await loadModel(dir);
    return new Predictor(model, classes, input, meta.multiLabel === true, dir);
  }

  /** Decodes and predicts a batch of encoded images; per-image errors do not fail the batch. */
  async predictBytes(images: { name: string; bytes: Uint8Array }[], topK = 5): Promise<ImagePrediction[]> {
    return (await this.predictBytesWithSignals(images, topK)).results;
  }

  /** The predictions, and for each usable image what the out-of-distribution checks need (src/eval/ood.ts). */
  async predictBytesWithSignals(
    images: { name: string; bytes: Uint8Array }[],
    topK = 5,
  ): Promise<{ results: ImagePrediction[]; signals: (ImageSignals | undefined)[] }> {
    const { height, width, channels, fit } = this.input;
    const size = height * width * channels;
    const decoded = await Promise.all(images.map((img) => decodeImage(img.bytes, { height, width, channels, fit, background: 'white' })));
    const ok = decoded.map((d, i) => ({ d, i })).filter(({ d }) => d.pixels && !d.info.error);
    const results: ImagePrediction[] = images.map((img, i) => ({
      path: img.name,
      scores: [],
      error: decoded[i].info.error?.message ?? (decoded[i].pixels ? undefined : 'the image could not be decoded'),
    }));
    const signals: (ImageSignals | undefined)[] = images.map(() => undefined);
    if (ok.length === 0) return { results, signals };
    const started = Date.now();
    const x = new Float32Array(ok.length * size);
    ok.forEach(({ d }, j) => x.set(d.pixels!, j * size));
    const [data, logits] = await this.scores(x, [ok.length, height, width, channels]);
    const ms = (Date.now() - started) / ok.length;
    const k = this.classes.length;
    const ood = this.scoreKind ? oodScores(this.scoreKind === 'energy' && logits ? logits : data, ok.length, k, this.scoreKind) : undefined;
    for (const [j, { d, i }] of ok.entries()) {
      const row = Array.from(data.subarray(j * k, (j + 1) * k), (score, c) => ({ label: this.classes[c], score }));
      row.sort((a, b) => b.score - a.score);
      results[i] = { path: images[i].name, scores: row.slice(0, Math.min(topK, k)), ms };
      const { width: w, height: h, channels: c } = d.info;
      // A grayscale model given an image stored as colour: is it colour in fact (a small RGB copy)?
      const colourful = channels === 1 && c >= 3 ? await this.isColourful(images[i].bytes) : undefined;
      signals[i] = {
        width: w,
        height: h,
        channels: c,
        border: borderBrightness(d.pixels!, height, width, channels),
        ...(colourful !== undefined ? { colourful } : {}),
        ...(ood ? { score: ood[j] } : {}),
      };
    }
    return { results, signals };
  }

  private async isColourful(bytes: Uint8Array): Promise<boolean> {
    const small = await decodeImage(bytes, { height: 32, width: 32, channels: 3, fit: 'pad', background: 'white' });
    return small.pixels ? looksColourful(small.pixels) : false;
  }

  /** The probabilities, and the logits when the score is the energy (TF.js only). */
  private async scores(x: Float32Array, shape: [number, number, number, number]): Promise<[Float32Array, Float32Array | undefined]> {
    if (this.onnx) return [await this.onnx.run(x, shape), undefined];
    const scoring = this.scoring!;
    const outputs = tf.tidy(() => {
      const y = scoring.predict(tf.tensor4d(x, shape));
      return Array.isArray(y) ? y : [y];
    });
    const [data, logits] = (await Promise.all(outputs.map((t) => t.data()))) as Float32Array[];
    tf.dispose(outputs);
    return [data, logits];
  }

  async predictFiles(paths: string[], topK = 5): Promise<ImagePrediction[]> {
    return (await this.predictFilesWithSignals(paths, topK)).results;
  }

  async predictFilesWithSignals(paths: string[], topK = 5): Promise<{ results: ImagePrediction[]; signals: (ImageSignals | undefined)[] }> {
    const images: { name: string; bytes: Uint8Array }[] = [];
    const errors = new Map<number, string>();
    paths.forEach((p, i) => {
      try {
        images.push({ name: p, bytes: readFileSync(p) });
      } catch (e) {
        errors.set(i, `cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        images.push({ name: p, bytes: new Uint8Array(0) });
      }
    });
    const out = await this.predictBytesWithSignals(images, topK);
    return {
      results: out.results.map((r, i) => (errors.has(i) ? { path: paths[i], scores: [], error: errors.get(i) } : r)),
      signals: out.signals,
    };
  }

  dispose(): void {
    this.model?.dispose();
    void this.onnx?.release();
  }
}
