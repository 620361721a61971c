// Downloading a TF.js layers model (model.json and its weight files) into a cache folder, and
// checking it there. A download goes to a staging folder that is renamed into place when complete,
// reports its progress in bytes, and records each file's sha256 in `checksums.json`; later uses
// verify the files against it (`verifyModelDir`), so that a corrupted copy is noticed and fetched
// again. Expected hashes (a catalogue entry's) refuse a download that differs. No network is
// touched for a folder that is already there and intact.
import { writeDirAtomic } from '../../store/files';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize, relative, sep } from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';

/** Bytes of a download so far, and its total (an estimate until the last file is in). */
export interface DownloadProgress {
  done: number;
  total: number;
  /** The file being fetched (relative to the model's folder). */
  file: string;
}

export type OnProgress = (p: DownloadProgress) => void;

/** The file in a cached model folder that records its files' sha256. */
export const CHECKSUMS_FILE = 'checksums.json';

/** Refuses graph models and JSON that is not a layers model; `source` names it in the error. */
export function checkLayersModel(json: tf.io.ModelJSON, source: string): void {
  const topology = json.modelTopology as { class_name?: string; model_config?: unknown; node?: unknown } | undefined;
  if (json.format === 'graph-model' || (topology && 'node' in topology)) {
    throw new Error(
      `Backbone ${source}: a graph model (a converted SavedModel) cannot be fine-tuned in TF.js; convert the Keras model as a layers model (tensorflowjs_converter --output_format tfjs_layers_model)`,
    );
  }
  if (!topology || !json.weightsManifest) throw new Error(`Backbone ${source}: model.json has no modelTopology or weightsManifest`);
}

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** The model's files (model.json and weight files), relative paths with '/'. */
function modelFiles(dir: string): string[] {
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON;
  return ['model.json', ...(json.weightsManifest ?? []).flatMap((g) => g.paths.map((p) => normalize(p).split(sep).join('/')))];
}

/** Writes `checksums.json` for the model in `dir` (its model.json and weight files). */
export function writeChecksums(dir: string): Record<string, string> {
  const sums: Record<string, string> = {};
  for (const f of modelFiles(dir)) sums[f] = sha256(readFileSync(join(dir, f)));
  writeFileSync(join(dir, CHECKSUMS_FILE), `${JSON.stringify(sums, null, 2)}\n`);
  return sums;
}

/**
 * Checks a cached model folder: null when it is intact, else what is wrong. Its files are compared
 * with `expected` (recorded hashes) when given, else with its `checksums.json`; a folder without
 * one (cached before checksums were kept) gets one written now, trusting what is there.
 */
export function verifyModelDir(dir: string, expected?: Record<string, string>): string | null {
  if (!existsSync(join(dir, 'model.json'))) return 'model.json is missing';
  let want = expected;
  if (!want) {
    const path = join(dir, CHECKSUMS_FILE);
    if (!existsSync(path)) {
      try {
        writeChecksums(dir);
        return null;
      } catch (e) {
        return e instanceof Error ? e.message : String(e);
      }
    }
    try {
      want = JSON.parse(readFileSync(path, 'utf8')) as Record<string, string>;
    } catch {
      return `${CHECKSUMS_FILE} is not JSON`;
    }
  }
  let files: string[];
  try {
    files = modelFiles(dir);
  } catch {
    return 'model.json is not JSON';
  }
  for (const f of files) {
    const p = join(dir, f);
    if (!existsSync(p)) return `${f} is missing`;
    const got = sha256(readFileSync(p));
    if (want[f] === undefined) return `${f} has no recorded checksum`;
    if (got !== want[f]) return `${f} has sha256 ${got}, ${CHECKSUMS_FILE} says ${want[f]}`;
  }
  return null;
}

/** Bytes of the weights a manifest describes (its dtypes and shapes), or null when it cannot tell. */
export function manifestBytes(json: tf.io.ModelJSON): number | null {
  const per: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2, complex64: 8 };
  let total = 0;
  for (const g of json.weightsManifest ?? []) {
    for (const w of g.weights) {
      const q = (w as { quantization?: { dtype?: string } }).quantization?.dtype;
      const b = per[q ?? w.dtype];
      if (!b) return null;
      total += w.shape.reduce((a, d) => a * d, 1) * b;
    }
  }
  return total;
}

