// The class-folder layout shared by folders and zips:
//
//   root/cats/a.jpg, root/dogs/b.jpg                    classes from the folder names
//   root/train/cats/a.jpg, root/val/cats/b.jpg, …       partitions on top (train|training,
//                                                       validation|val|valid, test|testing;
//                                                       any case)
//
// Deeper folders (`cats/persian/a.jpg`) belong to their top class folder, like Keras'
// image_dataset_from_directory and torchvision's ImageFolder: sub-folders are taken as
// the user's own organisation, not as finer classes. An info finding says so.
// A root that only wraps the real root (`dataset/cats/…`, typical of zips) is stepped into.
import { isImagePath, isJunkPath, plural } from './paths';
import { FindingCollector } from './findings';
import type { DatasetItem, ImageRef, Partition } from './types';

export interface LayoutFile {
  /** POSIX path relative to the root. */
  rel: string;
  ref: ImageRef;
  stamp?: string;
}

export const PARTITION_FOLDERS: Record<string, Partition> = {
  train: 'TRAIN',
  training: 'TRAIN',
  validation: 'VALIDATION',
  val: 'VALIDATION',
  valid: 'VALIDATION',
  test: 'TEST',
  testing: 'TEST',
};

export interface LayoutResult {
  items: DatasetItem[];
  /** Root actually used, relative to the given root ('' when unchanged). */
  root: string;
}

/** Images the layout could not place, and sub-folders folded into their class. */
interface Placement {
  items: DatasetItem[];
  /** Images outside any class folder. */
  loose: string[];
  /** Images directly in a partition folder. */
  noClass: string[];
  /** Top-level folders beside partition folders. */
  ignoredTops: Set<string>;
  /** Sub-folders of class folders, with their image counts. */
  nested: Map<string, number>;
}

/**
 * @param file what findings name (the folder or zip)
 * @param describe how to show a relative path in messages (absolute path for folders, `zip: entry` for zips)
 */
export function itemsFromLayout(files: LayoutFile[], file: string, describe: (rel: string) => string, findings: FindingCollector): LayoutResult {
  const sorted = files.filter((f) => !isJunkPath(f.rel)).sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  const { list, root } = stepIntoWrappers(sorted);
  if (root) {
    findings.add({
      severity: 'info',
      code: 'wrapper-folder',
      file,
      message: `Everything is inside ${describe(root)}, so that folder was used as the dataset's root.`,
    });
  }

  const nonImages = list.filter((f) => !isImagePath(f.rel));
  const images = list.filter((f) => isImagePath(f.rel));
  if (nonImages.length > 0) reportNonImages(nonImages, file, describe, findings);

  const tops = new Set(images.filter((f) => f.rel.includes('/')).map((f) => f.rel.split('/')[0]));
  const partitioned = [...tops].some((t) => PARTITION_FOLDERS[t.toLowerCase()] !== undefined);
  const placed = placeImages(images, partitioned, file);
  reportUnplaced(placed, partitioned, file, describe, findings);
  if (images.length === 0) {
    findings.add({
      severity: 'error',
      code: 'no-images',
      file,
      message: `No images found (looked for ${[...new Set(['jpg', 'png', 'webp', 'gif', 'bmp', 'tiff'])].join(', ')} files). Put the images in one folder per class, e.g. cats/001.jpg, dogs/002.jpg.`,
    });
  }
  return { items: placed.items, root };
}

/** Steps into wrapping folders: one folder holding everything, which is not a partition folder. */
function stepIntoWrappers(files: LayoutFile[]): { list: LayoutFile[]; root: string } {
  let list = files;
  let root = '';
  for (;;) {
    if (list.length === 0) break;
    const tops = new Set(list.map((f) => f.rel.split('/')[0]));
    const [top] = tops;
    if (tops.size !== 1 || !list.every((f) => f.rel.includes('/')) || PARTITION_FOLDERS[top.toLowerCase()]) break;
    const images = list.filter((f) => isImagePath(f.rel));
    if (images.length === 0 || !images.every((f) => f.rel.split('/').length >= 3)) break;
    root = root ? `${root}/${top}` : top;
    list = list.map((f) => ({ ...f, rel: f.rel.slice(top.length + 1) }));
  }
  return { list, root };
}

