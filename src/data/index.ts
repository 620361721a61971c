// The dataset layer's public API. Pure Node (no `vscode`): used by the extension, the CLI
// and the training worker.
//
//   const ds = await openDataset('data/labels.csv', { seed: 1 });
//   const findings = await validateDataset(ds, { level: 'images', size, cacheDir });  // decodes once, fills the cache
//   if (!hasErrors(findings)) {
//     const data = await prepareImages(ds, { size, cacheDir });                          // cache hit
//   }
//   console.log(formatReport(ds, computeStats(ds, findings), findings));
//
// Bundle entry points must call runDataWorkerIfRequested() first thing (see decode-pool.ts).
export * from './types';
export { openDataset, detectFormat } from './open';
export { validateDataset, validateStructure, imageFindings, datasetFingerprint, shapeSummary, noValidationMessage } from './validate';
export { computeStats, distribution } from './stats';
export { formatReport, findingLocation } from './report';
export type { ReportOptions } from './report';
export { prepareImages, prepareImageSets, openImageCache, scanImages, defaultCacheDir, imagesKey, shuffleInPlace, pruneImageCache } from './cache';
export type { ImageCacheReader, PreparedSets } from './cache';
export * from './image-set';
export { decodeImage, sniffFormat } from './decode';
export { probeImages } from './probe';
export type { ProbeResult } from './probe';
export type { DecodeSpec, Decoded } from './decode';
export { readIdxImage, ImageByteReader } from './source';
export { runDataWorkerIfRequested, setDataWorkerScript } from './decode-pool';
export { DatasetError, hasErrors, sortFindings } from './findings';
export { compareLabels, IMAGE_EXTENSIONS } from './paths';
export { encodePng } from './png';
