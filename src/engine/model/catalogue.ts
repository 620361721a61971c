// The catalogue of pretrained ImageNet-style backbones by name (`automl.backbone`, `--backbone`):
// where each one's TF.js layers model is, its input size and pixel range, the layer its features
// are cut at, its approximate download size and licence, and the sha256 of its files once they
// are recorded. Downloaded entries are cached in `<cacheDir>/<name>/` with `checksums.json`
// (download.ts) and never fetched again while intact; the nsfwjs entries are written out of the
// installed npm package (nsfwjs.ts), with no download. `auto` (the default) is decided here too:
// a catalogue backbone for RGB photos, none otherwise (`resolveAutoBackbone`).
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { type OnProgress, downloadModel, hasModel, verifyModelDir, writeChecksums } from './download';
import { type NsfwjsModel, extractNsfwjsModel, nsfwjsRoot } from './nsfwjs';

export interface CatalogueEntry {
  name: string;
  /** URL of its model.json (weight files are next to it); absent for the nsfwjs entries. */
  url?: string;
  /** The nsfwjs model it is written out from (no download). */
  nsfwjs?: NsfwjsModel;
  /** Square input size it was trained at, px. */
  size: number;
  /** The pixel range it was trained on. */
  range: '0-1' | '-1-1';
  /** The layer its features are cut at (unprefixed name). */
  cut: string;
  /** Approximate bytes to download (for the nsfwjs entries: written out of the npm package). */
  bytes: number;
  licence: string;
  /** sha256 of each file (model.json, weight files) once recorded: a download that differs is refused. */
  sha256?: Record<string, string>;
}

/** Where the downloaded entries live; `AUTOML_BACKBONE_MIRROR` (or a `mirror` option) replaces it. */
export const CATALOGUE_BASE = 'https://storage.googleapis.com';

/** The entry `auto` downloads when no catalogue backbone is cached yet. */
export const DEFAULT_BACKBONE = 'mobilenet-v2-1.00';

const MB = 2 ** 20;

const v1 = (alpha: string, file: string, mb: number): CatalogueEntry => ({
  name: `mobilenet-v1-${alpha}`,
  url: `${CATALOGUE_BASE}/tfjs-models/tfjs/mobilenet_v1_${file}_224/model.json`,
  size: 224,
  range: '-1-1',
  cut: 'conv_pw_13_relu',
  bytes: Math.round(mb * MB),
  licence: 'Apache-2.0 (Google, tfjs-models; the MobileNet v1 of Teachable Machine)',
});

const v2 = (alpha: string, mb: number): CatalogueEntry => ({
  name: `mobilenet-v2-${alpha}`,
  url: `${CATALOGUE_BASE}/teachable-machine-models/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_${alpha}_224_no_top/model.json`,
  size: 224,
  range: '-1-1',
  cut: 'out_relu',
  bytes: Math.round(mb * MB),
  licence: 'Apache-2.0 (Keras Applications weights, as hosted by Teachable Machine)',
});

/** The named backbones, smallest first within each family. */
export const CATALOGUE: readonly CatalogueEntry[] = [
  v1('0.25', '0.25', 1.9),
  v1('0.50', '0.50', 5.3),
  v1('0.75', '0.75', 10.4),
  v1('1.00', '1.0', 16.9),
  v2('0.35', 1.7),
  v2('0.50', 2.8),
  v2('0.75', 5.5),
  v2('1.00', 9.1),
  {
    name: 'nsfwjs-mobilenet-v2',
    nsfwjs: 'mobilenet_v2',
    size: 224,
    range: '0-1',
    cut: 'out_relu',
    bytes: Math.round(2.5 * MB),
    licence: 'MIT (nsfwjs, Infinite Red); from the installed npm package nsfwjs',
  },
  {
    name: 'nsfwjs-inception-v3',
    nsfwjs: 'inception_v3',
    size: 299,
    range: '0-1',
    cut: 'mixed10',
    bytes: Math.round(21.3 * MB),
    licence: 'MIT (nsfwjs, Infinite Red); from the installed npm package nsfwjs',
  },
];

/** The entry of that name, or undefined. */
export function catalogueEntry(name: string, catalogue: readonly CatalogueEntry[] = CATALOGUE): CatalogueEntry | undefined {
  return catalogue.find((e) => e.name === name);
}

/** The catalogue's names, for messages. */
export const catalogueNames = (catalogue: readonly CatalogueEntry[] = CATALOGUE): string => catalogue.map((e) => e.name).join(', ');

/** The URL of an entry's model.json, from the mirror when one is given (`AUTOML_BACKBONE_MIRROR`). */
export function entryUrl(entry: CatalogueEntry, mirror = process.env.AUTOML_BACKBONE_MIRROR): string {
  if (!entry.url) throw new Error(`Backbone ${entry.name}: not downloaded (it comes from an npm package)`);
  return mirror && entry.url.startsWith(CATALOGUE_BASE) ? `${mirror.replace(/\/+$/, '')}${entry.url.slice(CATALOGUE_BASE.length)}` : entry.url;
}

