// Small PNG thumbnails of dataset images, made lazily (when a panel shows them) with sharp,
// a few at a time, off the extension host's hot path (sharp works on libuv's thread pool).
// Files are named by a hash of where the image lies and its stamp, so a changed image gets
// a new thumbnail and an unchanged one is made once.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type SharpFn from 'sharp';
import { ImageByteReader, readIdxImage } from '../data';
import { MAX_INPUT_PIXELS } from '../data/decode';
import type { DatasetItem, ImageRef } from '../data/types';

export const THUMBNAIL_SIZE = 96;

let sharpModule: typeof SharpFn | undefined;
function sharp(): typeof SharpFn {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  if (!sharpModule) sharpModule = require('sharp') as typeof SharpFn;
  return sharpModule;
}

function refKey(ref: ImageRef): string {
  if (ref.kind === 'file') return `file:${ref.path}`;
  if (ref.kind === 'zip') return `zip:${ref.zip}!${ref.entry}`;
  return `idx:${ref.file}#${ref.index}`;
}

/** Makes an image's thumbnail as PNG bytes (at most `size` px on its longer side, never enlarged). */
export async function makeThumbnail(ref: ImageRef, reader: ImageByteReader, size = THUMBNAIL_SIZE): Promise<Buffer> {
  const s = sharp();
  if (ref.kind === 'idx') {
    const pixels = readIdxImage(ref);
    return s(Buffer.from(pixels), { raw: { width: ref.width, height: ref.height, channels: 1 } })
      .resize({ width: size, height: size, fit: 'inside', withoutEnlargement: true })
      .png()
      .toBuffer();
  }
  const bytes = reader.read(ref);
  return s(bytes, { pages: 1, failOn: 'none', limitInputPixels: MAX_INPUT_PIXELS })
    .rotate()
    .resize({ width: size, height: size, fit: 'inside', withoutEnlargement: true })
    .png({ compressionLevel: 6 })
    .toBuffer();
}

export class ThumbnailCache {
  private readonly reader = new ImageByteReader();
  private readonly inFlight = new Map<string, Promise<string | undefined>>();
  private readonly queue: (() => void)[] = [];
  private active = 0;
  private disposed = false;

  constructor(
    readonly dir: string,
    private readonly concurrency = 2,
    private readonly size = THUMBNAIL_SIZE,
  ) {}

  fileFor(item: DatasetItem): string {
    const h = createHash('sha1')
      .update(`${refKey(item.ref)}|${item.stamp ?? ''}|${this.size}`)
      .digest('hex')
      .slice(0, 20);
    return join(this.dir, `${h}.png`);
  }

  /** The thumbnail's path if it exists already. */
  existing(item: DatasetItem): string | undefined {
    const f = this.fileFor(item);
    return existsSync(f) ? f : undefined;
  }

  /** The thumbnail's path, making it if needed; undefined when the image cannot be read. */
  get(item: DatasetItem): Promise<string | undefined> {
    const f = this.fileFor(item);
    if (existsSync(f)) return Promise.resolve(f);
    let p = this.inFlight.get(f);
    if (!p) {
      p = this.slot(() => this.make(item, f)).finally(() => this.inFlight.delete(f));
      this.inFlight.set(f, p);
    }
    return p;
  }

  /**
   * Makes thumbnails for many items, calling `onReady` in batches (every `batchMs`) with the
   * ones made. Resolves when all are done.
   */
  async getMany(items: { key: string; item: DatasetItem }[], onReady: (paths: Record<string, string>) => void, batchMs = 150): Promise<void> {
    let pending: Record<string, string> = {};
    let timer: NodeJS.Timeout | undefined;
    const flush = () => {
      timer = undefined;
      if (Object.keys(pending).length) {
        const out = pending;
        pending = {};
        onReady(out);
      }
    };
    await Promise.all(
      items.map(async ({ key, item }) => {
        const p = await this.get(item);
        if (!p || this.disposed) return;
        pending[key] = p;
        if (!timer) timer = setTimeout(flush, batchMs);
      }),
    );
    if (timer) clearTimeout(timer);
    if (!this.disposed) flush();
  }

  dispose(): void {
    this.disposed = true;
    this.queue.length = 0;
    this.reader.close();
  }

  private slot<T>(fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const run = () => {
        this.active++;
        fn()
          .then(resolve, reject)
          .finally(() => {
            this.active--;
            const next = this.queue.shift();
            if (next) setImmediate(next);
          });
      };
      if (this.active < this.concurrency) run();
      else this.queue.push(run);
    });
  }

  private async make(item: DatasetItem, file: string): Promise<string | undefined> {
    if (this.disposed) return undefined;
    try {
      const png = await makeThumbnail(item.ref, this.reader, this.size);
      mkdirSync(this.dir, { recursive: true });
      const tmp = `${file}.tmp-${process.pid}`;
      writeFileSync(tmp, png);
      renameSync(tmp, file);
      return file;
    } catch {
      return undefined;
    }
  }
}
