// Phase 1, prepare: the backend, then the dataset: open it, probe a sample of images for the input
// size, load the pretrained backbone (which may set the input), validate and decode every image into
// the cache once, load the pixels (or stream them), measure the training pixels' mean and spread.
// Reads: the spec (backend, dataset, image size, fit, backbone, cache, data memory); the record's
// backbone when resuming (what `auto` chose).
// Writes: the record's backend and versions, its backbone (`auto`'s choice), then its classes, multi-label, input shape and dataset
// fingerprint; events `backend` and `experimentStarted` (data progress goes to the host only).
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { noValidationMessage, openDataset, prepareImageSets, probeImages, readRows, validateDataset } from '../data';
import type { Dataset, ImageScan, ImageSet, PreparedSets, ProbeResult } from '../data';
import type { ModelShape } from '../engine/model/build';
import { initBackend } from '../engine/runtime/runtime';
import { type BackboneRange, backboneInputSize, loadBackbone, resolveBackbone } from '../engine/model/backbone';
import { type CatalogueEntry, catalogueEntry, resolveAutoBackbone } from '../engine/model/catalogue';
import type { DownloadProgress } from '../engine/model/download';
import { type InputChoice, chooseInput } from '../search/plan';
import { trainingImageStats } from '../eval/ood';
import type { BackendInfo, TrainingImageStats } from '../shared/protocol';
import { PRODUCT_VERSION } from '../shared/version';
import type { ExperimentContext } from './context';

/** The pretrained backbone of `transfer` trials, as the trials take it. */
export interface BackboneUse {
  dir: string;
  range: Exclude<BackboneRange, 'auto'>;
  size: number;
  /** The layer its features are cut at (a catalogue entry's), else found by loadBackbone. */
  cut?: string;
}

export interface Prepared {
  backend: BackendInfo;
  input: InputChoice;
  backbone: BackboneUse | undefined;
  /** The backbone's FLOPs per image (0 without one). */
  backboneFlops: number;
  /** Width of the backbone's features, the inputs of a transfer trial's head (0 without one). */
  backboneHeadInputs: number;
  data: PreparedSets;
  shape: ModelShape;
  /** Metadata stored with every saved model (classes, input spec). */
  modelMetadata: Record<string, unknown>;
  /** The TRAIN images' source sizes and the model's channels, for the out-of-distribution checks (src/eval/ood.ts). */
  trainingImages: TrainingImageStats | undefined;
}

export async function prepare(ctx: ExperimentContext): Promise<Prepared> {
  const { spec, store, emit, log } = ctx;
  const backend: BackendInfo = await initBackend({ preference: spec.backend, runtimeDir: process.env.AUTOML_RUNTIME_DIR });
  backend.versions = { ...backend.versions, 'automl-vscode': PRODUCT_VERSION, node: process.versions.node };
  emit({ type: 'backend', backend });
  store.updateRecord({ backend, versions: backend.versions });

  const dataset = await openDataset(spec.dataset, { seed: spec.seed, multiLabel: spec.multiLabel });
  // Decode once: a quick probe of a sample of images picks the input size, then validation
  // decodes every image at that size straight into the cache.
  const probe = await probeImages(dataset);
  const { input, backbone, backboneFlops, backboneHeadInputs } = await chooseInputAndBackbone(ctx, backend, probe, dataset.multiLabel);
  log(`Input ${input.size}×${input.size}×${input.channels}: ${input.why}`);
  if (!probe.color && probe.grayStoredAsColor)
    log(`${probe.grayStoredAsColor} of ${probe.probed} sampled images are stored as colour but gray: trained in grayscale`);
  const { data, fingerprint, scan } = await validateAndDecode(ctx, dataset, input);
  const trainingImages = trainingImageStats(
    dataset.items.flatMap((it) => (it.partition === 'TRAIN' && scan?.images[it.id] && !scan.images[it.id]!.error ? [scan.images[it.id]!] : [])),
    input.channels,
  );
  const { mean, std } = pixelStats(data.train);
  const shape: ModelShape = {
    inputShape: [input.size, input.size, input.channels],
    numClasses: data.classes.length,
    multiLabel: data.multiLabel,
    mean,
    std,
  };
  store.updateRecord({
    classes: data.classes,
    multiLabel: data.multiLabel,
    inputShape: shape.inputShape,
    datasetFingerprint: fingerprint,
  });
  emit({
    type: 'experimentStarted',
    experimentId: spec.id,
    classes: data.classes,
    counts: { TRAIN: data.train.count, VALIDATION: data.validation.count, TEST: data.test.count },
    budgetSeconds: ctx.budgetSeconds,
    resumed: ctx.run.resume,
  });
  const modelMetadata = {
    classes: data.classes,
    multiLabel: data.multiLabel,
    input: { height: input.size, width: input.size, channels: input.channels, fit: spec.fit, range: '0-255', layout: 'NHWC' },
    experimentId: spec.id,
  };
  return { backend, input, backbone, backboneFlops, backboneHeadInputs, data, shape, modelMetadata, trainingImages };
}

