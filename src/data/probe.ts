// probeImages: a quick look at a sample of image headers (no decoding) to choose the trial
// input size before the one decode pass, so that validation fills the pixel cache for that
// size and training decodes nothing:
//
//   const probe = await probeImages(ds);                       // ~200 headers
//   const input = chooseInput({ medianSide: probe.medianSide, color: probe.color, … });
//   const result = await validateDataset(ds, { level: 'images', size, cacheDir });  // decodes once
//   const data = await prepareImages(ds, { size, cacheDir });                       // cache hit
import { loadSharp, MAX_INPUT_PIXELS, sniffFormat } from './decode';
import { isPng } from './png';
import { ImageByteReader } from './source';
import type { Dataset, DatasetItem } from './types';

export interface ProbeResult {
  /** Median longer side of the sampled images, px (0: none could be read). */
  medianSide: number;
  /**
   * More than 1 % of the sampled images are colour: stored as colour (PNG colour types 2/3/6,
   * non-gray JPEG/WebP/…) and with pixels that are not all gray (R = G = B within JPEG noise).
   */
  color: boolean;
  /** Sampled images stored as colour whose pixels are gray (scans, exports of gray photos). */
  grayStoredAsColor: number;
  /** Images whose header was read. */
  probed: number;
}

/** Up to `sample` items spread evenly over the dataset (deterministic). */
function sampleItems(items: DatasetItem[], sample: number): DatasetItem[] {
  const usable = items.filter((it) => it.stamp !== undefined);
  if (usable.length <= sample) return usable;
  const out: DatasetItem[] = [];
  for (let k = 0; k < sample; k++) out.push(usable[Math.floor((k * usable.length) / sample)]);
  return out;
}

export async function probeImages(dataset: Dataset, options: { sample?: number } = {}): Promise<ProbeResult> {
  const items = sampleItems(dataset.items, options.sample ?? 200);
  const sides: number[] = [];
  let colour = 0;
  let grayStoredAsColor = 0;
  const reader = new ImageByteReader();
  try {
    for (const it of items) {
      const ref = it.ref;
      if (ref.kind === 'idx') {
        sides.push(Math.max(ref.width, ref.height));
        continue;
      }
      try {
        let w = 0;
        let h = 0;
        let isColour = false;
        const head = ref.kind === 'file' ? undefined : reader.read(ref);
        if (ref.kind === 'file') {
          // sharp reads only the header of a file path; PNG headers are parsed here.
          const m = await loadSharp()(ref.path, { pages: 1 }).metadata();
          w = m.autoOrient?.width ?? m.width;
          h = m.autoOrient?.height ?? m.height;
          isColour = !(m.space === 'b-w' || m.space === 'grey16');
        } else if (head && isPng(head) && head.length >= 26) {
          w = head.readUInt32BE(16);
          h = head.readUInt32BE(20);
          isColour = head[25] === 2 || head[25] === 3 || head[25] === 6;
        } else if (head && sniffFormat(head)) {
          const m = await loadSharp()(head, { pages: 1 }).metadata();
          w = m.autoOrient?.width ?? m.width;
          h = m.autoOrient?.height ?? m.height;
          isColour = !(m.space === 'b-w' || m.space === 'grey16');
        }
        if (w > 0 && h > 0) {
          sides.push(Math.max(w, h));
          // Only while the answer is open: once over 1 % are surely colour, headers suffice.
          if (isColour && colour <= 0.01 * items.length && (await looksGray(ref.kind === 'file' ? ref.path : head!))) {
            isColour = false;
            grayStoredAsColor++;
          }
          if (isColour) colour++;
        }
      } catch {
        // Unreadable images are the validation's business; the probe only skips them.
      }
    }
  } finally {
    reader.close();
  }
  if (sides.length === 0) return { medianSide: 0, color: true, grayStoredAsColor: 0, probed: 0 };
  const sorted = Float64Array.from(sides).sort();
  const m = sorted.length;
  const medianSide = m % 2 ? sorted[(m - 1) / 2] : (sorted[m / 2 - 1] + sorted[m / 2]) / 2;
  const allIdx = items.every((it) => it.ref.kind === 'idx');
  return { medianSide, color: allIdx ? false : colour > 0.01 * sides.length, grayStoredAsColor, probed: sides.length };
}

/**
 * Whether an image stored as colour is gray in fact: a 32-px thumbnail whose pixels have R, G and B
 * within 10 levels of each other, all but 1 % of them (JPEG chroma noise stays well inside that).
 */
async function looksGray(input: string | Buffer): Promise<boolean> {
  try {
    const { data, info } = await loadSharp()(input, { pages: 1, limitInputPixels: MAX_INPUT_PIXELS })
      .resize(32, 32, { fit: 'inside' })
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels < 3) return true;
    const n = info.width * info.height;
    let off = 0;
    for (let i = 0; i < n; i++) {
      const o = i * info.channels;
      const r = data[o];
      const g = data[o + 1];
      const b = data[o + 2];
      if (Math.max(Math.abs(r - g), Math.abs(g - b), Math.abs(r - b)) > 10 && ++off > 0.01 * n) return false;
    }
    return true;
  } catch {
    return false; // undecodable: trust the header
  }
}