export interface CatalogueOptions {
  fetchImpl?: typeof fetch;
  onProgress?: OnProgress;
  /** Says what happened that the caller should know (a damaged cache fetched again). */
  onMessage?: (message: string) => void;
  /** Replaces the catalogue's base URL (default: `AUTOML_BACKBONE_MIRROR`). */
  mirror?: string;
  /** Another catalogue (tests). */
  catalogue?: readonly CatalogueEntry[];
  /** Where nsfwjs is installed (default: found from the working directory, then from this program). */
  nsfwjsRoot?: string | null;
}

/** The folder of a cached entry (whether it is there or not). */
export const entryDir = (entry: CatalogueEntry, cacheDir: string): string => join(cacheDir, entry.name);

/** Whether the entry is in the cache (its integrity is checked when it is resolved). */
export const isCached = (entry: CatalogueEntry, cacheDir: string): boolean => hasModel(entryDir(entry, cacheDir));

/**
 * The entry's model folder in the cache: the cached copy when intact (no network), else downloaded
 * (or written out of nsfwjs) again. A damaged copy is said through `onMessage` and replaced.
 */
export async function resolveEntry(entry: CatalogueEntry, cacheDir: string, o: CatalogueOptions = {}): Promise<string> {
  const dir = entryDir(entry, cacheDir);
  if (hasModel(dir)) {
    const problem = verifyModelDir(dir, entry.sha256);
    if (!problem) return dir;
    o.onMessage?.(
      `Backbone ${entry.name}: the cached copy in ${dir} is damaged (${problem}); ${entry.nsfwjs ? 'writing it out of nsfwjs again' : 'downloading it again'}`,
    );
    rmSync(dir, { recursive: true, force: true });
  }
  if (entry.nsfwjs) {
    const root = o.nsfwjsRoot !== undefined ? o.nsfwjsRoot : (nsfwjsRoot() ?? nsfwjsRoot(__dirname));
    if (!root) throw new Error(`Backbone ${entry.name} comes from the npm package nsfwjs, which is not installed (npm install nsfwjs@4.4.0)`);
    await extractNsfwjsModel(entry.nsfwjs, dir, root);
    writeChecksums(dir);
    return dir;
  }
  return downloadModel(entryUrl(entry, o.mirror), dir, {
    fetchImpl: o.fetchImpl ?? fetch,
    onProgress: o.onProgress,
    expected: entry.sha256,
    sizeHint: entry.bytes,
    label: entry.name,
  });
}

/** What `auto` looks at: the probe of the images and the spec. */
export interface AutoFacts {
  color: boolean;
  medianSide: number;
  multiLabel: boolean;
  strategy?: 'search' | 'fixed';
}

/** Photos smaller than this (median side, px) train from scratch under `auto`. */
export const AUTO_MIN_SIDE = 64;

export interface AutoChoice {
  entry?: CatalogueEntry;
  dir?: string;
  /** One line for the log: which backbone and why, or "no backbone: <reason>". */
  message: string;
}

/** Why `auto` takes no backbone for these data, or null when it takes one. */
export function autoRefusal(f: AutoFacts): string | null {
  if (f.strategy === 'fixed') return 'the fixed strategy trains its one known network from scratch';
  if (f.multiLabel) return 'multi-label data train from scratch';
  if (!f.color) return 'grayscale images (auto uses a pretrained backbone for RGB photos)';
  if (f.medianSide < AUTO_MIN_SIDE) return `small images (median side ${f.medianSide} px, under ${AUTO_MIN_SIDE} px)`;
  return null;
}

/**
 * `auto`: for RGB photos (median side ≥ 64 px), single-label and searched, the first catalogue
 * backbone already cached (the default first, then the catalogue's order), else the default one
 * downloaded; none for other data, or when the download fails (offline). Never throws for the
 * download: the message says why there is none.
 */
export async function resolveAutoBackbone(f: AutoFacts, cacheDir: string, o: CatalogueOptions = {}): Promise<AutoChoice> {
  const refusal = autoRefusal(f);
  if (refusal) return { message: `no backbone: ${refusal}` };
  const catalogue = o.catalogue ?? CATALOGUE;
  const photos = `RGB photos, median side ${f.medianSide} px`;
  const preferred = catalogueEntry(DEFAULT_BACKBONE, catalogue);
  const ordered = [...(preferred ? [preferred] : []), ...catalogue.filter((e) => e !== preferred)];
  for (const entry of ordered.filter((e) => isCached(e, cacheDir))) {
    try {
      const dir = await resolveEntry(entry, cacheDir, o);
      return { entry, dir, message: `Backbone auto: ${entry.name}, already in the cache (${photos})` };
    } catch {
      // A damaged copy that cannot be fetched again: the next one, or the default's download.
    }
  }
  const entry = preferred ?? catalogue[0];
  if (!entry) return { message: 'no backbone: the catalogue is empty' };
  try {
    const dir = await resolveEntry(entry, cacheDir, o);
    return { entry, dir, message: `Backbone auto: ${entry.name}, downloaded once into the cache (${photos})` };
  } catch (e) {
    return { message: `no backbone: auto could not get ${entry.name} (${e instanceof Error ? e.message : String(e)}); training from scratch` };
  }
}
