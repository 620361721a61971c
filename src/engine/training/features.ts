// Bottleneck features: a pretrained backbone's frozen part run once per image (and once for its
// mirror image), pooled to one vector per image and kept on disk, so that heads are searched on
// the vectors in seconds instead of pushing every image through the backbone every epoch — the
// way Create ML and Teachable Machine train. Files live under `<cacheDir>/features/`, named by a
// hash of the backbone's files, the cut, the input size and range, and the set's pixels: any
// change to one of them is a new file, and a repeated experiment reuses the vectors.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { type ImageSet, readRange, rowBytesOf } from '../../data';
import { BACKBONE_PREFIX, type LoadedBackbone } from '../model/backbone';
import { foldForInference } from '../model/fold';

/** The pooled features of a set: `count` rows of `dim` floats, and the same for the mirror images. */
export interface FeatureSet {
  dim: number;
  count: number;
  plain: Float32Array;
  mirror: Float32Array | null;
}

/** Where each tap's pooled features sit in an extractor's output vector. */
export interface FeatureBlock {
  /** The backbone layer (unprefixed name) the features are pooled from. */
  layer: string;
  offset: number;
  dim: number;
}

/**
 * A model from raw pixels (0–255) to the backbone's candidate feature maps (its `taps`), each
 * globally averaged, side by side in one vector: one forward pass gives every cut point.
 */
export function featureExtractor(backbone: LoadedBackbone, opts: { fold?: boolean } = {}): { model: tfl.LayersModel; blocks: FeatureBlock[] } {
  const blocks: FeatureBlock[] = [];
  let offset = 0;
  const pooled = backbone.taps.map((t, i) => {
    const layer = (t.sourceLayer as tfl.layers.Layer).name.slice(BACKBONE_PREFIX.length);
    const dim = t.shape[t.shape.length - 1] as number;
    blocks.push({ layer, offset, dim });
    offset += dim;
    // Feature maps are averaged over their pixels; vectors (a model cut at its logits) are taken as they are.
    return t.shape.length === 4 ? (tfl.layers.globalAveragePooling2d({ name: `features_pool_${i}` }).apply(t) as tfl.SymbolicTensor) : t;
  });
  const outputs = pooled.length > 1 ? (tfl.layers.concatenate({ name: 'features_concat' }).apply(pooled) as tfl.SymbolicTensor) : pooled[0];
  const model = tfl.model({ inputs: backbone.input, outputs, name: 'features' });
  // Frozen: BatchNorm, padding and ReLU(6) layers folded into the convolutions next to them
  // (`fold: false` keeps the layers as they are, for comparisons).
  return { model: opts.fold === false ? model : foldForInference(model), blocks };
}

/** Identifies a backbone's files (model.json and its weights), for cache keys. */
export function backboneKey(dir: string): string {
  const h = createHash('sha256');
  for (const name of readdirSync(dir)
    .filter((n) => n !== 'source.txt' && n !== 'checksums.json')
    .sort()) {
    const p = join(dir, name);
    if (!statSync(p).isFile()) continue;
    h.update(`${name}\n`);
    h.update(readFileSync(p));
  }
  return h.digest('hex').slice(0, 24);
}

function setKey(set: ImageSet): string {
  const h = createHash('sha256');
  h.update(`${set.count}/${set.height}x${set.width}x${set.channels}\n`);
  const chunk = 64;
  for (let s = 0; s < set.count; s += chunk) h.update(readRange(set, s, Math.min(chunk, set.count - s)));
  return h.digest('hex').slice(0, 24);
}

/**
 * What runs an extractor over batches of raw pixels: TF.js (the extractor model, folded), or ONNX
 * Runtime (features-onnx.ts). `start` readies it (conversion, session) and is called once, before
 * the first batch, only when the features are not in the cache; `name` says what ran them.
 */
export interface FeatureEngine {
  dim: number;
  name: string;
  start?(): Promise<void>;
  /** The features of `shape[0]` images [N, H, W, C] (floats 0–255): N rows of `dim`. */
  run(x: Float32Array, shape: [number, number, number, number]): Promise<Float32Array>;
  dispose(): Promise<void>;
}