/** The input size and channels from the probe, unless a pretrained backbone sets them (its size when fixed, and channels). */
async function chooseInputAndBackbone(
  ctx: ExperimentContext,
  backend: BackendInfo,
  probe: ProbeResult,
  multiLabel: boolean,
): Promise<Pick<Prepared, 'input' | 'backbone' | 'backboneFlops' | 'backboneHeadInputs'>> {
  const { spec, log } = ctx;
  let input = chooseInput({
    medianSide: probe.medianSide,
    color: probe.color,
    requested: spec.imageSize,
    gpu: backend.name === 'tensorflow-gpu' || backend.name === 'webgpu',
  });
  const chosen = await chooseBackbone(ctx, probe, multiLabel);
  if (!chosen) return { input, backbone: undefined, backboneFlops: 0, backboneHeadInputs: 0 };
  const { dir, source, entry } = chosen;
  // A fixed-size backbone keeps its size unless the user set one (it is cut before any fixed-size
  // pooling, so any size works); one that takes any size gets the size chosen from the data.
  const native = backboneInputSize(dir) ?? entry?.size ?? null;
  const size = spec.imageSize && spec.imageSize > 0 ? spec.imageSize : (native ?? input.size);
  if (spec.imageSize && native && native !== spec.imageSize)
    log(`Backbone ${source}: trained at ${native}×${native}, run at ${spec.imageSize}×${spec.imageSize} (setting)`);
  // The user's range beats the catalogue's, which beats the model's metadata.
  const userRange = spec.backboneRange && spec.backboneRange !== 'auto' ? spec.backboneRange : undefined;
  const range: BackboneRange = userRange ?? entry?.range ?? 'auto';
  const cut = entry?.cut;
  const loaded = await loadBackbone(dir, range, { size, cut });
  const info = loaded.info;
  loaded.dispose();
  const [bh, bw, bc] = info.inputShape;
  if (bh !== bw) throw new Error(`Backbone ${source}: takes ${bh}×${bw} images; only square inputs are supported`);
  input = { size: bh ?? input.size, channels: bc as 1 | 3, why: `the pretrained backbone's input (${bc === 3 ? 'RGB' : 'grayscale'})` };
  log(
    `Backbone ${source}: ${info.weightLayers} layers with weights, features ${info.featureShape.join('×')}, ` +
      `${info.flops >= 1e9 ? `${(info.flops / 1e9).toFixed(2)} GFLOP` : `${(info.flops / 1e6).toFixed(1)} MFLOP`} per image; pixels mapped to ${info.range} (${!userRange && entry ? 'the catalogue says so' : info.rangeWhy})`,
  );
  return {
    input,
    backbone: { dir, range: info.range, size: input.size, cut },
    backboneFlops: info.flops,
    backboneHeadInputs: info.featureShape[info.featureShape.length - 1] ?? 0,
  };
}

/**
 * The backbone's folder, from the spec: none (unset or `none`), `auto` (catalogue.ts
 * `resolveAutoBackbone`: one line says which and why; a resumed experiment keeps what its start
 * chose), or a catalogue name, folder or URL, whose failure to download is an error. Downloads log
 * their start and end and send their bytes as `dataProgress` (phase `backbone`).
 */
async function chooseBackbone(
  ctx: ExperimentContext,
  probe: ProbeResult,
  multiLabel: boolean,
): Promise<{ dir: string; source: string; entry?: CatalogueEntry } | undefined> {
  const { spec, log, store } = ctx;
  const cacheDir = join(spec.cacheDir, 'backbones');
  let logged = -1;
  const onProgress = (p: DownloadProgress) => {
    ctx.run.emit({ type: 'dataProgress', phase: 'backbone', done: p.done, total: p.total });
    // The log says when a download starts and ends, and every quarter between.
    const quarter = p.total > 0 ? Math.floor((4 * p.done) / p.total) : 0;
    if (quarter > logged) {
      logged = quarter;
      log(`Backbone download: ${mb(p.done)} of ${mb(p.total)}${quarter === 0 ? ' (once; cached afterwards)' : ''}`);
    }
  };
  const onMessage = (m: string) => log(m, 'warn');
  let source = spec.backbone;
  if (!source || source === 'none') return undefined;
  if (source === 'auto') {
    const earlier = ctx.run.resume ? store.readRecord().backbone : undefined;
    if (earlier === 'none') return undefined;
    if (earlier) {
      source = earlier;
    } else {
      const choice = await resolveAutoBackbone({ color: probe.color, medianSide: probe.medianSide, multiLabel, strategy: spec.strategy }, cacheDir, {
        onProgress,
        onMessage,
      });
      log(choice.message);
      store.updateRecord({ backbone: choice.entry?.name ?? 'none' });
      return choice.entry && choice.dir ? { dir: choice.dir, source: choice.entry.name, entry: choice.entry } : undefined;
    }
  }
  const dir = await resolveBackbone(source, cacheDir, fetch, onProgress, { onMessage });
  return { dir, source, entry: catalogueEntry(source) };
}

