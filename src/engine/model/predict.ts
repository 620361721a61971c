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
import type { ImagePrediction } from '../../shared/protocol';
import { loadModel, readModelMetadata } from './io';
import { type OnnxSession, onnxModelFor, openOnnxSession } from './onnx-runtime';

export interface ModelInput {
  height: number;
  width: number;
  channels: 1 | 3;
  fit: FitMode;
}

export class Predictor {
  private constructor(
    /** The TF.js model; null when ONNX Runtime runs the model. */
    readonly model: tfl.LayersModel | null,
    readonly classes: string[],
    readonly input: ModelInput,
    readonly multiLabel: boolean,
    private readonly onnx: OnnxSession | null = null,
  ) {}

  /** What runs the model. */
  get engine(): 'tfjs' | 'onnxruntime' {
    return this.onnx ? 'onnxruntime' : 'tfjs';
  }

  /**
   * Loads `<experiment>/final/model`, or a model folder given directly; with ONNX Runtime installed,
   * its exported ONNX model when there is a current one, or an ONNX model (folder or file) given directly.
   */
  static async load(experimentOrModelDir: string): Promise<Predictor> {
    const onnx = onnxModelFor(experimentOrModelDir) ?? onnxModelFor(join(experimentOrModelDir, 'final', 'model'));
    if (onnx) {
      const m = onnx.metadata;
      const [height, width, channels] = JSON.parse(m.input_shape ?? 'null') as [number, number, 1 | 3];
      const classes = JSON.parse(m.labels ?? 'null') as string[] | null;
      if (!height || !classes) throw new Error(`${experimentOrModelDir}: the ONNX model has no AutoML metadata (labels, input_shape)`);
      const input: ModelInput = { height, width, channels, fit: m.input_fit === 'crop' ? 'crop' : 'pad' };
      try {
        return new Predictor(null, classes, input, m.multi_label === 'true', await openOnnxSession(onnx.bytes));
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
    return new Predictor(model, classes, input, meta.multiLabel === true);
  }

  /** Decodes and predicts a batch of encoded images; per-image errors do not fail the batch. */
  async predictBytes(images: { name: string; bytes: Uint8Array }[], topK = 5): Promise<ImagePrediction[]> {
    const { height, width, channels, fit } = this.input;
    const size = height * width * channels;
    const decoded = await Promise.all(images.map((img) => decodeImage(img.bytes, { height, width, channels, fit, background: 'white' })));
    const ok = decoded.map((d, i) => ({ d, i })).filter(({ d }) => d.pixels && !d.info.error);
    const results: ImagePrediction[] = images.map((img, i) => ({
      path: img.name,
      scores: [],
      error: decoded[i].info.error?.message ?? (decoded[i].pixels ? undefined : 'the image could not be decoded'),
    }));
    if (ok.length === 0) return results;
    const started = Date.now();
    const x = new Float32Array(ok.length * size);
    ok.forEach(({ d }, j) => x.set(d.pixels!, j * size));
    const data = await this.scores(x, [ok.length, height, width, channels]);
    const ms = (Date.now() - started) / ok.length;
    const k = this.classes.length;
    ok.forEach(({ i }, j) => {
      const row = Array.from(data.subarray(j * k, (j + 1) * k), (score, c) => ({ label: this.classes[c], score }));
      row.sort((a, b) => b.score - a.score);
      results[i] = { path: images[i].name, scores: row.slice(0, Math.min(topK, k)), ms };
    });
    return results;
  }

  private async scores(x: Float32Array, shape: [number, number, number, number]): Promise<Float32Array> {
    if (this.onnx) return this.onnx.run(x, shape);
    const model = this.model!;
    const scores = tf.tidy(() => model.predict(tf.tensor4d(x, shape)) as tf.Tensor2D);
    const data = (await scores.data()) as Float32Array;
    scores.dispose();
    return data;
  }

  async predictFiles(paths: string[], topK = 5): Promise<ImagePrediction[]> {
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
    const out = await this.predictBytes(images, topK);
    return out.map((r, i) => (errors.has(i) ? { path: paths[i], scores: [], error: errors.get(i) } : r));
  }

  dispose(): void {
    this.model?.dispose();
    void this.onnx?.release();
  }
}
