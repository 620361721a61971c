// The image cache: every image decoded, oriented, resized and packed once per
// (images, size, channels, fit, background), in one file reused by every trial and
// experiment.
//
// Change detection: the cache key hashes each image's reference and stamp (size, mtime and
// ctime of a file; CRC-32 and size of a zip entry; the IDX file's stat), which openDataset
// collects with one stat per file anyway — no second stat pass and no reading of images on
// a warm load. Labels and partitions are not part of the key: fixing a label or moving rows
// between partitions reuses the pixels. When the key changes (files added, removed or
// edited), the previous cache of the same dataset and size is consulted and only images
// whose stamp changed are decoded again.
//
// Modules: cache-file.ts (file format, keys, the cache folder), cache-build.ts (decoding
// into a cache), cache-reader.ts (reading one back). This file holds the entry points the
// rest of the extension uses and re-exports the public parts of the others.
import { ensureCache } from './cache-build';
import { specOf } from './cache-file';
import { openImageCache } from './cache-reader';
import type { ImageSet } from './image-set';
import type { Dataset, ImageCacheOptions, ImageScan, InputSize, PrepareOptions, PreparedData } from './types';
import { PARTITIONS } from './types';

export { defaultCacheDir, imagesKey, pruneImageCache } from './cache-file';
export { openImageCache, shuffleInPlace } from './cache-reader';
export type { ImageCacheReader } from './cache-reader';

/**
 * Decodes every image once (or reads the cache) and returns what each image is. With
 * `size`, fills the pixel cache for that size in the same pass.
 */
export async function scanImages(
  dataset: Dataset,
  options: ImageCacheOptions & { size?: InputSize; fit?: PrepareOptions['fit']; background?: PrepareOptions['background'] } = {},
): Promise<ImageScan> {
  const { cache, decoded, reused } = await ensureCache(dataset, specOf(options), options);
  try {
    return { images: cache.infos(), cached: decoded === 0 && reused === 0 };
  } finally {
    cache.close();
  }
}

/**
 * Decodes (or loads from the cache) every usable image at the trial's input size and
 * returns the three partitions in memory. Images that failed to decode are left out (the
 * validation findings name them).
 */
export async function prepareImages(dataset: Dataset, options: PrepareOptions): Promise<PreparedData> {
  const reader = await openImageCache(dataset, options);
  try {
    const sets = reader.readAll((done, total) => options.onProgress?.({ done, total, phase: 'load' }));
    return { classes: dataset.classes, multiLabel: dataset.multiLabel, train: sets.TRAIN, validation: sets.VALIDATION, test: sets.TEST };
  } finally {
    reader.close();
  }
}

/** The partitions for training: in memory, or streamed from the cache file when larger than `maxResidentBytes`. */
export interface PreparedSets {
  classes: string[];
  multiLabel: boolean;
  train: ImageSet;
  validation: ImageSet;
  test: ImageSet;
  /** Whether pixels are read from the cache file on demand. */
  streamed: boolean;
  /** Bytes of pixels in the three partitions. */
  pixelBytes: number;
  /** Releases the cache file (streamed sets are unusable after this). */
  close(): void;
}

/**
 * Like `prepareImages`, but leaves the pixels in the cache file when all partitions together
 * exceed `maxResidentBytes`: training then reads each batch from disk and memory stays bounded
 * whatever the dataset's size.
 */
export async function prepareImageSets(dataset: Dataset, options: PrepareOptions & { maxResidentBytes: number }): Promise<PreparedSets> {
  const reader = await openImageCache(dataset, options);
  const rowBytes = reader.size.height * reader.size.width * reader.size.channels;
  const pixelBytes = PARTITIONS.reduce((s, p) => s + reader.count(p) * rowBytes, 0);
  const base = { classes: dataset.classes, multiLabel: dataset.multiLabel, pixelBytes };
  if (pixelBytes <= options.maxResidentBytes) {
    try {
      const sets = reader.readAll((done, total) => options.onProgress?.({ done, total, phase: 'load' }));
      return { ...base, train: sets.TRAIN, validation: sets.VALIDATION, test: sets.TEST, streamed: false, close: () => undefined };
    } finally {
      reader.close();
    }
  }
  return {
    ...base,
    train: reader.streamed('TRAIN'),
    validation: reader.streamed('VALIDATION'),
    test: reader.streamed('TEST'),
    streamed: true,
    close: () => reader.close(),
  };
}
