// Inference benchmark: single-image latency (decode + predict, p50/p95) and batched throughput
// of a 28×28×1 2-conv network through the same Predictor the prediction process uses.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePng } from '../data/png';
import { saveModel } from '../engine/model/io';
import { buildModel } from '../engine/model/build';
import { Predictor } from '../engine/model/predict';
import { initBackend } from '../engine/runtime/runtime';
import type { BackendPreference } from '../shared/protocol';

export interface InferenceRow {
  backend: string;
  case: string;
  images: number;
  p50Ms: number;
  p95Ms: number;
  imagesPerSec: number;
}

/** The q-quantile of a sample (nearest rank). */
export const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

/** A 2-conv model with random weights, saved with AutoML metadata (latency does not depend on the weights). */
async function benchModel(dir: string): Promise<string> {
  const classes = Array.from({ length: 10 }, (_, i) => `c${i}`);
  const model = buildModel(
    { family: 'convnet', 'convnet/blocks': 2, 'convnet/filters': 32, 'convnet/convs_per_block': 1, 'convnet/head': 'flatten', 'convnet/dense': 128 },
    { inputShape: [28, 28, 1], numClasses: 10, multiLabel: false, mean: 73, std: 90 },
    1,
  );
  await saveModel(model, join(dir, 'model'), { classes, multiLabel: false, input: { height: 28, width: 28, channels: 1, fit: 'pad' } });
  model.dispose();
  return join(dir, 'model');
}

const benchPng = () =>
  encodePng(
    28,
    28,
    1,
    Uint8Array.from({ length: 784 }, (_, i) => (i * 37) % 256),
  );

/**
 * The prediction server end to end: HTTP on 127.0.0.1, JSON + base64, the prediction process.
 * Sequential requests give the latency; `clients` concurrent clients the throughput with batching.
 */
export async function benchServer(opts: { requests?: number; clients?: number } = {}): Promise<InferenceRow[]> {
  const { PredictorClient } = await import('../predict/client');
  const { startPredictionServer } = await import('../predict/server');
  const { request } = await import('node:http');
  const dir = mkdtempSync(join(tmpdir(), 'automl-bench-serve-'));
  const client = new PredictorClient();
  const server = await startPredictionServer({ models: [{ name: 'm', path: await benchModel(dir) }], predictor: client });
  const body = JSON.stringify({ payload: { image: { imageBytes: Buffer.from(benchPng()).toString('base64') } } });
  const post = () =>
    new Promise<number>((resolve, reject) => {
      const t = performance.now();
      const req = request(`${server.url}/v1/models/m:predict`, { method: 'POST', headers: { authorization: `Bearer ${server.token}` } }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t) : reject(new Error(`HTTP ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end(body);
    });
  try {
    const n = opts.requests ?? 200;
    for (let i = 0; i < 10; i++) await post();
    const sequential: number[] = [];
    for (let i = 0; i < n; i++) sequential.push(await post());
    const clients = opts.clients ?? 8;
    const concurrent: number[] = [];
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        for (let i = 0; i < n / clients; i++) concurrent.push(await post());
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    return [
      {
        backend: client.backend ?? '?',
        case: 'server, 1 client (sequential)',
        images: n,
        p50Ms: quantile(sequential, 0.5),
        p95Ms: quantile(sequential, 0.95),
        imagesPerSec: n / (sequential.reduce((a, b) => a + b, 0) / 1000),
      },
      {
        backend: client.backend ?? '?',
        case: `server, ${clients} concurrent clients`,
        images: concurrent.length,
        p50Ms: quantile(concurrent, 0.5),
        p95Ms: quantile(concurrent, 0.95),
        imagesPerSec: concurrent.length / seconds,
      },
    ];
  } finally {
    await server.close();
    client.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchInference(opts: { backend?: BackendPreference; runs?: number; batch?: number } = {}): Promise<InferenceRow[]> {
  const info = await initBackend({ preference: opts.backend ?? 'auto' });
  const dir = mkdtempSync(join(tmpdir(), 'automl-bench-infer-'));
  try {
    const predictor = await Predictor.load(await benchModel(dir));
    const png = benchPng();
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
      {
        backend: name,
        case: 'single image (decode + predict)',
        images: 1,
        p50Ms: quantile(single, 0.5),
        p95Ms: quantile(single, 0.95),
        imagesPerSec: 1000 / quantile(single, 0.5),
      },
      {
        backend: name,
        case: `batch of ${batch}`,
        images: batch,
        p50Ms: quantile(batched, 0.5),
        p95Ms: quantile(batched, 0.95),
        imagesPerSec: (batch * 1000) / quantile(batched, 0.5),
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