/** The TF.js engine of an extractor model (see featureExtractor); `dispose` disposes the model. */
export function tfjsFeatureEngine(model: tfl.LayersModel): FeatureEngine {
  return {
    dim: model.outputs[0].shape[1] as number,
    name: `TF.js (${tf.getBackend()})`,
    run: async (x, shape) => {
      const out = tf.tidy(() => model.predict(tf.tensor4d(x, shape)) as tf.Tensor2D);
      const data = (await out.data()) as Float32Array;
      out.dispose();
      return data;
    },
    dispose: () => {
      model.dispose();
      return Promise.resolve();
    },
  };
}

export interface EmbedOptions {
  /** Identifies the extractor: backbone files, cut, size, range (see backboneKey). */
  extractorKey: string;
  cacheDir: string;
  mirror: boolean;
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
  isCancelled?: () => boolean;
}

/**
 * The features of every image of `set` (and of its mirror image, with `mirror`), read from the
 * cache when this extractor has seen these pixels before, else computed and stored.
 */
export async function embedSet(extractor: tfl.LayersModel | FeatureEngine, set: ImageSet, o: EmbedOptions): Promise<FeatureSet & { cached: boolean }> {
  const engine = 'run' in extractor ? extractor : tfjsFeatureEngine(extractor);
  const dim = engine.dim;
  const dir = join(o.cacheDir, 'features');
  const file = join(
    dir,
    `${createHash('sha256')
      .update(`${o.extractorKey}/${setKey(set)}/${o.mirror ? 'mirror' : 'plain'}`)
      .digest('hex')
      .slice(0, 32)}.f32`,
  );
  const views = set.count * dim;
  if (existsSync(file) && statSync(file).size === 4 * views * (o.mirror ? 2 : 1)) {
    const b = readFileSync(file);
    const all = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    return { dim, count: set.count, plain: all.subarray(0, views), mirror: o.mirror ? all.subarray(views) : null, cached: true };
  }
  await engine.start?.();
  const all = new Float32Array(views * (o.mirror ? 2 : 1));
  const passes = o.mirror ? 2 : 1;
  const batch = o.batchSize ?? 16;
  const { height: H, width: W, channels: C } = set;
  const rowBytes = rowBytesOf(set);
  const buf = new Uint8Array(batch * rowBytes);
  let done = 0;
  for (let start = 0; start < set.count; start += batch) {
    if (o.isCancelled?.()) throw new Error('cancelled');
    const n = Math.min(batch, set.count - start);
    const rows = readRange(set, start, n, buf.subarray(0, n * rowBytes));
    for (let pass = 0; pass < passes; pass++) {
      const x = new Float32Array(n * rowBytes);
      if (pass === 0) for (let i = 0; i < n * rowBytes; i++) x[i] = rows[i];
      else mirrorRows(rows, x, n, H, W, C);
      all.set(await engine.run(x, [n, H, W, C]), pass * views + start * dim);
    }
    done += n;
    o.onProgress?.(done, set.count);
  }
  mkdirSync(dir, { recursive: true });
  const staged = `${file}.part-${process.pid}`;
  writeFileSync(staged, Buffer.from(all.buffer, all.byteOffset, all.byteLength));
  renameSync(staged, file);
  return { dim, count: set.count, plain: all.subarray(0, views), mirror: o.mirror ? all.subarray(views) : null, cached: false };
}

/** Writes the left-right mirror images of `n` H×W×C rows into `out` as floats. */
export function mirrorRows(rows: Uint8Array, out: Float32Array, n: number, H: number, W: number, C: number): void {
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < H; y++) {
      const line = (b * H + y) * W * C;
      for (let x = 0; x < W; x++) {
        const from = line + (W - 1 - x) * C;
        const to = line + x * C;
        for (let c = 0; c < C; c++) out[to + c] = rows[from + c];
      }
    }
  }
}
