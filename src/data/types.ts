// The dataset layer's vocabulary: what every import format produces and what the
// image cache hands to training. Pure types, no `vscode` import.

export type Partition = 'TRAIN' | 'VALIDATION' | 'TEST';
export const PARTITIONS: readonly Partition[] = ['TRAIN', 'VALIDATION', 'TEST'];

export type Severity = 'error' | 'warning' | 'info';

/** One validation finding. Errors stop a training run; warnings and info do not. */
export interface Finding {
  severity: Severity;
  /** Stable machine-readable id, e.g. `missing-file`, `leakage`, `too-few-images`. */
  code: string;
  /** What is wrong and what to do about it, in one or two sentences. */
  message: string;
  /** Absolute path of the file the finding is about (the CSV for row problems, else the image or folder). */
  file: string;
  /** 1-based line in `file` (CSV rows). */
  line?: number;
  /** 1-based column of the offending field, when known. */
  column?: number;
  /** The image the finding is about, when `file` is the CSV that references it. */
  image?: string;
}

/** Where an image's bytes come from. */
export type ImageRef =
  | { kind: 'file'; path: string }
  | {
      kind: 'zip';
      zip: string;
      entry: string;
      /**
       * Where the entry lies in the zip, filled by the zip reader so that decoders (worker
       * threads included) read the entry with two positional reads instead of re-reading
       * the central directory. Absent: the entry is looked up by name.
       */
      at?: ZipEntryLocation;
    }
  | { kind: 'idx'; file: string; index: number; width: number; height: number };

export interface ZipEntryLocation {
  /** Offset of the entry's local file header. */
  offset: number;
  compressedSize: number;
  size: number;
  /** 0 stored, 8 deflated; anything else is reported as unsupported. */
  method: number;
  crc32: number;
}

export interface DatasetItem {
  /** Index of the item in `Dataset.items`. */
  id: number;
  ref: ImageRef;
  /** The path as the user wrote it (CSV field, path inside the folder/zip, `file#index` for IDX). */
  display: string;
  labels: string[];
  partition: Partition;
  /** False when the data gave no partition (or UNASSIGNED) and the split was made by us. */
  assigned: boolean;
  /** Where the item was declared: the CSV and its 1-based line, or the folder/zip/IDX file. */
  origin: { file: string; line?: number };
  /**
   * What identifies the image's bytes when the dataset was opened: `size-mtime-ctime` of a
   * file, `crc32-size` of a zip entry, `size-mtime` of an IDX file. The image cache keys on
   * it, so a changed file is decoded again. Absent when the image could not be found (a
   * `missing-file` finding says so); such items are never decoded.
   */
  stamp?: string;
}

export type DatasetFormat = 'csv' | 'folder' | 'zip' | 'idx';

export interface Dataset {
  format: DatasetFormat;
  /** Absolute path the user pointed at. */
  source: string;
  /** Class names, sorted; the index of a class is its position here. */
  classes: string[];
  multiLabel: boolean;
  items: DatasetItem[];
  /** Findings from reading the structure (rows, folders); image-level findings come from the cache/validation. */
  findings: Finding[];
  /** Seed of the splits we made (rows without partition, VALIDATION held out from TRAIN). */
  seed?: number;
}

// ---------------------------------------------------------------------------------------
// Options and results of the dataset API (src/data/index.ts).

export interface OpenDatasetOptions {
  /** Seed for the splits we make (80/10/10 of unassigned rows, validation hold-out). Default 1. */
  seed?: number;
  /** Treat the data as multi-label even if every row has one label. */
  multiLabel?: boolean;
  /**
   * Maps Cloud Storage prefixes to local folders, e.g. `{ "gs://my-bucket/flowers": "/data/flowers" }`.
   * The longest matching prefix wins; relative folders are resolved against the CSV's folder.
   */
  gcsPrefixMap?: Record<string, string>;
  /** IDX only: a text file with one class name per line (default: labels.txt/classes.txt next to the IDX files). */
  labelsFile?: string;
  /** At most this many findings of one code are listed; the rest are summed up in one finding. Default 100. */
  maxFindingsPerCode?: number;
}

/** The input size of a trial: images are resized to it in the cache. */
export interface InputSize {
  height: number;
  width: number;
  channels: 1 | 3;
}

/** `pad`: keep the aspect ratio, fit inside and pad with black. `crop`: keep the aspect ratio, fill and centre-crop. */
export type FitMode = 'pad' | 'crop';

/** What transparent pixels are composited on. */
export type AlphaBackground = 'white' | 'black';

export interface ImportProgress {
  done: number;
  total: number;
  /** `decode`: decoding images into the cache; `load`: reading the cache. */
  phase: 'decode' | 'load';
}

export interface ImageCacheOptions {
  /** Folder for cache files. Default: `$XDG_CACHE_HOME/automl-vscode/images` or `~/.cache/automl-vscode/images`. */
  cacheDir?: string;
  /** Decoding threads; default the number of cores. 0 decodes on the calling thread. */
  workers?: number;
  onProgress?: (p: ImportProgress) => void;
  signal?: AbortSignal;
}

