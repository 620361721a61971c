// Finds datasets in a workspace for the Datasets view: AutoML Vision CSVs, folders of class
// folders (with or without train/val/test on top), zips, and folders of MNIST IDX files.
// A bounded walk (depth, entries) so a large workspace cannot stall the host. No `vscode` import.
import { openSync, readSync, closeSync, readdirSync, type Dirent } from 'node:fs';
import { basename, join, relative } from 'node:path';

export type DiscoveredKind = 'csv' | 'folder' | 'zip' | 'idx';

export interface DiscoveredDataset {
  kind: DiscoveredKind;
  path: string;
  /** Path relative to the workspace folder. */
  label: string;
  /** Short note: classes found, partitions, … */
  detail: string;
}

const SKIP = new Set(['node_modules', '.git', '.automl', 'dist', 'out', '.vscode-test', '.cache', '__pycache__']);
const IMAGE = /\.(png|jpe?g|webp|gif|bmp|tiff?)$/i;
const PARTITION_DIR = /^(train|training|val|valid|validation|test|testing)$/i;
const PARTITION = /^(train|validation|test|unassigned)$/i;

/** Does the CSV's first non-empty line look like an AutoML Vision row? */
export function looksLikeAutomlCsv(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const buf = Buffer.alloc(4096);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const lines = buf
      .subarray(0, n)
      .toString('utf8')
      .replace(/^\uFEFF/, '')
      .split(/\r?\n/)
      .filter((l) => l.trim());
    return lines.slice(0, 3).some((line) => {
      const fields = line.split(',').map((f) => f.trim().replace(/^"|"$/g, ''));
      if (fields.length < 2) return false;
      const path = PARTITION.test(fields[0]) ? fields[1] : fields[0];
      return IMAGE.test(path) || path.startsWith('gs://');
    });
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function list(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

/** Subfolders that directly hold at least one image. */
function classFolders(dir: string): string[] {
  return list(dir)
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .filter((e) => list(join(dir, e.name)).some((f) => f.isFile() && IMAGE.test(f.name)))
    .map((e) => e.name);
}

export function discoverDatasets(root: string, opts: { maxDepth?: number; maxEntries?: number } = {}): DiscoveredDataset[] {
  const maxDepth = opts.maxDepth ?? 4;
  let budget = opts.maxEntries ?? 20000;
  const found: DiscoveredDataset[] = [];
  const rel = (p: string) => relative(root, p) || basename(p);

  const walk = (dir: string, depth: number) => {
    const entries = list(dir);
    budget -= entries.length;
    if (budget < 0) return;
    // A folder of class folders, maybe under train/val/test.
    const parts = entries.filter((e) => e.isDirectory() && PARTITION_DIR.test(e.name));
    const partClasses = parts.map((p) => classFolders(join(dir, p.name)));
    if (parts.length && partClasses.some((c) => c.length >= 2)) {
      const classes = new Set(partClasses.flat());
      found.push({ kind: 'folder', path: dir, label: rel(dir), detail: `${classes.size} classes; ${parts.map((p) => p.name).join('/')}` });
      return;
    }
    const classes = classFolders(dir);
    if (classes.length >= 2 && !entries.some((e) => e.isFile() && IMAGE.test(e.name))) {
      found.push({ kind: 'folder', path: dir, label: rel(dir), detail: `${classes.length} classes` });
      return;
    }
    if (entries.some((e) => e.isFile() && /-images-idx3-ubyte(\.gz)?$/.test(e.name))) {
      found.push({ kind: 'idx', path: dir, label: rel(dir), detail: 'MNIST IDX files' });
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isFile() && /\.csv$/i.test(e.name) && looksLikeAutomlCsv(p)) {
        found.push({ kind: 'csv', path: p, label: rel(p), detail: 'AutoML Vision CSV' });
      } else if (e.isFile() && /\.zip$/i.test(e.name)) {
        found.push({ kind: 'zip', path: p, label: rel(p), detail: 'zip' });
      } else if (e.isDirectory() && depth < maxDepth && !SKIP.has(e.name) && !e.name.startsWith('.')) {
        walk(p, depth + 1);
      }
    }
  };
  walk(root, 0);
  return found.sort((a, b) => a.label.localeCompare(b.label));
}