/**
 * Validates the dataset, decoding every image at the input size into the cache (warnings logged,
 * errors thrown), then loads the pixels, or streams them from the cache when they exceed the memory
 * given to data. The sets are put on the context as soon as they are open, so that they are closed
 * whatever happens next.
 */
async function validateAndDecode(
  ctx: ExperimentContext,
  dataset: Dataset,
  input: InputChoice,
): Promise<{ data: PreparedSets; fingerprint: string; scan: ImageScan | undefined }> {
  const { spec, log } = ctx;
  const size = { height: input.size, width: input.size, channels: input.channels };
  const onProgress = (p: { phase: string; done: number; total: number }) =>
    ctx.run.emit({ type: 'dataProgress', phase: p.phase, done: p.done, total: p.total });
  const validation = await validateDataset(dataset, { level: 'images', size, fit: spec.fit, cacheDir: spec.cacheDir, onProgress });
  const errors = validation.findings.filter((f) => f.severity === 'error');
  for (const f of validation.findings.filter((x) => x.severity === 'warning').slice(0, 20)) {
    log(`${f.file}${f.line ? `:${f.line}` : ''}: ${f.message}`, 'warn');
  }
  if (errors.length) {
    const lines = errors.slice(0, 10).map((f) => `${f.file}${f.line ? `:${f.line}` : ''}: ${f.message}`);
    throw new Error(
      `The dataset has ${errors.length} error${errors.length > 1 ? 's' : ''}:\n${lines.join('\n')}${errors.length > 10 ? `\n… and ${errors.length - 10} more (run \`automl validate\`)` : ''}`,
    );
  }
  const maxResidentBytes = dataMemoryBytes(spec.dataMemoryMB);
  const data = await prepareImageSets(dataset, { size, fit: spec.fit, cacheDir: spec.cacheDir, maxResidentBytes, onProgress });
  ctx.data = data;
  if (data.streamed) {
    log(
      `Images: ${mb(data.pixelBytes)} of pixels, more than the ${mb(maxResidentBytes)} given to data in memory: ` +
        `training reads each batch from the image cache (${spec.dataMemoryMB ? 'setting automl.dataMemoryMB' : 'a quarter of RAM; setting automl.dataMemoryMB'})`,
    );
  }
  if (data.train.count === 0) throw new Error('The dataset has no usable TRAIN images.');
  if (data.validation.count === 0) throw new Error(noValidationMessage(dataset));
  return { data, fingerprint: validation.fingerprint, scan: validation.scan };
}

/** Pixel bytes an experiment keeps in memory before it streams from the cache: the setting, or a quarter of RAM. */
export function dataMemoryBytes(settingMB: number | undefined): number {
  return settingMB && settingMB > 0 ? settingMB * 2 ** 20 : Math.floor(totalmem() / 4);
}

const mb = (bytes: number) => (bytes < 2 ** 20 ? `${Math.round(bytes / 1024)} KB` : `${Math.round(bytes / 2 ** 20).toLocaleString('en-US')} MB`);

/** Mean and standard deviation of the training pixels (0–255), from a sample of at most 2,000 images. */
export function pixelStats(set: ImageSet): { mean: number; std: number } {
  const n = Math.min(set.count, 2000);
  const stride = Math.max(1, Math.floor(set.count / Math.max(1, n)));
  const positions: number[] = [];
  for (let i = 0; i < set.count && positions.length < n; i += stride) positions.push(i);
  const rows = readRows(set, positions);
  let sum = 0;
  let sq = 0;
  for (let j = 0; j < rows.length; j++) {
    const v = rows[j];
    sum += v;
    sq += v * v;
  }
  const cnt = rows.length;
  const mean = cnt ? sum / cnt : 0;
  const std = cnt ? Math.sqrt(Math.max(1e-6, sq / cnt - mean * mean)) : 1;
  return { mean, std: Math.max(1, std) };
}