export interface PrepareOptions extends ImageCacheOptions {
  size: InputSize;
  /** Default `pad`. */
  fit?: FitMode;
  /** Default `white`. */
  background?: AlphaBackground;
}

/** What decoding one image found out. */
export interface ImageInfo {
  /** Size after EXIF orientation; 0 when the image could not be decoded. */
  width: number;
  height: number;
  /** Channels of the source: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA (CMYK is reported as 4). */
  channels: number;
  /** Decoder's name for the format: png, jpeg, webp, gif, bmp, tiff, idx, … */
  format: string;
  /** SHA-1 of the file bytes (IDX: of the image's pixel bytes), hex; absent when unreadable. */
  hash?: string;
  /** Why the image could not be used (`missing-file`, `empty-file`, `corrupt-image`, `unsupported-format`). */
  error?: { code: string; message: string };
  /** Decoded, but with warnings (e.g. a truncated JPEG that a lenient decoder still reads). */
  warning?: string;
}

/** Result of the decode pass, indexed like `Dataset.items` (undefined: not decoded, e.g. a missing file). */
export interface ImageScan {
  images: (ImageInfo | undefined)[];
  /** True when the result came from the cache without decoding. */
  cached: boolean;
}

export interface ValidateOptions extends ImageCacheOptions {
  /**
   * `structure` (default): rows, files, labels, partitions, classes, counts; no decoding.
   * `images`: also decode every image once (or reuse the cache): corrupt images, sizes, duplicates, leakage.
   */
  level?: 'structure' | 'images';
  /** An existing decode pass to use instead of decoding. */
  scan?: ImageScan;
  /** The training input size, if known: enables the "far larger than needed" check and, with
   *  `level: 'images'`, fills the pixel cache for that size in the same pass. */
  size?: InputSize;
  fit?: FitMode;
  background?: AlphaBackground;
  maxFindingsPerCode?: number;
}

/** What validateDataset found besides the findings: enough to choose a trial input size. */
export interface ValidationSummary {
  /** The findings (the result itself, as a property for callers that prefer an object). */
  findings: Finding[];
  /** The decode pass (level `images`). */
  scan?: ImageScan;
  /** Median of the longer side of the images, px; 0 when unknown (structure-only, except IDX). */
  medianSide: number;
  /** Whether the images have colour (more than 1 % RGB/RGBA); true when unknown. */
  color: boolean;
  /** Changes whenever an image's bytes, a label or a partition changes. */
  fingerprint: string;
}

/** validateDataset's result: the findings array, carrying the summary as extra properties. */
export type ValidationResult = Finding[] & ValidationSummary;

export interface Distribution {
  min: number;
  median: number;
  max: number;
  mean: number;
  /** `counts[i]` values fall in `[edges[i], edges[i+1])` (the last bin includes its upper edge). */
  histogram: { edges: number[]; counts: number[] };
}

export interface LabelCounts {
  label: string;
  train: number;
  validation: number;
  test: number;
  total: number;
}

export interface DuplicateGroup {
  /** Item ids with identical bytes. */
  items: number[];
  /** Images in more than one partition. */
  leakage: boolean;
  /** Images with different labels. */
  conflicting: boolean;
}

/** Plain JSON for the dataset webview and the CLI. */
export interface DatasetStats {
  format: DatasetFormat;
  source: string;
  multiLabel: boolean;
  classes: string[];
  /** One row per class, in `classes` order (the grouped view). */
  counts: LabelCounts[];
  totals: Omit<LabelCounts, 'label'>;
  /** Items whose partition we chose (unassigned rows, validation hold-out). */
  splitByUs: number;
  /** Items that cannot be used (missing or undecodable files). */
  unusable: number;
  images?: {
    decoded: number;
    failed: number;
    width: Distribution;
    height: Distribution;
    /** Images per source channel layout. */
    channels: { gray: number; grayAlpha: number; rgb: number; rgba: number };
    formats: Record<string, number>;
  };
  duplicates?: {
    groups: number;
    /** Images that have at least one identical twin. */
    images: number;
    leakageGroups: number;
    conflictingGroups: number;
    /** The first groups, for display. */
    examples: DuplicateGroup[];
  };
  findings: { error: number; warning: number; info: number };
}

/** Packed uint8 pixels of one partition, NHWC, ready for training. */
export interface ImageTensorSet {
  height: number;
  width: number;
  channels: number;
  count: number;
  /** count × height × width × channels bytes. */
  pixels: Uint8Array;
  /**
   * Single-label: the class index per image (length count).
   * Multi-label: multi-hot rows (length count × classes.length).
   */
  labels: Uint8Array | Int32Array;
  /** For each image, the `DatasetItem.id` it came from. */
  itemIds: Int32Array;
}

export interface PreparedData {
  classes: string[];
  multiLabel: boolean;
  train: ImageTensorSet;
  validation: ImageTensorSet;
  test: ImageTensorSet;
}
