// BMP, which sharp (libvips) does not read: uncompressed 1/4/8-bit palette, 16/24/32-bit,
// and BI_BITFIELDS masks. RLE-compressed BMPs are rare and rejected with a clear message.

import type { RawImage } from './png';

export class BmpError extends Error {
  constructor(
    message: string,
    readonly code: 'corrupt-image' | 'unsupported-format',
  ) {
    super(message);
  }
}

export function isBmp(b: Uint8Array): boolean {
  return b.length >= 2 && b[0] === 0x42 && b[1] === 0x4d;
}

function maskInfo(mask: number): { shift: number; bits: number } {
  if (mask === 0) return { shift: 0, bits: 0 };
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  let bits = 0;
  while (((mask >>> (shift + bits)) & 1) === 1) bits++;
  return { shift, bits };
}

export function decodeBmp(buf: Uint8Array): RawImage {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length < 26 || !isBmp(buf)) throw new BmpError('not a BMP file', 'corrupt-image');
  const dataOffset = dv.getUint32(10, true);
  const headerSize = dv.getUint32(14, true);
  let width: number,
    height: number,
    bpp: number,
    compression = 0,
    colorsUsed = 0;
  let paletteEntrySize = 4;
  if (headerSize === 12) {
    width = dv.getUint16(18, true);
    height = dv.getInt16(20, true);
    bpp = dv.getUint16(24, true);
    paletteEntrySize = 3;
  } else if (headerSize >= 40 && buf.length >= 14 + 40) {
    width = dv.getInt32(18, true);
    height = dv.getInt32(22, true);
    bpp = dv.getUint16(28, true);
    compression = dv.getUint32(30, true);
    colorsUsed = dv.getUint32(46, true);
  } else {
    throw new BmpError(`unknown BMP header size ${headerSize}`, 'unsupported-format');
  }
  const topDown = height < 0;
  height = Math.abs(height);
  if (width <= 0 || height <= 0 || width * height > 1 << 26) throw new BmpError(`implausible BMP size ${width}×${height}`, 'corrupt-image');
  if (compression === 1 || compression === 2) {
    throw new BmpError('RLE-compressed BMP is not supported; convert the image to PNG', 'unsupported-format');
  }
  if (compression !== 0 && compression !== 3 && compression !== 6) {
    throw new BmpError(`BMP compression type ${compression} (embedded JPEG/PNG) is not supported; convert the image to PNG`, 'unsupported-format');
  }

  let masks: number[] | undefined;
  if (compression === 3 || compression === 6) {
    // Masks follow a 40-byte header, or are part of V2+ headers at the same place.
    const n = compression === 6 || headerSize >= 56 ? 4 : 3;
    masks = [];
    for (let k = 0; k < n; k++) masks.push(dv.getUint32(14 + 40 + 4 * k, true));
    if (n === 3) masks.push(0);
  } else if (bpp === 16) {
    masks = [0x7c00, 0x03e0, 0x001f, 0];
  } else if (bpp === 32 && headerSize >= 108) {
    // V4/V5 headers carry an alpha mask even for BI_RGB; Windows ignores alpha then, so do we.
    masks = undefined;
  }

  let palette: Uint8Array | undefined;
  if (bpp <= 8) {
    // More colours than the bit depth can index are never used: read at most 2^bpp.
    const entries = Math.min(colorsUsed || 1 << bpp, 1 << bpp);
    const start = 14 + headerSize + (compression === 3 && headerSize === 40 ? 12 : 0);
    if (start + entries * paletteEntrySize > buf.length) throw new BmpError('BMP palette is cut short', 'corrupt-image');
    palette = new Uint8Array(entries * 3);
    for (let k = 0; k < entries; k++) {
      const o = start + k * paletteEntrySize;
      palette[3 * k] = buf[o + 2];
      palette[3 * k + 1] = buf[o + 1];
      palette[3 * k + 2] = buf[o];
    }
  } else if (bpp !== 16 && bpp !== 24 && bpp !== 32) {
    throw new BmpError(`BMP with ${bpp} bits per pixel is not supported`, 'unsupported-format');
  }

  const stride = Math.ceil((width * bpp) / 32) * 4;
  if (dataOffset + stride * (height - 1) + Math.ceil((width * bpp) / 8) > buf.length) {
    throw new BmpError('BMP pixel data is cut short (truncated file)', 'corrupt-image');
  }
  const hasAlpha = !!masks && masks[3] !== 0;
  const ch = hasAlpha ? 4 : 3;
  const out = new Uint8Array(width * height * ch);
  const mi = masks?.map(maskInfo);
  const scale = (v: number, m: { shift: number; bits: number }) =>
    m.bits === 0 ? 0 : Math.round((((v >>> m.shift) & ((1 << m.bits) - 1)) * 255) / ((1 << m.bits) - 1));

  for (let y = 0; y < height; y++) {
    const row = dataOffset + (topDown ? y : height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      const d = (y * width + x) * ch;
      if (palette) {
        const bitPos = x * bpp;
        const v = (buf[row + (bitPos >> 3)] >> (8 - bpp - (bitPos & 7))) & ((1 << bpp) - 1);
        const p = 3 * Math.min(v, palette.length / 3 - 1);
        out[d] = palette[p];
        out[d + 1] = palette[p + 1];
        out[d + 2] = palette[p + 2];
      } else if (bpp === 24 || (bpp === 32 && !mi)) {
        const o = row + x * (bpp >> 3);
        out[d] = buf[o + 2];
        out[d + 1] = buf[o + 1];
        out[d + 2] = buf[o];
      } else {
        const o = row + x * (bpp >> 3);
        const v = bpp === 16 ? dv.getUint16(o, true) : dv.getUint32(o, true);
        out[d] = scale(v, mi![0]);
        out[d + 1] = scale(v, mi![1]);
        out[d + 2] = scale(v, mi![2]);
        if (hasAlpha) out[d + 3] = scale(v, mi![3]);
      }
    }
  }
  return { width, height, channels: ch as 3 | 4, data: out };
}
