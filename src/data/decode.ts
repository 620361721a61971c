// Decoding one image: bytes → what it is (size, channels, format, content hash) and,
// for a target size, the packed uint8 pixels training uses. The same function serves the
// cache (training) and prediction, so that a model sees images prepared the same way.
//
// Conventions:
// - EXIF orientation is applied (sizes are reported after it).
// - Transparent pixels are composited on white by default (as viewers show them on a page),
//   `background: 'black'` for e.g. strokes drawn on a transparent canvas meant as MNIST-like.
// - `pad` bars are black (like tf.image.resize_with_pad); `crop` takes the centre.
// - Gray output is Rec. 601 luma; gray sources are replicated to 3 channels.
// - GIF/WebP/TIFF: the first frame/page.
import { createHash } from 'node:crypto';
import type SharpFn from 'sharp';
import type { Metadata as SharpMetadata } from 'sharp';
import { BmpError, decodeBmp, isBmp } from './bmp';
import { decodePngFast, isPng, PngError, RawImage } from './png';
import { resizeInto, rgbToGray, toChannels } from './resize';
import type { AlphaBackground, FitMode, ImageInfo, InputSize } from './types';

export interface DecodeSpec extends InputSize {
  fit: FitMode;
  background: AlphaBackground;
}

export interface Decoded {
  info: ImageInfo;
  /** height × width × channels bytes; absent without a spec or when decoding failed. */
  pixels?: Uint8Array;
}

let sharpModule: typeof SharpFn | undefined;
/**
 * The most pixels sharp is asked to decode (its `limitInputPixels`): a 3 KB JPEG can declare
 * 65,535 × 65,535 px; past this it is refused with its size instead of filling memory.
 */
export const MAX_INPUT_PIXELS = 100_000_000;

/** Refusal for an image over MAX_INPUT_PIXELS. */
export function tooManyPixels(width: number, height: number): string {
  return `the image is ${width}×${height} px (${Math.round((width * height) / 1e6)} megapixels), over the ${MAX_INPUT_PIXELS / 1e6}-megapixel limit; downscale it`;
}

/** sharp is loaded on first use (it is a native module; the structure-only paths never need it). */
export function loadSharp(): typeof SharpFn {
  if (!sharpModule) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    sharpModule = require('sharp') as typeof SharpFn;
  }
  return sharpModule;
}

export function sniffFormat(b: Uint8Array): string | undefined {
  if (isPng(b)) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 6 && b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x38) return 'gif';
  if (b.length >= 12 && b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46 && b[8] === 0x57 && b[9] === 0x45 && b[10] === 0x42 && b[11] === 0x50)
    return 'webp';
  if (isBmp(b) && b.length >= 18) return 'bmp';
  if (b.length >= 4 && ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0) || (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && b[3] === 0x2a)))
    return 'tiff';
  if (b.length >= 12 && b[4] === 0x66 && b[5] === 0x74 && b[6] === 0x79 && b[7] === 0x70) {
    const brand = String.fromCharCode(b[8], b[9], b[10], b[11]);
    return /^avi[fs]$/.test(brand) ? 'avif' : 'heif';
  }
  return undefined;
}

export function sha1Hex(b: Uint8Array): string {
  return createHash('sha1').update(b).digest('hex');
}

function fail(code: string, message: string, format = 'unknown', hash?: string): Decoded {
  return { info: { width: 0, height: 0, channels: 0, format, hash, error: { code, message } } };
}

/** Packs a decoded image into the spec's layout (flatten, channels, resize). */
export function rawToTarget(img: RawImage, spec: DecodeSpec, out?: Uint8Array, outOffset = 0): Uint8Array {
  const px = toChannels(img, spec.channels, spec.background);
  const dst = out ?? new Uint8Array(spec.height * spec.width * spec.channels);
  resizeInto(px, img.width, img.height, spec.channels, dst, out ? outOffset : 0, spec.width, spec.height, spec.fit);
  return dst;
}

/**
 * Decodes image bytes. Never throws for bad input: problems come back as `info.error`
 * (`empty-file`, `corrupt-image`, `unsupported-format`) or `info.warning`.
 */
export async function decodeImage(bytes: Uint8Array, spec: DecodeSpec | null): Promise<Decoded> {
  if (bytes.length === 0) return fail('empty-file', 'the file is empty (0 bytes)', 'unknown');
  const hash = sha1Hex(bytes);
  const format = sniffFormat(bytes);

  if (format === 'png') {
    let img: RawImage | null;
    try {
      img = decodePngFast(bytes);
    } catch (e) {
      if (e instanceof PngError) return fail('corrupt-image', e.message, 'png', hash);
      throw e;
    }
    if (img) return fromRaw(img, 'png', hash, spec);
  } else if (format === 'bmp') {
    try {
      return fromRaw(decodeBmp(bytes), 'bmp', hash, spec);
    } catch (e) {
      const code = e instanceof BmpError ? e.code : 'corrupt-image';
      return fail(code, `cannot decode this BMP: ${(e as Error).message}`, 'bmp', hash);
    }
  } else if (format === undefined) {
    // What the file is, never its content: an error message is shown, logged and pasted into
    // issues, and a CSV path can point at any file (`../../etc/passwd`).
    return fail('unsupported-format', `not a JPEG, PNG, WebP, GIF, BMP or TIFF image (${describeUnknown(bytes)})`, 'unknown', hash);
  }
  return decodeWithSharp(bytes, format ?? 'unknown', hash, spec);
}