export interface DownloadOptions {
  fetchImpl: typeof fetch;
  onProgress?: OnProgress;
  /** Expected sha256 per file (relative path): a file that differs is refused. */
  expected?: Record<string, string>;
  /** The whole download's size as known beforehand (a catalogue entry's), for progress until model.json is in. */
  sizeHint?: number;
  /** Names the model in errors (a catalogue name, else the URL). */
  label: string;
  /** A download that receives nothing for this long is given up (default 30 s): a network that drops packets would hang it. */
  stallMs?: number;
}

/**
 * Downloads the layers model at `url` (model.json and its weight files) into `dir`, through a
 * staging folder renamed into place, with `checksums.json`; returns `dir`.
 */
export async function downloadModel(url: string, dir: string, o: DownloadOptions): Promise<string> {
  let done = 0;
  let total = o.sizeHint ?? 0;
  const report = (file: string) => o.onProgress?.({ done, total: Math.max(total, done), file });
  const get = async (u: string, file: string): Promise<Buffer> => {
    // Aborted when nothing arrives for stallMs: the timer restarts with the answer and every chunk.
    const stallMs = o.stallMs ?? 30_000;
    const controller = new AbortController();
    let timer = setTimeout(() => controller.abort(), stallMs);
    const alive = () => {
      clearTimeout(timer);
      timer = setTimeout(() => controller.abort(), stallMs);
    };
    const failed = (e: unknown) =>
      new Error(
        `Backbone ${u}: download failed (${controller.signal.aborted ? `nothing received for ${stallMs / 1000} s` : e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e)}); check the URL and the network, or download the model folder and give its path`,
      );
    const chunks: Buffer[] = [];
    try {
      let res: Response;
      try {
        res = await o.fetchImpl(u, { signal: controller.signal });
      } catch (e) {
        throw failed(e);
      }
      alive();
      if (!res.ok) throw new Error(`Backbone ${u}: the server answered ${res.status} ${res.statusText}`);
      const length = Number(res.headers.get('content-length') ?? NaN);
      // Without a size from the manifest, a file's Content-Length raises the total when it exceeds it.
      if (Number.isFinite(length) && done + length > total) total = done + length;
      try {
        if (res.body) {
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
            alive();
            chunks.push(Buffer.from(chunk));
            done += chunk.byteLength;
            report(file);
          }
        } else {
          const b = Buffer.from(await res.arrayBuffer());
          chunks.push(b);
          done += b.byteLength;
          report(file);
        }
      } catch (e) {
        throw failed(e);
      }
    } finally {
      clearTimeout(timer);
    }
    const bytes = Buffer.concat(chunks);
    const want = o.expected?.[file];
    if (want && sha256(bytes) !== want) {
      throw new Error(
        `Backbone ${o.label}: ${file} downloaded from ${u} has sha256 ${sha256(bytes)}, but the catalogue records ${want}; the download is corrupt or the file changed on the server (nothing was cached)`,
      );
    }
    return bytes;
  };
  report('model.json');
  const jsonBytes = await get(url, 'model.json');
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(jsonBytes.toString('utf8')) as tf.io.ModelJSON;
  } catch {
    throw new Error(`Backbone ${url}: not a model.json (not JSON)`);
  }
  checkLayersModel(json, url);
  const weights = manifestBytes(json);
  if (weights !== null) total = jsonBytes.length + weights;
  await writeDirAtomic(dir, async (staged) => {
    for (const group of json.weightsManifest ?? []) {
      for (const p of group.paths) {
        if (isAbsolute(p) || normalize(p).startsWith('..')) throw new Error(`Backbone ${url}: weight path ${p} leaves the model's folder`);
        const target = join(staged, normalize(p));
        mkdirSync(dirname(target), { recursive: true });
        writeFileSync(target, await get(new URL(p, url).toString(), relative(staged, target).split(sep).join('/')));
      }
    }
    writeFileSync(join(staged, 'model.json'), jsonBytes);
    writeFileSync(join(staged, 'source.txt'), `${url}\n`);
    writeChecksums(staged);
    total = done;
    report('model.json');
  });
  return dir;
}

/** Whether `dir` holds a model folder (model.json present); says nothing of its integrity. */
export const hasModel = (dir: string): boolean => existsSync(join(dir, 'model.json')) && statSync(join(dir, 'model.json')).isFile();
