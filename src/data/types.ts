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
  | { kind: 'zip'; zip: string; entry: string }
  | { kind: 'idx'; file: string; index: number; width: number; height: number };

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
