// Reading an image's bytes from where it lives (a file or a zip entry). IDX images are
// slices of one big array and are read by the cache in bulk (see cache.ts), or one at a
// time through readIdxImage.
import * as fs from 'node:fs';
import { readIdxFile } from './idx';
import type { ImageRef } from './types';
import { readZipEntry, ZipEntryError } from './zip';

export class ImageReadError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** Reads image bytes synchronously; keeps zip descriptors open until close(). */
export class ImageByteReader {
  private readonly zipFds = new Map<string, number>();

  read(ref: ImageRef): Buffer {
    if (ref.kind === 'file') {
      try {
        return fs.readFileSync(ref.path);
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        if (err.code === 'ENOENT') throw new ImageReadError('the file no longer exists', 'missing-file');
        if (err.code === 'EISDIR') throw new ImageReadError('this is a folder, not an image file', 'not-a-file');
        throw new ImageReadError(`the file cannot be read (${err.code ?? err.message}); check its permissions`, 'unreadable-file');
      }
    }
    if (ref.kind === 'zip') {
      if (!ref.at) throw new ImageReadError(`the zip has no entry ${ref.entry}`, 'missing-file');
      let fd = this.zipFds.get(ref.zip);
      if (fd === undefined) {
        try {
          fd = fs.openSync(ref.zip, 'r');
        } catch (e) {
          throw new ImageReadError(`the zip ${ref.zip} cannot be opened (${(e as Error).message})`, 'missing-file');
        }
        this.zipFds.set(ref.zip, fd);
      }
      try {
        return readZipEntry(fd, ref.at, ref.entry);
      } catch (e) {
        if (e instanceof ZipEntryError) throw new ImageReadError(e.message, e.code);
        throw new ImageReadError(`the zip entry cannot be read (${(e as Error).message})`, 'unreadable-file');
      }
    }
    throw new ImageReadError('IDX images are read in bulk by the cache', 'internal');
  }

  close(): void {
    for (const fd of this.zipFds.values()) {
      try {
        fs.closeSync(fd);
      } catch {
        /* already closed */
      }
    }
    this.zipFds.clear();
  }
}

let lastIdx: { file: string; stamp: string; data: Buffer } | undefined;

/** One IDX image's gray pixels (keeps the last decompressed IDX file for repeated calls). */
export function readIdxImage(ref: Extract<ImageRef, { kind: 'idx' }>): Uint8Array {
  const st = fs.statSync(ref.file);
  const stamp = `${st.size}-${st.mtimeMs}`;
  if (!lastIdx || lastIdx.file !== ref.file || lastIdx.stamp !== stamp) {
    lastIdx = { file: ref.file, stamp, data: readIdxFile(ref.file).data };
  }
  const n = ref.width * ref.height;
  if ((ref.index + 1) * n > lastIdx.data.length) throw new ImageReadError(`image ${ref.index} is beyond the end of ${ref.file}`, 'corrupt-image');
  return lastIdx.data.subarray(ref.index * n, (ref.index + 1) * n);
}
