// A folder of class folders (optionally under train/ validation/ test/). See layout.ts for
// the rules. Symbolic links are followed (datasets are often assembled from links), with a
// guard against link loops, except links to folders inside the dataset itself, which are read
// where they lie (a finding names each such link).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FindingCollector } from './findings';
import { itemsFromLayout, LayoutFile } from './layout';
import { fileStamp, isImagePath, isJunkPath } from './paths';
import type { DatasetItem } from './types';

const MAX_DEPTH = 32;

export function readFolder(root: string, findings: FindingCollector): DatasetItem[] {
  const files: LayoutFile[] = [];
  const seenDirs = new Set<string>();
  let realRoot = root;
  try {
    realRoot = fs.realpathSync(root);
  } catch {
    /* reported by the walk */
  }
  const insideRoot = (real: string) => real === realRoot || real.startsWith(realRoot.endsWith(path.sep) ? realRoot : realRoot + path.sep);
  const walk = (dir: string, rel: string, depth: number) => {
    let real: string;
    try {
      real = fs.realpathSync(dir);
    } catch {
      return;
    }
    if (seenDirs.has(real)) return;
    seenDirs.add(real);
    if (depth > MAX_DEPTH) {
      findings.add({ severity: 'warning', code: 'too-deep', file: dir, message: `${dir} is nested more than ${MAX_DEPTH} folders deep and was not read.` });
      return;
    }
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      findings.add({
        severity: 'error',
        code: 'unreadable-folder',
        file: dir,
        message: `Cannot read folder ${dir}: ${(e as Error).message}. Check its permissions.`,
      });
      return;
    }
    for (const e of entries) {
      const full = path.join(dir, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (isJunkPath(r)) continue;
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        let target: string;
        try {
          const st = fs.statSync(full);
          isDir = st.isDirectory();
          isFile = st.isFile();
          target = fs.realpathSync(full);
        } catch {
          findings.add({ severity: 'warning', code: 'broken-link', file: full, message: `${full} is a symbolic link to nothing; ignored.` });
          continue;
        }
        // A link to a folder of this dataset (c0/other -> ../c1) would label that folder's images
        // as the link's class, and the folder itself would then be skipped as already read. Its
        // images are read where they lie, with their own folder's label.
        if (isDir && insideRoot(target)) {
          const to = path.relative(realRoot, target).split(path.sep).join('/') || '.';
          findings.add({
            severity: 'warning',
            code: 'link-inside-dataset',
            file: full,
            message: `${r} is a symbolic link to ${to === '.' ? 'the dataset folder itself' : `${to}, a folder of this dataset`}: not followed (its images are read where they lie, with that folder's label). Remove the link, or copy the images if they belong to both classes.`,
          });
          continue;
        }
      }
      if (isDir) walk(full, r, depth + 1);
      else if (isFile) {
        // Only images need a stamp (one stat each); other files are just counted.
        let stamp: string | undefined;
        if (isImagePath(e.name)) {
          try {
            stamp = fileStamp(fs.statSync(full));
          } catch {
            stamp = undefined;
          }
        }
        files.push({ rel: r, ref: { kind: 'file', path: full }, stamp });
      }
    }
  };
  walk(root, '', 0);
  const { items } = itemsFromLayout(files, root, (rel) => path.join(root, ...rel.split('/')), findings);
  return items;
}
