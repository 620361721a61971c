// Small file helpers the store is built on: atomic JSON writes (temp file + rename, so a kill
// at any moment leaves either the old or the new file, never half of one) and JSON-lines logs.
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

let tmpCounter = 0;

const ERRNO_TEXT: Record<string, string> = {
  ENOSPC: 'No space left on device',
  EDQUOT: 'Disk quota exceeded',
  EROFS: 'Read-only file system',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EMFILE: 'Too many open files',
  EIO: 'Input/output error',
};

/**
 * A store write error that names the file (`No space left on device writing <path> (ENOSPC)`):
 * Node's own message (`ENOSPC: no space left on device, write`) does not say which file, so a
 * full disk left a record nobody could explain. The original `code` is kept on the error.
 */
export function writeError(e: unknown, path: string): Error {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const text = (code && ERRNO_TEXT[code]) ?? (e instanceof Error ? e.message : String(e));
  const err = new Error(`${text} writing ${path}${code ? ` (${code})` : ''}`, { cause: e }) as NodeJS.ErrnoException;
  if (code) err.code = code;
  return err;
}

export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}-${tmpCounter++}`;
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // The folder itself is unusable (ENOTDIR): there is no temp file to remove.
    }
    throw writeError(e, path);
  }
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

export function readJson<T>(path: string): T | undefined {
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

/** Appends one JSON value as a line. A line is written with one `write` call, so a kill leaves at most one torn last line. */
export function appendJsonLine(path: string, value: unknown): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
    appendFileSync(path, JSON.stringify(value) + '\n');
  } catch (e) {
    throw writeError(e, path);
  }
}

/** Reads a JSON-lines file, skipping a torn last line (what a kill in the middle of a write leaves). */
export function readJsonLines<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  const out: T[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      // A torn line can only be the last one written before a kill; ignore it.
    }
  }
  return out;
}

/** Replaces folder `target` by folder `staged` as atomically as the file system allows. */
export function replaceDir(staged: string, target: string): void {
  const old = `${target}.old-${process.pid}-${tmpCounter++}`;
  if (existsSync(target)) renameSync(target, old);
  renameSync(staged, target);
  rmSync(old, { recursive: true, force: true });
}

/**
 * Writes folder `target` whole: `fill` writes into a fresh sibling staging folder, which then
 * replaces `target`; when `fill` throws, the staging folder is removed and `target` is untouched.
 */
export async function writeDirAtomic(target: string, fill: (staged: string) => void | Promise<void>): Promise<void> {
  const staged = `${target}.part-${process.pid}-${tmpCounter++}`;
  rmSync(staged, { recursive: true, force: true });
  mkdirSync(staged, { recursive: true });
  try {
    await fill(staged);
    mkdirSync(dirname(target), { recursive: true });
    replaceDir(staged, target);
  } catch (e) {
    rmSync(staged, { recursive: true, force: true });
    throw e;
  }
}