/** One info finding summing up the files that are not images, by extension. */
function reportNonImages(nonImages: LayoutFile[], file: string, describe: (rel: string) => string, findings: FindingCollector): void {
  const byExt = new Map<string, number>();
  for (const f of nonImages) {
    const m = /\.([^./]+)$/.exec(f.rel);
    const ext = m ? '.' + m[1].toLowerCase() : '(no extension)';
    byExt.set(ext, (byExt.get(ext) ?? 0) + 1);
  }
  const summary = [...byExt]
    .sort((a, b) => b[1] - a[1])
    .map(([e, n]) => `${e} ×${n}`)
    .join(', ');
  const examples = nonImages
    .slice(0, 3)
    .map((f) => f.rel)
    .join(', ');
  const csvs = nonImages.filter((f) => /\.csv$/i.test(f.rel));
  findings.add({
    severity: 'info',
    code: 'ignored-files',
    file,
    message:
      `Ignored ${plural(nonImages.length, 'file')} that ${nonImages.length === 1 ? 'is' : 'are'} not images (${summary}), e.g. ${examples}.` +
      (csvs.length > 0 ? ` To use a CSV instead of the folder layout, open ${describe(csvs[0].rel)} itself.` : ''),
  });
}

/** Items from the images' folders: [partition/]class/…/image. */
function placeImages(images: LayoutFile[], partitioned: boolean, file: string): Placement {
  const placed: Placement = { items: [], loose: [], noClass: [], ignoredTops: new Set<string>(), nested: new Map<string, number>() };
  const { items, loose, noClass, ignoredTops, nested } = placed;
  for (const f of images) {
    const parts = f.rel.split('/');
    let partition: Partition | undefined;
    let classIdx = 0;
    if (partitioned) {
      if (parts.length === 1) {
        loose.push(f.rel);
        continue;
      }
      partition = PARTITION_FOLDERS[parts[0].toLowerCase()];
      if (!partition) {
        ignoredTops.add(parts[0]);
        continue;
      }
      if (parts.length === 2) {
        noClass.push(f.rel);
        continue;
      }
      classIdx = 1;
    } else if (parts.length === 1) {
      loose.push(f.rel);
      continue;
    }
    if (parts.length > classIdx + 2) {
      const folder = parts.slice(0, parts.length - 1).join('/');
      nested.set(folder, (nested.get(folder) ?? 0) + 1);
    }
    items.push({
      id: items.length,
      ref: f.ref,
      display: f.rel,
      labels: [parts[classIdx]],
      partition: partition ?? 'TRAIN',
      assigned: partition !== undefined,
      origin: { file },
      stamp: f.stamp,
    });
  }
  return placed;
}

/** Findings for images left out (no class folder, ignored folders) and for nested sub-folders. */
function reportUnplaced(placed: Placement, partitioned: boolean, file: string, describe: (rel: string) => string, findings: FindingCollector): void {
  const { loose, noClass, ignoredTops, nested } = placed;
  const show = (l: string[]) => l.slice(0, 3).join(', ') + (l.length > 3 ? ', …' : '');
  if (loose.length > 0) {
    findings.add({
      severity: 'warning',
      code: 'image-without-class',
      file,
      image: describe(loose[0]),
      message: `${plural(loose.length, 'image')} at the top level (${show(loose)}) ${loose.length === 1 ? 'is' : 'are'} not in a class folder and ${loose.length === 1 ? 'was' : 'were'} ignored. Move each image into a folder named after its class${partitioned ? ', inside train/, validation/ or test/' : ''}.`,
    });
  }
  if (noClass.length > 0) {
    findings.add({
      severity: 'warning',
      code: 'image-without-class',
      file,
      image: describe(noClass[0]),
      message: `${plural(noClass.length, 'image')} directly in a partition folder (${show(noClass)}) ${noClass.length === 1 ? 'has' : 'have'} no class folder and ${noClass.length === 1 ? 'was' : 'were'} ignored. Put them in train/<class>/, validation/<class>/ or test/<class>/.`,
    });
  }
  if (ignoredTops.size > 0) {
    const names = [...ignoredTops];
    findings.add({
      severity: 'warning',
      code: 'ignored-folder',
      file,
      message: `The dataset has partition folders (train/, validation/, test/), so the other top-level folder${names.length === 1 ? '' : 's'} ${show(names.map((n) => n + '/'))} ${names.length === 1 ? 'was' : 'were'} ignored. Move ${names.length === 1 ? 'it' : 'them'} into a partition folder, or rename ${names.length === 1 ? 'it' : 'them'} train/, validation/ or test/.`,
    });
  }
  if (nested.size > 0) {
    const folders = [...nested.keys()];
    findings.add({
      severity: 'info',
      code: 'nested-folders',
      file,
      message: `Images in sub-folders (${show(folders.map((d) => d + '/'))}) are labelled with their ${partitioned ? 'class folder under the partition folder' : 'top-level class folder'}: sub-folders are not separate classes.`,
    });
  }
}
