// Inference benchmark: single-image latency (decode + predict, p50/p95) and batched throughput
// of a 28×28×1 2-conv network through the same Predictor the prediction process uses.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePng } from '../data/png';
import { saveModel } from '../engine/model-io';
import { buildModel } from '../engine/models';
import { Predictor } from '../engine/predict';
import { initBackend } from '../engine/runtime';
import type { BackendPreference } from '../shared/protocol';

export interface InferenceRow {
  backend: string;
  case: string;
  images: number;
  p50Ms: number;
  p95Ms: number;
  imagesPerSec: number;
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

export async function benchInference(opts: { backend?: BackendPreference; runs?: number; batch?: number } = {}): Promise<InferenceRow[]> {
  const info = await initBackend({ preference: opts.backend ?? 'auto' });
  const dir = mkdtempSync(join(tmpdir(), 'automl-bench-infer-'));
  try {
    const classes = Array.from({ length: 10 }, (_, i) => `c${i}`);
    const model = buildModel(
      { family: 'convnet', 'convnet/blocks': 2, 'convnet/filters': 32, 'convnet/convs_per_block': 1, 'convnet/head': 'flatten', 'convnet/dense': 128 },
      { inputShape: [28, 28, 1], numClasses: 10, multiLabel: false, mean: 73, std: 90 },
      1,
    );
    await saveModel(model, join(dir, 'model'), { classes, multiLabel: false, input: { height: 28, width: 28, channels: 1, fit: 'pad' } });
    model.dispose();
    const predictor = await Predictor.load(join(dir, 'model'));
    const png = encodePng(28, 28, 1, Uint8Array.from({ length: 784 }, (_, i) => (i * 37) % 256));
    const file = join(dir, 'x.png');
    writeFileSync(file, png);
    const runs = opts.runs ?? 200;
    for (let i = 0; i < 10; i++) await predictor.predictFiles([file]);
    const single: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      await predictor.predictFiles([file]);
      single.push(performance.now() - t);
    }
    const batch = opts.batch ?? 256;
    const images = Array.from({ length: batch }, (_, i) => ({ name: `b${i}`, bytes: png }));
    const batched: number[] = [];
    await predictor.predictBytes(images);
    for (let i = 0; i < 10; i++) {
      const t = performance.now();
      await predictor.predictBytes(images);
      batched.push(performance.now() - t);
    }
    predictor.dispose();
    const name = `${info.name}${info.threads ? ` ×${info.threads}` : ''}`;
    return [
      { backend: name, case: 'single image (decode + predict)', images: 1, p50Ms: quantile(single, 0.5), p95Ms: quantile(single, 0.95), imagesPerSec: 1000 / quantile(single, 0.5) },
      { backend: name, case: `batch of ${batch}`, images: batch, p50Ms: quantile(batched, 0.5), p95Ms: quantile(batched, 0.95), imagesPerSec: (batch * 1000) / quantile(batched, 0.5) },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
