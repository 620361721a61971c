// Shared by the ONNX export tests: real images as model input, random BatchNorm statistics, and
// running an exported model in onnxruntime-node (a devDependency).
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import * as ort from 'onnxruntime-node';
import { decodeImage } from '../../../src/data/decode';
import { rng } from '../../../src/shared/random';

export const FASHION = join(__dirname, '../../../../examples/fashion-sample/images');
export const HYMENOPTERA = '/work/shared/data/hymenoptera/val';

/** Up to `n` image files: from each class folder of `root` in turn. */
function filesOf(root: string, n: number): string[] {
  const classes = readdirSync(root).sort();
  const per = classes.map((c) =>
    readdirSync(join(root, c))
      .filter((f) => /\.(png|jpe?g)$/i.test(f))
      .sort()
      .map((f) => join(root, c, f)),
  );
  const out: string[] = [];
  for (let i = 0; out.length < n && per.some((p) => i < p.length); i++) for (const p of per) if (i < p.length && out.length < n) out.push(p[i]);
  return out;
}

/**
 * A batch of real images decoded as the product decodes them for prediction: the fashion-sample
 * PNGs for 1 channel; for 3 channels the hymenoptera photos when this machine has them, else
 * generated colour images (the test must run without /work/shared).
 */
export async function imageBatch(n: number, height: number, width: number, channels: 1 | 3): Promise<{ x: Float32Array; source: string }> {
  const size = height * width * channels;
  const x = new Float32Array(n * size);
  const root = channels === 1 ? FASHION : existsSync(HYMENOPTERA) ? HYMENOPTERA : null;
  if (root) {
    const files = filesOf(root, n);
    for (const [i, f] of files.entries()) {
      const d = await decodeImage(new Uint8Array(readFileSync(f)), { height, width, channels, fit: 'crop', background: 'white' });
      if (!d.pixels) throw new Error(`could not decode ${f}`);
      x.set(d.pixels, i * size);
    }
    return { x, source: root };
  }
  const rand = rng(5);
  for (let i = 0; i < n; i++)
    for (let p = 0; p < height * width; p++)
      for (let c = 0; c < channels; c++) {
        const yy = Math.floor(p / width);
        const xx = p % width;
        x[i * size + p * channels + c] = Math.min(255, Math.round(((xx * (c + 1) * 37 + yy * (3 - c) * 23 + i * 50) % 256) * 0.8 + rand() * 50));
      }
  return { x, source: 'generated colour images' };
}

/** Gives every BatchNormalization non-trivial statistics and affine weights (a fresh layer is the identity). */
export function randomiseBatchNorm(model: tfl.LayersModel, seed: number, only: (name: string) => boolean = () => true): number {
  const rand = rng(seed);
  let n = 0;
  const visit = (layers: tfl.layers.Layer[]) => {
    for (const l of layers) {
      const inner = (l as unknown as { layers?: tfl.layers.Layer[] }).layers;
      if (inner) visit(inner);
      if (l.getClassName() !== 'BatchNormalization' || !only(l.name)) continue;
      const cfg = l.getConfig() as { scale?: boolean; center?: boolean };
      const ws = l.getWeights();
      const names = [...(cfg.scale !== false ? ['gamma'] : []), ...(cfg.center !== false ? ['beta'] : []), 'mean', 'variance'];
      l.setWeights(
        ws.map((w, i) => {
          const v = Float32Array.from({ length: w.size }, () => {
            const r = rand();
            return names[i] === 'gamma' ? 0.6 + r : names[i] === 'beta' ? r - 0.5 : names[i] === 'mean' ? (r - 0.5) * 0.8 : 0.4 + 2 * r;
          });
          return tf.tensor(v, w.shape);
        }),
      );
      n++;
    }
  };
  visit(model.layers);
  return n;
}

/** The exported model's scores for `x` [n, H, W, C] in onnxruntime-node (CPU). */
export async function runOnnx(bytes: Uint8Array, x: Float32Array, shape: number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'] });
  try {
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, shape) });
    return out[session.outputNames[0]].data as Float32Array;
  } finally {
    await session.release();
  }
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