/** The kind and size of a file that is no image format we know, without quoting any of its bytes. */
export function describeUnknown(bytes: Uint8Array): string {
  const size = `${bytes.length} bytes`;
  const head = Buffer.from(bytes.subarray(0, 512)).toString('latin1');
  if (/^\s*(<!doctype html|<html)/i.test(head)) return `an HTML page, ${size}: a web page saved instead of the image?`;
  if (/^\s*<(\?xml|svg)/i.test(head)) return `XML or SVG, ${size}: vector images are not supported`;
  if (/^\s*[[{]/.test(head) && /^[\t\n\r\x20-\x7e]*$/.test(head)) return `JSON-like text, ${size}`;
  if (head.length > 0 && /^[\t\n\r\x20-\x7e]*$/.test(head)) return `a text file, ${size}`;
  return `an unknown format, ${size}`;
}

function fromRaw(img: RawImage, format: string, hash: string, spec: DecodeSpec | null): Decoded {
  const info: ImageInfo = { width: img.width, height: img.height, channels: img.channels, format, hash };
  return { info, pixels: spec ? rawToTarget(img, spec) : undefined };
}

async function decodeWithSharp(bytes: Uint8Array, sniffed: string, hash: string, spec: DecodeSpec | null): Promise<Decoded> {
  let sharp: typeof SharpFn;
  try {
    sharp = loadSharp();
  } catch (e) {
    // PNG, BMP and IDX decode without sharp; other formats need it.
    return fail(
      'unsupported-format',
      `${sniffed.toUpperCase()} needs the sharp image library, which failed to load (${(e as Error).message.split('\n')[0]}); reinstall the extension or convert the images to PNG`,
      sniffed,
      hash,
    );
  }
  const input = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let meta: SharpMetadata;
  try {
    meta = await sharp(input, { pages: 1, limitInputPixels: false }).metadata(); // the header only; the size is checked below
  } catch (e) {
    return sharpFailure(e as Error, sniffed, hash);
  }
  const width = meta.autoOrient?.width ?? meta.width;
  const height = meta.autoOrient?.height ?? meta.height;
  // Refused before decoding, with its size (the pipeline's limitInputPixels is the backstop).
  if (width * height > MAX_INPUT_PIXELS) return fail('unsupported-format', tooManyPixels(width, height), String(meta.format ?? sniffed), hash);
  const gray = meta.space === 'b-w' || meta.space === 'grey16';
  const channels = (gray ? 1 : 3) + (meta.hasAlpha ? 1 : 0);
  const format = String(meta.format ?? sniffed);
  const info: ImageInfo = { width, height, channels, format, hash };

  const run = async (failOn: 'warning' | 'error'): Promise<Uint8Array> => {
    let p = sharp(input, { failOn, autoOrient: true, pages: 1, limitInputPixels: MAX_INPUT_PIXELS });
    if (meta.hasAlpha) p = p.flatten({ background: spec?.background === 'black' ? '#000000' : '#ffffff' });
    p = p.toColourspace('srgb');
    if (spec) {
      p = p.resize(spec.width, spec.height, { fit: spec.fit === 'pad' ? 'contain' : 'cover', position: 'centre', background: { r: 0, g: 0, b: 0 } });
    } else {
      // Decoding every pixel is what finds damage; a small output keeps it cheap (JPEG shrink-on-load).
      p = p.resize(32, 32, { fit: 'inside' });
    }
    const { data, info: out } = await p.removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (!spec) return data;
    const n = spec.width * spec.height;
    if (out.width !== spec.width || out.height !== spec.height) throw new Error(`unexpected output size ${out.width}×${out.height}`);
    let px: Uint8Array =
      out.channels === 3 ? data : toChannels({ width: out.width, height: out.height, channels: out.channels as 1 | 2 | 3 | 4, data }, 3, spec.background);
    if (spec.channels === 1) px = rgbToGray(px, n);
    return px;
  };

  try {
    const px = await run('warning');
    return { info, pixels: spec ? px : undefined };
  } catch (strictErr) {
    try {
      const px = await run('error');
      info.warning = `decoded with warnings (${cleanSharpMessage((strictErr as Error).message)}); check that the image looks right`;
      return { info, pixels: spec ? px : undefined };
    } catch (e) {
      return sharpFailure(e as Error, format, hash);
    }
  }
}

function cleanSharpMessage(m: string): string {
  return m
    .replace(/\s+/g, ' ')
    .replace(/^Input buffer (has corrupt header|contains unsupported image format): ?/i, '')
    .trim();
}

function sharpFailure(e: Error, format: string, hash: string): Decoded {
  const msg = cleanSharpMessage(e.message);
  if (/exceeds pixel limit/i.test(e.message))
    return fail('unsupported-format', `the image is over the ${MAX_INPUT_PIXELS / 1e6}-megapixel limit; downscale it`, format, hash);
  if (/unsupported image format/i.test(e.message) || format === 'heif') {
    const what =
      format === 'heif'
        ? 'HEIC/HEIF images are not supported by the bundled decoder; convert them to JPEG or PNG'
        : `this ${format} image cannot be decoded (${msg})`;
    return fail('unsupported-format', what, format, hash);
  }
  return fail('corrupt-image', `the image is damaged or incomplete (${msg}); re-export or remove it`, format, hash);
}
